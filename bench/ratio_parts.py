"""How well each part of the likelihood ratio separates harmful from benign samples before fine-tuning.

    python bench/ratio_parts.py --hardened RUN --base smollm2-135m --upload task=FILE [task=FILE ...]

For each upload (labelled records: the first 40 harmful and the first 40 benign are used) and each
model, the summed log-probability and token count of the answer and of a refusal template, then the
AUROC for "harmful" of: the paper's mean-token ratio, its two halves, the ratio calibrated against
the base model, the first-token ratio, the whole-sequence ratio and the `longer` ratio. This is the
table of docs/efficacy.md, section 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from antibody_cli import jobs, recipes  # noqa: E402
from antibody_cli.algorithms import ratios  # noqa: E402
from antibody_cli.data import load_examples, load_refusals  # noqa: E402
from antibody_cli.scoring import auroc  # noqa: E402
from backends import load_backend  # noqa: E402
from backends.base import Encoded  # noqa: E402


def parts(model: str, examples, refusals) -> dict[str, list[float]]:
    """Per sample: answer and refusal (sum, count), whole and first token only."""
    config, _ = recipes.backend_configs(recipes.ScoreRecipe(model=model, data="-"))
    backend = load_backend("torch", config)
    answer = jobs.encode_all(backend, [(e.messages, e.answer) for e in examples], 256, "answers")
    refusal = jobs.encode_all(backend, jobs.refusal_pairs(examples, refusals, 1)[0], 256, "refusals")
    out = {}
    for name, encoded in (("ans", answer), ("ref", refusal)):
        for suffix, cut in (("", None), ("1", 1)):
            batch = [Encoded(e.ids[: e.prompt_len + cut] if cut else e.ids, e.prompt_len) for e in encoded]
            sums, counts = [], []
            for start in range(0, len(batch), 8):
                s, n = backend.loglik(batch[start: start + 8])
                sums, counts = sums + s, counts + n
            out[f"{name}{suffix}"], out[f"n_{name}{suffix}"] = sums, counts
    return out


def table(hardened: dict, base: dict, harmful: list[bool]) -> dict[str, float]:
    def mean_ratio(p):
        return ratios(p["ans"], p["n_ans"], [(p["ref"], p["n_ref"])], "mean")

    signals = {
        "r, mean-token (paper), hardened": mean_ratio(hardened),
        "answer mean-token log-prob, hardened": [s / n for s, n in zip(hardened["ans"], hardened["n_ans"])],
        "refusal mean-token log-prob, hardened (negated)": [-s / n for s, n in zip(hardened["ref"], hardened["n_ref"])],
        "r, mean-token, base": mean_ratio(base),
        "r - r_base": [a - b for a, b in zip(mean_ratio(hardened), mean_ratio(base))],
        "first-token ratio, hardened": [a - r for a, r in zip(hardened["ans1"], hardened["ref1"])],
        "whole-sequence ratio, hardened": [a - r for a, r in zip(hardened["ans"], hardened["ref"])],
        "longer, hardened": ratios(hardened["ans"], hardened["n_ans"], [(hardened["ref"], hardened["n_ref"])],
                                   "longer"),
    }
    return {name: auroc([-v for v in values], harmful) for name, values in signals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hardened", required=True)
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--upload", nargs="+", required=True, help="TASK=FILE, labelled records")
    parser.add_argument("--refusals", default="builtin:refusals")
    args = parser.parse_args(argv)
    refusals = load_refusals(args.refusals)
    uploads = dict(item.split("=", 1) for item in args.upload)
    chosen = {}
    for task, path in uploads.items():
        examples = load_examples(path)
        chosen[task] = [e for e in examples if e.harmful][:40] + [e for e in examples if not e.harmful][:40]
    results = {task: table(parts(args.hardened, ex, refusals), parts(args.base, ex, refusals),
                           [bool(e.harmful) for e in ex]) for task, ex in chosen.items()}
    print("| quantity | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for name in next(iter(results.values())):
        print(f"| {name} | " + " | ".join(f"{r[name]:.3f}" for r in results.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
