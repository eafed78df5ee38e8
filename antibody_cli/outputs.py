"""Run directories: atomic files, metrics, checkpoints, and the manifest that marks a run complete.

A run directory without manifest.json is unfinished: `--resume` continues it and
nothing reads it as a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from antibody_cli.errors import AntibodyError
from antibody_cli.trackers import open_trackers, require, scalars

MANIFEST = "manifest.json"
FRAMEWORKS = ("torch", "transformers", "peft", "safetensors", "gguf", "mlx", "mlx-lm")
CHECKPOINTS = "checkpoints"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file, then rename: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunDir:
    """One command's output directory."""

    def __init__(self, path: Path, writer: bool = True, report_to: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self.writer = writer  # False on every process but rank 0 of a distributed run
        self.report_to = report_to  # trackers that get the metrics rows too

    @classmethod
    def create(cls, output: str | None, command: str, resume: bool, report_to=()) -> RunDir:
        """A fresh directory, or (with resume) an unfinished one to continue."""
        path = Path(output) if output else Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
        run = cls(path, report_to=tuple(report_to))
        require(report_to)
        if resume:  # jobs.saved_recipe has checked that the run exists
            if run.complete:
                raise AntibodyError("this run is already complete; nothing to resume", file=str(path))
        elif path.exists() and any(path.iterdir()):
            raise AntibodyError("output directory is not empty (use --resume to continue an unfinished run)",
                                file=str(path))
        path.mkdir(parents=True, exist_ok=True)
        return run

    @property
    def complete(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def save_checkpoint(self, step: int, write: Callable[[Path], None]) -> Path:
        """checkpoints/step-N, built aside and renamed; then `latest` is switched to it atomically.

        A kill at any moment leaves `latest` naming a complete checkpoint (or no checkpoint yet).
        """
        root = self.path / CHECKPOINTS
        name = f"step-{step:08d}"
        staging = root / f".{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write(staging)
        shutil.rmtree(root / name, ignore_errors=True)
        staging.replace(root / name)
        atomic_write_text(root / "latest", name)
        for old in root.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return root / name

    def latest_checkpoint(self) -> Path | None:
        pointer = self.path / CHECKPOINTS / "latest"
        if not pointer.is_file():
            return None
        directory = pointer.parent / pointer.read_text(encoding="utf-8").strip()
        return directory if directory.is_dir() else None

    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        atomic_write_text(target, text)
        return target

    def write_json(self, name: str, value: Any) -> Path:
        return self.write_text(name, json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def metrics(self, resumed_at: int | None = None) -> MetricsLog:
        return MetricsLog(self.path / "metrics.jsonl", resumed_at, open_trackers(self.report_to, self.path, resumed_at))

    def finish(self, command: str, outputs: list[Path]) -> None:
        """Write the manifest last: it is what makes the run count as complete."""
        from antibody_cli import __version__

        shutil.rmtree(self.path / CHECKPOINTS, ignore_errors=True)
        files = sorted({p.resolve() for p in outputs} | {(self.path / "recipe.yaml").resolve()})
        self.write_json(MANIFEST, {
            "command": command, "antibody_version": __version__, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "versions": framework_versions(),
            "files": {str(p.relative_to(self.path.resolve())): sha256(p) for p in files if p.is_file()},
        })


def framework_versions() -> dict[str, str]:
    """Python and the installed packages that compute a run's numbers (absent ones are left out)."""
    versions = {"python": platform.python_version()}
    for package in FRAMEWORKS:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


class MetricsLog:
    """metrics.jsonl, one JSON object per step; on resume, rows past the checkpoint are dropped.
    Each row also goes to the run's trackers (trackers.py); `close` ends them."""

    def __init__(self, path: Path, resumed_at: int | None, trackers=()) -> None:
        self.path, self.trackers = path, list(trackers)
        if resumed_at is not None and path.exists():
            rows = [line for line in path.read_text(encoding="utf-8").splitlines() if _step(line) <= resumed_at]
            atomic_write_text(path, "".join(row + "\n" for row in rows))
        elif path.exists():
            path.unlink()

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        values = scalars(row) if self.trackers else {}
        for tracker in self.trackers:
            tracker.log(values, row["step"])

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


def _step(line: str) -> float:
    """A row's step; a line torn by a kill mid-write counts as past every checkpoint (dropped)."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")
