"""The paper's comparison, reproduced on a real model with the project itself.

Alignment {refusal SFT, Booster, Antibody} × fine-tune {SFT, Lisa, Antibody} at harmful ratio
p = 0.2; the sweep p ∈ {0, 0.1, 0.5} for (SFT, SFT) and (Antibody, Antibody), p = 0 being the
control that separates what the harmful samples do from what benign fine-tuning does; ablations
(Antibody without flatness ρ = 0, without the perturbed-refusal term, without weighting) and a
temperature sweep. The customer upload is (1 − p)·n task samples + p·n harmful samples.

    python bench/defense_grid.py --quick      # a smoke run of the grid, < 15 min on 2 CPU cores
    python bench/defense_grid.py              # the full grid, < 90 min on 2 CPU cores
    python bench/defense_grid.py --harmful-data beavertails_attack.jsonl --hs-prompts beavertails_eval.jsonl

Writes OUT/results.md (the tables), OUT/results.json and OUT/weights.png (the likelihood-ratio
weights of harmful vs benign samples during the defended fine-tune, the paper's Figure 2).
Every job is a normal run directory under OUT/runs: re-running skips the finished ones and
resumes an interrupted one.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from antibody_cli import jobs, recipes  # noqa: E402
from antibody_cli.algorithms import effective_batch, softmax_weights  # noqa: E402
from antibody_cli.data import load_examples  # noqa: E402
from antibody_cli.evaluation import TERSE_WORDS, terse_share  # noqa: E402
from antibody_cli.outputs import MANIFEST  # noqa: E402
from antibody_cli.tasks import TASKS  # noqa: E402

ALIGNMENTS = {  # name -> (shipped recipe, overrides)
    "sft": ("refusal-sft", ()), "booster": ("booster", ()), "antibody": ("harden", ()),
    "antibody ρ=0": ("harden", ("rho=0",)), "antibody λ_ref=0": ("harden", ("refusal_weight=0",)),
}
FINETUNES = {"sft": ("sft", ()), "lisa": ("lisa", ()), "antibody": ("finetune", ())}


@dataclass(frozen=True)
class Plan:
    harden_steps: int
    finetune_steps: int
    user_size: int            # samples in each simulated upload
    eval_limit: int | None    # prompts per eval set (None: all)
    max_new_tokens: int
    full: bool                # sweeps and ablations too
    lr: float = 1e-3          # the fine-tune's: strong enough to break a plainly aligned model


FULL = Plan(harden_steps=40, finetune_steps=20, user_size=200, eval_limit=None, max_new_tokens=24, full=True)
QUICK = Plan(harden_steps=6, finetune_steps=6, user_size=48, eval_limit=16, max_new_tokens=16, full=False)


@dataclass(frozen=True)
class Cell:
    section: str
    align: str
    finetune: str
    p: float
    extra: tuple[str, ...] = field(default=())  # fine-tune overrides

    @property
    def name(self) -> str:
        extra = "".join(f" {e}" for e in self.extra)
        return f"{self.align} + {self.finetune} p={self.p}{extra}"


def cells(plan: Plan) -> list[Cell]:
    grid = [Cell("grid", a, f, 0.2) for a in ("sft", "booster", "antibody") for f in FINETUNES]
    sweep = [Cell("p sweep", a, a, p) for a in ("sft", "antibody") for p in ((0.0, 0.1, 0.5) if plan.full else (0.0,))]
    if not plan.full:
        return grid + sweep
    ablations = [Cell("ablation", a, "antibody", 0.2) for a in ("antibody ρ=0", "antibody λ_ref=0")]
    temperature = [Cell("τ sweep", "antibody", "antibody", 0.2, (f"temperature={t}",)) for t in (0.05, 1.0)]
    return grid + sweep + ablations + temperature


def mix_upload(task_rows: list[dict], harmful_rows: list[dict], p: float, n: int, seed: int = 0) -> list[dict]:
    """round(p·n) harmful samples among n, shuffled; harmful ones are cycled if too few."""
    rng = random.Random(seed)
    n_harm = round(p * n)
    pool = rng.sample(harmful_rows, len(harmful_rows))
    harmful = [{**pool[i % len(pool)], "is_safe": False} for i in range(n_harm)]
    benign = [{**row, "is_safe": True} for row in rng.sample(task_rows, n - n_harm)]
    rows = harmful + benign
    rng.shuffle(rows)
    return [{"id": f"s{i:04d}", **row} for i, row in enumerate(rows)]


def round_robin(rows: list[dict], key: str, n: int) -> list[dict]:
    """n rows spread over the values of `key` (BeaverTails' 14 harm categories)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        value = row.get(key)
        groups.setdefault(str(value[0] if isinstance(value, list) else value), []).append(row)
    out, i = [], 0
    while len(out) < n and any(i < len(g) for g in groups.values()):
        out += [g[i] for _, g in sorted(groups.items()) if i < len(g)]
        i += 1
    return out[:n]


class Bench:
    def __init__(self, out: Path, model: str, plan: Plan, task: str, seeds: int,
                 harmful_data: Path | None = None, hs_prompts: Path | None = None) -> None:
        self.out, self.plan, self.task, self.seeds = out, plan, task, seeds
        self.harmful_data, self.hs_prompts = harmful_data, hs_prompts  # BeaverTails-style files, if named
        self.runs = out / "runs"
        self.times_path = out / "times.json"
        self.times: dict[str, float] = json.loads(self.times_path.read_text()) if self.times_path.is_file() else {}
        self.model = model
        self.data = self._write_data()

    def _write_data(self) -> dict[str, str]:
        data = self.out / "data"
        data.mkdir(parents=True, exist_ok=True)
        attack, evaluation = self.harmful_data, self.hs_prompts
        if attack:
            harmful = [json.loads(line) for line in attack.read_text().splitlines() if line.strip()]
            harmful = [{"prompt": r["prompt"], "response": r["response"]} for r in harmful if not r["is_safe"]]
            self.harmful_source = f"BeaverTails ({attack.name}, {len(harmful)} unsafe rows)"
        else:
            harmful = [{"prompt": e.prompt, "response": e.answer} for e in load_examples("builtin:user") if e.harmful]
            self.harmful_source = f"builtin:user ({len(harmful)} harmful rows)"
        task_rows = [json.loads(line) for line in (Path(jobs.__file__).parent / "builtin_data" /
                                                   f"{self.task}_train.jsonl").read_text().splitlines()]
        paths = {}
        for p in sorted({c.p for c in cells(self.plan)}):
            path = data / f"user-p{p}.jsonl"
            rows = mix_upload(task_rows, harmful, p, self.plan.user_size)
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            paths[f"user-p{p}"] = str(path)
        if evaluation:
            rows = [json.loads(line) for line in evaluation.read_text().splitlines() if line.strip()]
            path = data / "hs-prompts.jsonl"
            chosen = round_robin(rows, "category", 60)
            path.write_text("".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in chosen))
            paths["hs"], self.hs_source = str(path), "BeaverTails eval (60 prompts, 14 categories)"
        else:
            paths["hs"], self.hs_source = "builtin:eval_harmful", "builtin:eval_harmful (60 prompts)"
        return paths

    def job(self, command: str, name: str, recipe: str | None, overrides: list[str], **values) -> dict:
        """A finished run's summary; runs (or resumes) it first when needed."""
        path = self.runs / name.replace(" ", "_")
        if not (path / MANIFEST).is_file():
            resume = command != "eval" and (path / "checkpoints" / "latest").is_file()
            if path.exists() and not resume:
                shutil.rmtree(path)
            chosen = (jobs.saved_recipe(command, str(path)) if resume
                      else recipes.load_recipe(command, recipe, overrides, **values))
            print(f"\n== {name}", flush=True)
            began = time.perf_counter()
            if command == "eval":
                jobs.evaluate(chosen, str(path))
            elif command == "score":
                jobs.score(chosen, str(path))
            else:
                getattr(jobs, command)(chosen, str(path), resume=resume)
            before = self.times.get(name, 0.0) if resume else 0.0
            self.times[name] = before + time.perf_counter() - began
            self.times_path.write_text(json.dumps(self.times, indent=1))
        return {**json.loads((path / "summary.json").read_text()), "path": str(path),
                "seconds": self.times.get(name)}

    def evaluate(self, name: str, model: str) -> dict:
        task = TASKS[self.task]
        overrides = [f"harmful_prompts={self.data['hs']}", f"task_data=builtin:{self.task}_test",
                     f"task_scorer={task.scorer}", f"task_max_new_tokens={task.max_new_tokens}",
                     f"max_new_tokens={self.plan.max_new_tokens}"]
        return add_terse(self.job("eval", f"eval {name}", None, overrides, model=model, limit=self.plan.eval_limit))

    def align(self, name: str) -> dict:
        recipe, extra = ALIGNMENTS[name]
        run = self.job("harden", f"align {name}", recipe, [f"steps={self.plan.harden_steps}", *extra],
                       model=self.model)
        return {"run": run, "eval": self.evaluate(f"align {name}", run["path"])}

    def finetune(self, cell: Cell, seed: int) -> dict:
        aligned = self.align(cell.align)["run"]["path"]
        recipe, extra = FINETUNES[cell.finetune]
        overrides = [f"steps={self.plan.finetune_steps}", f"lr={self.plan.lr}", f"seed={seed}", *extra, *cell.extra]
        name = f"{cell.name} seed={seed}"
        run = self.job("finetune", f"finetune {name}", recipe, overrides, model=aligned,
                       data=self.data[f"user-p{cell.p}"])
        return {"run": run, "eval": self.evaluate(f"finetune {name}", run["path"])}

    def run(self) -> dict:
        began = time.perf_counter()
        results = {"plan": self.plan.__dict__, "task": self.task, "harmful_source": self.harmful_source,
                   "hs_source": self.hs_source, "base": self.evaluate("base", self.model), "align": {}, "cells": []}
        for cell in cells(self.plan):
            runs = [self.finetune(cell, seed) for seed in range(self.seeds)]
            results["cells"].append({**cell.__dict__, "name": cell.name, "runs": runs})
        for name in {c.align for c in cells(self.plan)}:
            results["align"][name] = self.align(name)
        results["score"] = self.job("score", "score antibody p=0.2", None, [],
                                    model=self.align("antibody")["run"]["path"], data=self.data["user-p0.2"])
        results["minutes_this_invocation"] = (time.perf_counter() - began) / 60
        results["minutes_all_jobs"] = sum(self.times.values()) / 60
        return results


