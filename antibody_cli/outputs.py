"""Run directories: atomic files, metrics, checkpoints, and the manifest that marks a run complete.

A run directory without manifest.json is unfinished: `--resume` continues it and
nothing reads it as a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from antibody_cli.errors import AntibodyError

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file, then rename: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def atomic_replace_dir(path: Path, write: Callable[[Path], None]) -> None:
    """Build a directory beside `path` with write(staging), then swap it in."""
    staging, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write(staging)
    if path.exists():
        path.replace(old)
    staging.replace(path)
    shutil.rmtree(old, ignore_errors=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunDir:
    """One command's output directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, output: str | None, command: str, resume: bool) -> RunDir:
        """A fresh directory, or (with resume) an unfinished one to continue."""
        path = Path(output) if output else Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
        run = cls(path)
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

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        atomic_write_text(target, text)
        return target

    def write_json(self, name: str, value: Any) -> Path:
        return self.write_text(name, json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def metrics(self, resumed_at: int | None = None) -> MetricsLog:
        return MetricsLog(self.path / "metrics.jsonl", resumed_at)

    def finish(self, command: str, outputs: list[Path]) -> None:
        """Write the manifest last: it is what makes the run count as complete."""
        from antibody_cli import __version__

        shutil.rmtree(self.checkpoint, ignore_errors=True)
        files = sorted({p.resolve() for p in outputs} | {(self.path / "recipe.yaml").resolve()})
        self.write_json(MANIFEST, {
            "command": command, "antibody_version": __version__, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "files": {str(p.relative_to(self.path.resolve())): sha256(p) for p in files if p.is_file()},
        })


class MetricsLog:
    """metrics.jsonl, one JSON object per step; on resume, rows past the checkpoint are dropped."""

    def __init__(self, path: Path, resumed_at: int | None) -> None:
        self.path = path
        if resumed_at is not None and path.exists():
            rows = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resumed_at]
            atomic_write_text(path, "".join(row + "\n" for row in rows))
        elif path.exists():
            path.unlink()

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
