"""Backend registry: one line per framework; imported lazily so `--help` stays light."""

from __future__ import annotations

import importlib

from antibody_cli.errors import AntibodyError
from backends.base import ModelConfig, TrainConfig

# name -> (module, factory, pip extra that provides it)
REGISTRY: dict[str, tuple[str, str, str]] = {
    "torch": ("backends.torch_backend", "TorchBackend", "torch"),
    "mlx": ("backends.mlx_backend", "MlxBackend", "mlx"),
}


def load_backend(name: str, model: ModelConfig, training: TrainConfig | None = None):
    """Build backend `name` on `model`; with `training`, θ is trainable and an optimizer is set up."""
    module_name, factory, extra = REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise AntibodyError(f"the {name} backend needs '{e.name}': pip install 'antibody[{extra}]'") from None
    return getattr(module, factory)(model, training)
