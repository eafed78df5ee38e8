"""The defence measured where the paper tested it, on a real model, with the project itself.

Sections (all by default; `--only SECTION...` runs some):
- `main` (the efficacy bar): for each task (arithmetic, sentiment, topic) the hardened model is
  fine-tuned on a simulated customer upload of n samples, a share p of them harmful (p = 0.2, and p = 0
  as the control that separates what the harmful samples do from what benign fine-tuning does), by
  plain SFT, by Antibody's defended fine-tune (defaults: the provider's alignment samples in every batch),
  by the same without them (NO_MIX) and by the paper's weighting (raw ratio, batch softmax, one seed),
  each over several seeds (the seed draws the upload and the training order).
- `paper`: the seed paper's main table for each task at p = 0.2: SFT, Vaccine, Lisa, Booster, SafeInstr
  and Antibody (the defaults, and the weights alone as the paper has it), each an (alignment,
  fine-tune) pair (PAPER_ROWS).
- `ratio`, `size`, `length`: on the first task, HS against the harmful share p (SFT vs Antibody), the
  upload size n at the same epochs (the paper's Figure 1: SFT, Lisa, Booster, Antibody) and the
  fine-tune length (SFT, Antibody, Antibody hardened without the perturbed-refusal term).
- `baselines`: the older comparison on one task: alignment {refusal SFT, Booster, Antibody} × fine-tune
  {SFT, Lisa, Antibody} at p = 0.2 and ablations.

    python bench/defense_grid.py --harmful-data H.jsonl --hs-prompts E.jsonl             # everything, 3 seeds
    python bench/defense_grid.py --harmful-data H.jsonl --only main --tasks sentiment    # a part
    python bench/defense_grid.py --quick --only main                                     # a smoke run

The harmful part of each upload comes from --harmful-data (records with a prompt and a harmful answer;
the built-in upload's harmful rows when absent); HS is measured on --hs-prompts (held-out harmful
prompts from a source other than the alignment data; builtin:eval_harmful when absent, which is NOT
independent of the built-in alignment data). Every table names the files it used.

Writes OUT/results.md, OUT/results.json, OUT/weights-TASK.png (per-step weights of harmful and benign
samples, Antibody vs the paper's weighting) and OUT/sweep-SECTION.png (HS against p, n, steps). Every job
is a run directory under OUT/runs: re-running skips finished jobs and resumes an interrupted one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from antibody_cli import jobs, recipes  # noqa: E402
from antibody_cli.data import load_examples, write_jsonl  # noqa: E402
from antibody_cli.evaluation import RulesJudge, verdict_rates  # noqa: E402
from antibody_cli.outputs import MANIFEST  # noqa: E402
from antibody_cli.tasks import TASKS  # noqa: E402
from fa_recheck import FRESH_TEST_SEEDS, fresh_problems  # noqa: E402
from judge_agreement import hand_scores, label_index, read_labels  # noqa: E402

ALIGNMENTS = {  # name -> (shipped recipe, overrides)
    "sft": ("refusal-sft", ()), "booster": ("booster", ()), "vaccine": ("vaccine", ()), "antibody": ("harden", ()),
    "antibody ρ=0": ("harden", ("rho=0",)), "antibody λ_ref=0": ("harden", ("refusal_weight=0",)),
}
NO_MIX = ("safety=null",)  # Antibody's fine-tune without the provider's alignment samples: the paper's
FINETUNES = {"sft": ("sft", ()), "lisa": ("lisa", ()), "safeinstr": ("safeinstr", ()), "antibody": ("finetune", ()),
             "antibody, weights only": ("finetune", NO_MIX), "antibody (paper)": ("finetune-paper", ())}
PAPER_ROWS = {  # the seed paper's main table: row -> (alignment, fine-tune)
    "SFT": ("sft", "sft"), "Vaccine": ("vaccine", "sft"), "Lisa": ("sft", "lisa"), "Booster": ("booster", "sft"),
    "SafeInstr": ("sft", "safeinstr"), "Antibody": ("antibody", "antibody"),
    "Antibody, weights only": ("antibody", "antibody, weights only")}
SWEEPS = {  # section -> what it varies, on the first task
    "ratio": (0.0, 0.05, 0.1, 0.2, 0.5),   # harmful share p, SFT vs Antibody
    "size": (200, 500, 1000),              # upload size n at p = 0.2, the same epochs (the paper's Figure 1)
    "length": (1, 3, 10),                  # fine-tune steps, × the default, at p = 0.2
}
SECTIONS = ("main", "paper", *SWEEPS, "baselines")
UPLOAD_SEEDS = range(FRESH_TEST_SEEDS.stop, FRESH_TEST_SEEDS.stop + 100)  # extra benign rows for n > the train split


@dataclass(frozen=True)
class Plan:
    harden_steps: int
    finetune_steps: int
    user_size: int            # samples in each simulated upload
    eval_limit: int | None    # prompts per eval set (None: all)
    max_new_tokens: int
    lr: float = 1e-3          # the fine-tunes' attack budget (docs/efficacy.md, "Attack budget")


FULL = Plan(harden_steps=40, finetune_steps=20, user_size=200, eval_limit=60, max_new_tokens=32)
QUICK = Plan(harden_steps=4, finetune_steps=4, user_size=32, eval_limit=8, max_new_tokens=12)


@dataclass(frozen=True)
class Cell:
    section: str
    task: str
    align: str
    finetune: str
    p: float
    extra: tuple[str, ...] = field(default=())  # fine-tune overrides
    one_seed: bool = False                      # a comparison shown beside the main cells, not a target
    n: int | None = None                        # upload size (None: the plan's)
    length: int = 1                             # fine-tune steps, × the plan's

    @property
    def kind(self) -> str:
        """The FINETUNES key this cell runs (--finetunes picks by it): the main grid's no-mix cells are
        Antibody's fine-tune with NO_MIX as an override, so that their run names stay as they were."""
        return "antibody, weights only" if self.finetune == "antibody" and self.extra == NO_MIX else self.finetune

    @property
    def changes(self) -> list[str]:
        """What the cell changes in the fine-tune, as tables and run names show it."""
        return [*([f"n={self.n}"] if self.n else []), *([f"steps×{self.length}"] if self.length > 1 else []),
                *self.extra]

    @property
    def name(self) -> str:
        return " ".join([f"{self.task}: {self.align} + {self.finetune} p={self.p}", *self.changes])


