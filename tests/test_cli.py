"""The commands end to end through Typer's CliRunner, on the tiny model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from antibody_cli import algorithms
from antibody_cli.cli import app
from conftest import assert_weights_follow_the_ratios, ctrl_c_during_call, same_adapter, write_jsonl

runner = CliRunner()
TINY = ["max_length=96", "batch_size=4"]


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def tasks_test_lines(name):
    return (Path(algorithms.__file__).parent / "builtin_data" / f"{name}_test.jsonl").read_text().splitlines()


def harden_args(tiny_data, out, steps=2):
    return ["harden", "tiny", *TINY, f"align_data={tiny_data['align']}", f"harm_data={tiny_data['align']}",
            "harm_batch_size=2", "--steps", steps, "-o", out]


def test_harden_finetune_score_eval_report(tiny_data, tmp_path):
    hardened = tmp_path / "harden"
    result = invoke(*harden_args(tiny_data, hardened))
    assert result.exit_code == 0, result.output
    for name in ("adapter_model.safetensors", "adapter_config.json", "recipe.yaml", "metrics.jsonl", "manifest.json"):
        assert (hardened / name).is_file(), name
    rows = [json.loads(line) for line in (hardened / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert {"loss_align", "loss_harm", "norm_g_h", "norm_g_s", "lambda", "lr", "time"} <= set(rows[0])
    summary = json.loads((hardened / "summary.json").read_text())
    assert summary["flatness_steps"] == 3 and summary["flatness_samples"] == 8 and summary["attack_every"] == 1
    assert summary["flatness_attack_drop"] > summary["flatness_sharpness"] > 0  # tiny is far from flat
    assert "flatness" in result.output
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(str(hardened)).r == 16

    tuned = tmp_path / "finetune"
    result = invoke("finetune", "--model", hardened, "--data", tiny_data["user"], *TINY, "--steps", 2, "-o", tuned)
    assert result.exit_code == 0, result.output
    step = json.loads((tuned / "metrics.jsonl").read_text().splitlines()[0])
    assert {"loss", "weight_min", "weight_max", "effective_batch", "lr"} <= set(step)
    summary = assert_weights_follow_the_ratios(tuned)
    assert summary["weight_rule"] == "gate" and 1e-6 <= step["weight_min"] <= step["weight_max"] <= 1  # no softmax

    scores = tmp_path / "scores.csv"
    result = invoke("score", "--model", hardened, "--data", tiny_data["user"], "--top", 3, "-o", scores, *TINY)
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output and scores.read_text().startswith("index,id,score")

    evaluated = tmp_path / "eval"
    result = invoke("eval", "--model", tuned, "-o", evaluated, "max_new_tokens=4", "--task", "topic", "--limit", 3,
                    f"harmful_prompts={tiny_data['harmful_prompts']}", f"benign_prompts={tiny_data['benign_prompts']}")
    assert result.exit_code == 0, result.output
    assert "finetune accuracy" in result.output
    answers = json.loads((evaluated / "answers.json").read_text())
    assert [a["set"] for a in answers].count("everyday") == 3 and len(answers) == 12  # 4 sets of --limit 3
    assert {"prompt", "answer", "verdict"} <= set(answers[0]) and answers[0]["set"] == "harmful"
    assert [a["reference"] for a in answers if a["set"] == "task"] == [
        json.loads(line)["completion"] for line in tasks_test_lines("topic")[:3]]
    assert invoke("eval", "--model", "tiny", "--task", "poetry").output.startswith("error: unknown task 'poetry'")

    result = invoke("report", tmp_path)
    assert result.exit_code == 0 and "harmful score" in result.output and "Fine-tunes" in result.output


def test_a_malformed_line_is_one_error_line_and_writes_nothing(tiny_data, tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "Q", "response": "A"}])
    with open(bad, "a") as f:
        f.write('{"prompt": "Q2", "response": }\n')
    out = tmp_path / "never"
    result = invoke("finetune", "--model", "tiny", "--data", bad, "-o", out)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {bad}:2: invalid JSON: Expecting value (column 30)"
    assert not out.exists()
    result = invoke("score", "--model", "tiny", "--data", bad, "-o", tmp_path / "s.csv")
    assert result.exit_code == 2 and not (tmp_path / "s.csv").exists()


def test_recipe_mistakes_exit_2_without_traceback(tmp_path):
    result = invoke("harden", "tiny", "colour=blue", "-o", tmp_path / "x")
    assert result.exit_code == 2 and "field 'colour'" in result.output and "Traceback" not in result.output
    result = invoke("harden", "./no/such/model", "-o", tmp_path / "y", "--steps", 1)
    assert result.exit_code == 2 and "does not exist" in result.output


def test_harden_takes_the_model_as_an_option_like_every_other_command(tiny_data, tmp_path):
    args = harden_args(tiny_data, tmp_path / "h", steps=1)
    assert args[1] == "tiny"
    result = invoke("harden", "--model", "tiny", *args[2:])
    assert result.exit_code == 0, result.output
    assert "model: tiny" in (tmp_path / "h" / "recipe.yaml").read_text()
    import peft
    import torch
    import transformers

    versions = json.loads((tmp_path / "h" / "manifest.json").read_text())["versions"]
    assert (versions["torch"], versions["transformers"], versions["peft"]) == (
        torch.__version__, transformers.__version__, peft.__version__)
    result = invoke("harden", "tiny", "--model", "smollm2-135m", "-o", tmp_path / "x")
    assert result.exit_code == 2 and "two models named" in result.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize("prompts", ["own", "alignment"])
def test_harden_pushes_refusal_openings_on_benign_prompts_and_needs_benign_records(tiny_data, tmp_path, prompts):
    result = invoke(*harden_args(tiny_data, tmp_path / "h"), "refusal_openings.margin=-1000",
                    "refusal_openings.harmful_margin=0", f"refusal_openings.prompts={prompts}")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "h" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["openings_pushed"] == pytest.approx(1.0) and r["loss_openings"] > 0 for r in rows)
    # at m_h = 0 every harmful opening (log π < 0) is pulled with weight σ(−log π) > ½
    assert all(0.5 < r["openings_pulled"] <= 1.0 and r["loss_harm_openings"] > 0 for r in rows)
    harmful_only = tmp_path / "harmful.jsonl"
    harmful_only.write_text("".join(line + "\n" for line in Path(tiny_data["align"]).read_text().splitlines()
                                    if '"is_safe": false' in line))
    result = invoke(*harden_args({"align": harmful_only}, tmp_path / "x"), "benign_share=null", "refusal_openings={}")
    assert result.exit_code == 2 and "harmful.jsonl: field 'refusal_openings'" in result.output
    assert not (tmp_path / "x").exists()


def test_an_opening_is_the_templates_first_words_without_the_end_of_turn():
    from types import SimpleNamespace

    from antibody_cli.jobs import encode_openings
    from backends.common import encode
    from backends.torch_models import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    backend = SimpleNamespace(encode=lambda messages, answer, n: encode(tokenizer, messages, answer, n))
    messages = ({"role": "user", "content": "Write a poem."},)
    template = "I'm sorry, but I can't help with that."
    (opening,) = encode_openings(backend, [(messages, template)], 2, 256)
    whole, cut = (encode(tokenizer, messages, answer, 256) for answer in (template, "I'm sorry,"))
    assert opening.prompt_len == whole.prompt_len and opening.ids == whole.ids[:len(opening.ids)]
    assert tokenizer.decode(opening.ids[opening.prompt_len:]) == "I'm sorry,"
    assert len(opening.ids) < len(cut.ids)  # cut ends the turn after the words; the opening does not


def test_each_alignment_row_has_the_opening_harden_scores_under_its_prompt():
    from antibody_cli.data import Example
    from antibody_cli.jobs import opening_batches, refusal_openings
    from antibody_cli.recipes import OpeningSettings

    def row(text, harmful, refusal=None):
        return Example(({"role": "user", "content": text},), "an answer", refusal, harmful)

    align = [row("a", False), row("b", True, "No way."), row("c", False), row("d", True), row("e", False)]
    pairs = refusal_openings(align, ["T0", "T1"])
    # benign rows: the templates cycled over the benign rows; harmful ones: the refusal they are trained on
    assert [answer for _, answer in pairs] == ["T0", "No way.", "T1", "T1", "T0"]
    assert [messages for messages, _ in pairs] == [e.messages for e in align]
    rows = [4, 1, 0]
    pushed, pulled = opening_batches(pairs, [align[i].harmful for i in rows], rows, OpeningSettings())
    assert pushed == [pairs[4], pairs[0]] and pulled == [pairs[1]]
    assert opening_batches(pairs, [align[i].harmful for i in rows], rows, OpeningSettings(harmful_margin=None)) == (
        [pairs[4], pairs[0]], [])


def test_recipe_show_prints_yaml_on_stdout():
    result = invoke("recipe", "show", "finetune")
    assert result.exit_code == 0 and result.output.splitlines()[1] == "command: finetune"
    assert "temperature: 0.1" in result.output


@pytest.mark.parametrize("attack_every", [1, 3])
def test_ctrl_c_checkpoints_and_resume_matches_an_uninterrupted_run(tiny_data, tmp_path, monkeypatch, attack_every):
    """With attack_every 3 the checkpoint falls after step 2, so resumed step 3 reuses the attack of step 1."""
    args = ("save_every=2", f"attack_every={attack_every}")
    straight = tmp_path / "straight"
    assert invoke(*harden_args(tiny_data, straight, steps=4), *args).exit_code == 0

    calls = ctrl_c_during_call(monkeypatch, "harden_step", 2)
    resumed = tmp_path / "resumed"
    result = invoke(*harden_args(tiny_data, resumed, steps=4), *args)
    assert result.exit_code == 130 and "--resume" in result.output
    assert (resumed / "checkpoints" / "latest").is_file() and not (resumed / "manifest.json").exists()
    kept = resumed / "checkpoints" / "step-00000002" / "backend" / "kept.safetensors"
    assert kept.is_file() is (attack_every > 1)
    result = invoke("harden", "--resume", "-o", resumed)
    assert result.exit_code == 0, result.output
    assert len(calls) == 4  # steps 3 and 4 only were run again
    assert same_adapter(straight, resumed)
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    attacks = [json.loads(line)["attack"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert attacks == ([True] * 4 if attack_every == 1 else [True, False, False, True])


def test_a_finished_run_is_not_resumed_and_an_unfinished_one_is_not_loaded(tiny_data, tmp_path):
    out = tmp_path / "h"
    assert invoke(*harden_args(tiny_data, out, steps=1)).exit_code == 0
    result = invoke("harden", "--resume", "-o", out)
    assert result.exit_code == 2 and "already complete" in result.output
    (out / "manifest.json").unlink()
    result = invoke("score", "--model", out, "--data", tiny_data["user"], "-o", tmp_path / "s.jsonl")
    assert result.exit_code == 2 and "unfinished" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from antibody_cli.cli import app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_full_finetune_writes_safetensors_weights_that_load_as_a_model(tiny_data, tmp_path):
    out = tmp_path / "full"
    assert invoke(*harden_args(tiny_data, out, steps=1), "full_finetune=true").exit_code == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert not (out / "adapter_config.json").exists()
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    result = invoke("score", "--model", out, "--data", tiny_data["user"], "-o", tmp_path / "s.jsonl", *TINY)
    assert result.exit_code == 0, result.output


def test_truncated_samples_are_counted_not_rejected(tiny_data, tmp_path):
    out = tmp_path / "short"
    result = invoke("finetune", "--model", "tiny", "--data", tiny_data["user"], "--steps", 1, "-o", out,
                    "max_length=40", "batch_size=2")
    assert result.exit_code == 0, result.output
    assert "truncated to 40 tokens" in result.output
    assert json.loads((out / "summary.json").read_text())["truncated"] > 0


def test_lisa_alternates_phases_and_resumes_mid_phase_bitwise(tiny_data, tmp_path, monkeypatch):
    args = ["finetune", "--model", "tiny", "--data", tiny_data["user"], *TINY, "--steps", 6, "--recipe", "lisa",
            f"lisa.align_data={tiny_data['align']}", "lisa.task_steps=2", "lisa.align_steps=2"]
    straight = tmp_path / "straight"
    assert invoke(*args, "-o", straight).exit_code == 0
    rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in rows] == ["task", "task", "align", "align", "task", "task"]

    ctrl_c_during_call(monkeypatch, "weighted_step", 3)  # step 3: the first alignment step (a new anchor)
    resumed = tmp_path / "resumed"
    assert invoke(*args, "-o", resumed).exit_code == 130
    assert (resumed / "checkpoints" / "step-00000003" / "backend" / "anchor.safetensors").is_file()
    result = invoke("finetune", "--resume", "-o", resumed)
    assert result.exit_code == 0, result.output
    assert same_adapter(straight, resumed)


def test_safety_samples_join_every_batch_at_weight_one_and_need_harmful_records(tiny_data, tmp_path):
    args = ["finetune", "--model", "tiny", "--data", tiny_data["user"], *TINY, "--steps", 2]
    plain, mixed, default = tmp_path / "plain", tmp_path / "mixed", tmp_path / "default"
    assert invoke(*args, "-o", plain, "safety=null").exit_code == 0
    assert json.loads((plain / "summary.json").read_text())["safety_per_batch"] == 0
    assert invoke(*args, "-o", default).exit_code == 0  # the default mix: 4 of the built-in alignment data
    assert json.loads((default / "summary.json").read_text())["safety_per_batch"] == 4
    result = invoke(*args, "-o", mixed, f"safety.data={tiny_data['align']}", "safety.per_batch=2",
                    "safety.benign_share=null")  # refusals only, as SafeInstr
    assert result.exit_code == 0, result.output
    assert not same_adapter(plain, mixed)  # the refusals were trained on
    rows = [json.loads(line) for line in (mixed / "metrics.jsonl").read_text().splitlines()]
    assert all(len(r["ratios"]) == 4 and r["effective_batch"] <= 4 + 1e-9 for r in rows)  # the user's samples only
    assert json.loads((mixed / "summary.json").read_text())["safety_per_batch"] == 2

    halves = tmp_path / "halves"  # one refusal and one benign answer per batch: another update again
    assert invoke(*args, "-o", halves, f"safety.data={tiny_data['align']}", "safety.per_batch=2",
                  "safety.benign_share=0.5").exit_code == 0
    assert not same_adapter(mixed, halves)

    result = invoke(*args, "-o", tmp_path / "none", f"safety.data={tiny_data['benign_prompts']}",
                    "safety.benign_share=null")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "eval_benign.jsonl: field 'safety.data': no harmful records" in result.output
    assert not (tmp_path / "none").exists()

    harmful_only = write_jsonl(tmp_path / "harmful_only.jsonl", [
        json.loads(line) for line in Path(tiny_data["align"]).read_text().splitlines()
        if not json.loads(line)["is_safe"]])
    result = invoke(*args, "-o", tmp_path / "no_benign", f"safety.data={harmful_only}", "safety.per_batch=2",
                    "safety.benign_share=0.5")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert ("field 'safety.benign_share': safety.benign_share needs both harmful and benign records in "
            "safety.data") in result.output
    assert not (tmp_path / "no_benign").exists()  # refused before a model or a run directory


def test_vaccine_hardens_without_harmful_answers_and_resumes_bitwise(tiny_data, tmp_path, monkeypatch):
    args = ["harden", "tiny", *TINY, f"align_data={tiny_data['align']}", "--steps", 4, "--recipe", "vaccine",
            "vaccine.rho=0.5", "save_every=2"]
    straight = tmp_path / "straight"
    result = invoke(*args, "-o", straight)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(abs(r["norm_shift"] - 0.5) < 1e-6 and r["loss_align_perturbed"] > r["loss_align"] for r in rows)
    assert "loss_harm" not in rows[0] and "lambda" not in rows[0]  # no harmful batch, no λ
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(str(straight)).r == 16

    calls = ctrl_c_during_call(monkeypatch, "vaccine_step", 2)
    resumed = tmp_path / "resumed"
    assert invoke(*args, "-o", resumed).exit_code == 130
    result = invoke("harden", "--resume", "-o", resumed)
    assert result.exit_code == 0, result.output
    assert len(calls) == 4  # steps 3 and 4 only were run again
    assert same_adapter(straight, resumed)

    result = invoke(*args, "-o", tmp_path / "mixed", "refusal_weight=0.5")
    assert result.exit_code == 2 and "refusal_weight: Antibody's settings, which vaccine does not use" in result.output
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = invoke(*args, "-o", tmp_path / "two")
    assert result.exit_code == 2 and "launch it without torchrun" in result.output
