"""Data loading: every format, labels, and one-line errors that name file, line and field."""

import json

import pytest

from antibody_cli.data import load_examples, load_refusals
from antibody_cli.errors import AntibodyError
from conftest import write_jsonl


def test_every_format_is_detected_per_record(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"}], "id": "a"},
        {"prompt": "Q1", "completion": "A1", "label": "harmful"},
        {"prompt": [{"role": "user", "content": "Q2"}], "completion": [{"role": "assistant", "content": "A2"}]},
        {"prompt": "Q3", "response": "A3", "refusal": "No.", "is_safe": False, "category": ["x", "y"]},
        {"instruction": "Sum", "input": "1 2", "output": "3", "harmful": False},
    ])
    a, b, c, d, e = load_examples(str(path))
    assert a.messages[0]["role"] == "system" and a.prompt == "Hi" and a.answer == "Hello!" and a.id == "a"
    assert (b.prompt, b.answer, b.harmful) == ("Q1", "A1", True)
    assert (c.prompt, c.answer) == ("Q2", "A2")
    assert (d.refusal, d.harmful, d.category) == ("No.", True, "x,y")
    assert (e.prompt, e.answer, e.harmful) == ("Sum\n\n1 2", "3", False)


def test_a_json_array_file_is_read_too(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([{"prompt": "Q", "response": "A"}, {"prompt": "Q2", "response": 3}]))
    with pytest.raises(AntibodyError) as err:
        load_examples(str(path))
    assert "field '[1].response'" in str(err.value)


@pytest.mark.parametrize("line, expected", [
    ('{"prompt": "Q", "response": ', "invalid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"prompt": "Q"}', "missing answer"),
    ('{"prompt": "Q", "response": "  "}', "field 'response': is empty"),
    ('{"prompt": 5, "response": "A"}', "field 'prompt': expected a string"),
    ('{"text": "Q"}', "unknown format"),
    ('{"prompt": "Q", "response": "A", "is_safe": "no"}', "field 'is_safe'"),
    ('{"prompt": "Q", "response": "A", "id": "u1"}', "duplicate id"),
])
def test_a_bad_record_names_file_line_and_field(tmp_path, line, expected):
    path = tmp_path / "user.jsonl"
    path.write_text('{"prompt": "ok", "response": "fine", "id": "u1"}\n\n' + line + "\n")
    with pytest.raises(AntibodyError) as err:
        load_examples(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}:3: ") and expected in message and "\n" not in message


def test_non_utf8_empty_and_missing_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "ok", "response": "fine"}\n{"prompt": "\xff", "response": "x"}\n')
    with pytest.raises(AntibodyError, match=r"bad.jsonl:2: not UTF-8"):
        load_examples(str(bad))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(AntibodyError, match="empty"):
        load_examples(str(empty))
    with pytest.raises(AntibodyError, match="does not exist"):
        load_examples(str(tmp_path / "nope.jsonl"))


def test_prompt_only_files_are_allowed_where_no_answer_is_needed(tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Q"}])
    assert load_examples(str(path), require_answer=False)[0].answer is None


def test_builtin_data_is_shipped_and_loads():
    assert len(load_examples("builtin:align")) >= 300
    user = load_examples("builtin:user")
    assert any(e.harmful for e in user) and any(e.harmful is False for e in user)
    assert len(load_refusals("builtin:refusals")) >= 10
    with pytest.raises(AntibodyError, match="unknown built-in data"):
        load_examples("builtin:nope")
