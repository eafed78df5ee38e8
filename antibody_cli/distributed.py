"""Which process am I: rank and world size as torchrun / accelerate launch set them.

Framework-free: the core uses it to shard each global batch and to let only rank 0 write;
the collectives themselves live in the backend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from antibody_cli.errors import AntibodyError

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks() -> Ranks:
    return Ranks(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def shard(indices: Sequence[T], where: Ranks) -> list[T]:
    """This rank's contiguous share of a global batch, so gathering in rank order restores the batch."""
    if len(indices) % where.world:
        raise AntibodyError(f"batch size {len(indices)} does not split evenly over {where.world} processes")
    size = len(indices) // where.world
    return list(indices[where.rank * size: (where.rank + 1) * size])
