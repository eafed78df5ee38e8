"""The one exception type for user mistakes.

The CLI prints it as a single line and exits with code 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class AntibodyError(Exception):
    """A problem with the user's input (data, recipe, model path), not with Antibody."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message, self.file, self.line, self.field = message, file, line, field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}{field}{self.message}"
