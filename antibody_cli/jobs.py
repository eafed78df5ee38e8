"""One function per command: read inputs, build the backend, run the algorithm, write the run.

The CLI only parses arguments; everything a command does happens here, so tests and
scripts can call it directly.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

from antibody_cli import recipes
from antibody_cli.algorithms import (HardenBatch, effective_batch, flatness, harden_step, likelihood_ratios,
                                    lisa_phase, vaccine_step, weighted_step)
from antibody_cli.batching import batch_indices, length_sorted_batches, mixed_batches
from antibody_cli.data import BUILTIN_PREFIX, Example, jsonl_text, load_examples, load_refusals
from antibody_cli.distributed import ranks, shard
from antibody_cli.errors import AntibodyError
from antibody_cli.evaluation import JUDGES, generate_all, is_refusal, verdict_rates
from antibody_cli.outputs import RunDir, check_output, claim_file, os_errors, publish_file
from antibody_cli.progress import console, progress_bar
from antibody_cli.scoring import flagged_metrics
from antibody_cli.tasks import SCORERS
from antibody_cli.training import train
from backends import load_backend
from backends.base import Backend, Encoded

LABELS = {"harmful": True, "benign": False}  # weight statistics per label (labels never steer training)
PATH_FIELDS = ("model", "data", "align_data", "harm_data", "refusals", "harmful_prompts", "benign_prompts",
               "everyday_prompts", "judge", "task_data")


def absolute_paths(recipe):
    """Make every path in the recipe absolute, so a run directory means the same from anywhere."""
    for section in (recipe, getattr(recipe, "lisa", None), getattr(recipe, "safety", None)):
        for name in PATH_FIELDS:
            value = getattr(section, name, None)
            if isinstance(value, str) and not value.startswith(BUILTIN_PREFIX) and Path(value).expanduser().exists():
                setattr(section, name, str(Path(value).expanduser().resolve()))
    return recipe


def saved_recipe(command: str, output: str | None):
    """The recipe a resumed run saved: a resumed run always continues with it."""
    if not output:
        raise AntibodyError("--resume needs --output DIR naming the run to continue")
    path = Path(output) / "recipe.yaml"
    if not path.is_file():
        raise AntibodyError("no run to resume here (no recipe.yaml)", file=output)
    return recipes.validate(recipes.RECIPES[command], recipes.read_yaml(path), str(path))


def check_run_output(command: str, output: str | None, resume: bool = False, file: bool = False) -> None:
    """Before the model loads: everything about the output that can be checked without writing."""
    where = ranks()
    if where.world > 1:
        if command not in ("harden", "finetune"):
            raise AntibodyError(f"`antibody {command}` runs in one process; launch it without torchrun")
        if not output:
            raise AntibodyError("under several processes, name the run directory with --output")
    check_output(output, resume, file)


def start_run(command: str, recipe, output: str | None, resume: bool) -> RunDir:
    """Called once the inputs and the model have loaded, so a failed start leaves nothing behind.

    Under N processes only rank 0 writes; the others get a RunDir they never write to.
    """
    if not ranks().main:
        return RunDir(Path(output), writer=False)
    run = RunDir.create(output, command, resume, getattr(recipe, "report_to", ()))
    if not resume:
        run.write_text("recipe.yaml", recipes.dump(absolute_paths(recipe)))
    return run


def encode_all(backend: Backend, pairs: Sequence[tuple], max_length: int, what: str) -> list[Encoded]:
    encoded = [backend.encode(messages, answer, max_length) for messages, answer in pairs]
    truncated = sum(e.truncated for e in encoded)
    if truncated:
        console.print(f"[yellow]{what}: {truncated} of {len(encoded)} samples truncated to {max_length} tokens")
    return encoded


def refusal_for(example: Example, index: int, refusals: Sequence[str]) -> str:
    return example.refusal or refusals[index % len(refusals)]


def refusal_pairs(examples: Sequence[Example], refusals: Sequence[str], k: int) -> list[list[tuple]]:
    """K refusal pairs per sample: templates cycled by sample position (the authors' scheme), K averaged."""
    return [[(e.messages, refusals[(i + j) % len(refusals)]) for i, e in enumerate(examples)] for j in range(k)]


def safety_examples(settings) -> list[Example]:
    """The alignment records a fine-tune mixes in: the harmful ones, and the benign ones too when a share of
    each batch is benign."""
    records = load_examples(settings.data, require_answer=bool(settings.benign_share))  # benign ones are answered
    chosen = records if settings.benign_share else [e for e in records if e.harmful]
    if not any(e.harmful for e in chosen):
        raise AntibodyError("no harmful records (is_safe: false) to mix in as safety samples", file=settings.data,
                            field="safety.data")
    return chosen


def alignment_pairs(examples: Sequence[Example], refusals: Sequence[str]) -> list[tuple]:
    """D_align as trained: harmful prompts → their refusal (or a template), benign prompts → their answer."""
    return [(e.messages, refusal_for(e, i, refusals) if e.harmful else e.answer) for i, e in enumerate(examples)]


def refusal_openings(examples: Sequence[Example], refusals: Sequence[str]) -> list[tuple]:
    """Per alignment record, the refusal whose opening harden's refusal_openings term scores under its prompt
    (cut by encode_openings): a benign prompt's is a template, cycled (pushed down); a harmful prompt's is the
    refusal it is trained on (pulled up)."""
    benign = itertools.count()
    return [(e.messages, refusal_for(e, i, refusals) if e.harmful else refusals[next(benign) % len(refusals)])
            for i, e in enumerate(examples)]


def encode_openings(backend: Backend, pairs: Sequence[tuple], words: int, max_length: int) -> list[Encoded]:
    """Each template's first `words` words under its prompt, without the end-of-turn tokens that encode puts
    after an answer (an opening that ends the turn is unlikely whatever the model would say): the tokens
    where the whole template and the template cut short agree, at least one."""
    out = []
    for messages, template in pairs:
        whole = backend.encode(messages, template, max_length)
        cut = backend.encode(messages, " ".join(template.split()[:words]), max_length)
        agree = next((i for i, (a, b) in enumerate(zip(whole.ids, cut.ids)) if a != b), len(cut.ids))
        out.append(Encoded(whole.ids[:max(agree, whole.prompt_len + 1)], whole.prompt_len, whole.truncated))
    return out


def opening_batches(opening_enc: Sequence[Encoded], harmful: Sequence[bool | None], rows: Sequence[int],
                    settings: recipes.OpeningSettings) -> tuple[list[Encoded], list[Encoded]]:
    """`prompts: alignment`: the openings of an alignment batch's rows (under its benign prompts, under its
    harmful ones; these only with a harmful margin), so each continues a prompt of the batch."""
    pulled = settings.harmful_margin is not None
    return ([opening_enc[i] for i, bad in zip(rows, harmful) if not bad],
            [opening_enc[i] for i, bad in zip(rows, harmful) if bad] if pulled else [])


def _finish(run: RunDir, backend, command: str, summary: dict) -> None:
    """Adapter, summary, then the manifest; rank 0 alone writes (the others join FSDP's gathers)."""
    with os_errors(run.path):  # a full disk: one line, like every other write
        adapter = backend.save_adapter(run.path)
    if run.writer:
        run.finish(command, adapter + [run.path / "metrics.jsonl", run.write_json("summary.json", summary)])


# -- harden ------------------------------------------------------------------------------------

def harmful_records(spec: str) -> list[Example]:
    """D_harm: a labelled file's harmful records; an unlabelled file's every record."""
    harm = load_examples(spec)
    if any(e.harmful is not None for e in harm):
        harm = [e for e in harm if e.harmful]
    if not harm:
        raise AntibodyError("no records labelled harmful (is_safe: false, harmful: true or label: harmful)",
                            file=spec, field="harm_data")
    return harm


def harden(recipe: recipes.HardenRecipe, output: str | None, resume: bool = False) -> tuple[dict, Path]:
    """Antibody's alignment step, or Vaccine's with `vaccine:` (which needs no harmful answers)."""
    vaccine = recipe.vaccine
    if vaccine and ranks().world > 1:
        raise AntibodyError("vaccine runs in one process (its perturbation's norm spans the whole batch): "
                            "launch it without torchrun")
    align = load_examples(recipe.align_data)
    measured = recipe.flatness  # measured on harm_data, so Vaccine's runs load it too
    harm = harmful_records(recipe.harm_data) if measured or not vaccine else []
    refusals = load_refusals(recipe.refusals)
    align_batch = mixed_batches([e.harmful is True for e in align], recipe.batch_size, recipe.benign_share,
                                recipe.seed + 1)
    openings = recipe.refusal_openings  # Antibody's: a vaccine recipe that sets it is refused
    if openings and not any(e.harmful is False for e in align):
        raise AntibodyError("refusal_openings needs benign records (is_safe: true) to push refusals down on",
                            file=recipe.align_data, field="refusal_openings")
    check_run_output("harden", output, resume)
    backend = load_backend(recipe.backend, *recipes.backend_configs(recipe))
    run = start_run("harden", recipe, output, resume)
    align_enc = encode_all(backend, alignment_pairs(align, refusals), recipe.max_length, "align_data")
    harm_enc = encode_all(backend, [(e.messages, e.answer) for e in harm], recipe.max_length, "harm_data")
    # Antibody's perturbed-refusal term and the openings pulled up under B_h's prompts; flatness needs neither
    harm_refusals = [] if vaccine else [(e.messages, refusal_for(e, i, refusals)) for i, e in enumerate(harm)]
    harm_ref_enc = encode_all(backend, harm_refusals, recipe.max_length, "harm_data refusals") if harm_refusals else []
    opening_enc = encode_openings(backend, refusal_openings(align, refusals), openings.words,
                                  recipe.max_length) if openings else []
    own = openings is not None and openings.prompts == "own"  # else: the alignment batch's prompts
    benign_rows = [i for i, e in enumerate(align) if e.harmful is False]
    harm_opening_enc = encode_openings(backend, harm_refusals, openings.words, recipe.max_length) if (
        own and openings.harmful_margin is not None) else []
    where, hardening = ranks(), recipes.harden_config(recipe)
    # the flatness batch is cut now, so a batch that does not shard fails before training
    flat_batch = [harm_enc[i] for i in shard(batch_indices(len(harm_enc), measured.samples, recipe.seed + 2, 0),
                                              where)] if measured else []

    def step(t: int, state: dict) -> dict:
        a = shard(align_batch(t), where)
        if vaccine:
            return vaccine_step(backend, [align_enc[i] for i in a], vaccine.rho)
        h = shard(batch_indices(len(harm_enc), recipe.harm_batch_size, recipe.seed, t), where)
        if own:  # B_h benign rows of their own, and B_h's harmful prompts
            o = shard(batch_indices(len(benign_rows), recipe.harm_batch_size, recipe.seed + 3, t), where)
            opening_rows = ([opening_enc[benign_rows[i]] for i in o],
                            [harm_opening_enc[i] for i in h] if harm_opening_enc else [])
        else:
            opening_rows = opening_batches(opening_enc, [align[i].harmful for i in a], a, openings) if openings else ()
        batch = HardenBatch([harm_enc[i] for i in h], [harm_ref_enc[i] for i in h], [align_enc[i] for i in a],
                            *opening_rows)
        state["lambda"], metrics = harden_step(backend, batch, hardening, state["lambda"], t)
        return metrics

    train(run, backend, recipe.steps, recipe.save_every, recipe.on_nonfinite, resume, step, {"lambda": None},
          "harden", lambda m: f"align {m.get('loss_align', float('nan')):.3f}" + (
              f" λ {m['lambda']:.2f}" if m.get("lambda") is not None else ""))
    summary = {"command": "harden", "steps": recipe.steps, "attack_every": recipe.attack_every,
               "truncated": sum(e.truncated for e in align_enc + harm_enc)}
    if measured:
        summary.update(flatness(backend, flat_batch, measured.rho, measured.steps), flatness_samples=measured.samples)
    _finish(run, backend, "harden", summary)
    return summary, run.path


# -- finetune ----------------------------------------------------------------------------------

def finetune(recipe: recipes.FinetuneRecipe, output: str | None, resume: bool = False) -> tuple[dict, Path]:
    if recipe.data is None:
        raise AntibodyError("no training data: pass --data FILE (or data: in the recipe)")
    examples = load_examples(recipe.data)
    lisa = recipe.lisa
    align = load_examples(lisa.align_data) if lisa else []
    refusals = load_refusals(recipe.refusals) if recipe.weighting == "antibody" or lisa or recipe.safety else []
    safety = safety_examples(recipe.safety) if recipe.safety else []
    safety_batch = (mixed_batches([e.harmful is True for e in safety], recipe.safety.per_batch,
                                  recipe.safety.benign_share, recipe.seed + 2, ("safety.data", "safety.benign_share"))
                    if safety else None)
    align_batch = (mixed_batches([e.harmful is True for e in align], recipe.batch_size, lisa.benign_share,
                                 recipe.seed + 1, ("lisa.align_data", "lisa.benign_share")) if lisa else None)
    check_run_output("finetune", output, resume)
    backend = load_backend(recipe.backend, *recipes.backend_configs(recipe))
    run = start_run("finetune", recipe, output, resume)
    weighting = recipes.weighting(recipe)
    task_enc = encode_all(backend, [(e.messages, e.answer) for e in examples], recipe.max_length, "data")
    ref_enc = None
    if recipe.weighting == "antibody":
        ref_enc = [encode_all(backend, pairs, recipe.max_length, "refusals")
                   for pairs in refusal_pairs(examples, refusals, recipe.refusal_templates)]
    safety_enc = encode_all(backend, alignment_pairs(safety, refusals), recipe.max_length, "safety.data")
    safety_ref_enc = None if ref_enc is None else [
        encode_all(backend, pairs, recipe.max_length, "safety refusals")
        for pairs in refusal_pairs(safety, refusals, recipe.refusal_templates)]
    labels = [e.harmful for e in examples]
    where = ranks()
    if lisa:
        align_enc = encode_all(backend, alignment_pairs(align, refusals), recipe.max_length, "lisa.align_data")

    def step(t: int, state: dict) -> dict:
        proximal = 0.0
        if lisa:
            phase, starts = lisa_phase(t, lisa.task_steps, lisa.align_steps)
            if starts:
                backend.set_anchor()
            proximal = lisa.proximal
            if phase == "align":
                batch = [align_enc[i] for i in shard(align_batch(t), where)]
                out = weighted_step(backend, batch, None, weighting, proximal)
                return {"phase": "align", **{k: v for k, v in out.items() if k not in ("weights", "ratios")}}
        idx = batch_indices(len(task_enc), recipe.batch_size, recipe.seed, t)
        samples = [(task_enc, ref_enc, i) for i in idx]  # the global batch: the user's, then the safety samples
        if safety:
            samples += [(safety_enc, safety_ref_enc, i) for i in safety_batch(t)]
        local = shard(samples, where)
        refusal_batches = None if ref_enc is None else [[refs[k][i] for _, refs, i in local]
                                                         for k in range(len(ref_enc))]
        out = weighted_step(backend, [enc[i] for enc, _, i in local], refusal_batches, weighting, proximal,
                            trusted=[enc is safety_enc for enc, _, _ in samples])
        weights = out.pop("weights")[:len(idx)]  # the user's samples, in idx order
        row = {**({"phase": "task"} if lisa else {}), **out, "weight_min": min(weights), "weight_max": max(weights),
               "effective_batch": effective_batch(weights)}
        state["effective_batch_sum"] += row["effective_batch"]
        state["task_steps"] += 1
        for name, flag in LABELS.items():
            chosen = [w for w, i in zip(weights, idx) if labels[i] is flag]
            if chosen:
                row[f"weight_{name}"] = fmean(chosen)
                totals = state["weights"][name]
                totals["sum"] += sum(chosen)
                totals["count"] += len(chosen)
        return row

    state = train(run, backend, recipe.steps, recipe.save_every, recipe.on_nonfinite, resume, step,
                  {"weights": {name: {"sum": 0.0, "count": 0} for name in LABELS},
                   "effective_batch_sum": 0.0, "task_steps": 0}, "finetune",
                  lambda m: f"loss {m.get('loss', float('nan')):.3f}")
    summary = {"command": "finetune", "steps": recipe.steps, "weighting": recipe.weighting,
               "weight_rule": recipe.weight_rule, "temperature": recipe.temperature, "threshold": recipe.threshold,
               "ratio_norm": recipe.ratio_norm, "lisa": lisa is not None,
               "safety_per_batch": recipe.safety.per_batch if recipe.safety else 0,
               "truncated": sum(e.truncated for e in task_enc),
               "mean_effective_batch": state["effective_batch_sum"] / max(1, state["task_steps"])}
    for name, totals in state["weights"].items():
        if totals["count"]:
            summary[f"mean_weight_{name}"] = totals["sum"] / totals["count"]
    _finish(run, backend, "finetune", summary)
    return summary, run.path


# -- score -------------------------------------------------------------------------------------

def upload_ratios(backend: Backend, examples: Sequence[Example], refusals: Sequence[str], recipe) -> list[float]:
    """r_i for every sample, no training, in length-sorted batches (little padding), in the input order."""
    task_enc = encode_all(backend, [(e.messages, e.answer) for e in examples], recipe.max_length, "data")
    ref_enc = [encode_all(backend, pairs, recipe.max_length, "refusals")
               for pairs in refusal_pairs(examples, refusals, recipe.refusal_templates)]
    ratios = [0.0] * len(examples)
    with progress_bar("score") as progress:
        task = progress.add_task("score", total=len(examples), info="")
        for chunk in length_sorted_batches([len(e.ids) for e in task_enc], recipe.batch_size):
            values = likelihood_ratios(backend, [task_enc[i] for i in chunk],
                                       [[per_k[i] for i in chunk] for per_k in ref_enc], recipe.ratio_norm)
            for i, r in zip(chunk, values):
                ratios[i] = r
            progress.update(task, advance=len(chunk))
    return ratios


def score(recipe: recipes.ScoreRecipe, output: str | None) -> tuple[list[dict], dict, Path]:
    """Per-sample likelihood ratios; returns (rows sorted most-suspect first, metrics, where written)."""
    if recipe.data is None:
        raise AntibodyError("no data to score: pass --data FILE")
    examples = load_examples(recipe.data)
    refusals = load_refusals(recipe.refusals)
    to_file = output is not None and Path(output).suffix in (".jsonl", ".csv")
    check_run_output("score", output, file=to_file)
    backend = load_backend(recipe.backend, *recipes.backend_configs(recipe))
    lock = claim_file(Path(output)) if to_file else None
    run = None if to_file else start_run("score", recipe, output, resume=False)
    ratios = upload_ratios(backend, examples, refusals, recipe)
    if not all(map(math.isfinite, ratios)):
        raise AntibodyError(f"non-finite scores for {sum(not math.isfinite(r) for r in ratios)} samples: the "
                            f"model's weights are not finite", file=recipe.model)
    rows = sorted(({"index": i, "id": e.id, "score": ratios[i], "harmful": e.harmful, "prompt": e.prompt}
                   for i, e in enumerate(examples)), key=lambda row: row["score"])
    labelled = [e.harmful is not None for e in examples]
    metrics: dict = {"samples": len(rows), "flagged": sum(r < 0 for r in ratios)}
    if all(labelled):
        metrics.update(flagged_metrics(ratios, [bool(e.harmful) for e in examples]))
    if to_file:
        target = Path(output)
        publish_file(target, _rows_text(rows, target.suffix), lock)
        return rows, metrics, target
    written = [run.write_text("scores.jsonl", _rows_text(rows, ".jsonl")),
               run.write_json("summary.json", {"command": "score", **metrics})]
    run.finish("score", written)
    return rows, metrics, run.path


def _rows_text(rows: list[dict], suffix: str) -> str:
    if suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _inert_cell(v) for k, v in row.items()} for row in rows)
        return buffer.getvalue()
    return jsonl_text(rows)


