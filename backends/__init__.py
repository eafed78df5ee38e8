"""Backend registry: one line per framework; imported lazily so `--help` stays light."""

from __future__ import annotations

import importlib

from antibody_cli.errors import AntibodyError

# name -> (module, factory, pip extra that provides it)
REGISTRY: dict[str, tuple[str, str, str]] = {
    "torch": ("backends.torch_backend", "TorchBackend", "torch"),
    "mlx": ("backends.mlx_backend", "MlxBackend", "mlx"),
}


def load_backend(settings, training=None):
    """Build the backend named in a recipe: settings.backend, .model, .device ...; training: TrainingSettings."""
    module_name, factory, extra = REGISTRY[settings.backend]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise AntibodyError(f"the {settings.backend} backend needs '{e.name}': "
                            f"pip install 'antibody[{extra}]'") from None
    return getattr(module, factory)(settings, training)