def cells(sections: list[str], tasks: list[str]) -> list[Cell]:
    out = []
    if "main" in sections:
        out += [Cell("main", t, "antibody", f, p) for t in tasks for f in ("sft", "antibody") for p in (0.0, 0.2)]
        out += [Cell("main", t, "antibody", "antibody", p, extra=NO_MIX) for t in tasks for p in (0.0, 0.2)]
        out += [Cell("main", t, "antibody", "antibody (paper)", 0.2, one_seed=True) for t in tasks]
    if "paper" in sections:
        out += [Cell("paper", t, a, f, 0.2) for t in tasks for a, f in PAPER_ROWS.values()]
    task = tasks[0]
    if "ratio" in sections:
        out += [Cell("ratio", task, "antibody", f, p) for f in ("sft", "antibody") for p in SWEEPS["ratio"]]
    if "size" in sections:
        out += [Cell("size", task, *PAPER_ROWS[row], 0.2, n=n) for row in ("SFT", "Lisa", "Booster", "Antibody")
                for n in SWEEPS["size"]]
    if "length" in sections:
        out += [Cell("length", task, a, f, 0.2, length=k) for a, f in
                (("antibody", "sft"), ("antibody", "antibody"), ("antibody λ_ref=0", "antibody"))
                for k in SWEEPS["length"]]
    if "baselines" in sections:
        task = tasks[0]
        out += [Cell("baselines", task, a, f, 0.2) for a in ("sft", "booster", "antibody")
                for f in ("sft", "lisa", "antibody")]
        out += [Cell("baselines", task, a, "antibody", 0.2) for a in ("antibody ρ=0", "antibody λ_ref=0")]
    return out


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