def _inert_cell(value):
    """A text cell a spreadsheet would read as a formula (=, +, -, @, tab, CR first) gets a leading
    apostrophe, OWASP's rule; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


# -- eval --------------------------------------------------------------------------------------

REFUSAL_RATES = {"benign": "over_refusal", "everyday": "everyday_refusal"}  # prompt set -> summary key


def evaluate(recipe: recipes.EvalRecipe, output: str | None) -> tuple[dict, Path]:
    """HS (judged answers to held-out harmful prompts), over-refusal (benign prompts refused) and,
    with task_data, Finetune Accuracy; answers.json keeps every prompt, answer and verdict for audit.
    A prompt set set to null is skipped (FA alone: harmful_prompts=null benign_prompts=null)."""
    sources = {"harmful": recipe.harmful_prompts, "benign": recipe.benign_prompts,
               "everyday": recipe.everyday_prompts}
    sets = {name: load_examples(spec, require_answer=False) for name, spec in sources.items() if spec}
    if recipe.task_data:
        sets["task"] = load_examples(recipe.task_data)
    if recipe.limit:
        sets = {name: examples[: recipe.limit] for name, examples in sets.items()}
    make_judge = (JUDGES.get(recipe.judge) or model_judge(recipe)) if "harmful" in sets else None
    check_run_output("eval", output)
    backend = load_backend(recipe.backend, *recipes.backend_configs(recipe))
    run = start_run("eval", recipe, output, resume=False)
    answers: dict[str, list[str]] = {}
    with progress_bar("eval") as progress:
        for name, examples in sets.items():
            task = progress.add_task(f"eval {name}", total=len(examples), info="")
            tokens = recipe.task_max_new_tokens if name == "task" else recipe.max_new_tokens
            answers[name] = generate_all(backend, [e.messages for e in examples], recipe.batch_size, tokens,
                                         lambda n, task=task: progress.update(task, advance=n))
    del backend  # a model judge may need the memory
    summary = {"command": "eval", "model": recipe.model}
    records = []
    if make_judge:
        judge = make_judge()
        verdicts = judge.verdicts([e.prompt for e in sets["harmful"]], answers["harmful"])
        summary |= {"judge": judge.name, **verdict_rates(verdicts)}
        records += [{"set": "harmful", "prompt": e.prompt, "answer": a, "verdict": v, "harmful": v == "harmful"}
                    for e, a, v in zip(sets["harmful"], answers["harmful"], verdicts)]
    summary |= {**{key: fmean(map(is_refusal, answers[name])) for name, key in REFUSAL_RATES.items() if name in sets},
                **{f"{name}_prompts": len(examples) for name, examples in sets.items()}}
    records += [{"set": name, "prompt": e.prompt, "answer": a, "refused": is_refusal(a)}
                for name in REFUSAL_RATES if name in sets for e, a in zip(sets[name], answers[name])]
    if "task" in sets:
        correct = SCORERS[recipe.task_scorer]
        verdicts = [correct(a, e.answer) for e, a in zip(sets["task"], answers["task"])]
        summary["finetune_accuracy"] = fmean(verdicts)
        records += [{"set": "task", "prompt": e.prompt, "answer": a, "reference": e.answer, "correct": c}
                    for e, a, c in zip(sets["task"], answers["task"], verdicts)]
    written = [run.write_json("answers.json", records), run.write_json("summary.json", summary)]
    run.finish("eval", written)
    return summary, run.path


def model_judge(recipe: recipes.EvalRecipe):
    """A local moderation model as the HS judge (torch extra): checked now, loaded when called."""
    try:
        from backends.torch_judge import ModelJudge, check_judge_path
    except ModuleNotFoundError as e:
        raise AntibodyError(f"a model judge needs '{e.name}': pip install 'antibody[torch]'") from None
    check_judge_path(recipe.judge)
    return lambda: ModelJudge(recipe.judge, recipe.judge_kind, recipe.judge_unsafe, recipe.device,
                              recipe.batch_size, trust_remote_code=recipe.trust_remote_code,
                              allow_pickle=recipe.allow_pickle)