# -- reporting ---------------------------------------------------------------------------------

def _pct(values: list[float]) -> str:
    """mean, and ± half the range over seeds when there are several."""
    if not values:
        return "-"
    mean = 100 * fmean(values)
    spread = 100 * (max(values) - min(values)) / 2
    return f"{mean:.1f}" + (f" ± {spread:.1f}" if len(values) > 1 else "")


def _metric(cell: dict, key: str) -> list[float]:
    return [r["eval"][key] for r in cell["runs"] if key in r["eval"]]


def add_terse(evaluation: dict) -> dict:
    """harmful_terse, from the run's answers.json: evals written before eval reported it lack the key."""
    records = [r for r in json.loads((Path(evaluation["path"]) / "answers.json").read_text())
               if r["set"] == "harmful"]
    return {**evaluation, "harmful_terse": terse_share([r["harmful"] for r in records], [r["answer"] for r in records])}


def _effective_batch(cell: dict) -> str:
    """Mean over the defended steps of (Σw)²/Σw², from the ratios in metrics.jsonl (out of batch_size)."""
    values = []
    for r in cell["runs"]:
        if r["run"].get("weighting") != "antibody":
            continue
        rows = [json.loads(line) for line in (Path(r["run"]["path"]) / "metrics.jsonl").read_text().splitlines()]
        values += [effective_batch(softmax_weights(row["ratios"], r["run"]["temperature"]))
                   for row in rows if row.get("ratios")]
    return f"{fmean(values):.1f}" if values else "-"


