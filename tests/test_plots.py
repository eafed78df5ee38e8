"""`antibody report --plot`: which pictures, what they show, where they go, and no matplotlib without it."""

import json
import random
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from antibody_cli import plots
from antibody_cli.cli import app
from antibody_cli.outputs import write_manifest
from antibody_cli.scoring import auroc, roc_curve

pytest.importorskip("matplotlib")
runner = CliRunner()

# A Lisa-style fine-tune: an alignment step logs no weights; `weight_flagged` stands for a key added later.
FINETUNE = [{"step": 1, "loss": 2.0, "weight_min": 1e-6, "weight_max": 1.6, "weight_harmful": 1e-6,
             "weight_benign": 1.3, "weight_flagged": 0.5, "effective_batch": 3.1, "lr": 3e-4},
            {"step": 2, "phase": "align", "loss": 1.5, "lr": 3e-4},
            {"step": 3, "loss": 1.2, "weight_min": 2e-7, "weight_max": 1.7, "weight_harmful": 2e-7,
             "weight_benign": 1.4, "weight_flagged": 0.4, "effective_batch": 3.3, "lr": 3e-4}]
HARDEN = [{"step": s, "loss_align": 1.0 / s, "loss_harm": 2.0 + s, "lambda_raw": 5.0 - s, "lambda": 4.0}
          for s in (1, 2)]
SCORES = [{"index": i, "id": None, "score": r, "harmful": h, "prompt": "p"}
          for i, (r, h) in enumerate([(-2.0, True), (-1.0, True), (-1.0, False), (0.5, False), (1.5, None)])]


def finished_run(path, command, **files):
    path.mkdir(parents=True)
    for name, rows in files.items():
        (path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "summary.json").write_text(json.dumps({"command": command, "samples": 5, "flagged": 3,
                                                   "weighting": "antibody", "temperature": 0.2}))
    write_manifest(path, [p for p in path.iterdir() if p.is_file()], command=command)
    return path


def lines(axis):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.lines}


def test_report_plot_writes_each_runs_pictures_beside_it_and_prints_their_paths(tmp_path):
    runs = tmp_path / "runs"
    finished_run(runs / "harden-1", "harden", metrics=HARDEN)
    finished_run(runs / "finetune-1", "finetune", metrics=FINETUNE)
    finished_run(runs / "score-1", "score", scores=SCORES)
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["report", str(runs), "--plot"])
    assert result.exit_code == 0, result.output
    expected = [runs / name for name in ("finetune-1.curves.png", "finetune-1.weights.png", "harden-1.curves.png",
                                         "score-1.scores.png")]
    assert sorted(line for line in result.output.splitlines() if line.endswith(".png")) == list(map(str, expected))
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in expected)
    assert {p: p.read_bytes() for p in runs.rglob("*") if p.is_file() and p.suffix != ".png"} == before
    assert not list(runs.glob("*/*.png"))  # nothing inside a sealed run


def test_the_weights_picture_shows_every_weight_key_at_the_steps_that_logged_it():
    figure = plots.weights_figure(FINETUNE, "finetune-1")
    series = lines(figure.axes[0])
    assert set(series) == {"weight_min", "weight_max", "weight_harmful", "weight_benign", "weight_flagged"}
    assert series["weight_harmful"] == ([1, 3], [1e-6, 2e-7])
    assert series["weight_flagged"] == ([1, 3], [0.5, 0.4])
    assert figure.axes[0].get_yscale() == "log"  # 1e-7 .. 1.7: linear would hide the harmful weights


def test_the_curves_show_losses_lambda_and_effective_batch_where_logged():
    harden = plots.curves_figure(HARDEN, "harden-1")
    assert [set(lines(axis)) for axis in harden.axes] == [{"loss_align", "loss_harm"}, {"lambda", "lambda_raw"}]
    assert lines(harden.axes[1])["lambda_raw"] == ([1, 2], [4.0, 3.0])
    finetune = plots.curves_figure(FINETUNE, "finetune-1")
    assert [set(lines(axis)) for axis in finetune.axes] == [{"loss"}, {"effective_batch"}]
    assert lines(finetune.axes[0])["loss"] == ([1, 2, 3], [2.0, 1.5, 1.2])


def test_the_scores_picture_has_histograms_by_label_and_the_roc_of_the_labelled_rows():
    figure = plots.scores_figure(SCORES, "score-1")
    histogram, roc = figure.axes
    assert [t.get_text() for t in histogram.get_legend().get_texts()] == ["harmful (2)", "benign (2)",
                                                                          "unlabelled (1)"]
    (label, (fpr, tpr)), = [(k, v) for k, v in lines(roc).items() if not k.startswith("_")]  # not the diagonal
    scores, harmful = [2.0, 1.0, 1.0, -0.5], [True, True, False, False]  # −r of the labelled rows
    assert (fpr, tpr) == roc_curve(scores, harmful) == ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    assert label == f"AUROC {auroc(scores, harmful):.3f}" == "AUROC 0.875"
    assert len(plots.scores_figure([r for r in SCORES if r["harmful"] is not True], "s").axes) == 1


def test_the_area_under_the_roc_curve_is_the_auroc_with_ties():
    rng = random.Random(0)
    for _ in range(20):
        scores = [rng.choice([0.0, 0.5, 1.0, 1.5]) + rng.choice([0, 0, 0.25]) for _ in range(30)]
        positive = [rng.random() < 0.4 for _ in scores]
        if all(positive) or not any(positive):
            continue
        fpr, tpr = roc_curve(scores, positive)
        area = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
        assert area == pytest.approx(auroc(scores, positive))
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_matplotlib_is_imported_only_to_plot_and_missing_is_one_line_naming_the_extra(tmp_path):
    run = finished_run(tmp_path / "finetune-1", "finetune", metrics=FINETUNE)
    code = ("import sys; from antibody_cli.cli import app; app(['report', sys.argv[1]], standalone_mode=False); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
    code = "import sys; sys.modules['matplotlib'] = None; from antibody_cli.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "report", str(run), "--plot"], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --plot needs 'matplotlib': pip install 'antibody[plot]'"
    assert not list(tmp_path.glob("*.png"))
