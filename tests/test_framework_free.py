"""The algorithms run with neither torch nor MLX importable: they only see the backend protocol."""

import subprocess
import sys

CODE = """
import sys
sys.modules["torch"] = sys.modules["mlx"] = None  # any `import torch` / `import mlx...` now fails
sys.path.insert(0, "tests")
from antibody_cli.algorithms import HardenBatch, HardenConfig, Weighting, harden_step, vaccine_step, weighted_step
from fake_backend import FakeBackend, Sample

backend = FakeBackend([0.0, 0.0])
config = HardenConfig(rho=0.1, eta=5.0, lambda_rule="kkt", ema=0.9, lambda_max=10.0, refusal_weight=0.05)
harm, refusal, align = [Sample((1.0, 0.0))], [Sample((0.0, 1.0))], [Sample((0.5, 0.5), 2)]
lam, metrics = harden_step(backend, HardenBatch(harm, refusal, align), config, None)
out = weighted_step(backend, align + harm, [refusal * 2], Weighting(temperature=0.2))
vaccine = vaccine_step(backend, align + harm, rho=0.5)
assert len(backend.applied) == 3 and lam >= 0 and len(out["weights"]) == 2 and vaccine["norm_shift"] > 0
assert not any(name == "torch" or name.startswith("mlx") for name, m in sys.modules.items() if m is not None)
print("ok")
"""


def test_algorithms_run_without_torch_or_mlx():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


CORE = """
import importlib, pkgutil, sys
sys.modules["torch"] = sys.modules["transformers"] = sys.modules["mlx"] = None
import antibody_cli
names = [m.name for m in pkgutil.walk_packages(antibody_cli.__path__, "antibody_cli.")
         if not m.name.startswith("antibody_cli.integrations.") and m.name != "antibody_cli.__main__"]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_only_the_integrations_import_a_framework():
    """Every core module imports with torch, transformers and mlx unimportable; antibody_cli.integrations.* are
    the modules that bring a framework in (the transformers one imports torch)."""
    result = subprocess.run([sys.executable, "-c", CORE], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 20
