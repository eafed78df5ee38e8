"""Which samples form each batch: seeded data order for training, length order for per-sample work.

Training batches are a function of (seed, step) alone, so a resumed run sees the same data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from antibody_cli.errors import AntibodyError


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The sample indices of batch `step`: epochs of seeded shuffles, concatenated."""
    out: list[int] = []
    position = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(position + len(out), n)
        order = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        out.extend(order[offset: offset + batch_size - len(out)])
    return out


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of indices, shortest samples first: little padding. Only for per-sample work (score,
    generation): training batches stay random, because the Antibody weights are a softmax within a
    batch, and grouping by length would let an upload choose which samples share a batch."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[start: start + batch_size] for start in range(0, len(order), batch_size)]


def mixed_batches(harmful: Sequence[bool], batch_size: int, benign_share: float | None, seed: int,
                  fields: tuple[str, str] = ("align_data", "benign_share")) -> Callable[[int], list[int]]:
    """batch(step) -> indices: uniform over the file, or a fixed number of benign samples per batch.
    `fields` names the recipe's (data, share) fields that an impossible mix is reported against."""
    if benign_share is None:
        return lambda t: batch_indices(len(harmful), batch_size, seed, t)
    benign = [i for i, h in enumerate(harmful) if not h]
    refused = [i for i, h in enumerate(harmful) if h]
    n_benign = round(benign_share * batch_size)
    if (n_benign and not benign) or (n_benign < batch_size and not refused):
        data, share = fields
        raise AntibodyError(f"{share} needs both harmful and benign records in {data}", field=share)
    return lambda t: ([benign[i] for i in batch_indices(len(benign), n_benign, seed, t)] if n_benign else []) + (
        [refused[i] for i in batch_indices(len(refused), batch_size - n_benign, seed + 1, t)]
        if n_benign < batch_size else [])
