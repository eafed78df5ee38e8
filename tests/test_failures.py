"""Failure behaviour: bad input, non-finite steps, kill -9, untrusted files, tampered runs, concurrent jobs.

Cases covered here and in test_data.py / test_cli.py / test_recipes.py:
malformed JSON line · valid JSON that is not an object · missing prompt or answer · empty answer ·
wrong types · unknown format · non-UTF-8 bytes · empty file · missing file · a 10 MB single line ·
a sample longer than max_length (truncated and counted) · duplicate ids · a recipe with an unknown
key or a wrong type · a model path that does not exist or is not a model · pickle-only weights ·
a non-finite step (skip or stop) · Ctrl-C and resume · kill -9 and resume · an unfinished run used
as a model · a finished run resumed · an adapter whose shapes or target modules do not fit its base model ·
±inf/NaN in every float field of every recipe · a NaN adapter scored · 5000-digit numbers, 50 000-deep arrays
and objects, NaN/Infinity, unpaired surrogates in ids, prompts and keys (JSONL and JSON arrays), and random
bytes (hypothesis) · hostile recipe YAML (huge ints, deep nesting, surrogates, python tags) · a failed start
(model typo, bogus device, wrong LoRA target, unknown recipe, missing extra) with and without --output, then
the retry · a second writer on a run directory or a score file, and --resume of a run still training ·
--output naming a file, a path under a file, a read-only directory, an existing score file, a non-empty
directory · a truncated, missing or added file, a corrupt or escaping manifest, a changed recipe or summary,
a model: loop of one or two runs · a truncated checkpoint, an empty, absolute, escaping or dangling
`latest`, a trainer.json that disagrees, a checkpoint without manifest · CSV formula cells.
"""

import csv
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import backends
from antibody_cli.cli import app
from antibody_cli.data import Example, load_examples, parse_record
from antibody_cli.errors import AntibodyError
from antibody_cli.outputs import LOCK, write_manifest
from antibody_cli.recipes import RECIPES, load_recipe
from backends import torch_models
from conftest import ctrl_c_during_call, same_adapter, write_jsonl

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_a_10_mb_line_is_read_or_rejected_quickly(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"prompt": "x" * 10_000_000, "response": "ok"}) + "\n")
    began = time.perf_counter()
    assert len(load_examples(str(big))[0].prompt) == 10_000_000
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"prompt": "' + "x" * 10_000_000 + "\n")
    with pytest.raises(AntibodyError, match=r"garbage.jsonl:1: invalid JSON"):
        load_examples(str(garbage))
    assert time.perf_counter() - began < 10


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=8)
record_keys = st.sampled_from(["messages", "prompt", "completion", "response", "instruction", "input", "output",
                               "refusal", "is_safe", "harmful", "label", "id", "category", "role", "content"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(record_keys, json_values | st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", 3]), "content": json_values}), max_size=3),
    max_size=5) | json_values)
def test_any_record_is_accepted_or_rejected_with_our_own_error(record):
    def fail(message, field):
        raise AntibodyError(message, file="f.jsonl", line=1, field=field)

    try:
        example = parse_record(record, fail)
    except AntibodyError as e:
        assert str(e).startswith("f.jsonl:1: ") and "\n" not in str(e)
    else:
        assert isinstance(example, Example) and example.answer.strip() and example.messages


def test_pickle_only_weights_are_refused_unless_allowed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(AntibodyError, match="pickle-based weights"):
        torch_models.load(str(tmp_path))
    with pytest.raises(AntibodyError, match="cannot load model"):  # allowed: transformers tries, and fails here
        torch_models.load(str(tmp_path), allow_pickle=True)


def test_a_non_finite_step_stops_the_run_with_a_checkpoint_and_no_manifest(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", "--model", "tiny", "--data", str(tiny_data["user"]), "--steps", "4",
                                 "-o", str(out), "lr=1e30", "on_nonfinite=stop", "weighting=none"])
    assert result.exit_code == 2 and "non-finite" in result.output and "Traceback" not in result.output
    assert (out / "checkpoints" / "latest").is_file() and not (out / "manifest.json").exists()


