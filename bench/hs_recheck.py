"""Harmful score again, on many held-out prompts the grid never used: when its 60 prompts cannot resolve a
bar (one prompt is 1.7 points), measure the same models on a larger, fresh set.

The set is `--items` prompts of `--prompts` that are in none of the `--exclude` files (the grid's own
data/hs-prompts.jsonl), spread round-robin over the file's categories as the grid spreads its own. Each
model (a hardened or fine-tuned run directory) is evaluated for HS alone, resumably, by the `rules` judge;
with `--labels` the table also counts HS from the hand labels, for the runs whose every non-refusal has one
(the others say how many are missing: label them, then run again).

    python bench/hs_recheck.py RUN_DIR... --prompts beavertails_eval.jsonl \\
        --exclude GRID/data/hs-prompts.jsonl --items 300 --out hs-recheck [--labels docs/judge-labels.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from antibody_cli.data import load_examples, write_jsonl  # noqa: E402
from defense_grid import round_robin  # noqa: E402
from fa_recheck import evaluate_once, require_finished, write_results  # noqa: E402
from judge_agreement import hand_scores, label_index, read_labels  # noqa: E402


def fresh_prompts(source: str, exclude: list[Path], items: int) -> list[dict]:
    """`items` prompts of `source` that no `exclude` file holds, round-robin over its categories."""
    used = {e.prompt for path in exclude for e in load_examples(str(path), require_answer=False)}
    rows = [{"prompt": e.prompt, "category": e.category} for e in load_examples(source, require_answer=False)
            if e.prompt not in used]
    if len(rows) < items:
        raise SystemExit(f"{source}: only {len(rows)} prompts outside the excluded files, {items} asked for")
    return [{"prompt": r["prompt"]} for r in round_robin(rows, "category", items)]


def table(rows: list[dict]) -> str:
    lines = ["| run | prompts | HS, `rules` | HS, hand labels | unlabelled non-refusals |", "|---|---|---|---|---|"]
    for r in rows:
        hand = "-" if r.get("hs_hand") is None else f"{100 * r['hs_hand']:.1f}"
        missing = "-" if r.get("unlabelled_not_refusal") is None else str(r["unlabelled_not_refusal"])
        lines.append(f"| {r['run']} | {r['prompts']} | {100 * r['hs_rules']:.1f} | {hand} | {missing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="hardened or fine-tuned run directories")
    parser.add_argument("--prompts", required=True, help="held-out harmful prompts (JSONL with prompt, category)")
    parser.add_argument("--exclude", nargs="*", type=Path, default=[], help="prompt files to leave out (the grid's)")
    parser.add_argument("--items", type=int, default=300, help="fresh prompts")
    parser.add_argument("--labels", type=Path, help="hand labels (docs/judge-labels.jsonl)")
    parser.add_argument("--out", type=Path, default=Path("hs-recheck"))
    args = parser.parse_args(argv)
    require_finished(parser, args.runs)
    prompt_file = args.out / "data" / f"hs-fresh-{args.items}.jsonl"
    if not prompt_file.is_file():
        write_jsonl(prompt_file, fresh_prompts(args.prompts, args.exclude, args.items))
    evals = [evaluate_once(run, args.out, harmful_prompts=str(prompt_file)) for run in args.runs]
    hands = hand_scores(evals, label_index(read_labels(args.labels))) if args.labels else [None] * len(evals)
    rows = []
    for run, path, hand in zip(args.runs, evals, hands):
        summary = json.loads((path / "summary.json").read_text())
        row = {"run": str(run), "eval": str(path), "prompts": summary["harmful_prompts"],
               "hs_rules": summary["harmful_score"]}
        if hand is not None:
            row["unlabelled_not_refusal"] = hand["unlabelled_not_refusal"]
            row["hs_hand"] = None if hand["unlabelled_not_refusal"] else hand["hs_hand"]
        rows.append(row)
    write_results(args.out, rows, table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
