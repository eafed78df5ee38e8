"""Parsing text we did not write (uploads, recipes, a run's own files): every failure is one AntibodyError.

`json` and `yaml` fail in more ways than their own error types: a number past Python's digit limit
is a ValueError, deep nesting a RecursionError, and a lone surrogate escape (`"\\ud800"`) parses
fine but cannot be written back as UTF-8. These functions turn all of them into one line naming
the file and line, before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from antibody_cli.errors import AntibodyError


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_text(value: Any, file: str | None = None, line: int | None = None) -> Any:
    """Every string (key or value) in a parsed document must be encodable as UTF-8; returns `value`."""
    stack = [value]
    while stack:  # iterative: the document may be as deep as the parser allowed
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise AntibodyError(f"invalid Unicode: unpaired surrogate \\u{ord(item[e.start]):04x} "
                                    f"(not encodable as UTF-8)", file=file, line=line) from None
    return value


def parse_json(text: str, file: str | None = None, line: int | None = None) -> Any:
    """json.loads, with NaN/Infinity refused (not JSON) and every failure as one line."""
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        column = f" (column {e.colno})" if line is not None else ""
        raise AntibodyError(f"invalid JSON: {e.msg}{column}", file=file,
                            line=line if line is not None else e.lineno) from None
    except RecursionError:
        raise AntibodyError("invalid JSON: nested too deeply", file=file, line=line) from None
    except ValueError as e:  # a number with more digits than Python converts, NaN/Infinity
        raise AntibodyError(f"invalid JSON: {str(e).split(';')[0]}", file=file, line=line) from None
    return check_text(value, file, line)


def parse_yaml(text: str, file: str | None = None) -> Any:
    """yaml.safe_load (tags run no code), with every failure as one line."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise AntibodyError(f"invalid YAML: {getattr(e, 'problem', None) or e}", file=file,
                            line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise AntibodyError("invalid YAML: nested too deeply", file=file) from None
    except ValueError as e:  # an integer with more digits than Python converts
        raise AntibodyError(f"invalid YAML: {str(e).split(';')[0]}", file=file) from None
    return check_text(value, file)


def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise AntibodyError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path)) from None
    except OSError as e:
        raise AntibodyError(f"cannot read: {e.strerror}", file=str(path)) from None


def read_json(path: Path) -> Any:
    return parse_json(read_text(path), str(path))


def read_json_object(path: Path) -> dict:
    """A JSON file that must hold an object (a summary, a manifest): anything else is corrupt."""
    value = read_json(path)
    if not isinstance(value, dict):
        raise AntibodyError(f"corrupt: expected a JSON object, got {type(value).__name__}", file=str(path))
    return value