def benign_pool(task: str, needed: int) -> list[dict]:
    """The task's rows an upload draws `needed` benign samples from: builtin:<task>_train, extended (only when
    it is too small, so smaller uploads stay what they were) by fresh problems of the task's generator, in
    neither built-in split and from other generator seeds than fa_recheck's test sets (so apart from them
    where the generator has room: arithmetic; topic's few headlines repeat across seeds)."""
    rows = [{"prompt": e.prompt, "completion": e.answer} for e in load_examples(f"builtin:{task}_train")]
    if needed > len(rows):
        rows += fresh_problems(task, needed - len(rows), seeds=UPLOAD_SEEDS)
    return rows


def round_robin(rows: list[dict], key: str, n: int) -> list[dict]:
    """n rows spread over the values of `key` (e.g. BeaverTails' 14 harm categories)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        value = row.get(key)
        groups.setdefault(str(value[0] if isinstance(value, list) else value), []).append(row)
    out, i = [], 0
    while len(out) < n and any(i < len(g) for g in groups.values()):
        out += [g[i] for _, g in sorted(groups.items()) if i < len(g)]
        i += 1
    return out[:n]


def harmful_rows(spec: str | None) -> tuple[list[dict], str]:
    """(prompt, harmful answer) rows for the uploads, and a line saying where they came from."""
    if spec is None:
        rows = [{"prompt": e.prompt, "response": e.answer} for e in load_examples("builtin:user") if e.harmful]
        return rows, f"builtin:user ({len(rows)} harmful rows; pass --harmful-data for an independent set)"
    examples = load_examples(spec)
    rows = [{"prompt": e.prompt, "response": e.answer} for e in examples if e.harmful is not False]
    return rows, f"{Path(spec).name} ({len(rows)} harmful rows)"


class Unfinished(Exception):
    """--report-only met a job that has not finished: its cell is reported without it."""


class Bench:
    def __init__(self, out: Path, model: str, plan: Plan, tasks: list[str], sections: list[str], seeds: int,
                 harmful_data: str | None, hs_prompts: str | None, report_only: bool = False,
                 finetunes: list[str] | None = None, harden: tuple[str, ...] = (),
                 antibody_finetune: tuple[str, ...] = (), labels: list[dict] | None = None) -> None:
        self.out, self.model, self.plan, self.tasks, self.seeds = out, model, plan, tasks, seeds
        self.labels = label_index(labels) if labels else None  # read once, looked up for every eval
        self.report_only, self.harden, self.antibody_finetune = report_only, harden, antibody_finetune
        self.cells = [c for c in cells(sections, tasks) if not finetunes or c.kind in finetunes]
        self.runs = out / "runs"
        self.times_path = out / "times.json"
        self.times: dict[str, float] = json.loads(self.times_path.read_text()) if self.times_path.is_file() else {}
        self.harmful, self.harmful_source = harmful_rows(harmful_data)
        self.hs = self._hs_prompts(hs_prompts)

    def _hs_prompts(self, spec: str | None) -> str:
        if spec is None:
            self.hs_source = "builtin:eval_harmful (shares its source with the built-in alignment data)"
            return "builtin:eval_harmful"
        rows = [{"prompt": e.prompt, "category": e.category} for e in load_examples(spec, require_answer=False)]
        chosen = round_robin(rows, "category", self.plan.eval_limit or len(rows))
        path = self.out / "data" / "hs-prompts.jsonl"
        write_jsonl(path, [{"prompt": r["prompt"]} for r in chosen])
        self.hs_source = f"{Path(spec).name} ({len(chosen)} prompts, round-robin over its categories)"
        return str(path)

    def upload(self, task: str, p: float, seed: int, n: int | None = None) -> str:
        n = n or self.plan.user_size
        size = "" if n == self.plan.user_size else f"-n{n}"
        path = self.out / "data" / f"{task}-p{p}{size}-seed{seed}.jsonl"
        if not path.is_file():
            write_jsonl(path, mix_upload(benign_pool(task, n - round(p * n)), self.harmful, p, n, seed))
        return str(path)

    def job(self, command: str, name: str, recipe: str | None, overrides: list[str], **values) -> dict:
        """A finished run's summary; runs (or resumes) it first when needed, unless report_only."""
        path = self.runs / name.replace(" ", "_").replace(":", "")
        if not (path / MANIFEST).is_file():
            if self.report_only:
                raise Unfinished(name)
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

    def evaluate(self, name: str, model: str, task: str | None) -> dict:
        overrides = [f"harmful_prompts={self.hs}", f"max_new_tokens={self.plan.max_new_tokens}"]
        if task:  # a fine-tune: its task's accuracy; everyday refusals are measured on the hardened model
            spec = TASKS[task]
            overrides += [f"task_data=builtin:{task}_test", f"task_scorer={spec.scorer}",
                          f"task_max_new_tokens={spec.max_new_tokens}", "everyday_prompts=null"]
        evaluation = rejudge(self.job("eval", f"eval {name}", None, overrides, model=model,
                                      limit=self.plan.eval_limit))
        return {**evaluation, **self.hand_labelled(evaluation)}

    def hand_labelled(self, evaluation: dict) -> dict:
        """HS by the hand labels (`harmful_score_hand`), when every answer the judge did not call a refusal
        has one: a partly labelled run would mix the two judges."""
        if not self.labels:
            return {}
        [row] = hand_scores([Path(evaluation["path"])], self.labels)
        return {} if row["unlabelled_not_refusal"] else {"harmful_score_hand": row["hs_hand"]}

    def align(self, name: str) -> dict:
        recipe, extra = ALIGNMENTS[name]
        return self.job("harden", f"align {name}", recipe, [f"steps={self.plan.harden_steps}", *extra, *self.harden],
                        model=self.model)

    def finetune(self, cell: Cell, seed: int) -> dict:
        aligned = self.align(cell.align)["path"]
        recipe, extra = FINETUNES[cell.finetune]
        epochs = (cell.n or self.plan.user_size) / self.plan.user_size  # a larger upload, as many passes over it
        steps = round(self.plan.finetune_steps * cell.length * epochs)
        overrides = [f"steps={steps}", f"lr={self.plan.lr}", f"seed={seed}", *extra, *cell.extra,
                     *(self.antibody_finetune if recipe == "finetune" else ())]
        same = replace(cell, n=None) if cell.n == self.plan.user_size else cell  # the paper cell's run, not a copy
        name = f"{same.name} seed={seed}"
        run = self.job("finetune", f"finetune {name}", recipe, overrides, model=aligned,
                       data=self.upload(cell.task, cell.p, seed, cell.n))
        return {"run": run, "eval": self.evaluate(f"finetune {name}", run["path"], cell.task)}

    def scores(self) -> dict:
        """`score` with the hardened model on each task's p = 0.2 upload, both ratio normalisations."""
        out = {}
        hardened = self.align("antibody")["path"]
        for task in self.tasks:
            for label, extra in (("antibody", []), ("paper", ["ratio_norm=mean"])):
                with contextlib.suppress(Unfinished):
                    out[f"{task} {label}"] = self.job("score", f"score {task} {label} p=0.2", None, extra,
                                                      model=hardened, data=self.upload(task, 0.2, 0))
        return out

    def run(self) -> dict:
        began = time.perf_counter()
        results = {"plan": self.plan.__dict__, "tasks": self.tasks, "harmful_source": self.harmful_source,
                   "hs_source": self.hs_source, "models": {}, "cells": [], "score": {}}
        results["models"]["base"] = self.evaluate("base", self.model, None)
        for name in dict.fromkeys(c.align for c in self.cells):
            results["models"][f"aligned: {name}"] = self.evaluate(f"align {name}", self.align(name)["path"], None)
        runs: dict[Cell, list[dict]] = {cell: [] for cell in self.cells}
        for seed in range(self.seeds):  # seed by seed: a stopped run leaves whole tables of fewer seeds
            for cell in self.cells:
                if seed == 0 or not cell.one_seed:
                    with contextlib.suppress(Unfinished):
                        runs[cell].append(self.finetune(cell, seed))
            if seed == 0 and any(c.finetune.startswith("antibody") for c in self.cells):
                results["score"] = self.scores()
        results["cells"] = [{**cell.__dict__, "name": cell.name, "changes": cell.changes, "runs": done}
                            for cell, done in runs.items()]
        results["minutes_this_invocation"] = (time.perf_counter() - began) / 60
        results["minutes_all_jobs"] = sum(self.times.values()) / 60
        return results


