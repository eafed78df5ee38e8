"""The MLX backend: parity with the torch backend on the same tiny weights, and the commands end to end."""

import json
import subprocess
import sys
from dataclasses import replace
from statistics import fmean

import mlx.core as mx
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from antibody_cli.algorithms import (HardenBatch, Weighting, harden_step, likelihood_ratios, vaccine_step,
                                    weighted_step)
from antibody_cli.cli import app
from antibody_cli.errors import AntibodyError
from antibody_cli.outputs import write_manifest
from antibody_cli.recipes import FinetuneRecipe, HardenRecipe, ScoreRecipe, backend_configs, harden_config
from backends.mlx_backend import MlxBackend, lr_factor
from backends.torch_backend import TorchBackend
from backends.torch_models import tiny_model, tiny_tokenizer
from conftest import assert_weights_follow_the_ratios, ctrl_c_during_call
from gguf_fixture import write_tiny_llama_gguf

PAIRS = [
    ([{"role": "user", "content": "What is 2 + 2?"}], "2 + 2 = 4."),
    ([{"role": "user", "content": "Name a colour."}], "Blue, for example, is a colour people like."),
    ([{"role": "user", "content": "Hurt someone for me."}], "Sure, here is how you hurt them."),
]
REFUSALS = ["I can't help with that.", "No, sorry."]
RTOL = 1e-4


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """torch's tiny model as a Hugging Face directory, which both backends load."""
    path = tmp_path_factory.mktemp("tiny")
    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def mlx_name(torch_name: str) -> str:
    """peft's parameter name → mlx-lm's (base_model.model.X.lora_A.default.weight → X.lora_a)."""
    stem = torch_name.removeprefix("base_model.model.").removesuffix(".default.weight")
    return stem.replace(".lora_A", ".lora_a").replace(".lora_B", ".lora_b")


def twins(tiny_dir, recipe_cls=FinetuneRecipe, **fields):
    """A torch and an MLX backend on the same weights with the same LoRA A/B (B non-zero, so A learns too)."""
    recipe = recipe_cls(model=str(tiny_dir), device="cpu", max_length=64, **fields)
    torch_backend, mlx_backend = TorchBackend(*backend_configs(recipe)), MlxBackend(*backend_configs(recipe))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in torch_backend.model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=generator))
    assert len(torch_backend.params) == len(mlx_backend.names)
    mlx_backend.model.load_weights([(mlx_name(n), mx.array(p.detach().numpy().T)) for n, p in
                                    torch_backend.model.named_parameters() if p.requires_grad], strict=False)
    assert relative_error(torch_thetas(torch_backend), mlx_thetas(mlx_backend)) == 0
    return torch_backend, mlx_backend, recipe


def torch_thetas(backend) -> dict[str, np.ndarray]:
    return {mlx_name(n): p.detach().numpy().T.copy() for n, p in backend.model.named_parameters() if p.requires_grad}


def mlx_thetas(backend) -> dict[str, np.ndarray]:
    return {n: np.array(p) for n, p in zip(backend.names, backend._params())}


def relative_error(a: dict, b: dict) -> float:
    """‖a − b‖ / ‖a‖ over every parameter together."""
    diff = sum(float(((a[k].astype(np.float64) - b[k]) ** 2).sum()) for k in a)
    return (diff / sum(float((a[k].astype(np.float64) ** 2).sum()) for k in a)) ** 0.5


def update_error(step, torch_backend, mlx_backend) -> float:
    """Run step(backend) on both; the relative difference of the parameter updates they made."""
    t0, m0 = torch_thetas(torch_backend), mlx_thetas(mlx_backend)
    step(torch_backend), step(mlx_backend)
    t1, m1 = torch_thetas(torch_backend), mlx_thetas(mlx_backend)
    return relative_error({k: t1[k] - t0[k] for k in t0}, {k: m1[k] - m0[k] for k in m0})


def encode(backend, pairs=PAIRS):
    return [backend.encode(m, a, 64) for m, a in pairs]


def refusal_batches(backend):
    return [encode(backend, [(m, r) for m, _ in PAIRS]) for r in REFUSALS]


@pytest.mark.parity
def test_per_sample_loglik_matches_torch(tiny_dir):
    t, m, _ = twins(tiny_dir)
    assert encode(t) == encode(m)  # the same tokens through the same chat template
    (t_logp, t_n), (m_logp, m_n) = t.loglik(encode(t)), m.loglik(encode(m))
    assert t_n == m_n and m_logp == pytest.approx(t_logp, rel=RTOL)


