"""`antibody report --plot`: PNGs of finished runs, written beside each run directory.

Beside, not inside: a finished run is sealed by its manifest. Training runs get their curves
(losses, λ_t, effective batch) and, when their metrics have `weight_*` keys, the per-step sample
weights (harmful against benign: the paper's Figure 2); score runs get the histogram of r by label
and the ROC curve. matplotlib is the `plot` extra, imported only here, only when plotting.
"""

from __future__ import annotations

import json
from pathlib import Path

from antibody_cli.errors import AntibodyError
from antibody_cli.scoring import auroc, roc_curve

COLOURS = {"harmful": "tab:red", "benign": "tab:green", "unlabelled": "tab:gray"}
LABELS = {True: "harmful", False: "benign", None: "unlabelled"}


def plot_runs(runs: list[Path]) -> list[Path]:
    """Write every picture the runs have data for; returns the paths written."""
    written = []
    for run in runs:
        run = run.resolve()
        figures = {}
        if (run / "metrics.jsonl").is_file():
            rows = _jsonl(run / "metrics.jsonl")
            figures["curves"] = curves_figure(rows, run.name)
            if _keys(rows, "weight_"):
                figures["weights"] = weights_figure(rows, run.name)
        if (run / "scores.jsonl").is_file():
            figures["scores"] = scores_figure(_jsonl(run / "scores.jsonl"), run.name)
        for kind, figure in figures.items():
            path = run.parent / f"{run.name}.{kind}.png"
            figure.savefig(path, dpi=120)
            written.append(path)
    return written


def curves_figure(rows: list[dict], title: str):
    """One panel each for the losses, λ_t and the effective batch, where the run logged them."""
    panels = [(label, keys) for label, keys in (("loss", _keys(rows, "loss")),
                                                  ("λ_t", [k for k in ("lambda", "lambda_raw") if _has(rows, k)]),
                                                  ("effective batch", _keys(rows, "effective_batch")))
              if keys]
    figure = _figure(len(panels) or 1, title)
    for axis, (label, keys) in zip(figure.axes, panels):
        for key in keys:
            axis.plot(*_series(rows, key), label=key)
        axis.set(xlabel="step", ylabel=label)
        axis.legend(fontsize=8)
    return figure


def weights_figure(rows: list[dict], title: str):
    """Every `weight_*` series per step; log scale when they span orders of magnitude."""
    figure = _figure(1, f"{title}: sample weights (1 = plain SFT)")
    axis = figure.axes[0]
    values = []
    for key in _keys(rows, "weight_"):
        steps, series = _series(rows, key)
        values += series
        group = key.removeprefix("weight_")
        axis.plot(steps, series, label=key, color=COLOURS.get(group),
                  linestyle="-" if group in COLOURS else ":")
    positive = [v for v in values if v > 0]
    if positive and max(positive) > 100 * min(positive):
        axis.set_yscale("log")
    axis.set(xlabel="step", ylabel="mean weight in the batch")
    axis.legend(fontsize=8)
    return figure


def scores_figure(rows: list[dict], title: str):
    """Histogram of r by label (r < 0 is flagged), and the ROC curve of −r for 'harmful' when labelled."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(LABELS[row.get("harmful")], []).append(row["score"])
    labelled = "harmful" in groups and "benign" in groups
    figure = _figure(2 if labelled else 1, title)
    histogram = figure.axes[0]
    span = (min(r["score"] for r in rows), max(r["score"] for r in rows))
    for name in COLOURS:
        if name in groups:
            histogram.hist(groups[name], bins=30, range=span, alpha=0.6, color=COLOURS[name],
                           label=f"{name} ({len(groups[name])})")
    histogram.axvline(0, color="black", linewidth=0.8, linestyle="--")
    histogram.set(xlabel="r (nats/token; r < 0 flagged)", ylabel="samples")
    histogram.legend(fontsize=8)
    if labelled:
        labelled_rows = [r for r in rows if r.get("harmful") is not None]
        scores, harmful = [-r["score"] for r in labelled_rows], [r["harmful"] for r in labelled_rows]
        roc = figure.axes[1]
        roc.plot(*roc_curve(scores, harmful), color=COLOURS["harmful"], label=f"AUROC {auroc(scores, harmful):.3f}")
        roc.plot([0, 1], [0, 1], color="gray", linewidth=0.8, linestyle=":")
        roc.set(xlabel="false-positive rate (benign flagged)", ylabel="true-positive rate (harmful flagged)",
                xlim=(0, 1), ylim=(0, 1.01))
        roc.legend(fontsize=8, loc="lower right")
    return figure


def _figure(panels: int, title: str):
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise AntibodyError("--plot needs 'matplotlib': pip install 'antibody[plot]'") from None
    figure = Figure(figsize=(5 * panels, 3.8), layout="constrained")
    figure.subplots(1, panels, squeeze=False)
    figure.suptitle(title, fontsize=10)
    return figure


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _has(rows: list[dict], key: str) -> bool:
    return any(isinstance(r.get(key), (int, float)) for r in rows)


def _keys(rows: list[dict], prefix: str) -> list[str]:
    """Numeric keys starting with `prefix`, in the order the rows first show them."""
    keys = dict.fromkeys(k for r in rows for k in r if k.startswith(prefix))
    return [k for k in keys if _has(rows, k)]


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the rows that logged `key` (Lisa's alignment steps and skipped steps do not)."""
    chosen = [r for r in rows if isinstance(r.get(key), (int, float))]
    return [r["step"] for r in chosen], [r[key] for r in chosen]
