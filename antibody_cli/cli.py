"""The `antibody` command line: parse, load the recipe, call antibody_cli.jobs, report.

Thin by design; heavy modules are imported inside the commands so `--help` and
recipe errors never import torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from antibody_cli.errors import AntibodyError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Defend LLM fine-tuning against harmful fine-tuning: harden a model once, fine-tune "
                       "every customer's data with likelihood-ratio weighting, triage uploads.")
_state = {"debug": False}

Recipe = Annotated[str | None, typer.Option("--recipe", "-r", help="YAML recipe file or shipped recipe name.")]
Output = Annotated[str | None, typer.Option("--output", "-o",
                                            help="Output directory (default: runs/<command>-<time>).")]
DATA_FORMATS = "JSONL/JSON, Parquet, a save_to_disk or mlx-lm directory, hf:ORG/NAME[:SPLIT]"
Steps = Annotated[int | None, typer.Option("--steps", help="Shortcut for steps=N.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --output.")]
Backend = Annotated[str | None, typer.Option("--backend", help="Framework: torch or mlx (same as backend=NAME).")]
Overrides = Annotated[list[str] | None, typer.Argument(help="Recipe overrides: key=value (lora.r=8, lr=1e-4).",
                                                       show_default=False)]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for user errors.")] = False) -> None:
    _state["debug"] = debug


def _guard(action: Callable[[], Any]) -> Any:
    """User mistakes: one line, exit 2. Ctrl-C: say how to resume, exit 130."""
    from antibody_cli.interrupts import Interrupted

    try:
        return action()
    except AntibodyError as e:
        if _state["debug"]:
            raise
        for line in str(e).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(code=2) from None
    except Interrupted as e:
        typer.echo(f"interrupted after step {e.step}; a checkpoint is saved. Continue with the same command plus "
                   f"--resume --output <run dir>.", err=True)
        raise typer.Exit(code=130) from None


def _recipe(command: str, recipe: str | None, overrides: list[str] | None, **values: Any):
    from antibody_cli import recipes

    return recipes.load_recipe(command, recipe, overrides or [], **values)


def _resumed(command: str, output: str | None, overrides: list[str] | None):
    from antibody_cli import jobs

    if overrides:
        raise AntibodyError("a resumed run uses its saved recipe; drop the key=value overrides")
    return jobs.saved_recipe(command, output)


def _split_model(model: str | None, overrides: list[str] | None) -> tuple[str | None, list[str]]:
    """`antibody harden steps=2` means no MODEL and one override."""
    overrides = list(overrides or [])
    if model is not None and "=" in model:
        return None, [model, *overrides]
    return model, overrides


def _done(path) -> None:
    typer.echo(f"wrote {path}", err=True)


@app.command()
def harden(model: Annotated[str | None, typer.Argument(help="Model to harden (default: smollm2-135m).")] = None,
           overrides: Overrides = None,
           model_option: Annotated[str | None, typer.Option("--model", "-m", help="The same as MODEL, as the "
                                                            "other commands take it.")] = None,
           recipe: Recipe = None, output: Output = None, steps: Steps = None,
           resume: Resume = False, backend: Backend = None) -> None:
    """Antibody alignment stage: refusal training + flatness of the harmful loss + perturbed refusals."""
    from antibody_cli import jobs

    model, overrides = _split_model(model, overrides)

    def action():
        nonlocal model
        if model is not None and model_option is not None and model != model_option:
            raise AntibodyError(f"two models named: '{model}' and --model '{model_option}'")
        model = model or model_option
        chosen = (_resumed("harden", output, overrides) if resume
                  else _recipe("harden", recipe, overrides, model=model, steps=steps, backend=backend))
        summary, path = jobs.harden(chosen, output, resume)
        if "flatness_sharpness" in summary:
            typer.echo(f"flatness: the harmful loss {summary['flatness_loss_harm']:.4f} falls by "
                       f"{summary['flatness_sharpness']:.4f} after one attack step of length "
                       f"{summary['flatness_rho']}, by {summary['flatness_attack_drop']:.4f} after "
                       f"{summary['flatness_steps']} (0 = flat)")
        _done(path)

    _guard(action)


@app.command()
def finetune(data: Annotated[str | None, typer.Option("--data", "-d", help=f"Training data: {DATA_FORMATS}.")] = None,
             model: Annotated[str | None, typer.Option("--model", "-m",
                                                       help="Model to fine-tune (a hardened run).")] = None,
             overrides: Overrides = None, recipe: Recipe = None, output: Output = None, steps: Steps = None,
             resume: Resume = False, backend: Backend = None) -> None:
    """Fine-tune on a user's data; harmful samples are down-weighted by the likelihood ratio."""
    from antibody_cli import jobs

    def action():
        chosen = (_resumed("finetune", output, overrides) if resume
                  else _recipe("finetune", recipe, overrides, model=model, data=data, steps=steps,
                                   backend=backend))
        summary, path = jobs.finetune(chosen, output, resume)
        for name in ("harmful", "benign"):
            if f"mean_weight_{name}" in summary:
                typer.echo(f"mean weight of {name} samples: {summary[f'mean_weight_{name}']:.3f}", err=True)
        _done(path)

    _guard(action)


