"""Experiment trackers (`report_to`): each metrics.jsonl row also goes to TensorBoard, W&B or MLflow.

metrics.jsonl stays the record; a tracker gets the same numbers, as `train/<key>` at the row's
step, the way transformers' Trainer reports them. Each tracker's package is an optional extra of
the same name, checked before a run writes anything and imported only when it starts.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import yaml

from antibody_cli.errors import AntibodyError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name -> module it needs
TENSORBOARD_DIR = "tensorboard"


def require(names) -> None:
    """A one-line error for the first tracker whose package is missing."""
    for name in names:
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise AntibodyError(f"{name} needs the '{TRACKERS[name]}' package: pip install 'antibody[{name}]'",
                                field="report_to")


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The row's numbers (losses, λ, weights, effective batch...), as `train/<key>`."""
    return {f"train/{key}": float(value) for key, value in row.items()
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)}


def open_trackers(names, run_dir: Path, resumed_at: int | None) -> list:
    """One started tracker per name; the run's recipe.yaml is their config."""
    if not names:
        return []
    recipe = run_dir / "recipe.yaml"
    config = yaml.safe_load(recipe.read_text(encoding="utf-8")) if recipe.is_file() else {}
    return [{"tensorboard": TensorBoard, "wandb": WandB, "mlflow": MLflow}[name](run_dir, config, resumed_at)
            for name in names]


class TensorBoard:
    """Event files under RUN/tensorboard; a resumed run hides the rows past its checkpoint, as
    metrics.jsonl drops them (TensorBoard's purge on a session restart)."""

    def __init__(self, run_dir: Path, config: dict, resumed_at: int | None) -> None:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.event, self.summary = Event, Summary
        self.writer = EventFileWriter(str(run_dir / TENSORBOARD_DIR))
        if resumed_at is not None:
            self.writer.add_event(Event(step=resumed_at + 1, session_log=SessionLog(status=SessionLog.START)))

    def log(self, values: dict[str, float], step: int) -> None:
        summary = self.summary(value=[self.summary.Value(tag=tag, simple_value=v) for tag, v in values.items()])
        self.writer.add_event(self.event(wall_time=time.time(), step=step, summary=summary))

    def close(self) -> None:
        self.writer.close()


class WandB:
    """A W&B run named after the run directory, files under it; WANDB_PROJECT (default `antibody`),
    WANDB_MODE, WANDB_RUN_ID and WANDB_RESUME as W&B reads them."""

    def __init__(self, run_dir: Path, config: dict, resumed_at: int | None) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "antibody"), name=run_dir.name,
                              dir=str(run_dir), config=config)

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


class MLflow:
    """An MLflow run named after the run directory (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME and
    MLFLOW_RUN_ID as MLflow reads them), the recipe as its parameters."""

    def __init__(self, run_dir: Path, config: dict, resumed_at: int | None) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.start_run(run_name=run_dir.name)
        if resumed_at is None:
            mlflow.log_params(_flat(config))

    def log(self, values: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(values, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def _flat(config: dict, prefix: str = "") -> dict[str, Any]:
    """{"lora": {"r": 16}} -> {"lora.r": 16}: MLflow parameters are flat."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
