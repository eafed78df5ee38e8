"""`antibody report` in a CI log: 80 columns, not a terminal, and nothing cut."""

import io
import json

from rich.console import Console

from antibody_cli import report
from antibody_cli.outputs import write_manifest

LONG_EVAL = "3-eval-harden-antibody-finetune-sft-p0.2"
LONG_TUNE = "finetune-antibody-on-antibody-p0.2-temperature-0.05"


def _run(root, name, summary):
    (root / name).mkdir()
    (root / name / "summary.json").write_text(json.dumps(summary))
    write_manifest(root / name, [root / name / "summary.json"], command=summary["command"])


def test_report_tables_fit_80_columns_without_cutting_headers_or_names(tmp_path, monkeypatch):
    _run(tmp_path, LONG_EVAL, {"command": "eval", "model": "/runs/grid/runs/finetune_antibody_antibody_p0.2",
                               "judge": "patterns", "harmful_score": 0.1, "over_refusal": 0.076,
                               "finetune_accuracy": 0.97})
    _run(tmp_path, LONG_TUNE, {"command": "finetune", "weighting": "antibody", "temperature": 0.2,
                               "mean_weight_harmful": 0.00123, "mean_weight_benign": 1.2,
                               "mean_effective_batch": 1.8})
    out = io.StringIO()
    monkeypatch.setattr(report, "console", Console(file=out, width=80, force_terminal=False))
    report.print_runs([str(tmp_path)])
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for header in ("HS ↓", "OR ↓", "FA ↑", "harmful", "benign", "eff. batch", "weighting"):
        assert header in text, header
    for value in ("10.0%", "7.6%", "97.0%", "0.00123", "1.8"):
        assert value in text, value
    cells = "".join(line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│"))
    assert LONG_EVAL in cells and LONG_TUNE in cells  # folded over lines, every character kept
    assert "finetune_antibody_antibody_p0.2" in "".join(
        line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│"))
