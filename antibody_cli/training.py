"""The training loop shared by harden and finetune: metrics, checkpoints, resume and stopping on Ctrl-C.

A step is a function of the step number alone (data order is derived from the seed
and the step), so resuming needs only θ, the optimizer and a small JSON state.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from antibody_cli.algorithms import NonFiniteStep
from antibody_cli.errors import AntibodyError
from antibody_cli.interrupts import Interrupted, StopAfterStep
from antibody_cli.outputs import RunDir
from antibody_cli.progress import console, progress_bar
from antibody_cli.untrusted import read_json_object


def _save_checkpoint(run: RunDir, backend, step: int, state: dict[str, Any]) -> Path:
    if not run.writer:  # rank 0 keeps the checkpoint; the others join the gathers that FSDP needs
        backend.save_state(run.path)
        return run.path

    def write(staging: Path) -> None:
        backend.save_state(staging / "backend")
        (staging / "trainer.json").write_text(json.dumps({"step": step, "state": state}))

    return run.save_checkpoint(step, write)


def train(run: RunDir, backend, steps: int, save_every: int, on_nonfinite: str, resume: bool,
          step_fn: Callable[[int, dict[str, Any]], dict[str, Any]], state: dict[str, Any],
          description: str, show: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Run step_fn(step, state) for the remaining steps; returns the final state.

    `state` holds what a step carries to the next (λ_{t−1}, running statistics); it is saved
    in every checkpoint.
    """
    start = 0
    checkpoint = run.latest_checkpoint() if resume else None
    if checkpoint is not None:
        start, state = _trainer_state(checkpoint, steps)
        backend.load_state(checkpoint / "backend")
        if run.writer:
            console.print(f"resuming {run.path} from step {start}")
    metrics = run.metrics(resumed_at=start if resume else None) if run.writer else None
    with progress_bar(description, show=run.writer) as progress, StopAfterStep() as stop, \
            contextlib.closing(metrics) if metrics else contextlib.nullcontext():
        task = progress.add_task(description, total=steps, completed=start, info="")
        for step in range(start, steps):
            began = time.perf_counter()
            try:
                row = step_fn(step, state)
            except NonFiniteStep as e:
                if on_nonfinite == "stop":
                    where = _save_checkpoint(run, backend, step, state)
                    raise AntibodyError(f"non-finite values at step {step + 1} ({e}); stopped, the last "
                                        f"good state is checkpointed in {where}") from None
                console.print(f"[yellow]step {step + 1}: non-finite values ({e}); step skipped")
                row = {"skipped": str(e)}
            row = {"step": step + 1, **row, "time": round(time.perf_counter() - began, 4)}
            if metrics:
                metrics.write(row)
            progress.update(task, advance=1, info=show(row))
            if backend.any_rank(stop.requested) and step + 1 < steps:
                _save_checkpoint(run, backend, step + 1, state)
                raise Interrupted(step + 1)
            if (step + 1) % save_every == 0 and step + 1 < steps:
                _save_checkpoint(run, backend, step + 1, state)
    return state


def _trainer_state(checkpoint: Path, steps: int) -> tuple[int, dict[str, Any]]:
    """(step, state) of a verified checkpoint; its trainer.json must agree with the checkpoint's name."""
    saved = read_json_object(checkpoint / "trainer.json")
    step, state = saved.get("step"), saved.get("state")
    if step != int(checkpoint.name.removeprefix("step-")) or not 0 <= step <= steps or not isinstance(state, dict):
        raise AntibodyError(f"corrupt: step {step!r} does not belong to {checkpoint.name} of a {steps}-step run",
                            file=str(checkpoint / "trainer.json"))
    return step, state
