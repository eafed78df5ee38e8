"""Ctrl-C during training: the first asks the loop to stop after the current step, the second stops at once."""

from __future__ import annotations

import signal

from antibody_cli.progress import console


class Interrupted(Exception):
    """Ctrl-C during training; a checkpoint was saved at `step`."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


class StopAfterStep:
    """First Ctrl-C: finish the current step, checkpoint, stop. Second Ctrl-C: stop at once
    (the last checkpoint stays valid: see RunDir.save_checkpoint)."""

    requested = False

    def __enter__(self) -> StopAfterStep:
        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            console.print("[yellow]stopping after this step (Ctrl-C again to stop now)")

        try:
            self._previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread: leave Ctrl-C as it is
            self._previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
