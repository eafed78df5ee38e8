"""Run directories: atomic files, metrics, checkpoints, and the manifest that marks a run complete.

A run directory without manifest.json is unfinished: `--resume` continues it and
nothing reads it as a model.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from antibody_cli.errors import AntibodyError
from antibody_cli.trackers import open_trackers, require, scalars
from antibody_cli.untrusted import read_json_object, read_text

MANIFEST = "manifest.json"
FRAMEWORKS = ("torch", "transformers", "peft", "safetensors", "gguf", "mlx", "mlx-lm")
CHECKPOINTS = "checkpoints"
LOCK = ".lock"
STEP_NAME = re.compile(r"step-\d{8}")
_held: dict[Path, int] = {}  # lock file -> descriptor, for the locks this process holds


@contextmanager
def os_errors(path: Path) -> Iterator[None]:
    """A full disk, a read-only directory, a file where a directory should be: one line, not a traceback."""
    try:
        yield
    except OSError as e:
        raise AntibodyError(f"cannot write: {e.strerror or e}", file=str(path)) from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file, then rename: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with os_errors(path):
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


def check_output(output: str | None, resume: bool = False, file: bool = False) -> None:
    """Before the expensive work: refuse an output that would fail at the end. Writes nothing visible."""
    path = Path(output) if output else Path("runs")
    if file and path.exists():
        raise AntibodyError("output file already exists", file=str(path))
    if output and not file and path.exists():
        if not path.is_dir():
            raise AntibodyError("--output names a file, not a directory", file=str(path))
        if not resume and _contents(path):
            raise AntibodyError("output directory is not empty (use --resume to continue an unfinished run)",
                                file=str(path))
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise AntibodyError("is a file, so the output cannot be created under it", file=str(existing))
    with os_errors(existing):
        tempfile.TemporaryFile(dir=existing).close()  # the one sure test of "can I write here" (root, read-only fs)


def hold_lock(lock: Path, what: Path) -> None:
    """An exclusive lock on `lock` for as long as this process writes `what`; the OS drops it when the
    process dies, so kill -9 leaves nothing stale. The file holds the holder's pid, for the error."""
    key = lock.absolute()
    release_lock(key)  # this process's own earlier job on the same output (in-process callers)
    with os_errors(lock):
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise AntibodyError(f"in use by another antibody process (pid {holder}); wait for it to end",
                            file=str(what)) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held[key] = fd


def release_lock(lock: Path) -> None:
    fd = _held.pop(lock.absolute(), None)
    if fd is not None:
        os.close(fd)