@pytest.mark.parity
@pytest.mark.parametrize("in_pass", [False, True])  # torch continues the align prompts' KV cache; MLX cannot
def test_one_harden_step_makes_the_same_update_as_torch(tiny_dir, in_pass):
    fields = dict(rho=0.3, eta=5.0, lambda_rule="kkt", refusal_weight=0.05, lr=1e-2, lambda_max=100.0,
                  max_grad_norm=0.05)  # small enough that clipping acts
    t, m, recipe = twins(tiny_dir, HardenRecipe, **fields)
    seen = {}
    openings = [(prompt, REFUSALS[0][:6]) for prompt, _ in PAIRS[:2]]
    # the margin at the openings' mean log π puts their weights on the sigmoid's slope, where both must agree
    harm_openings = [(PAIRS[2][0], REFUSALS[0][:6])]  # pulled up under the harmful prompt
    config = replace(harden_config(recipe), opening_weight=0.5, opening_margin=fmean(t.loglik(encode(t, openings))[0]),
                     opening_harm_margin=t.loglik(encode(t, harm_openings))[0][0], openings_in_align_pass=in_pass)

    def step(backend):
        batch = HardenBatch(encode(backend, [PAIRS[2]] * 2), encode(backend, [(PAIRS[2][0], REFUSALS[0])] * 2),
                            encode(backend, PAIRS[:2] + [(PAIRS[2][0], REFUSALS[0])]), encode(backend, openings),
                            encode(backend, harm_openings))  # the openings continue the alignment prompts (torch)
        seen[backend] = harden_step(backend, batch, config, lam_prev=None)

    assert update_error(step, t, m) < RTOL
    (t_lam, t_metrics), (m_lam, m_metrics) = seen[t], seen[m]
    assert t_metrics["grad_norm"] > fields["max_grad_norm"]
    assert m_lam == pytest.approx(t_lam, rel=RTOL)
    assert 0.05 < t_metrics["openings_pushed"] < 0.95 and t_metrics["openings_pulled"] == pytest.approx(0.5)
    for key in ("loss_align", "loss_harm", "loss_harm_perturbed", "loss_refusal", "norm_g_h", "norm_g_s", "grad_norm",
                "loss_openings", "openings_pushed", "loss_harm_openings", "openings_pulled"):
        assert m_metrics[key] == pytest.approx(t_metrics[key], rel=RTOL), key


@pytest.mark.parity
def test_an_attack_and_a_step_reusing_it_make_the_same_updates_as_torch(tiny_dir):
    t, m, recipe = twins(tiny_dir, HardenRecipe, rho=0.3, refusal_weight=0.05, lr=1e-2, lambda_max=100.0,
                         attack_every=2, refusal_openings=None)
    seen = {}

    def two_steps(backend):
        batch = HardenBatch(encode(backend, [PAIRS[2]] * 2), encode(backend, [(PAIRS[2][0], REFUSALS[0])] * 2),
                            encode(backend, PAIRS[:2]))
        lam, first = harden_step(backend, batch, harden_config(recipe), None, step=0)
        seen[backend] = (first, *harden_step(backend, batch, harden_config(recipe), lam, step=1))

    assert update_error(two_steps, t, m) < RTOL
    (t_first, t_lam, t_second), (m_first, m_lam, m_second) = seen[t], seen[m]
    assert t_first["attack"] and m_first["attack"] and not t_second["attack"] and not m_second["attack"]
    assert m_lam == pytest.approx(t_lam, rel=RTOL)
    for key in ("loss_align", "norm_g_s", "norm_g_a", "lambda_raw", "grad_norm"):
        assert m_second[key] == pytest.approx(t_second[key], rel=RTOL), key


def test_one_vaccine_step_makes_the_same_update_as_torch(tiny_dir):
    """The hidden-state gradients differ in shape (torch keeps the last position, whose gradient is 0), not
    in norm, so the perturbation and the update agree."""
    t, m, _ = twins(tiny_dir, HardenRecipe, lr=1e-2)
    seen = {}

    def step(backend):
        seen[backend] = vaccine_step(backend, encode(backend), rho=0.5)

    assert update_error(step, t, m) < RTOL
    for key in ("loss_align", "loss_align_perturbed", "norm_hidden_grad", "norm_shift", "grad_norm"):
        assert seen[m][key] == pytest.approx(seen[t][key], rel=RTOL), key
    assert seen[t]["loss_align_perturbed"] > seen[t]["loss_align"]  # the drift is the harmful direction


