"""FSDP2 (`fully_shard`) for the torch backend: full fine-tuning of a model that does not fit one GPU.

Each process keeps only its shard of θ, of the gradients, of the perturbation buffer and of the
AdamW state (all DTensors, so TorchBackend's in-place arithmetic stays shard-local). What must
be global is made global here: gradients are summed over processes once per pass, by FSDP's
reduce-scatter in backward(); dot products and norms add the shards' parts with one all-reduce;
saving gathers whole tensors for rank 0 and loading cuts this rank's shard out of them.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor


def shard(model: torch.nn.Module, device: torch.device, world: int) -> torch.nn.Module:
    """Shard every transformer block on its own (only one block's whole weights exist at a time), then the rest.

    fully_shard moves each block to the device as it shards it, so the whole model never sits on one GPU
    (each process still loads it whole into host memory first).
    """
    if device.type == "cuda":
        torch.cuda.set_device(device)
    mesh = init_device_mesh(device.type, (world,))
    blocks = set(getattr(model, "_no_split_modules", None) or ())  # transformers' names for its blocks
    for module in list(model.modules()):
        if type(module).__name__ in blocks:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            # Each process's loss is already divided by the global denominator: sum over processes, do
            # not average. Sum-only collectives: gloo has no PREMUL_SUM, and NCCL's SUM is zero-copy.
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)
    return model


def take_grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The summed gradient shards backward() left in .grad, cleared so the next pass starts from zero.

    torch.autograd.grad cannot be used: the forward runs on the gathered weights, not on these shards
    ("The differentiated Tensor at index 0 appears to not have been used in the graph").
    """
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    for p in params:
        p.grad = None
    return grads


def dot(a: list[DTensor], b: list[DTensor]) -> float:
    """⟨a, b⟩ over all shards, in float64. float() of a DTensor sum would be this rank's part alone."""
    local = sum((x.to_local().double() * y.to_local().double()).sum() for x, y in zip(a, b, strict=True))
    dist.all_reduce(local, group=a[0].device_mesh.get_group())
    return float(local)


def whole(tensors: dict[str, torch.Tensor], keep: bool) -> dict[str, torch.Tensor]:
    """Whole CPU copies, for writing. Every process must call it (each all-gather is collective); only
    `keep` holds the result, and one whole tensor at a time is on the device. A tensor under two names
    (tied embeddings, with state_dict(keep_vars=True)) is gathered once and stays one shared copy."""
    copies: dict[int, torch.Tensor | None] = {}
    for t in tensors.values():
        if id(t) not in copies:
            full = t.full_tensor() if isinstance(t, DTensor) else t
            copies[id(t)] = full.detach().cpu().contiguous() if keep else None
    return {name: copies[id(t)] for name, t in tensors.items()} if keep else {}


def like(tensor: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A whole tensor read from a file, held as `param` is: this process's shard of it under FSDP."""
    tensor = tensor.to(param.device)
    if isinstance(param, DTensor):  # every process read the same file: cut locally, no communication
        return distribute_tensor(tensor, param.device_mesh, param.placements, src_data_rank=None)
    return tensor
