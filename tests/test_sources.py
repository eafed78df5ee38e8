"""Data where it lives: Parquet, save_to_disk directories, mlx-lm directories and hf:ORG/NAME."""

import os
import subprocess
import sys

import pytest

from antibody_cli.data import load_examples
from antibody_cli.errors import AntibodyError
from conftest import write_jsonl

datasets = pytest.importorskip("datasets")
parquet = pytest.importorskip("pyarrow.parquet")
import pyarrow  # noqa: E402

# Every format in one table: each row leaves the other formats' columns null.
RECORDS = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "id": "a"},
    {"prompt": "Q1", "completion": "A1", "label": "harmful"},
    {"prompt": "Q3", "response": "A3", "refusal": "No.", "is_safe": False, "category": "x"},
    {"instruction": "Sum", "input": "1 2", "output": "3", "harmful": False},
]


def write_parquet(path, records):
    """Column by column, as pandas writes a table: each column's type from all its values."""
    columns = {key: [r.get(key) for r in records] for key in dict.fromkeys(k for r in records for k in r)}
    parquet.write_table(pyarrow.Table.from_pydict(columns), path)
    return path


def test_a_parquet_table_mixing_formats_reads_like_the_same_jsonl(tmp_path):
    table = load_examples(str(write_parquet(tmp_path / "mixed.parquet", RECORDS)))
    assert table == load_examples(str(write_jsonl(tmp_path / "mixed.jsonl", RECORDS)))
    assert [(e.prompt, e.answer, e.harmful) for e in table] == [
        ("Hi", "Hello!", None), ("Q1", "A1", True), ("Q3", "A3", True), ("Sum\n\n1 2", "3", False)]


@pytest.mark.parametrize("bad, expected", [
    ({"prompt": "Q", "response": "  "}, "field 'response': is empty"),
    ({"prompt": "Q", "response": "A", "label": "maybe"}, "field 'label': expected harmful"),
    ({"prompt": "Q", "response": "A", "id": "u1"}, "duplicate id 'u1' (first seen on line 1)"),
])
def test_a_bad_row_names_file_row_and_field(tmp_path, bad, expected):
    path = write_parquet(tmp_path / "user.parquet", [{"prompt": "ok", "response": "fine", "id": "u1"},
                                                     {"prompt": "ok2", "response": "fine"}, bad])
    with pytest.raises(AntibodyError) as err:
        load_examples(str(path))
    assert str(err.value).startswith(f"{path}:3: ") and expected in str(err.value)


def test_a_file_that_is_not_parquet_is_one_line(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text('{"prompt": "Q", "response": "A"}\n')
    with pytest.raises(AntibodyError, match=r"data.parquet: not a readable Parquet file \(") as err:
        load_examples(str(path))
    assert "\n" not in str(err.value)


def test_save_to_disk_directories_give_the_dataset_or_its_train_split(tmp_path):
    rows = [{"prompt": f"Q{i}", "completion": f"A{i}"} for i in range(3)]
    datasets.Dataset.from_list(rows).save_to_disk(tmp_path / "one")
    assert [e.answer for e in load_examples(str(tmp_path / "one"))] == ["A0", "A1", "A2"]
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[1:]),
                                   "test": datasets.Dataset.from_list(rows[:1])})
    splits.save_to_disk(tmp_path / "splits")
    assert [e.answer for e in load_examples(str(tmp_path / "splits"))] == ["A1", "A2"]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(tmp_path / "test_only")
    with pytest.raises(AntibodyError, match=r"test_only: no 'train' split \(splits: test\)"):
        load_examples(str(tmp_path / "test_only"))
    datasets.Dataset.from_list([*rows, {"prompt": "Q3", "completion": ""}]).save_to_disk(tmp_path / "bad")
    with pytest.raises(AntibodyError, match=r"bad:4: field 'completion': is empty"):
        load_examples(str(tmp_path / "bad"))


def test_an_mlx_lm_directory_means_its_train_jsonl(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"prompt": "Q", "completion": "A"}, {"prompt": "Q2"}])
    write_jsonl(tmp_path / "valid.jsonl", [{"prompt": "V", "completion": "W"}])
    assert load_examples(str(tmp_path), require_answer=False)[0].answer == "A"
    with pytest.raises(AntibodyError, match=rf"^{tmp_path}/train.jsonl:2: missing answer"):
        load_examples(str(tmp_path))


def test_hub_datasets_load_the_named_split_and_name_it_in_errors(monkeypatch):
    calls = []

    def load_dataset(repo, split):
        calls.append((repo, split))
        rows = [{"prompt": "Q", "response": "A"}, {"prompt": "Q2", "response": split.strip("-")}]
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(AntibodyError, match=r"^hf:org/name:--:2: field 'response': is empty$"):
        load_examples("hf:org/name:--")
    assert [e.answer for e in load_examples("hf:org/name")] == ["A", "train"]
    assert [e.answer for e in load_examples("hf:org/name:test[:2]")] == ["A", "test[:2]"]
    assert calls == [("org/name", "--"), ("org/name", "train"), ("org/name", "test[:2]")]
    with pytest.raises(AntibodyError, match="expected hf:ORG/NAME"):
        load_examples("hf:org/name/extra")


def test_offline_hub_data_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    result = subprocess.run([sys.executable, "-m", "antibody_cli", "finetune", "--model", "tiny", "--data",
                             "hf:antibody-tests/none", "-o", str(out)], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: hf:antibody-tests/none: the Hugging Face Hub cannot be reached (offline?) and the dataset is not "
        "in the local cache; download it once online, or pass a local file"]
    assert not out.exists()


def test_a_missing_data_extra_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(AntibodyError, match=r"^reading Parquet needs 'pyarrow': pip install 'antibody\[data\]'$"):
        load_examples(str(tmp_path / "x.parquet"))
