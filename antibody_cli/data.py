"""Reading users' data files into one Example type.

Formats are detected per record, so a file may mix them (docs/design.md, "Data"):
chat `messages`, TRL `prompt`/`completion`, BeaverTails `prompt`/`response`
(with optional `refusal`, `is_safe`, `category`) and Alpaca
`instruction`/`input`/`output`. Every error names the file, line and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antibody_cli.errors import AntibodyError
from antibody_cli.untrusted import parse_json, read_text
from antibody_cli.sources import read_table

BUILTIN_DIR = Path(__file__).parent / "builtin_data"
BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class Example:
    """One (prompt, answer) pair; `messages` is the conversation before the answer."""

    messages: tuple[dict[str, str], ...]
    answer: str | None
    refusal: str | None = None
    harmful: bool | None = None
    id: str | None = None
    category: str | None = None

    @property
    def prompt(self) -> str:
        """The last user turn: what tables and excerpts show."""
        return self.messages[-1]["content"]


def jsonl_text(rows) -> str:
    """Rows as JSON lines, non-ASCII kept as written: the one way every JSONL file here is written."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_jsonl(path: Path, rows) -> Path:
    """jsonl_text(rows) as a UTF-8 file, its folder made if missing; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(jsonl_text(rows), encoding="utf-8")
    return path


def resolve_path(spec: str) -> Path:
    """`builtin:NAME` names a file the project ships; anything else is a path."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX):]
        for path in (BUILTIN_DIR / f"{name}.jsonl", BUILTIN_DIR / f"{name}.txt"):
            if path.is_file():
                return path
        known = sorted(p.stem for p in BUILTIN_DIR.iterdir() if p.suffix in (".jsonl", ".txt"))
        raise AntibodyError(f"unknown built-in data '{name}' (known: {', '.join(known)})")
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "train.jsonl").is_file():  # mlx-lm's layout: train/valid/test.jsonl
        return path / "train.jsonl"
    return path


def _read_records(path: Path) -> list[tuple[int | None, Any]]:
    """(line number, parsed JSON) for a JSONL file, or (None, item) for a JSON array."""
    if not path.exists():
        raise AntibodyError("file does not exist", file=str(path))
    if not path.is_file():
        raise AntibodyError("not a file", file=str(path))
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AntibodyError(f"cannot read: {e.strerror}", file=str(path)) from None
    if raw.lstrip().startswith(b"["):
        items = parse_json(_decode(raw, path, None), str(path))
        return [(None, item) for item in items]
    records = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        text = _decode(line, path, number).strip()
        if text:
            records.append((number, parse_json(text, str(path), number)))
    return records


def _decode(raw: bytes, path: Path, line: int | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AntibodyError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path), line=line) from None


def _text(record: dict, key: str, fail) -> str:
    value = record[key]
    if not isinstance(value, str):
        fail(f"expected a string, got {type(value).__name__}", key)
    if not value.strip():
        fail("is empty", key)
    return value


def _messages(value: Any, key: str, fail) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        fail("expected a non-empty list of {role, content} messages", key)
    messages = []
    for i, message in enumerate(value):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            fail("expected {role: str, content: str}", f"{key}[{i}]")
        messages.append({"role": message["role"], "content": message["content"]})
    return messages


def _label(record: dict, fail) -> bool | None:
    """True for harmful samples, from `is_safe`, `harmful` or `label`."""
    for key, harmful_when in (("is_safe", False), ("harmful", True)):
        if key in record and record[key] is not None:
            if not isinstance(record[key], bool):
                fail(f"expected true or false, got {record[key]!r}", key)
            return record[key] == harmful_when
    if "label" in record and record["label"] is not None:
        value = record["label"]
        text = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
        if text in ("1", "true", "harmful", "unsafe"):
            return True
        if text in ("0", "false", "safe", "benign", "harmless"):
            return False
        fail(f"expected harmful/unsafe/1 or safe/benign/0, got {value!r}", "label")
    return None


def parse_record(record: Any, fail, require_answer: bool = True) -> Example:
    """One record in any supported format; `fail(message, field)` raises."""
    if not isinstance(record, dict):
        fail(f"expected a JSON object, got {type(record).__name__}", None)
    answer: str | None = None
    if "messages" in record:
        messages = _messages(record["messages"], "messages", fail)
        if messages[-1]["role"] == "assistant":
            answer = messages.pop()["content"]
            if not answer.strip():
                fail("the final assistant message is empty", "messages")
        if not messages or messages[-1]["role"] != "user":
            fail("the conversation must end with a user turn (then optionally one assistant answer)",
                 "messages")
    elif "instruction" in record:
        instruction = _text(record, "instruction", fail)
        extra = record.get("input") or ""
        if not isinstance(extra, str):
            fail(f"expected a string, got {type(extra).__name__}", "input")
        messages = [{"role": "user", "content": f"{instruction}\n\n{extra}" if extra.strip() else instruction}]
        if "output" in record:
            answer = _text(record, "output", fail)
    elif "prompt" in record:
        if isinstance(record["prompt"], list):  # TRL conversational prompt
            messages = _messages(record["prompt"], "prompt", fail)
        else:
            messages = [{"role": "user", "content": _text(record, "prompt", fail)}]
        for key in ("completion", "response"):
            if key in record:
                if isinstance(record[key], list):  # TRL conversational completion
                    answer = _messages(record[key], key, fail)[-1]["content"]
                    if not answer.strip():
                        fail("is empty", key)
                else:
                    answer = _text(record, key, fail)
                break
    else:
        fail("unknown format: expected 'messages', 'prompt' (+ 'completion' or 'response') "
             "or 'instruction' (+ 'output')", None)
    if require_answer and answer is None:
        fail("missing answer: expected 'completion', 'response', 'output' or a final assistant message",
             None)
    refusal = _text(record, "refusal", fail) if record.get("refusal") is not None else None
    record_id = record.get("id")
    if record_id is not None and not isinstance(record_id, (str, int)):
        fail(f"expected a string or integer, got {type(record_id).__name__}", "id")
    category = record.get("category")
    if isinstance(category, list):
        category = ",".join(map(str, category))
    return Example(messages=tuple(messages), answer=answer, refusal=refusal, harmful=_label(record, fail),
                   id=None if record_id is None else str(record_id),
                   category=None if category is None else str(category))


def load_examples(spec: str, require_answer: bool = True) -> list[Example]:
    """All records of a JSONL/JSON file, a table (sources.py) or `builtin:NAME`, validated; never a partial list."""
    table = read_table(spec)
    where, records = table if table else (str(path := resolve_path(spec)), _read_records(path))
    examples, seen_ids = [], {}
    for index, (line, record) in enumerate(records):
        def fail(message: str, field: str | None, line=line, index=index):
            if line is None and field:
                field = f"[{index}].{field}"
            raise AntibodyError(message, file=where, line=line, field=field)

        example = parse_record(record, fail, require_answer)
        if example.id is not None:
            if example.id in seen_ids:
                fail(f"duplicate id {example.id!r} (first seen on line {seen_ids[example.id]})", "id")
            seen_ids[example.id] = line or index + 1
        examples.append(example)
    if not examples:
        raise AntibodyError("no records found (the file is empty)", file=where)
    return examples


def load_refusals(spec: str) -> list[str]:
    """Refusal templates y_r: a text file with one refusal per line."""
    path = resolve_path(spec)
    if not path.is_file():
        raise AntibodyError("file does not exist", file=str(path))
    refusals = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    if not refusals:
        raise AntibodyError("no refusal templates found (the file is empty)", file=str(path))
    return refusals