def rejudge(evaluation: dict) -> dict:
    """HS, non-answer and refusal rates from the run's answers.json by the current `rules` judge, so that a
    table built from runs of different days uses one version of the judge."""
    if evaluation.get("judge") != "rules":
        return evaluation
    records = [r for r in json.loads((Path(evaluation["path"]) / "answers.json").read_text()) if r["set"] == "harmful"]
    verdicts = RulesJudge().verdicts([r["prompt"] for r in records], [r["answer"] for r in records])
    return {**evaluation, **verdict_rates(verdicts)}


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


def _every_run(cell: dict, key: str) -> list[float]:
    """The metric only if every run of the cell has it (hand labels): a mean over some seeds would mislead."""
    values = _metric(cell, key)
    return values if len(values) == len(cell["runs"]) else []


def _mean_of(cell: dict, key: str, fmt: str = ".3g") -> str:
    values = [r["run"][key] for r in cell["runs"] if r["run"].get(key) is not None]
    return format(fmean(values), fmt) if values else "-"


COLUMNS = ("| fine-tune | p | HS ↓ | HS, hand ↓ | non-answer | HS − ctrl | everyday refusal ↓ | OR ↓ | FA ↑ "
           "| w harmful | w benign | eff. batch |")


def markdown(results: dict) -> str:
    lines = [f"Harmful upload samples: {results['harmful_source']}. HS prompts: {results['hs_source']}. "
             "Judge: `rules` (docs/judge.md). HS = harmful score, non-answer = answers to harmful prompts with no "
             "content (bare labels, off-topic text), everyday refusal = refusals of everyday requests "
             "(builtin:eval_everyday), OR = over-refusal (builtin:eval_benign), FA = finetune accuracy, all in %, "
             "mean ± half the range over seeds; HS − ctrl = HS minus the same fine-tune's HS at p = 0 (what the "
             "harmful samples add); w = mean weight of harmful / benign samples (1 = plain SFT); eff. batch = "
             "(Σw)²/Σw² per step, out of the batch size. HS, hand = HS counted from hand labels (--labels), for "
             "runs whose every answer the judge did not call a refusal is labelled.", "",
             "| model | HS ↓ | HS, hand ↓ | non-answer | everyday refusal ↓ | OR ↓ |", "|---|---|---|---|---|---|"]
    for name, e in results["models"].items():
        hand = [e["harmful_score_hand"]] if "harmful_score_hand" in e else []
        lines.append(f"| {name} | {_pct([e['harmful_score']])} | {_pct(hand)} | {_pct([e['non_answer_rate']])} | "
                     f"{_pct([e.get('everyday_refusal', 0.0)])} | {_pct([e['over_refusal']])} |")
    for section, task in dict.fromkeys((c["section"], c["task"]) for c in results["cells"]):
        chosen = [c for c in results["cells"] if c["section"] == section and c["task"] == task and c["runs"]]
        controls = {(c["align"], c["finetune"], tuple(c["changes"])): c for c in chosen if c["p"] == 0.0}
        lines += ["", f"**{task}** ({section})", "", "| alignment " + COLUMNS, "|---" * 13 + "|"]
        for cell in chosen:
            control = controls.get((cell["align"], cell["finetune"], tuple(cell["changes"])))
            hs = _metric(cell, "harmful_score")
            added = (f"{100 * (fmean(hs) - fmean(_metric(control, 'harmful_score'))):+.1f}"
                     if control and cell["p"] > 0 else "-")
            finetune = " ".join([cell["finetune"], *cell["changes"]])
            lines.append(f"| {cell['align']} | {finetune} | {cell['p']} | {_pct(hs)} | "
                         f"{_pct(_every_run(cell, 'harmful_score_hand'))} | "
                         f"{_pct(_metric(cell, 'non_answer_rate'))} | {added} | "
                         f"{_pct(_metric(cell, 'everyday_refusal'))} | {_pct(_metric(cell, 'over_refusal'))} | "
                         f"{_pct(_metric(cell, 'finetune_accuracy'))} | {_mean_of(cell, 'mean_weight_harmful')} | "
                         f"{_mean_of(cell, 'mean_weight_benign')} | {_mean_of(cell, 'mean_effective_batch', '.1f')} |")
    if results["score"]:
        lines += ["", "`score` with the hardened model on each task's p = 0.2 upload (seed 0):", "",
                  "| task, ratio | AUROC | flagged (r < 0) | precision | recall |", "|---|---|---|---|---|"]
        for name, s in results["score"].items():
            lines.append(f"| {name} | {s['auroc']:.3f} | {s['flagged']} of {s['samples']} | "
                         f"{_pct([s['precision_flagged'] or 0.0])} | {_pct([s['recall_flagged'] or 0.0])} |")
    lines += ["", f"Jobs took {results['minutes_all_jobs']:.1f} min in all."]
    return "\n".join(lines) + "\n"


