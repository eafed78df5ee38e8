"""report_to: the metrics.jsonl rows reach TensorBoard (offline, read back), W&B and MLflow."""

import importlib.machinery
import json
import sys
import types

import pytest
from typer.testing import CliRunner

from antibody_cli import recipes
from antibody_cli.cli import app
from antibody_cli.errors import AntibodyError
from antibody_cli.outputs import RunDir

pytest.importorskip("tensorboard")
parquet = pytest.importorskip("pyarrow.parquet")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

runner = CliRunner()
TINY = ["max_length=96", "batch_size=4", "save_every=2"]


def finetune(data, out, *extra):
    return runner.invoke(app, ["finetune", "--model", "tiny", "--data", str(data), "-o", str(out), *TINY, *extra])


def test_tensorboard_gets_every_row_once_even_across_a_crash_and_resume(tiny_data, tmp_path, monkeypatch):
    import pyarrow

    from antibody_cli import jobs

    rows = [json.loads(line) for line in tiny_data["user"].read_text().splitlines()]
    data = tmp_path / "user.parquet"  # the user's data as Parquet: the whole pipeline reads it
    parquet.write_table(pyarrow.Table.from_pylist(rows), data)
    real, calls = jobs.weighted_step, []

    def crash_at_step_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # rows 1-3 are written, the checkpoint is at step 2
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "weighted_step", crash_at_step_4)
    out = tmp_path / "run"
    assert isinstance(finetune(data, out, "report_to=tensorboard", "--steps", 4).exception, RuntimeError)
    monkeypatch.setattr(jobs, "weighted_step", real)
    result = runner.invoke(app, ["finetune", "--resume", "-o", str(out)])
    assert result.exit_code == 0, result.output

    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/weight_harmful", "train/weight_benign", "train/effective_batch",
            "train/weight_min", "train/lr"} <= set(events.Tags()["scalars"])
    for key in ("loss", "weight_harmful", "effective_batch"):
        logged = [(e.step, e.value) for e in events.Scalars(f"train/{key}")]
        assert [step for step, _ in logged] == [1, 2, 3, 4]  # step 3 of the crashed attempt is purged
        assert [value for _, value in logged] == pytest.approx([row[key] for row in metrics], rel=1e-6)


class FakeTracker(types.ModuleType):
    """Stands in for wandb / mlflow: records the calls the tracker API gets."""

    def __init__(self, name):
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)
        self.calls = []
        record = lambda method: lambda *args, **kwargs: self.calls.append((method, args, kwargs))  # noqa: E731
        for method in ("start_run", "log_params", "log_metrics", "end_run", "log", "finish"):
            setattr(self, method, record(method))

    def init(self, **kwargs):
        self.calls.append(("init", (), kwargs))
        return self


def test_wandb_and_mlflow_get_the_recipe_and_each_rows_numbers(tmp_path, monkeypatch):
    wandb, mlflow = FakeTracker("wandb"), FakeTracker("mlflow")
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    run = RunDir.create(str(tmp_path / "finetune-x"), "finetune", False, ["wandb", "mlflow"])
    run.write_text("recipe.yaml", "lr: 0.001\nlora:\n  r: 8\n")
    log = run.metrics()
    log.write({"step": 1, "loss": 2.5, "ratios": [0.1, -3.0], "weight_harmful": 1e-6, "phase": "task"})
    log.close()
    row = {"train/loss": 2.5, "train/weight_harmful": 1e-6}
    assert wandb.calls == [
        ("init", (), {"project": "antibody", "name": "finetune-x", "dir": str(run.path),
                      "config": {"lr": 0.001, "lora": {"r": 8}}}),
        ("log", (row,), {"step": 1}), ("finish", (), {})]
    assert mlflow.calls == [("start_run", (), {"run_name": "finetune-x"}),
                            ("log_params", ({"lr": 0.001, "lora.r": 8},), {}),
                            ("log_metrics", (row,), {"step": 1}), ("end_run", (), {})]


def test_a_missing_tracker_package_is_one_line_naming_the_extra_and_writes_nothing(tiny_data, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    out = tmp_path / "never"
    result = finetune(tiny_data["user"], out, "report_to=[tensorboard,wandb]")
    assert result.exit_code == 2
    assert result.output.strip() == ("error: field 'report_to': wandb needs the 'wandb' package: "
                                     "pip install 'antibody[wandb]'")
    assert not out.exists()


@pytest.mark.parametrize("value, expected", [
    ("[tensorboard, mlflow]", ["tensorboard", "mlflow"]), ("tensorboard", ["tensorboard"]), ("none", []),
    ("[]", [])])
def test_report_to_takes_a_list_or_one_name(value, expected):
    assert recipes.load_recipe("finetune", None, [f"report_to={value}"]).report_to == expected
    assert recipes.load_recipe("harden", None, []).report_to == []


def test_an_unknown_tracker_names_the_field():
    with pytest.raises(AntibodyError, match=r"field 'report_to\.0'"):
        recipes.load_recipe("finetune", None, ["report_to=[comet]"])
