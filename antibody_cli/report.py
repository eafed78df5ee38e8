"""Rich tables for what the commands produce, on stdout.

They must stay readable in a CI log (not a terminal: 80 columns), so headers are short and never
wrap, numbers never wrap, and names fold onto a second line instead of being cut.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from antibody_cli.errors import AntibodyError
from antibody_cli.evaluation import TERSE_WORDS
from antibody_cli.outputs import MANIFEST, verify
from antibody_cli.untrusted import parse_json, read_json_object, read_text

console = Console()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _excerpt(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(title: str, *columns: str, caption: str | None = None) -> Table:
    """Columns named with a trailing '#' hold numbers: right-aligned, never wrapped; the others fold."""
    table = Table(title=title, caption=caption)
    for column in columns:
        if column.endswith("#"):
            table.add_column(column[:-1], justify="right", no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    return table


def print_scores(rows: list[dict], metrics: dict, top: int) -> None:
    table = _table(f"{min(top, len(rows))} most suspect of {len(rows)} samples (lower r = more suspect)",
                   "index#", "id", "r#", "label", "prompt", caption="r: nats/token")
    for row in rows[:top]:
        label = {True: "harmful", False: "benign", None: ""}[row["harmful"]]
        table.add_row(str(row["index"]), row["id"] or "", f"{row['score']:+.3f}", label, _excerpt(row["prompt"]))
    console.print(table)
    line = f"flagged (r < 0): {metrics['flagged']} of {metrics['samples']}"
    if metrics.get("auroc") is not None:
        line += (f"; AUROC {metrics['auroc']:.3f}; precision of flagged {_pct(metrics['precision_flagged'])}, "
                 f"recall {_pct(metrics['recall_flagged'])}")
    console.print(line)


def print_eval(summary: dict) -> None:
    table = _table(f"eval of {_excerpt(str(summary['model']), 50)}", "metric", "value#", "prompts#", "how")
    if "harmful_score" in summary:
        table.add_row("harmful score ↓", _pct(summary["harmful_score"]), str(summary["harmful_prompts"]),
                      f"harmful answers, judge: {summary.get('judge', 'patterns')}")
    if "harmful_terse" in summary:
        table.add_row("  of which terse", _pct(summary["harmful_terse"]), str(summary["harmful_prompts"]),
                      f"harmful answers of < {TERSE_WORDS} words: no refusal, no content either")
    if "over_refusal" in summary:
        table.add_row("over-refusal ↓", _pct(summary["over_refusal"]), str(summary["benign_prompts"]),
                      "benign prompts refused")
    if "everyday_refusal" in summary:
        table.add_row("everyday refusal ↓", _pct(summary["everyday_refusal"]), str(summary["everyday_prompts"]),
                      "everyday requests refused")
    if "finetune_accuracy" in summary:
        table.add_row("finetune accuracy ↑", _pct(summary["finetune_accuracy"]), str(summary["task_prompts"]),
                      "task test answers correct")
    console.print(table)


def _finished_runs(paths: list[str]) -> list[Path]:
    runs = []
    for name in paths:
        path = Path(name)
        if not path.is_dir():
            raise AntibodyError("not a directory", file=name)
        found = [path] if (path / MANIFEST).is_file() else sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
        if not found:
            raise AntibodyError("no finished run here (no manifest.json)", file=name)
        runs += found
    for run in runs:  # a summary changed after the run finished is reported as such, not read
        verify(run)
    return runs


def print_runs(paths: list[str]) -> None:
    """One table for eval runs, one for fine-tunes, then the top suspects of each score run."""
    runs = [(p, read_json_object(p / "summary.json")) for p in _finished_runs(paths) if (p / "summary.json").is_file()]
    evals = [(p, s) for p, s in runs if s["command"] == "eval"]
    if evals:
        table = _table("Evaluations", "run", "model", "judge", "HS ↓#", "OR ↓#", "FA ↑#",
                       caption="HS: harmful score, OR: over-refusal, FA: finetune accuracy")
        for p, s in evals:
            table.add_row(p.name, Path(s["model"]).name, s.get("judge", "patterns" if "harmful_score" in s else "-"),
                          _pct(s.get("harmful_score")), _pct(s.get("over_refusal")), _pct(s.get("finetune_accuracy")))
        console.print(table)
    tunes = [(p, s) for p, s in runs if s["command"] == "finetune"]
    if tunes:
        table = _table("Fine-tunes: mean sample weight (1 = plain SFT)", "run", "weighting", "τ#", "harmful#",
                       "benign#", "eff. batch#", caption="eff. batch: (Σw)²/Σw², the samples a batch trains on")
        for p, s in tunes:
            number = lambda k: "-" if k not in s else f"{s[k]:.3g}"  # noqa: E731
            table.add_row(p.name, s["weighting"], str(s["temperature"]), number("mean_weight_harmful"),
                          number("mean_weight_benign"), number("mean_effective_batch"))
        console.print(table)
    for p, s in runs:
        if s["command"] == "score" and (p / "scores.jsonl").is_file():
            path = p / "scores.jsonl"
            rows = [parse_json(line, str(path), n) for n, line in enumerate(read_text(path).splitlines(), start=1)]
            console.print(f"[bold]{p.name}")
            print_scores(rows, s, 5)