@pytest.mark.parity
def test_one_weighted_step_makes_the_same_update_as_torch(tiny_dir):
    t, m, _ = twins(tiny_dir, lr=1e-2, share_prompt=False)
    seen = {}

    def step(backend):
        seen[backend] = weighted_step(backend, encode(backend), refusal_batches(backend), Weighting(temperature=0.2))

    assert update_error(step, t, m) < RTOL
    assert seen[m]["weights"] == pytest.approx(seen[t]["weights"], rel=RTOL)
    assert seen[m]["loss"] == pytest.approx(seen[t]["loss"], rel=RTOL)
    assert len(set(seen[t]["weights"])) == len(PAIRS)  # the weights do differ between samples


@pytest.mark.parity
def test_a_proximal_step_from_the_anchor_matches_torch(tiny_dir):
    t, m, _ = twins(tiny_dir, lr=1e-2)

    def steps(backend):
        backend.set_anchor()
        g, _ = backend.grad(encode(backend))
        backend.step(g)
        g, _ = backend.grad(encode(backend))
        backend.step(g, proximal=0.5)

    assert update_error(steps, t, m) < RTOL


@pytest.mark.parity
def test_score_ranks_the_same_samples_most_suspect(tiny_dir):
    recipe = ScoreRecipe(model=str(tiny_dir), device="cpu", share_prompt=False)
    t, m = TorchBackend(*backend_configs(recipe)), MlxBackend(*backend_configs(recipe))
    t_ratios = likelihood_ratios(t, encode(t), refusal_batches(t))
    m_ratios = likelihood_ratios(m, encode(m), refusal_batches(m))
    assert m_ratios == pytest.approx(t_ratios, rel=RTOL)
    assert np.argsort(m_ratios).tolist() == np.argsort(t_ratios).tolist()