def test_a_non_finite_step_is_skipped_by_default(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", "--model", "tiny", "--data", str(tiny_data["user"]), "--steps", "3",
                                 "-o", str(out), "lr=1e30", "weighting=none"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "skipped" not in rows[0] and all("skipped" in row for row in rows[1:])


def _harden_args(tiny_data, out, steps):
    return ["harden", "tiny", "max_length=96", "batch_size=4", "harm_batch_size=2", f"align_data={tiny_data['align']}",
            f"harm_data={tiny_data['align']}", "--steps", str(steps), "-o", str(out)]


def _harden_command(tiny_data, out, steps):
    return [sys.executable, "-m", "antibody_cli", *_harden_args(tiny_data, out, steps), "save_every=5"]


def test_kill_9_then_resume_gives_the_uninterrupted_result(tmp_path, tiny_data):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_harden_command(tiny_data, straight, 40), env=env, check=True, capture_output=True)

    process = subprocess.Popen(_harden_command(tiny_data, killed, 40), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (killed / "checkpoints" / "latest").exists() and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "manifest.json").exists(), "the run finished before it could be killed"

    resumed = subprocess.run([sys.executable, "-m", "antibody_cli", "harden", "--resume", "-o", str(killed)],
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert same_adapter(straight, killed)
    manifest = json.loads((killed / "manifest.json").read_text())
    assert "adapter_model.safetensors" in manifest["files"]


def test_an_adapter_that_does_not_fit_its_base_model_is_refused(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = runner.invoke(app, _harden_args(tiny_data, out, 1))
    assert result.exit_code == 0, result.output
    weights = load_file(str(out / "adapter_model.safetensors"))
    name = next(k for k in weights if "lora_A" in k)
    save_file({**weights, name: torch.zeros(3, 5)}, str(out / "adapter_model.safetensors"))  # wrong shape
    with pytest.raises(AntibodyError, match="adapter_model.safetensors: does not match its sha256"):
        torch_models.load(str(out))
    _rehash(out)  # a manifest that agrees with the wrong file: the adapter is still checked against the model
    with pytest.raises(AntibodyError, match="does not fit its base model"):
        torch_models.load(str(out))
    config = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_model.safetensors").unlink()
    save_file(weights, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["no_such_proj"]}))
    _rehash(out)
    with pytest.raises(AntibodyError, match="does not fit its base model"):
        torch_models.load(str(out))


def _rehash(run: Path) -> None:
    """Rewrite a finished run's manifest over its current files, as a tool that changed them would."""
    manifest = json.loads((run / "manifest.json").read_text())
    write_manifest(run, [run / name for name in manifest.pop("files")], **manifest)


# -- issue 13: hostile inputs, tampered runs, concurrent jobs -----------------------------------

def _error_line(result) -> str:
    """A user error: exit 2, exactly one `error:` line, no traceback; returns the line."""
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _float_fields(cls, prefix=""):
    for name, info in cls.model_fields.items():
        kinds = typing.get_args(info.annotation) or (info.annotation,)
        nested = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if nested:
            yield from _float_fields(nested[0], f"{prefix}{name}.")
        elif float in kinds:
            yield prefix + name


FLOAT_FIELDS = sorted({(command, field) for command, cls in RECIPES.items() for field in _float_fields(cls)})


def test_every_float_field_of_every_recipe_is_finite_or_refused():
    assert {("finetune", "lr"), ("finetune", "lora.alpha"), ("finetune", "temperature"), ("finetune", "lisa.proximal"),
            ("finetune", "max_grad_norm"), ("harden", "rho"), ("harden", "benign_share")} <= set(FLOAT_FIELDS)
    for command, field in FLOAT_FIELDS:
        for text in ("inf", "-inf", "nan", ".inf", "-.Inf", ".nan", "1e400"):
            with pytest.raises(AntibodyError, match=rf"field '{re.escape(field)}': Input should be a finite number"):
                load_recipe(command, None, [f"{field}={text}"])


