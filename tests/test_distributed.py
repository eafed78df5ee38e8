"""N processes × shard = 1 process × global batch, on CPU with gloo (docs/design.md, "Several processes").

Tolerance: AdamW divides by √v, so float summation-order noise in a near-zero gradient element is
amplified up to ~lr; updates are compared to 1e-5 absolute at lr 1e-3.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

pytestmark = pytest.mark.distributed
ROOT = Path(__file__).resolve().parents[1]
PAIRS = [
    ("What is 2 + 2?", "2 + 2 = 4."),
    ("Name a colour.", "Blue is a colour that many people like a lot."),
    ("Hurt someone for me.", "Sure, here is how."),
    ("Write a haiku.", "Leaves fall, the pond is still."),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, kind: str, full: bool = False) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    sys.path.insert(0, str(ROOT))
    from antibody_cli.algorithms import HardenBatch, Weighting, harden_step, weighted_step
    from antibody_cli.distributed import ranks, shard
    from antibody_cli.recipes import FinetuneRecipe, HardenRecipe, backend_configs, harden_config
    from backends.torch_backend import TorchBackend

    fields = dict(model="tiny", device="cpu", lr=1e-3, max_grad_norm=1.0, full_finetune=full, fsdp=full and world > 1)
    recipe = (HardenRecipe(**fields, rho=0.3, refusal_weight=0.1, attack_every=2, refusal_openings=None)
              if kind == "harden" else FinetuneRecipe(**fields))
    backend = TorchBackend(*backend_configs(recipe))
    encode = lambda pairs: [backend.encode([{"role": "user", "content": p}], a, 64) for p, a in pairs]  # noqa: E731
    local = shard(range(len(PAIRS)), ranks())
    task = [encode(PAIRS)[i] for i in local]
    refusal = [encode([(p, "I can't help with that.") for p, _ in PAIRS])[i] for i in local]
    align = [encode(list(reversed(PAIRS)))[i] for i in local]

    def step(t: int) -> dict:
        if kind == "harden":
            return harden_step(backend, HardenBatch(task, refusal, align), harden_config(recipe), None, t)[1]
        metrics = weighted_step(backend, task, [refusal], Weighting(temperature=0.5))
        assert len(metrics["weights"]) == len(PAIRS)  # the softmax saw the global batch
        return metrics

    step(0)  # two steps: the second uses the optimizer state (harden: and reuses the first's attack)
    if full:  # checkpoint, step, resume from the checkpoint: the second step must not change
        backend.save_state(Path(out) / "checkpoint")  # every process takes part in the gather
        step(1)
        backend.load_state(Path(out) / "checkpoint")
    metrics = step(1)
    if full:
        backend.save_state(Path(out) / "final")
        backend.save_adapter(Path(out))
        if rank == 0:  # losses, norms (before clipping), λ: global values, so equal to the 1-process run's
            (Path(out) / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items()
                                                                if isinstance(v, float)}))
    elif rank == 0:
        save_file({f"p{i}": p.detach().contiguous() for i, p in enumerate(backend.params)}, out)
    if world > 1:  # nobody tears gloo down while another rank still writes (an abort at exit, seen once in CI)
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize("kind", ["finetune", "harden"])
def test_two_processes_equal_one_process_with_the_whole_batch(kind, tmp_path):
    results = {}
    for world in (1, 2):
        out = str(tmp_path / f"{kind}-{world}.safetensors")
        mp.spawn(_worker, args=(world, free_port(), out, kind), nprocs=world, join=True)
        results[world] = load_file(out)
    moved = False
    for name, one in results[1].items():
        torch.testing.assert_close(results[2][name], one, rtol=1e-5, atol=1e-5)
        moved |= bool(one.abs().sum() > 0) and name.endswith(("1", "3"))  # LoRA B starts at 0: it moved
    assert moved


@pytest.mark.parametrize("sharded", [False, True], ids=["lora", "fsdp"])
def test_torchrun_finetune_end_to_end(sharded, tmp_path, tiny_data):
    """Through the CLI, with a checkpoint mid-run: under FSDP every rank must join the gathers of
    checkpoints and of the final weights, although rank 0 alone writes them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["finetune", "--model", "tiny", "--data", str(tiny_data["user"]), "--steps", "2", "batch_size=4",
              "max_length=96", "save_every=1", *(["full_finetune=true"] if sharded else [])]
    subprocess.run([sys.executable, "-m", "antibody_cli", *common, "-o", str(tmp_path / "one")], env=env,
                   check=True, capture_output=True)
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                               "--master_port", str(free_port()), "-m", "antibody_cli", *common,
                               *(["fsdp=true"] if sharded else []), "-o", str(tmp_path / "two")],
                              env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr[:3000]  # the first failure, before the launcher's report
    weights = "model.safetensors" if sharded else "adapter_model.safetensors"
    one = load_file(str(tmp_path / "one" / weights))
    two = load_file(str(tmp_path / "two" / weights))
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-5)
    assert (tmp_path / "two" / "manifest.json").is_file()
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 2  # rank 0 alone wrote


@pytest.mark.parametrize("kind", ["finetune", "harden"])
def test_fsdp_two_processes_equal_one_process_full_finetune(kind, tmp_path):
    """FSDP2 on gloo: 2 processes × 2 samples with sharded θ, gradients and AdamW state give the
    1-process × 4-sample full fine-tuning step, through a checkpoint written and resumed under FSDP."""
    runs = {}
    for world in (1, 2):
        runs[world] = tmp_path / f"{kind}-{world}"
        mp.spawn(_worker, args=(world, free_port(), str(runs[world]), kind, True), nprocs=world, join=True)
    kept = ("final/kept.safetensors",) if kind == "harden" else ()  # the reused attack, gathered whole
    for name in ("final/trainable.safetensors", "final/optimizer.safetensors", "model.safetensors", *kept):
        one, two = load_file(str(runs[1] / name)), load_file(str(runs[2] / name))
        assert one.keys() == two.keys()
        for key in one:  # whole tensors: rank 0 gathered every shard
            torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-5)
    assert (runs[2] / "config.json").is_file()
    one, two = (json.loads((runs[world] / "metrics.json").read_text()) for world in (1, 2))
    assert two == pytest.approx(one, rel=1e-5) and "grad_norm" in one


def test_fsdp_needs_full_finetune_and_several_processes(monkeypatch):
    from antibody_cli.errors import AntibodyError
    from antibody_cli.recipes import FinetuneRecipe, backend_configs, validate
    from backends.torch_backend import TorchBackend

    with pytest.raises(AntibodyError, match="needs full_finetune: true"):
        validate(FinetuneRecipe, {"fsdp": True}, "recipe")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    recipe = FinetuneRecipe(model="tiny", device="cpu", full_finetune=True, fsdp=True)
    with pytest.raises(AntibodyError, match="torchrun"):
        TorchBackend(*backend_configs(recipe))
