"""Step cost: a defended fine-tune step, a harden step and `score`, against a plain SFT step.

The defended step is timed with a separate refusal forward, with the prompt's KV cache shared
(`share_prompt`), and as `antibody finetune` runs it by default: shared, with the safety mix's
trusted alignment samples added to the batch (`weighted_mix`, `ft_mix_ratio`).

Same model, same batch, same process; A/B alternated over repeats after warm-up; medians.
Peak memory is measured per kind in a fresh subprocess (RSS on CPU, max_memory_allocated on
CUDA), since a process's peak RSS only ever grows.

Harden is timed for each `attack_every` k in --ks (default 1 2 4 8) as k consecutive steps, one
attack and the k − 1 steps that reuse it, divided by k: the cost per step a k-run pays on average
(`harden_ratio_by_k` in --json; `harden_ratio` is k = 1), without the refusal-openings term (the
paper's step), with it (`harden_openings_ratio_by_k`: the default recipe's step, two more short passes
every step, attack or not; `harden_openings_ratio` is k = 1), and with it inside the alignment pass
(`harden_openings_in_pass_ratio_by_k`: `refusal_openings.prompts: alignment`, whose openings continue the
alignment batch's prompts from their KV cache).

    python bench/step_cost.py --model tiny
    python bench/step_cost.py --model smollm2-135m --lengths 64 128 --json cost.json
    python bench/step_cost.py --model smollm2-135m --upload builtin:user   # score vs training on real lengths

The fixed-length batches above cannot show what sorting by length buys `score`; `--upload FILE`
also times, on that file's real lengths, `score` (length-sorted batches, as `antibody score` runs
it) against one epoch of plain SFT steps (random batches, as training runs them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from antibody_cli.algorithms import HardenBatch, Weighting, harden_step, likelihood_ratios, weighted_step  # noqa: E402
from antibody_cli.data import load_examples, load_refusals  # noqa: E402
from antibody_cli.jobs import encode_openings  # noqa: E402
from antibody_cli.recipes import HardenRecipe, SafetySettings, backend_configs, harden_config  # noqa: E402
from antibody_cli.batching import batch_indices, length_sorted_batches  # noqa: E402
from backends import load_backend  # noqa: E402

KS = (1, 2, 4, 8)
# the paper's step; the default recipe's, with the openings term; with it in the alignment pass (prompts: alignment)
HARDENS = ("harden", "harden_openings", "harden_openings_in_pass")
MIX_PER_BATCH = SafetySettings().per_batch  # alignment samples the default fine-tune adds to each batch


def kinds(ks) -> tuple[str, ...]:
    return ("sft", "weighted", "weighted_shared", "weighted_mix", *(f"{h}@{k}" for h in HARDENS for k in ks),
            "score")


def make_batch(backend, length: int, batch_size: int, benign_share: float, opening_words: int):
    """Default-data samples stretched to exactly `length` tokens, with natural-length refusals and refusal
    openings: (task, refusal, align, openings of their own: (under batch_size benign prompts, under the task's
    harmful ones), openings in the alignment pass: (under align's benign prompts, under its harmful ones)).
    Align is mixed as harden mixes it (benign_share, with at least one harmful row so that both sides of the
    in-pass term are timed), its harmful prompts answered with the refusal."""
    examples = load_examples("builtin:align")
    refusal = load_refusals("builtin:refusals")[0]
    harmful = [e for e in examples if e.harmful][:batch_size]
    benign = [e for e in examples if not e.harmful][:batch_size]
    n_benign = min(round(benign_share * batch_size), batch_size - 1)

    def fit(e, answer):  # repeat the answer, then truncate: every sample is exactly `length` tokens
        return backend.encode(e.messages, (answer + " ") * 20, length)

    def openings(rows):
        return encode_openings(backend, [(e.messages, refusal) for e in rows], opening_words, length)

    task = [fit(e, e.answer) for e in harmful]
    refusals = [backend.encode(e.messages, refusal, length) for e in harmful]
    refused = harmful[:batch_size - n_benign]
    align = [fit(e, e.answer) for e in benign[:n_benign]] + [fit(e, refusal) for e in refused]
    return (task, refusals, align, (openings(benign), openings(harmful)),
            (openings(benign[:n_benign]), openings(refused)))


def runner(model: str, length: int, batch_size: int, device: str):
    recipe = HardenRecipe(model=model, device=device, max_length=length, batch_size=batch_size,
                          harm_batch_size=batch_size, lr=1e-6)
    backend = load_backend(recipe.backend, *backend_configs(recipe))
    words = recipe.refusal_openings.words  # the default recipe's two-sided refusal-openings term
    task, refusals, align, own, in_pass = make_batch(backend, length, batch_size, recipe.benign_share, words)
    lam = {"value": None}
    configs = {"harden": harden_config(recipe.model_copy(update={"refusal_openings": None})),
               "harden_openings": harden_config(recipe),
               "harden_openings_in_pass": dataclasses.replace(harden_config(recipe), openings_in_align_pass=True)}
    openings = {"harden": (), "harden_openings": own, "harden_openings_in_pass": in_pass}

    def run(kind: str) -> int:
        """One step of `kind`, or for harden@k the k steps of one attack and its reuses; returns the steps."""
        if kind == "sft":
            weighted_step(backend, task, None, Weighting(temperature=0.2))
        elif kind in ("weighted", "weighted_shared"):  # a separate refusal forward, or the prompt's KV cache
            backend.share_prompt = kind == "weighted_shared"
            weighted_step(backend, task, [refusals], Weighting(temperature=0.2))
        elif kind == "weighted_mix":  # the default fine-tune: shared prompt, + the safety mix's trusted samples
            backend.share_prompt = True
            extra = MIX_PER_BATCH
            weighted_step(backend, task + align[:extra], [refusals + refusals[:extra]], Weighting(temperature=0.2),
                          trusted=[False] * len(task) + [True] * extra)
        elif kind.startswith(tuple(f"{h}@" for h in HARDENS)):
            name, k = kind.split("@")
            k, config = int(k), dataclasses.replace(configs[name], attack_every=int(k))
            backend.share_prompt = True  # as harden runs (the in-pass openings continue the align prompts' cache)
            batch = HardenBatch(task, refusals, align, *openings[name])
            for t in range(k):  # t = 0 attacks, the others reuse it
                lam["value"], metrics = harden_step(backend, batch, config, lam["value"], t)
                assert metrics["attack"] == (t == 0) and ("openings_pulled" in metrics) == bool(openings[name])
            return k
        else:  # score, as `antibody score` runs it (share_prompt on)
            backend.share_prompt = True
            likelihood_ratios(backend, task, [refusals])
        return 1

    return backend, run


def upload_throughput(model: str, upload: str, batch_size: int, device: str, max_length: int) -> dict:
    """Samples/s of `score` (length-sorted) and of SFT training (random batches) over one upload."""
    recipe = HardenRecipe(model=model, device=device, max_length=max_length, batch_size=batch_size, lr=1e-6)
    backend = load_backend(recipe.backend, *backend_configs(recipe))
    backend.share_prompt = True
    examples = load_examples(upload)
    refusal = load_refusals("builtin:refusals")[0]
    task = [backend.encode(e.messages, e.answer, max_length) for e in examples]
    refusals = [backend.encode(e.messages, refusal, max_length) for e in examples]
    steps = -(-len(task) // batch_size)
    training = [batch_indices(len(task), batch_size, seed=0, step=t) for t in range(steps)]
    sorted_batches = length_sorted_batches([len(e.ids) for e in task], batch_size)

    def score(chunk):
        likelihood_ratios(backend, [task[i] for i in chunk], [[refusals[i] for i in chunk]])

    def train(chunk):
        weighted_step(backend, [task[i] for i in chunk], None, Weighting(temperature=0.2))

    score(sorted_batches[-1])  # warm-up, on the longest batch of each
    train(max(training, key=lambda b: max(len(task[i].ids) for i in b)))
    seconds = {}
    for name, fn, batches in (("score", score, sorted_batches), ("sft", train, training)):
        sync(backend)
        began = time.perf_counter()
        for chunk in batches:
            fn(chunk)
        sync(backend)
        seconds[name] = time.perf_counter() - began
    score_rate, train_rate = len(task) / seconds["score"], steps * batch_size / seconds["sft"]
    return {"upload": upload, "samples": len(task), "score_samples_per_s": score_rate,
            "sft_samples_per_s": train_rate, "score_upload_speedup": score_rate / train_rate}


def sync(backend) -> None:
    if getattr(backend, "device", None) is not None and backend.device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def time_kinds(model: str, length: int, batch_size: int, device: str, repeats: int,
               ks=KS) -> dict[str, float]:
    """Median seconds per step of each kind (harden@k: per step of its k-step block)."""
    backend, run = runner(model, length, batch_size, device)
    for kind in kinds(ks):  # warm-up
        run(kind)
    samples: dict[str, list[float]] = {k: [] for k in kinds(ks)}
    for _ in range(repeats):
        for kind in kinds(ks):  # interleaved, so drift hits every kind alike
            sync(backend)
            began = time.perf_counter()
            steps = run(kind)
            sync(backend)
            samples[kind].append((time.perf_counter() - began) / steps)
    return {k: statistics.median(v) for k, v in samples.items()}


def peak_memory(model: str, length: int, batch_size: int, device: str, kind: str) -> float:
    """Peak bytes of one kind of step, in a fresh process."""
    code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {str(Path(__file__).parent)!r});"
            f"import step_cost as s; print(s._peak_child({model!r}, {length}, {batch_size}, {device!r}, {kind!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def _peak_child(model: str, length: int, batch_size: int, device: str, kind: str) -> float:
    backend, run = runner(model, length, batch_size, device)
    if backend.device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
        for _ in range(2):
            run(kind)
        return float(torch.cuda.max_memory_allocated())
    for _ in range(2):
        run(kind)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="write the ratios here")
    parser.add_argument("--upload", help="also time score vs training over this data file's real lengths")
    parser.add_argument("--max-length", type=int, default=256, help="--upload: truncation, as in the recipes")
    parser.add_argument("--ks", type=int, nargs="+", default=list(KS), help="harden's attack_every values to time")
    args = parser.parse_args()
    if 1 not in args.ks or min(args.ks) < 1:
        parser.error("--ks: values ≥ 1, including 1 (the paper's step, which harden_ratio reports)")

    results = {"model": args.model, "batch_size": args.batch_size, "lengths": {}}
    for length in args.lengths:
        t = time_kinds(args.model, length, args.batch_size, args.device, args.repeats, args.ks)
        mem = {k: peak_memory(args.model, length, args.batch_size, args.device, k)
               for k in ("sft", *(f"harden@{k}" for k in args.ks))}
        by_k = {str(k): t[f"harden@{k}"] / t["sft"] for k in args.ks}
        openings_by_k = {str(k): t[f"harden_openings@{k}"] / t["sft"] for k in args.ks}
        in_pass_by_k = {str(k): t[f"harden_openings_in_pass@{k}"] / t["sft"] for k in args.ks}
        row = {
            "seconds": t,
            "ft_ratio": t["weighted"] / t["sft"],
            "ft_shared_ratio": t["weighted_shared"] / t["sft"],
            "ft_mix_ratio": t["weighted_mix"] / t["sft"],
            "harden_ratio": by_k["1"],
            "harden_ratio_by_k": by_k,
            "harden_openings_ratio": openings_by_k["1"],
            "harden_openings_ratio_by_k": openings_by_k,
            "harden_openings_in_pass_ratio_by_k": in_pass_by_k,
            "harden_mem_ratio": mem["harden@1"] / mem["sft"],
            "harden_mem_ratio_by_k": {str(k): mem[f"harden@{k}"] / mem["sft"] for k in args.ks},
            # samples/s of scoring vs of training (one SFT step trains batch_size samples)
            "score_speedup": t["sft"] / t["score"],
        }
        results["lengths"][str(length)] = row
        print(f"{args.model} length {length} batch {args.batch_size}: SFT step {t['sft'] * 1000:.0f} ms | "
              f"weighted {row['ft_ratio']:.2f}x (prompt shared: {row['ft_shared_ratio']:.2f}x, with the safety "
              f"mix: {row['ft_mix_ratio']:.2f}x) | "
              f"harden {row['harden_ratio']:.2f}x (with the openings term: {row['harden_openings_ratio']:.2f}x) "
              f"(peak memory {row['harden_mem_ratio']:.2f}x) | score {row['score_speedup']:.2f}x the "
              f"samples/s of training")
        print("  harden per step, averaged over k steps: " + ", ".join(
            f"k={k} {by_k[str(k)]:.2f}x (memory {row['harden_mem_ratio_by_k'][str(k)]:.2f}x)" for k in args.ks))
        print("  the default recipe's (with the openings term): " + ", ".join(
            f"k={k} {openings_by_k[str(k)]:.2f}x" for k in args.ks))
        print("  with the openings term in the alignment pass (prompts: alignment): " + ", ".join(
            f"k={k} {in_pass_by_k[str(k)]:.2f}x" for k in args.ks))
    first = results["lengths"][str(args.lengths[0])]
    results.update({k: first[k] for k in ("ft_ratio", "ft_shared_ratio", "ft_mix_ratio", "harden_ratio",
                                          "harden_ratio_by_k", "harden_openings_ratio",
                                          "harden_openings_ratio_by_k", "harden_openings_in_pass_ratio_by_k",
                                          "harden_mem_ratio",
                                          "harden_mem_ratio_by_k", "score_speedup")})
    if args.upload:
        row = upload_throughput(args.model, args.upload, args.batch_size, args.device, args.max_length)
        results["upload"] = row
        print(f"{args.model} on {args.upload} ({row['samples']} samples, batch {args.batch_size}): score "
              f"{row['score_samples_per_s']:.1f} samples/s, SFT training {row['sft_samples_per_s']:.1f} samples/s: "
              f"{row['score_upload_speedup']:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
