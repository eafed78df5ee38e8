"""Failure behaviour: bad input, non-finite steps, kill -9, untrusted files.

Cases covered here and in test_data.py / test_cli.py / test_recipes.py:
malformed JSON line · valid JSON that is not an object · missing prompt or answer · empty answer ·
wrong types · unknown format · non-UTF-8 bytes · empty file · missing file · a 10 MB single line ·
a sample longer than max_length (truncated and counted) · duplicate ids · a recipe with an unknown
key or a wrong type · a model path that does not exist or is not a model · pickle-only weights ·
a non-finite step (skip or stop) · Ctrl-C and resume · kill -9 and resume · an unfinished run used
as a model · a finished run resumed · an adapter whose shapes or target modules do not fit its base model.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from antibody_cli.cli import app
from antibody_cli.data import Example, load_examples, parse_record
from antibody_cli.errors import AntibodyError
from backends import torch_models

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_a_10_mb_line_is_read_or_rejected_quickly(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"prompt": "x" * 10_000_000, "response": "ok"}) + "\n")
    began = time.perf_counter()
    assert len(load_examples(str(big))[0].prompt) == 10_000_000
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"prompt": "' + "x" * 10_000_000 + "\n")
    with pytest.raises(AntibodyError, match=r"garbage.jsonl:1: invalid JSON"):
        load_examples(str(garbage))
    assert time.perf_counter() - began < 10


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=8)
record_keys = st.sampled_from(["messages", "prompt", "completion", "response", "instruction", "input", "output",
                               "refusal", "is_safe", "harmful", "label", "id", "category", "role", "content"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(record_keys, json_values | st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", 3]), "content": json_values}), max_size=3),
    max_size=5) | json_values)
def test_any_record_is_accepted_or_rejected_with_our_own_error(record):
    def fail(message, field):
        raise AntibodyError(message, file="f.jsonl", line=1, field=field)

    try:
        example = parse_record(record, fail)
    except AntibodyError as e:
        assert str(e).startswith("f.jsonl:1: ") and "\n" not in str(e)
    else:
        assert isinstance(example, Example) and example.answer.strip() and example.messages


def test_pickle_only_weights_are_refused_unless_allowed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(AntibodyError, match="pickle-based weights"):
        torch_models.load(str(tmp_path))
    with pytest.raises(AntibodyError, match="cannot load model"):  # allowed: transformers tries, and fails here
        torch_models.load(str(tmp_path), allow_pickle=True)


def test_a_non_finite_step_stops_the_run_with_a_checkpoint_and_no_manifest(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", "--model", "tiny", "--data", str(tiny_data["user"]), "--steps", "4",
                                 "-o", str(out), "lr=1e30", "on_nonfinite=stop", "weighting=none"])
    assert result.exit_code == 2 and "non-finite" in result.output and "Traceback" not in result.output
    assert (out / "checkpoints" / "latest").is_file() and not (out / "manifest.json").exists()


def test_a_non_finite_step_is_skipped_by_default(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", "--model", "tiny", "--data", str(tiny_data["user"]), "--steps", "3",
                                 "-o", str(out), "lr=1e30", "weighting=none"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "skipped" not in rows[0] and all("skipped" in row for row in rows[1:])


def _harden_command(tiny_data, out, steps):
    return [sys.executable, "-m", "antibody_cli", "harden", "tiny", "max_length=96", "batch_size=4",
            "harm_batch_size=2", f"align_data={tiny_data['align']}", f"harm_data={tiny_data['align']}",
            "save_every=5", "--steps", str(steps), "-o", str(out)]


def test_kill_9_then_resume_gives_the_uninterrupted_result(tmp_path, tiny_data):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_harden_command(tiny_data, straight, 40), env=env, check=True, capture_output=True)

    process = subprocess.Popen(_harden_command(tiny_data, killed, 40), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (killed / "checkpoints" / "latest").exists() and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "manifest.json").exists(), "the run finished before it could be killed"

    resumed = subprocess.run([sys.executable, "-m", "antibody_cli", "harden", "--resume", "-o", str(killed)],
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(straight / "adapter_model.safetensors"))
    b = load_file(str(killed / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    manifest = json.loads((killed / "manifest.json").read_text())
    assert "adapter_model.safetensors" in manifest["files"]


def test_an_adapter_that_does_not_fit_its_base_model_is_refused(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = runner.invoke(app, ["harden", "tiny", f"align_data={tiny_data['align']}",
                                 f"harm_data={tiny_data['align']}", "--steps", "1", "batch_size=4",
                                 "harm_batch_size=2", "max_length=96", "-o", str(out)])
    assert result.exit_code == 0, result.output
    weights = load_file(str(out / "adapter_model.safetensors"))
    name = next(k for k in weights if "lora_A" in k)
    save_file({**weights, name: torch.zeros(3, 5)}, str(out / "adapter_model.safetensors"))  # wrong shape
    with pytest.raises(AntibodyError, match="does not fit its base model"):
        torch_models.load(str(out))
    config = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_model.safetensors").unlink()
    save_file(weights, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["no_such_proj"]}))
    with pytest.raises(AntibodyError, match="does not fit its base model"):
        torch_models.load(str(out))