def test_non_finite_settings_and_weights_never_reach_an_output(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for setting in ("lr=inf", "lora.alpha=inf", "temperature=-inf", "weight_decay=nan"):
        line = _error_line(_invoke("finetune", "--model", "tiny", "--data", tiny_data["user"], setting, "-o", "out"))
        assert "Input should be a finite number" in line and not (tmp_path / "out").exists()
    run = _tiny_harden(tiny_data, tmp_path / "nan-run")
    weights = load_file(str(run / "adapter_model.safetensors"))
    save_file({k: torch.full_like(v, float("nan")) for k, v in weights.items()}, str(run / "adapter_model.safetensors"))
    _rehash(run)  # a run that diverged, with a manifest to match
    line = _error_line(_invoke("score", "--model", run, "--data", tiny_data["user"], "-o", "s.jsonl"))
    assert "non-finite scores for 8 samples" in line and not (tmp_path / "s.jsonl").exists()


NASTY_LINES = {
    "5000-digit id": '{"id": 1' + "0" * 4999 + ', "prompt": "p", "response": "r"}',
    "deep array": '{"prompt": "p", "response": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "deep object": '{"a": ' * 50_000 + "1" + "}" * 50_000,
    "surrogate in id": '{"id": "\\ud800", "prompt": "p", "response": "r"}',
    "surrogate in prompt": '{"prompt": "x\\udfff", "response": "r"}',
    "surrogate in a key": '{"prompt": "p", "response": "r", "\\udbff": 1}',
    "NaN": '{"prompt": "p", "response": "r", "harmful": NaN}',
    "Infinity": '{"prompt": "p", "response": "r", "id": -Infinity}',
}


@pytest.mark.parametrize("name", NASTY_LINES)
def test_hostile_records_are_one_line_naming_file_and_line_and_nothing_is_written(name, tmp_path):
    data = tmp_path / "upload.jsonl"
    data.write_text('{"prompt": "fine", "response": "fine"}\n' + NASTY_LINES[name] + "\n", encoding="utf-8")
    line = _error_line(_invoke("score", "--model", "tiny", "--data", data, "-o", tmp_path / "scores.jsonl"))
    assert line.startswith(f"error: {data}:2: ")
    as_array = tmp_path / "upload.json"
    as_array.write_text(f"[{NASTY_LINES[name]}]", encoding="utf-8")
    assert _error_line(_invoke("score", "--model", "tiny", "--data", as_array)).startswith(f"error: {as_array}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload.json", "upload.jsonl"]


@pytest.mark.parametrize("text", ["lr: 1" + "0" * 5000, "lr: " + "[" * 50_000 + "]" * 50_000, 'model: "\\ud800"',
                                  "lr: !!python/object/apply:os.system [echo pwned]"])
def test_hostile_recipe_files_are_one_line(text, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(AntibodyError) as caught:
        load_recipe("finetune", str(recipe), [])
    assert str(caught.value).startswith(f"{recipe}") and "\n" not in str(caught.value)


nasty_values = st.one_of(
    st.integers(1, 30_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 30_000).map(lambda n: '{"a":' * n + "0" + "}" * n),
    st.integers(4000, 6000).map(lambda n: "-" + "9" * n),
    st.sampled_from(['"\\ud800"', '"a\\udfff"', '"\\ud83d\\ude00"', '"\\ud83d"', "NaN", "-Infinity", "1e400",
                     '"\\u0000"', "1" * 4300, '"\\ud800\\ud800"']),
    st.text(max_size=6).map(json.dumps),
)


def _line(key, value):
    return '{"prompt": "p", "response": "r", "%s": %s}' % (key, value)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.builds(_line, record_keys, nasty_values).map(str.encode), st.binary(max_size=12)),
                min_size=1, max_size=4), st.booleans())
def test_any_upload_bytes_load_cleanly_or_fail_with_one_line(tmp_path, lines, as_array):
    path = tmp_path / ("upload.json" if as_array else "upload.jsonl")
    path.write_bytes(b"[" + b",".join(lines) + b"]" if as_array else b"\n".join(lines))
    try:
        examples = load_examples(str(path))
    except AntibodyError as e:
        assert str(e).startswith(f"{path}") and "\n" not in str(e)
    else:  # whatever loads can be written back out as UTF-8 JSON
        for example in examples:
            json.dumps(example.__dict__, ensure_ascii=False).encode("utf-8")