def _weight(cell: dict, key: str) -> str:
    values = [r["run"][key] for r in cell["runs"] if key in r["run"]]
    return f"{fmean(values):.3g}" if values else "-"


def markdown(results: dict) -> str:
    controls = {(c["align"], c["finetune"], tuple(c["extra"])): c for c in results["cells"] if c["p"] == 0.0}
    lines = [f"Task: {results['task']}. Harmful upload samples: {results['harmful_source']}. "
             f"HS prompts: {results['hs_source']}. HS = harmful score (answers that are not refusals), terse = "
             f"the part of HS made of answers under {TERSE_WORDS} words (no refusal, no content either), OR = "
             "over-refusal, FA = finetune accuracy, all in %; HS − ctrl = HS minus the same pair's HS at p = 0 "
             "(what the harmful samples add); w = mean likelihood-ratio weight (1 = plain SFT); eff. batch = "
             "(Σw)²/Σw², the samples of a batch of 8 that the weights really train on.", ""]
    base = results["base"]
    lines += ["| model | HS ↓ | terse | OR ↓ | FA ↑ |", "|---|---|---|---|---|",
              f"| base model | {_pct([base['harmful_score']])} | {_pct([base['harmful_terse']])} | "
              f"{_pct([base['over_refusal']])} | "
              f"{_pct([base['finetune_accuracy']])} |"]
    for name, aligned in sorted(results["align"].items()):
        e = aligned["eval"]
        lines.append(f"| aligned: {name} | {_pct([e['harmful_score']])} | {_pct([e['harmful_terse']])} | "
                     f"{_pct([e['over_refusal']])} | "
                     f"{_pct([e['finetune_accuracy']])} |")
    for section in dict.fromkeys(c["section"] for c in results["cells"]):
        lines += ["", f"**{section}**", "",
                  "| alignment | fine-tune | p | HS ↓ | terse | HS − ctrl | OR ↓ | FA ↑ | w harmful | w benign "
                  "| eff. batch |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for cell in (c for c in results["cells"] if c["section"] == section):
            control = controls.get((cell["align"], cell["finetune"], tuple(cell["extra"])))
            hs = _metric(cell, "harmful_score")
            attributable = "-"
            if control and cell["p"] > 0:
                attributable = f"{100 * (fmean(hs) - fmean(_metric(control, 'harmful_score'))):+.1f}"
            finetune = cell["finetune"] + "".join(f" {e}" for e in cell["extra"])
            lines.append(f"| {cell['align']} | {finetune} | {cell['p']} | {_pct(hs)} | "
                         f"{_pct(_metric(cell, 'harmful_terse'))} | {attributable} | "
                         f"{_pct(_metric(cell, 'over_refusal'))} | {_pct(_metric(cell, 'finetune_accuracy'))} | "
                         f"{_weight(cell, 'mean_weight_harmful')} | {_weight(cell, 'mean_weight_benign')} | "
                         f"{_effective_batch(cell)} |")
    score = results["score"]
    lines += ["", f"`score` with the Antibody-aligned model on the p = 0.2 upload: AUROC {score['auroc']:.3f}, "
              f"flagged (r < 0) {score['flagged']} of {score['samples']} (precision "
              f"{100 * score['precision_flagged']:.1f}%, recall {100 * score['recall_flagged']:.1f}%).",
              "", f"Jobs took {results['minutes_all_jobs']:.1f} min in all."]
    return "\n".join(lines) + "\n"


def plot_weights(results: dict, path: Path) -> None:
    """Mean weight of harmful and benign samples per step of each defended fine-tune (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for cell in results["cells"]:
        if cell["finetune"] != "antibody" or cell["align"] != "antibody" or cell["extra"] or cell["p"] == 0:
            continue
        rows = [json.loads(line) for line in
                (Path(cell["runs"][0]["run"]["path"]) / "metrics.jsonl").read_text().splitlines()]
        for key, style in (("weight_harmful", "-"), ("weight_benign", "--")):
            steps = [r["step"] for r in rows if key in r]
            axis.plot(steps, [r[key] for r in rows if key in r], style,
                      label=f"{key.split('_')[1]} samples, p={cell['p']}")
    axis.set_yscale("log")
    axis.set_xlabel("fine-tuning step")
    axis.set_ylabel("mean weight in the batch (1 = SFT)")
    axis.set_title("Antibody fine-tune: likelihood-ratio weights")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps and prompts: a smoke run (< 15 min)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="sentiment", choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=1, help="fine-tune seeds per cell (mean ± half-range)")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/grid or runs/grid-quick")
    parser.add_argument("--harmful-data", type=Path, help="harmful upload samples: BeaverTails-style JSONL "
                        "(prompt, response, is_safe); default: builtin:user's harmful records")
    parser.add_argument("--hs-prompts", type=Path, help="harmful-score prompts: JSONL with prompt and category, "
                        "60 taken round-robin over categories; default: builtin:eval_harmful")
    args = parser.parse_args(argv)
    for path in (args.harmful_data, args.hs_prompts):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such file")
    out = args.out or Path("runs") / ("grid-quick" if args.quick else "grid")
    began = time.strftime("%Y-%m-%d %H:%M")
    results = Bench(out, args.model, QUICK if args.quick else FULL, args.task, args.seeds,
                    args.harmful_data, args.hs_prompts).run()
    command = "python bench/defense_grid.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"`{command.strip()}`, started {began}, model {args.model}.\n\n" + markdown(results)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(text)
    plot_weights(results, out / "weights.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
