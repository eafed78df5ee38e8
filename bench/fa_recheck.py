"""Finetune Accuracy again, on many fresh test problems: when the grid's 60 test items cannot tell
two fine-tunes apart (one item is 1.7 points), measure the same adapters on a larger set.

The set is made by the task's own generator with seeds 1, 2, … and keeps only prompts that are in
neither built-in split, so no problem was trained on or already reported. Each run is evaluated
for FA alone (no harmful or benign prompts), resumably, and the table sets it beside the grid's own
FA for the run when the grid's eval of it sits next to it (`eval_<run>`).

    python bench/fa_recheck.py RUN_DIR... --task arithmetic --items 500 --out fa-recheck
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from antibody_cli import jobs, recipes  # noqa: E402
from antibody_cli.data import load_examples, write_jsonl  # noqa: E402
from antibody_cli.outputs import MANIFEST  # noqa: E402
from antibody_cli.tasks import TASKS, build  # noqa: E402


FRESH_TEST_SEEDS = range(1, 101)  # the generator seeds this script's test sets come from


def fresh_problems(task: str, items: int, seeds: range = FRESH_TEST_SEEDS) -> list[dict]:
    """`items` distinct (prompt, completion) rows of the task from the generator at `seeds`, in order, none
    of whose prompts is in builtin:<task>_train or builtin:<task>_test; deterministic."""
    seen = {e.prompt for split in ("train", "test") for e in load_examples(f"builtin:{task}_{split}")}
    rows: list[dict] = []
    for seed in seeds:
        if len(rows) >= items:
            break
        for row in (r for split in build(task, seed).values() for r in split):
            if row["prompt"] not in seen and len(rows) < items:
                seen.add(row["prompt"])
                rows.append(row)
    if len(rows) < items:
        raise SystemExit(f"{task}: fewer than {items} fresh problems in seeds {seeds.start}-{seeds.stop - 1} "
                         "of its generator")
    return rows


def evaluate_once(run: Path, out: Path, **measure) -> Path:
    """The eval directory of `run` on what `measure` sets (EvalRecipe fields; every prompt set it does not name
    is skipped), evaluated on the first call and read back after. It is named by the run's full path too: two
    grids name their runs alike."""
    path = out / "runs" / f"{run.name}-{hashlib.sha256(str(run.resolve()).encode()).hexdigest()[:8]}"
    if not (path / MANIFEST).is_file():
        recipe = recipes.EvalRecipe(model=str(run), **{"harmful_prompts": None, "benign_prompts": None,
                                                       "everyday_prompts": None, **measure})
        print(f"\n== {run.name}", flush=True)
        jobs.evaluate(recipe, str(path))
    return path


def recheck(run: Path, test_file: Path, task: str, out: Path) -> dict:
    """FA of one fine-tuned run on the fresh set, and the grid's."""
    path = evaluate_once(run, out, task_data=str(test_file), task_scorer=TASKS[task].scorer,
                         task_max_new_tokens=TASKS[task].max_new_tokens)
    fresh = json.loads((path / "summary.json").read_text())
    grid_eval = run.parent / f"eval_{run.name}" / "summary.json"
    grid = json.loads(grid_eval.read_text()) if grid_eval.is_file() else {}
    return {"run": str(run), "fa_fresh": fresh["finetune_accuracy"], "items_fresh": fresh["task_prompts"],
            "fa_grid": grid.get("finetune_accuracy"), "items_grid": grid.get("task_prompts")}


def table(rows: list[dict]) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    lines = ["| run | FA, fresh set | items | FA, grid | items |", "|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {pct(r['fa_fresh'])} | {r['items_fresh']} | {pct(r['fa_grid'])} | "
              f"{r['items_grid'] or '-'} |" for r in rows]
    return "\n".join(lines)


def require_finished(parser: argparse.ArgumentParser, runs: list[Path]) -> None:
    """A usage error naming every run directory that is not a finished run, before anything is evaluated."""
    missing = [str(r) for r in runs if not (r / MANIFEST).is_file()]
    if missing:
        parser.error(f"not a finished run: {', '.join(missing)}")


def write_results(out: Path, rows: list[dict], text: str) -> None:
    """OUT/results.json (the rows) and OUT/results.md (the table), and the table printed."""
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    (out / "results.md").write_text(text + "\n")
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="fine-tuned run directories (adapters)")
    parser.add_argument("--task", default="arithmetic", choices=sorted(TASKS))
    parser.add_argument("--items", type=int, default=500, help="fresh test problems")
    parser.add_argument("--out", type=Path, default=Path("fa-recheck"))
    args = parser.parse_args(argv)
    require_finished(parser, args.runs)
    test_file = args.out / "data" / f"{args.task}-fresh-{args.items}.jsonl"
    if not test_file.is_file():
        write_jsonl(test_file, fresh_problems(args.task, args.items))
    rows = [recheck(run, test_file, args.task, args.out) for run in args.runs]
    write_results(args.out, rows, table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