def claim_file(target: Path) -> Path:
    """Lock an output file's name for this process (a hidden .NAME.lock beside it); returns the lock."""
    lock = target.with_name(f".{target.name}.lock")
    with os_errors(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
    hold_lock(lock, target)
    if target.exists():  # checked under the lock: a writer that finished first has published by now
        release_lock(lock)
        raise AntibodyError("output file already exists", file=str(target))
    return lock


def publish_file(target: Path, text: str, lock: Path) -> None:
    """Write a claimed file, then drop the claim (the file exists before the lock goes, so no one
    else can claim the name in between)."""
    atomic_write_text(target, text)
    lock.unlink(missing_ok=True)
    release_lock(lock)


def _contents(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name != LOCK]


def write_manifest(directory: Path, files: list[Path], **fields: Any) -> None:
    """sha256 of every file, relative to `directory`; what verify() checks before anything is loaded."""
    root = directory.resolve()
    hashes = {str(p.resolve().relative_to(root)): sha256(p) for p in sorted({p.resolve() for p in files})
              if p.is_file()}
    atomic_write_text(directory / MANIFEST, json.dumps({**fields, "files": hashes}, indent=2) + "\n")


def verify(directory: Path) -> None:
    """The directory's files are exactly those its manifest lists, each with its sha256: a truncated,
    changed, missing or added file is one error naming it."""
    manifest_path = directory / MANIFEST
    files = read_json_object(manifest_path).get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise AntibodyError("corrupt: no 'files' mapping of name to sha256", file=str(manifest_path))
    root = directory.resolve()
    for name, digest in files.items():
        path = directory / name
        if not path.resolve().is_relative_to(root):
            raise AntibodyError(f"corrupt: lists '{name}', outside the run", file=str(manifest_path))
        if not path.is_file():
            raise AntibodyError(f"missing (listed in {MANIFEST})", file=str(path))
        if sha256(path) != digest:
            raise AntibodyError(f"does not match its sha256 in {MANIFEST}: truncated or changed after it "
                                f"was written", file=str(path))
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if (path.is_file() and path != manifest_path and str(relative) not in files
                and not any(part.startswith(".") for part in relative.parts)):
            raise AntibodyError(f"not listed in {MANIFEST}: added after it was written", file=str(path))


class RunDir:
    """One command's output directory, locked by the process that writes it."""

    def __init__(self, path: Path, writer: bool = True, report_to: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self.writer = writer  # False on every process but rank 0 of a distributed run
        self.report_to = report_to  # trackers that get the metrics rows too

    @classmethod
    def create(cls, output: str | None, command: str, resume: bool, report_to=()) -> RunDir:
        """A fresh directory, or (with resume) an unfinished one to continue; locked from here on.

        Called once the inputs and the model have loaded, so a failed start leaves no directory.
        """
        require(report_to)
        path = Path(output) if output else _fresh_name(command)
        with os_errors(path):
            path.mkdir(parents=True, exist_ok=True)
        run = cls(path, report_to=tuple(report_to))
        hold_lock(path / LOCK, path)
        if resume:  # jobs.saved_recipe has checked that the run exists
            if run.complete:
                raise AntibodyError("this run is already complete; nothing to resume", file=str(path))
        elif _contents(path):
            raise AntibodyError("output directory is not empty (use --resume to continue an unfinished run)",
                                file=str(path))
        return run

    @property
    def complete(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def save_checkpoint(self, step: int, write: Callable[[Path], None]) -> Path:
        """checkpoints/step-N, built aside with its own manifest and renamed; then `latest` is switched
        to it atomically.

        A kill at any moment leaves `latest` naming a complete checkpoint (or no checkpoint yet).
        """
        root = self.path / CHECKPOINTS
        name = f"step-{step:08d}"
        staging = root / f".{name}.tmp"
        with os_errors(staging):
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            write(staging)
            write_manifest(staging, [p for p in staging.rglob("*") if p.is_file()], step=step)
            shutil.rmtree(root / name, ignore_errors=True)
            staging.replace(root / name)
        atomic_write_text(root / "latest", name)
        for old in root.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return root / name

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint `latest` names, verified; None before the first one. A pointer that is
        corrupt, leaves this run or names a missing step is an error, never a restart from step 0."""
        pointer = self.path / CHECKPOINTS / "latest"
        if not pointer.exists():
            return None
        name = read_text(pointer).strip()
        if not STEP_NAME.fullmatch(name):
            raise AntibodyError(f"corrupt: expected a checkpoint name like step-00000020, got {name[:60]!r}",
                                file=str(pointer))
        directory = pointer.parent / name
        if not directory.is_dir():
            raise AntibodyError(f"names {name}, which is missing: the run cannot resume", file=str(pointer))
        verify(directory)
        return directory

    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        atomic_write_text(target, text)
        return target

    def write_json(self, name: str, value: Any) -> Path:
        return self.write_text(name, json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def metrics(self, resumed_at: int | None = None) -> MetricsLog:
        return MetricsLog(self.path / "metrics.jsonl", resumed_at, open_trackers(self.report_to, self.path, resumed_at))

    def finish(self, command: str, outputs: list[Path]) -> None:
        """Write the manifest last: it is what makes the run count as complete. Then unlock."""
        from antibody_cli import __version__

        with os_errors(self.path / CHECKPOINTS):
            shutil.rmtree(self.path / CHECKPOINTS, ignore_errors=True)
        tracked = [p for p in (self.path / "tensorboard").rglob("*") if p.is_file()]  # report_to: tensorboard
        write_manifest(self.path, [*outputs, *tracked, self.path / "recipe.yaml"], command=command,
                       antibody_version=__version__, finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                       versions=framework_versions())
        release_lock(self.path / LOCK)


def _fresh_name(command: str) -> Path:
    """runs/<command>-<time>, with -2, -3 ... when jobs start in the same second (mkdir claims it)."""
    base = Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
    with os_errors(base.parent):
        base.parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = base if n == 1 else base.with_name(f"{base.name}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    raise AntibodyError("no free run directory name", file=str(base))


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
            rows = [line for line in read_text(path).splitlines() if _step(line) <= resumed_at]
            atomic_write_text(path, "".join(row + "\n" for row in rows))
        elif path.exists():
            path.unlink()

    def write(self, row: dict[str, Any]) -> None:
        with os_errors(self.path), open(self.path, "a", encoding="utf-8") as f:
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
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return float("inf")
    return step if isinstance(step, int) else float("inf")
