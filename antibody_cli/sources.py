"""Data where providers keep it: Parquet files, `datasets.save_to_disk` directories and the Hub.

Each source yields plain records (dicts), numbered from 1 like lines, so data.py detects their
format and names file, row and field in errors exactly as for JSONL. A null cell is an absent
field: a table that mixes formats has every format's columns, null where a row has none.
pyarrow and datasets are the `data` extra, imported only for these sources.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from antibody_cli.errors import AntibodyError

HUB_PREFIX = "hf:"
HUB_SPEC = re.compile(r"(?P<repo>[\w.-]+(/[\w.-]+)?)(:(?P<split>.+))?")
Records = list[tuple[int, dict[str, Any]]]


def read_table(spec: str) -> tuple[str, Records] | None:
    """(name for errors, numbered records) for a tabular source; None for a JSONL/JSON file."""
    if spec.startswith(HUB_PREFIX):
        return spec, _numbered(_hub_dataset(spec))
    path = Path(spec).expanduser()
    if path.suffix == ".parquet":
        return str(path), _numbered(_parquet_rows(path))
    if path.is_dir() and any((path / name).is_file() for name in ("state.json", "dataset_dict.json")):
        return str(path), _numbered(_saved_dataset(path))
    return None


def _numbered(rows) -> Records:
    return [(number, {k: v for k, v in row.items() if v is not None}) for number, row in enumerate(rows, start=1)]


def _require(module: str, what: str):
    try:
        return __import__(module, fromlist=["_"])
    except ModuleNotFoundError:
        raise AntibodyError(f"{what} needs '{module.split('.')[0]}': pip install 'antibody[data]'") from None


def _parquet_rows(path: Path) -> list[dict]:
    parquet = _require("pyarrow.parquet", "reading Parquet")
    if not path.is_file():
        raise AntibodyError("file does not exist", file=str(path))
    try:
        return parquet.read_table(path).to_pylist()
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise AntibodyError(f"not a readable Parquet file ({_first_line(e)})", file=str(path)) from None


def _saved_dataset(path: Path):
    """A Dataset, or the `train` split of a DatasetDict, as `save_to_disk` wrote it."""
    datasets = _require("datasets", "reading a save_to_disk directory")
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as e:
        raise AntibodyError(f"not a readable datasets directory ({_first_line(e)})", file=str(path)) from None
    if not hasattr(loaded, "keys"):  # a Dataset, not a DatasetDict
        return loaded
    if "train" not in loaded:
        raise AntibodyError(f"no 'train' split (splits: {', '.join(loaded.keys())})", file=str(path))
    return loaded["train"]


def _hub_dataset(spec: str):
    """`hf:ORG/NAME[:SPLIT]` (split `train` by default) through `datasets.load_dataset` and its cache."""
    match = HUB_SPEC.fullmatch(spec[len(HUB_PREFIX):])
    if not match:
        raise AntibodyError("expected hf:ORG/NAME or hf:ORG/NAME:SPLIT", file=spec)
    datasets = _require("datasets", "reading a Hub dataset")
    repo, split = match["repo"], match["split"] or "train"
    try:
        return datasets.load_dataset(repo, split=split)
    except ConnectionError:
        raise AntibodyError("the Hugging Face Hub cannot be reached (offline?) and the dataset is not in the "
                            "local cache; download it once online, or pass a local file", file=spec) from None
    except (OSError, ValueError) as e:  # unknown dataset or split, unreadable files
        raise AntibodyError(_first_line(e), file=spec) from None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