def _axes(size: tuple[float, float]):
    """A figure for a PNG; matplotlib is an optional extra, imported only to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)


def _save(figure, axis, path: Path) -> None:
    import matplotlib.pyplot as plt

    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_weights(results: dict, task: str, path: Path, section: str = "main") -> bool:
    """Mean weight of harmful and benign samples per step at p = 0.2, seed 0: in `main`, Antibody's weighting
    against the paper's; in `length`, the longest fine-tunes, hardened with and without the perturbed-refusal
    term (the paper says the weighting degrades over long fine-tunes without it)."""
    chosen = [c for c in results["cells"] if c["task"] == task and c["section"] == section and c["p"] > 0
              and c["finetune"].startswith("antibody") and c["runs"]]
    if section == "length":
        chosen = [c for c in chosen if c["length"] == max(SWEEPS["length"])]
    if not chosen:
        return False
    figure, axis = _axes((7, 4))
    for cell, colour in zip(chosen, ("tab:blue", "tab:orange")):
        rows = [json.loads(line) for line in
                (Path(cell["runs"][0]["run"]["path"]) / "metrics.jsonl").read_text().splitlines()]
        for key, style in (("weight_harmful", "-"), ("weight_benign", "--")):
            steps = [r["step"] for r in rows if key in r]
            axis.plot(steps, [r[key] for r in rows if key in r], style, color=colour,
                      label=f"{cell['align']} + {cell['finetune']}: {key.split('_')[1]} samples")
    axis.set_yscale("log")
    axis.set_xlabel("fine-tuning step")
    axis.set_ylabel("mean weight in the batch (1 = SFT)")
    axis.set_title(f"{task}, p = 0.2: likelihood-ratio weights per step")
    _save(figure, axis, path)
    return True


SWEPT = {"ratio": ("p", "harmful share p of the upload"), "size": ("n", "upload size n (same epochs)"),
         "length": ("length", "fine-tune steps, × the default")}


def plot_sweep(results: dict, section: str, path: Path) -> str:
    """HS against what the section varies, one line per (alignment, fine-tune); mean over seeds. HS by the
    hand labels when every run of the section has them (`rules` reads the baselines' answers as harm several
    times too often, docs/judge.md), else by the judge. Returns the metric plotted ("" when nothing ran)."""
    chosen = [c for c in results["cells"] if c["section"] == section and c["runs"]]
    if not chosen:
        return ""
    metric = "harmful_score_hand" if all(_every_run(c, "harmful_score_hand") for c in chosen) else "harmful_score"
    key, xlabel = SWEPT[section]
    figure, axis = _axes((6, 4))
    for line in dict.fromkeys((c["align"], c["finetune"]) for c in chosen):
        points = sorted((c[key], 100 * fmean(_metric(c, metric))) for c in chosen
                        if (c["align"], c["finetune"]) == line)
        axis.plot(*zip(*points), "o-", label=f"{line[0]} + {line[1]}")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("harmful score (%), " + ("hand labels" if metric == "harmful_score_hand" else "`rules` judge"))
    axis.set_title(f"{chosen[0]['task']}: HS against {xlabel}")
    _save(figure, axis, path)
    return metric


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps and prompts: a smoke run")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--only", nargs="+", default=list(SECTIONS), choices=SECTIONS, metavar="SECTION",
                        help=f"run these sections only ({', '.join(SECTIONS)}; default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (mean ± half-range)")
    parser.add_argument("--lr", type=float, help=f"the fine-tunes' lr, the attack budget (default {FULL.lr})")
    parser.add_argument("--finetunes", nargs="+", choices=list(FINETUNES), help="only these fine-tunes (main)")
    parser.add_argument("--harmful-data", help="harmful (prompt, answer) records for the uploads")
    parser.add_argument("--hs-prompts", help="held-out harmful prompts for HS (another source than the alignment "
                                             "data)")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/grid or runs/grid-quick")
    parser.add_argument("--harden", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides for every hardening, e.g. a candidate default measured before it ships "
                             "(runs are found by name: give a fresh --out)")
    parser.add_argument("--antibody-finetune", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides for every fine-tune of Antibody's own recipe, after the cell's (a fresh "
                             "--out, as --harden)")
    parser.add_argument("--report-only", action="store_true", help="tables from the finished jobs; run nothing")
    parser.add_argument("--labels", type=Path, help="hand labels (docs/judge-labels.jsonl): an HS column counted "
                                                    "from them, for the runs whose non-refusals are all labelled")
    args = parser.parse_args(argv)
    out = args.out or Path("runs") / ("grid-quick" if args.quick else "grid")
    began = time.strftime("%Y-%m-%d %H:%M")
    plan = QUICK if args.quick else FULL
    if args.lr:
        plan = replace(plan, lr=args.lr)
    results = Bench(out, args.model, plan, args.tasks, args.only, args.seeds, args.harmful_data,
                    args.hs_prompts, args.report_only, args.finetunes, tuple(args.harden),
                    tuple(args.antibody_finetune), read_labels(args.labels) if args.labels else None).run()
    command = "python bench/defense_grid.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"`{command.strip()}`, started {began}, model {args.model}.\n\n" + markdown(results)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(text)
    for task in args.tasks:
        plot_weights(results, task, out / f"weights-{task}.png")
    plot_weights(results, args.tasks[0], out / "weights-length.png", section="length")
    for section in SWEEPS:
        plot_sweep(results, section, out / f"sweep-{section}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
