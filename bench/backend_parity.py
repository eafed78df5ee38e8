"""torch vs MLX on a real model: the same per-sample log-likelihoods and the same suspects from `score`.

The parity tests (`pytest -m parity`) check this on tiny weights; this checks it on the model a user
runs, and times both backends on it (MLX on Linux is CPU-only and much slower: keep --samples small).

    python bench/backend_parity.py --model smollm2-135m --samples 24
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from antibody_cli.algorithms import likelihood_ratios  # noqa: E402
from antibody_cli.data import load_examples, load_refusals  # noqa: E402
from antibody_cli.recipes import ScoreRecipe, backend_configs  # noqa: E402
from antibody_cli.scoring import auroc  # noqa: E402
from backends import load_backend  # noqa: E402


def measure(backend_name: str, model: str, examples, refusal: str, max_length: int, batch_size: int) -> dict:
    began = time.perf_counter()
    recipe = ScoreRecipe(model=model, device="cpu", max_length=max_length)
    backend = load_backend(backend_name, *backend_configs(recipe))
    loaded = time.perf_counter() - began
    task = [backend.encode(e.messages, e.answer, max_length) for e in examples]
    refusals = [backend.encode(e.messages, refusal, max_length) for e in examples]
    logp, ratios = [], []
    began = time.perf_counter()
    for start in range(0, len(task), batch_size):
        batch = slice(start, start + batch_size)
        sums, counts = backend.loglik(task[batch])
        logp += [s / n for s, n in zip(sums, counts)]
        ratios += likelihood_ratios(backend, task[batch], [refusals[batch]])
    return {"load_s": loaded, "score_s": time.perf_counter() - began, "logp": logp, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", default="builtin:user")
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    examples = load_examples(args.data)[: args.samples]
    refusal = load_refusals("builtin:refusals")[0]
    runs = {name: measure(name, args.model, examples, refusal, args.max_length, args.batch_size)
            for name in ("torch", "mlx")}
    t, m = runs["torch"], runs["mlx"]
    k = max(1, len(examples) // 4)
    suspects = [set(sorted(range(len(examples)), key=run["ratios"].__getitem__)[:k]) for run in (t, m)]
    labels = [bool(e.harmful) for e in examples]
    result = {
        "model": args.model, "samples": len(examples),
        "max_rel_diff_logp": max(abs(a - b) / abs(a) for a, b in zip(t["logp"], m["logp"])),
        "max_abs_diff_ratio": max(abs(a - b) for a, b in zip(t["ratios"], m["ratios"])),
        f"top{k}_suspects_shared": len(suspects[0] & suspects[1]),
        "auroc": {name: auroc([-r for r in run["ratios"]], labels) for name, run in runs.items()},
        "seconds": {name: {"load": run["load_s"], "score": run["score_s"]} for name, run in runs.items()},
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