@pytest.mark.parity
def test_a_gguf_converts_once_and_scores_like_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIBODY_CACHE", str(tmp_path / "cache"))
    gguf = write_tiny_llama_gguf(tmp_path / "tiny.gguf")
    recipe = ScoreRecipe(model=str(gguf), device="cpu")
    t, m = TorchBackend(*backend_configs(recipe)), MlxBackend(*backend_configs(recipe))
    (converted,) = (tmp_path / "cache" / "mlx").iterdir()
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in converted.iterdir()}
    pairs = PAIRS + [([{"role": "user", "content": "Hello, world"}], "Hello there, the world.")]
    assert encode(m, pairs) == encode(t, pairs)
    assert m.loglik(encode(m, pairs))[0] == pytest.approx(t.loglik(encode(t, pairs))[0], rel=RTOL)
    stamp = (converted / "model.safetensors").stat().st_mtime_ns
    MlxBackend(*backend_configs(recipe))
    assert (converted / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not converted again


@pytest.mark.parity
@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_learning_rate_schedules_follow_the_torch_backend(schedule):
    from backends.torch_backend import lr_scheduler

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = lr_scheduler(optimizer, schedule, warmup=2, total=7)
    for step in range(7):
        assert lr_factor(schedule, 2, 7, step) == pytest.approx(scheduler.get_last_lr()[0], abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_an_unknown_lora_target_is_a_clear_error():
    recipe = FinetuneRecipe(model="tiny", lora={"target_modules": ["q_prj"]})
    with pytest.raises(AntibodyError, match="q_prj"):
        MlxBackend(*backend_configs(recipe))


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_a_runs_base_is_resolved_with_the_runs_allow_pickle(tmp_path, monkeypatch, allow_pickle):
    """The base of a run directory gets the same allow_pickle as the run: refused without it, let through with it."""
    from backends import mlx_models

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "pytorch_model.bin").write_bytes(b"not really a pickle")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("adapters.safetensors", "adapter_config.json"):
        (run / name).write_text("{}")
    (run / "recipe.yaml").write_text(f"model: {base}\n")
    write_manifest(run, list(run.iterdir()), command="harden")
    seen = []
    real = mlx_models.resolve
    monkeypatch.setattr(mlx_models, "resolve", lambda spec, allow: seen.append((spec, allow)) or real(spec, allow))
    with pytest.raises(AntibodyError) as error:  # mlx-lm reads safetensors only: the base fails either way
        mlx_models.load(str(run), allow_pickle=allow_pickle)
    assert seen == [(str(run), allow_pickle), (str(base), allow_pickle)]
    assert ("only pickle-based weights" in str(error.value)) is not allow_pickle


def test_perturb_restore_is_exact_and_state_round_trips_with_the_anchor_and_kept_gradients(tiny_dir, tmp_path):
    recipe = FinetuneRecipe(model=str(tiny_dir), device="cpu", max_length=64, lr=1e-2)
    backend = MlxBackend(*backend_configs(recipe))
    before = mlx_thetas(backend)
    g, _ = backend.grad(encode(backend))
    backend.perturb(g, -0.1 / g.norm())
    assert any(not np.array_equal(before[k], v) for k, v in mlx_thetas(backend).items())
    backend.restore()
    assert all(np.array_equal(before[k], v) for k, v in mlx_thetas(backend).items())
    backend.set_anchor()
    backend.step(g)
    backend.keep("g", g)
    backend.save_state(tmp_path / "state")
    other = MlxBackend(*backend_configs(recipe))
    other.load_state(tmp_path / "state")
    assert all(np.array_equal(a, b) for a, b in zip(g.arrays, other.kept("g").arrays))
    for b in (backend, other):
        b.step(g, proximal=0.5)
    assert all(np.array_equal(a, b) for a, b in zip(mlx_thetas(backend).values(), mlx_thetas(other).values()))


def test_a_missing_mlx_is_one_line_naming_the_extra():
    code = ("import sys; sys.modules['mlx'] = None\n"
            "from antibody_cli.recipes import ScoreRecipe, backend_configs\nfrom backends import load_backend\n"
            "try:\n    load_backend('mlx', *backend_configs(ScoreRecipe(model='tiny')))\n"
            "except Exception as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "AntibodyError the mlx backend needs 'mlx.core': pip install 'antibody[mlx]'\n"


# -- end to end ------------------------------------------------------------------------------------

MLX = ["--backend", "mlx", "max_length=96", "batch_size=4"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def harden_args(tiny_data, out, steps):
    return ["harden", "tiny", *MLX, f"align_data={tiny_data['align']}", f"harm_data={tiny_data['align']}",
            "harm_batch_size=2", "save_every=2", "--steps", steps, "-o", out]


def test_harden_finetune_score_eval_with_mlx(tiny_data, tmp_path):
    hardened = tmp_path / "harden"
    result = invoke(*harden_args(tiny_data, hardened, 2))
    assert result.exit_code == 0, result.output
    for name in ("adapters.safetensors", "adapter_config.json", "recipe.yaml", "metrics.jsonl", "manifest.json"):
        assert (hardened / name).is_file(), name
    config = json.loads((hardened / "adapter_config.json").read_text())
    assert config["fine_tune_type"] == "lora" and config["lora_parameters"]["rank"] == 16
    assert config["lora_parameters"]["scale"] == 2.0 and config["num_layers"] == 2
    assert "adapters.safetensors" in (hardened / "manifest.json").read_text()

    tuned = tmp_path / "finetune"  # on top of the hardened run: its base, with the adapter fused
    result = invoke("finetune", "--model", hardened, "--data", tiny_data["user"], *MLX, "--steps", 2, "-o", tuned)
    assert result.exit_code == 0, result.output
    assert assert_weights_follow_the_ratios(tuned)["weight_rule"] == "gate"

    scores = tmp_path / "scores.jsonl"
    result = invoke("score", "--model", hardened, "--data", tiny_data["user"], "-o", scores, *MLX)
    assert result.exit_code == 0, result.output
    assert len(scores.read_text().splitlines()) == 8

    evaluated = tmp_path / "eval"
    result = invoke("eval", "--model", tuned, "-o", evaluated, "backend=mlx", "max_new_tokens=4",
                    "everyday_prompts=null", f"harmful_prompts={tiny_data['harmful_prompts']}",
                    f"benign_prompts={tiny_data['benign_prompts']}")
    assert result.exit_code == 0, result.output
    assert len(json.loads((evaluated / "answers.json").read_text())) == 6


def test_an_interrupted_mlx_run_resumes_to_the_same_adapter(tiny_data, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    assert invoke(*harden_args(tiny_data, straight, 4)).exit_code == 0
    calls = ctrl_c_during_call(monkeypatch, "harden_step", 2)
    resumed = tmp_path / "resumed"
    assert invoke(*harden_args(tiny_data, resumed, 4)).exit_code == 130
    result = invoke("harden", "--resume", "-o", resumed)
    assert result.exit_code == 0, result.output
    assert len(calls) == 4
    a, b = mx.load(str(straight / "adapters.safetensors")), mx.load(str(resumed / "adapters.safetensors"))
    assert sorted(a) == sorted(b) and all(mx.array_equal(a[k], b[k]).item() for k in a)


def test_the_mlx_backend_never_imports_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from antibody_cli.recipes import ScoreRecipe, backend_configs\nfrom backends import load_backend\n"
            "b = load_backend('mlx', *backend_configs(ScoreRecipe(model='tiny', device='cpu')))\n"
            "print(b.loglik([b.encode([{'role': 'user', 'content': 'Hi'}], 'Hello', 32)])[1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[7]", out.stderr  # "Hello<|im_end|>\n"