def test_a_failed_start_leaves_no_directory_and_the_retry_succeeds(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    command = ["finetune", "--data", tiny_data["user"], "--steps", 1, "max_length=64", "batch_size=2"]
    mistakes = [["--model", "./typo"], ["--model", "tiny", "device=bogus"],
                ["--model", "tiny", "lora.target_modules=[nope]"], ["--model", "tiny", "--recipe", "no-such-recipe"]]
    for mistake in mistakes:
        _error_line(_invoke(*command, *mistake, "-o", out))
        _error_line(_invoke(*command, *mistake))  # default output: runs/finetune-<time>
    monkeypatch.setitem(backends.REGISTRY, "torch", ("no_such_framework", "Backend", "torch"))
    assert "pip install 'antibody[torch]'" in _error_line(_invoke(*command, "--model", "tiny", "-o", out))
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert not out.exists() and not (tmp_path / "runs").exists()
    assert _invoke(*command, "--model", "tiny", "-o", out).exit_code == 0


HOLD_LOCK = ("import sys; from pathlib import Path; from antibody_cli.outputs import hold_lock; "
             "hold_lock(Path(sys.argv[1]), Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()")


@contextmanager
def _locked_by_another_process(lock: Path):
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout.readline().strip() == "held"
        yield process.pid
    finally:
        process.stdin.close()
        process.wait()


def test_a_second_writer_is_refused_with_the_holders_pid(tiny_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with _locked_by_another_process(out / LOCK) as pid:
        line = _error_line(_invoke("harden", "tiny", "--steps", 1, "-o", out))
        assert f"{out}: in use by another antibody process (pid {pid})" in line
    assert sorted(p.name for p in out.iterdir()) == [LOCK]
    target = tmp_path / "scores.jsonl"
    score = ["score", "--model", "tiny", "--data", tiny_data["user"], "max_length=64", "-o", target]
    with _locked_by_another_process(tmp_path / ".scores.jsonl.lock") as pid:
        assert f"(pid {pid})" in _error_line(_invoke(*score)) and not target.exists()
    assert _invoke(*score).exit_code == 0 and target.is_file()
    assert not (tmp_path / ".scores.jsonl.lock").exists()
    assert "output file already exists" in _error_line(_invoke(*score))


def test_resume_of_a_run_that_is_still_training_is_refused(tiny_data, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(_harden_command(tiny_data, out, 100_000), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:  # no deadline of our own: on a loaded machine the first writer may take minutes to start
        while not (out / "checkpoints" / "latest").exists():
            assert process.poll() is None, "the first writer ended before its first checkpoint"
            time.sleep(0.01)
        line = _error_line(_invoke("harden", "--resume", "-o", out))
        assert f"in use by another antibody process (pid {process.pid})" in line
    finally:
        process.send_signal(signal.SIGINT)  # the first writer checkpoints and stops
        assert process.wait() == 130
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))


def _read_only_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o555)
        return tmp_path / "ro"
    try:  # root ignores mode bits; /sys refuses new files even to root
        tempfile.TemporaryFile(dir="/sys").close()
    except OSError:
        return Path("/sys")
    pytest.skip("no read-only directory for root here")


def test_os_errors_on_outputs_are_one_line_before_the_model_loads(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr("antibody_cli.jobs.load_backend", lambda *a: pytest.fail("loaded the model first"))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    (tmp_path / "taken.csv").write_text("x")
    read_only = _read_only_dir(tmp_path)
    data = ["--data", tiny_data["user"]]
    cases = [(["harden", "tiny", "-o", a_file], "--output names a file"),
             (["eval", "--model", "tiny", "-o", a_file / "sub"], "is a file"),
             (["finetune", "--model", "tiny", *data, "-o", read_only / "run"], "cannot write"),
             (["score", "--model", "tiny", *data, "-o", read_only / "x.csv"], "cannot write"),
             (["score", "--model", "tiny", *data, "-o", tmp_path / "taken.csv"], "output file already exists"),
             (["harden", "tiny", "-o", tmp_path], "not empty")]
    for args, message in cases:
        assert message in _error_line(_invoke(*args))
    assert (tmp_path / "taken.csv").read_text() == "x"


def test_a_full_disk_mid_run_is_one_line_and_leaves_the_run_unfinished(tiny_data, tmp_path, monkeypatch):
    def full(self, directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("backends.torch_backend.TorchBackend.save_adapter", full)
    result = _invoke(*_harden_args(tiny_data, tmp_path / "run", 1))
    assert f"{tmp_path / 'run'}: cannot write: No space left on device" in _error_line(result)
    assert not (tmp_path / "run" / "manifest.json").exists()


def _tiny_harden(tiny_data, out: Path) -> Path:
    result = _invoke(*_harden_args(tiny_data, out, 1))
    assert result.exit_code == 0, result.output
    return out


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _set_model(run: Path, model: Path) -> None:
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    (run / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "model": str(model)}))
    _rehash(run)


def test_a_tampered_finished_run_is_one_line_naming_the_file(tiny_data, tmp_path):
    good = _tiny_harden(tiny_data, tmp_path / "good")
    other = tmp_path / "other"
    tamper = {
        "truncated adapter": (lambda r: _truncate(r / "adapter_model.safetensors"),
                              "adapter_model.safetensors: does not match its sha256"),
        "missing config": (lambda r: (r / "adapter_config.json").unlink(), "adapter_config.json: missing"),
        "added weights": (lambda r: save_file({"x": torch.zeros(1)}, str(r / "more.safetensors")),
                          "more.safetensors: not listed in manifest.json"),
        "corrupt manifest": (lambda r: (r / "manifest.json").write_text("{"), "manifest.json:1: invalid JSON"),
        "manifest leaves the run": (lambda r: (r / "manifest.json").write_text('{"files": {"../x": "0"}}'),
                                    "outside the run"),
        "changed recipe": (lambda r: (r / "recipe.yaml").write_text("model: tiny\n"), "recipe.yaml: does not match"),
        "model: itself": (lambda r: _set_model(r, r), "a loop of runs"),
        "model: a loop of two": (lambda r: (shutil.copytree(r, other), _set_model(other, r), _set_model(r, other)),
                                 "a loop of runs"),
        "unfinished": (lambda r: (r / "manifest.json").unlink(), "unfinished"),
    }
    for name, (change, message) in tamper.items():
        run = tmp_path / name.replace(" ", "-").replace(":", "")
        shutil.copytree(good, run)
        change(run)
        line = _error_line(_invoke("score", "--model", run, "--data", tiny_data["user"], "-o", tmp_path / "s.jsonl"))
        assert message in line and not (tmp_path / "s.jsonl").exists(), name
    (good / "summary.json").write_text("{not json")
    assert "summary.json: does not match its sha256" in _error_line(_invoke("report", good))


def test_a_tampered_checkpoint_is_an_error_never_a_silent_restart(tiny_data, tmp_path, monkeypatch):
    interrupted = tmp_path / "interrupted"
    ctrl_c_during_call(monkeypatch, "harden_step", 2)
    result = _invoke(*_harden_args(tiny_data, interrupted, 3))
    assert result.exit_code == 130, result.output
    step = interrupted / "checkpoints" / "step-00000002"
    assert (interrupted / "checkpoints" / "latest").read_text() == step.name

    def point(run, target):
        (run / "checkpoints" / "latest").write_text(str(target))

    def restep(run):
        trainer = run / "checkpoints" / step.name / "trainer.json"
        trainer.write_text(json.dumps({**json.loads(trainer.read_text()), "step": 1}))
        write_manifest(trainer.parent, [p for p in trainer.parent.rglob("*") if p.name != "manifest.json"])

    tamper = {
        "truncated weights": (lambda r: _truncate(r / "checkpoints" / step.name / "backend" / "trainable.safetensors"),
                              "trainable.safetensors: does not match its sha256"),
        "truncated optimizer": (lambda r: _truncate(r / "checkpoints" / step.name / "backend" / "optimizer.json"),
                                "optimizer.json: does not match its sha256"),
        "empty latest": (lambda r: point(r, ""), "latest: corrupt"),
        "missing step": (lambda r: point(r, "step-00000009"), "names step-00000009, which is missing"),
        "absolute latest": (lambda r: point(r, step), "latest: corrupt"),
        "latest leaves the run": (lambda r: point(r, f"../../interrupted/checkpoints/{step.name}"), "latest: corrupt"),
        "trainer step": (restep, "trainer.json: corrupt: step 1"),
        "no checkpoint manifest": (lambda r: (r / "checkpoints" / step.name / "manifest.json").unlink(),
                                   "manifest.json: cannot read"),
    }
    for name, (change, message) in tamper.items():
        run = tmp_path / name.replace(" ", "-")
        shutil.copytree(interrupted, run)
        change(run)
        line = _error_line(_invoke("harden", "--resume", "-o", run))
        assert message in line, name
        assert (run / "checkpoints" / step.name).is_dir() and not (run / "manifest.json").exists(), name
    assert _invoke("harden", "--resume", "-o", interrupted).exit_code == 0


def test_csv_cells_that_spreadsheets_would_execute_are_written_inert(tmp_path):
    records = [{"id": '=HYPERLINK("http://evil")', "prompt": "+cmd|' /C calc'!A0", "response": "a"},
               {"id": "@SUM(A1)", "prompt": "-2+3", "response": "b"},
               {"id": -5, "prompt": "\t=1", "response": "c"},
               {"id": "plain", "prompt": "What is 2 + 2?", "response": "d"}]
    data = write_jsonl(tmp_path / "u.jsonl", records)
    out = tmp_path / "s.csv"
    assert _invoke("score", "--model", "tiny", "--data", data, "max_length=64", "-o", out).exit_code == 0
    rows = {row["index"]: row for row in csv.DictReader(out.open(newline="", encoding="utf-8"))}
    assert [rows[str(i)]["id"] for i in range(4)] == ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)", "-5", "plain"]
    assert [rows[str(i)]["prompt"] for i in range(4)] == ["'+cmd|' /C calc'!A0", "'-2+3", "'\t=1", "What is 2 + 2?"]
    assert all(float(row["score"]) == float(row["score"]) for row in rows.values())