@app.command()
def score(data: Annotated[str | None, typer.Option("--data", "-d", help=f"Data to triage: {DATA_FORMATS}.")] = None,
          model: Annotated[str | None, typer.Option("--model", "-m", help="Scoring model (a hardened run).")] = None,
          top: Annotated[int | None, typer.Option("--top", help="Rows of the suspect table.")] = None,
          output: Annotated[str | None, typer.Option("--output", "-o", help="scores.jsonl, scores.csv, or a "
                                                     "directory (default: runs/score-<time>).")] = None,
          overrides: Overrides = None, recipe: Recipe = None, backend: Backend = None) -> None:
    """Rank every sample by r = log π(answer) − log π(refusal) per token: lowest = most suspect."""
    from antibody_cli import jobs, report

    def action():
        chosen = _recipe("score", recipe, overrides, model=model, data=data, top=top, backend=backend)
        rows, metrics, path = jobs.score(chosen, output)
        report.print_scores(rows, metrics, chosen.top)
        _done(path)

    _guard(action)


@app.command("eval")
def evaluate(model: Annotated[str | None, typer.Option("--model", "-m", help="Model to evaluate.")] = None,
             limit: Annotated[int | None, typer.Option("--limit", help="Prompts per set.")] = None,
             task: Annotated[str | None, typer.Option("--task", help="Also Finetune Accuracy on a generated "
                                                      "task's test split: sentiment, topic or arithmetic.")] = None,
             output: Output = None, overrides: Overrides = None, recipe: Recipe = None,
             backend: Backend = None) -> None:
    """Harmful score (held-out harmful prompts), over-refusal (benign prompts) and task accuracy."""
    from antibody_cli import jobs, report
    from antibody_cli.tasks import TASKS

    def action():
        if task is not None and task not in TASKS:
            raise AntibodyError(f"unknown task '{task}' (choose from {', '.join(TASKS)})")
        chosen_task = TASKS.get(task)
        task_values = {} if chosen_task is None else {
            "task_data": f"builtin:{task}_test", "task_scorer": chosen_task.scorer,
            "task_max_new_tokens": chosen_task.max_new_tokens}
        chosen = _recipe("eval", recipe, overrides, model=model, limit=limit, backend=backend, **task_values)
        summary, path = jobs.evaluate(chosen, output)
        report.print_eval(summary)
        _done(path)

    _guard(action)


recipe_app = typer.Typer(no_args_is_help=True, help="The shipped recipes (recipes/): start your own from one.")
app.add_typer(recipe_app, name="recipe")


@recipe_app.command("show")
def recipe_show(name: Annotated[str, typer.Argument(help="A shipped recipe's name (harden, finetune, booster, "
                                                         "...) or a recipe file.")]) -> None:
    """Print a recipe with every field resolved and described: `antibody recipe show harden > mine.yaml`."""
    from antibody_cli import recipes

    _guard(lambda: typer.echo(recipes.show(name), nl=False))


@app.command("report")
def report_runs(runs: Annotated[list[str], typer.Argument(help="Run directories (or a folder of runs).")],
                plot: Annotated[bool, typer.Option("--plot", help="Also write PNGs beside the runs (training "
                                                   "curves, sample weights, score histogram and ROC) and print "
                                                   "their paths.")] = False) -> None:
    """Summarise finished runs: refusal rates, fine-tune weights, top suspects."""
    from antibody_cli import report

    def action():
        report.print_runs(runs)
        if plot:
            from antibody_cli import plots

            for path in plots.plot_runs(report._finished_runs(runs)):
                typer.echo(path)

    _guard(action)


def main() -> None:
    app(prog_name="antibody")


if __name__ == "__main__":
    sys.exit(main())
