"""The MLX backend: mlx-lm models with mlx-lm LoRA adapters, on Apple silicon (Linux CPU via `mlx[cpu]`).

θ is the LoRA weights (or every weight with full_finetune). Gradients come from nn.value_and_grad.
MLX arrays are immutable, so perturb() keeps references to θ and restore() is exact by construction.
Numerics follow the torch backend (same loss, AdamW with bias correction, clipping, schedules), so a
recipe gives the same updates on either; tests/test_mlx.py checks that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from antibody_cli.distributed import ranks
from antibody_cli.errors import AntibodyError
from backends import mlx_models
from backends.base import BatchLoss, Encoded, Messages, ModelConfig, Term, TrainConfig, Weigher
from backends.common import (ANCHOR, IGNORE, KEPT, OPTIMIZER, OPTIMIZER_STATE, TRAINABLE, KeptGradients,
                             check_targets, encode, ensure_pad_token, flat_kept, pad_batch, prompt_texts, unflat_kept)

DEVICES = {"auto": None, "cpu": mx.cpu, "mps": mx.gpu, "gpu": mx.gpu}


class MlxGrad:
    """One array per trainable parameter; the arithmetic the core needs, nothing more."""

    __slots__ = ("arrays",)

    def __init__(self, arrays: list[mx.array]) -> None:
        self.arrays = arrays

    def __add__(self, other: MlxGrad) -> MlxGrad:
        return MlxGrad([a + b for a, b in zip(self.arrays, other.arrays, strict=True)])

    def __sub__(self, other: MlxGrad) -> MlxGrad:
        return MlxGrad([a - b for a, b in zip(self.arrays, other.arrays, strict=True)])

    def __mul__(self, scale: float) -> MlxGrad:
        return MlxGrad([a * scale for a in self.arrays])

    __rmul__ = __mul__

    def dot(self, other: MlxGrad) -> float:
        # float64 on the host (Apple GPUs have none): λ rules divide by ‖g_s‖², which can be small.
        return float(sum(np.vdot(np.asarray(a, np.float64), np.asarray(b, np.float64))
                         for a, b in zip(self.arrays, other.arrays, strict=True)))

    def norm(self) -> float:
        return math.sqrt(self.dot(self))


class Shifted:
    """A transformer block whose output is moved by a constant array (Vaccine's perturbation). Not an
    nn.Module, so it is invisible to the parameter tree; every other attribute is the block's."""

    def __init__(self, block: nn.Module, shift: mx.array) -> None:
        self.block, self.shift = block, shift

    def __call__(self, x: mx.array, *args, **kwargs) -> mx.array:
        out = self.block(x, *args, **kwargs)
        return out + self.shift.astype(out.dtype)

    def __getattr__(self, name: str):
        return getattr(self.block, name)  # e.g. use_sliding, which the model's loop reads


def lr_factor(schedule: str, warmup: int, total: int, step: int) -> float:
    """Multiplier of the peak learning rate at `step`: linear warm-up, then constant, linear or cosine decay."""
    if step < warmup:
        return step / max(1, warmup)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress)))


class MlxBackend(KeptGradients):
    def __init__(self, config: ModelConfig, training: TrainConfig | None = None) -> None:
        if ranks().world > 1:
            raise AntibodyError("the mlx backend runs in one process; launch it without torchrun")
        if config.device not in DEVICES:
            raise AntibodyError(f"the mlx backend runs on {', '.join(DEVICES)}, not '{config.device}'",
                                field="device")
        if training is not None and training.gradient_checkpointing:
            raise AntibodyError("gradient_checkpointing is not supported by the mlx backend",
                                field="gradient_checkpointing")
        if DEVICES[config.device] is not None:
            mx.set_default_device(DEVICES[config.device])
        self.config, self.training = config, training
        self.model, self.tokenizer = mlx_models.load(config.model, config.trust_remote_code, config.allow_pickle)
        ensure_pad_token(self.tokenizer)
        self.model.freeze()
        if training is not None:
            mx.random.seed(training.seed)  # LoRA A initialisation
            self.adapter_config = self._make_trainable(training)
            self.optimizer = optim.AdamW(learning_rate=training.lr, weight_decay=training.weight_decay,
                                         bias_correction=True)
        self.names = [name for name, _ in tree_flatten(self.model.trainable_parameters())]
        self._saved = None    # θ before perturb()
        self._anchor = None   # θ̃ of the proximal term (Lisa)
        self._kept: dict[str, MlxGrad] = {}  # gradients held across steps (keep / kept)
        self._steps = 0       # optimizer steps taken: the schedule's position
        self._seen = None     # (log-probs, counts, weights) of the last gradient pass
        self._loss_and_grad = nn.value_and_grad(self.model, self._loss)

    def _make_trainable(self, training: TrainConfig) -> dict:
        """LoRA on the target linears of every layer (or unfreeze all); returns mlx-lm's adapter_config."""
        layers = self.model.layers
        if training.full_finetune:
            self.model.unfreeze()
            return {"fine_tune_type": "full", "num_layers": len(layers)}
        from mlx_lm.tuner.utils import linear_to_lora_layers

        linear = {name for layer in layers for name, m in layer.named_modules() if isinstance(m, nn.Linear)}
        check_targets({name.rsplit(".", 1)[-1] for name in linear}, training.lora.target_modules)
        lora = {"rank": training.lora.r, "scale": training.lora.alpha / training.lora.r,  # peft's scaling
                "dropout": training.lora.dropout,
                "keys": sorted(n for n in linear if n.rsplit(".", 1)[-1] in training.lora.target_modules)}
        linear_to_lora_layers(self.model, len(layers), lora)
        return {"fine_tune_type": "lora", "num_layers": len(layers), "lora_parameters": lora}

    # -- tokenisation -------------------------------------------------------------------------
    def encode(self, messages: Messages, answer: str, max_length: int) -> Encoded:
        return encode(self.tokenizer, messages, answer, max_length)

    # -- forward passes -----------------------------------------------------------------------
    def _sample_logp(self, batch: Sequence[Encoded]) -> tuple[mx.array, list[int]]:
        """Summed log π(answer | prompt) per sample and the answer token counts. Right padding under the
        causal mask leaves every real position as it is alone, so no attention mask is needed."""
        ids, labels, _ = pad_batch(batch, self.tokenizer.pad_token_id)
        targets = mx.array(labels)[:, 1:]
        scored = targets != IGNORE
        logits = self.model(mx.array(ids)[:, :-1]).astype(mx.float32)
        picked = mx.take_along_axis(logits, mx.where(scored, targets, 0)[..., None], axis=-1)[..., 0]
        logp = mx.where(scored, picked - mx.logsumexp(logits, axis=-1), 0.0).sum(axis=1)
        return logp, scored.sum(axis=1).tolist()

    def loglik(self, batch: Sequence[Encoded]) -> tuple[list[float], list[int]]:
        self.model.eval()
        logp, n = self._sample_logp(batch)
        return logp.tolist(), n

    def loglik_with_refusals(self, batch: Sequence[Encoded], refusals: Sequence[Sequence[Encoded]]):
        """Separate forwards: MLX does not share the prompt's KV cache (share_prompt has no effect)."""
        return self.loglik(batch), [self.loglik(per_k) for per_k in refusals]

    def _loss(self, terms: Sequence[Term], shift) -> mx.array:
        """Σ_t scale_t · Σ w_i ℓ_i / Σ w_i N_i, w from each term's own detached log-probs (one forward a term)."""
        total, self._seen = None, []
        for term in terms:
            with nullcontext() if shift is None else self._shifted_blocks(shift.arrays):
                logp, n = self._sample_logp(term.batch)
            values = mx.stop_gradient(logp).tolist()
            weights = list(term.weigh(values, n)) if term.weigh else [1.0] * len(n)
            part = -(mx.array(weights) * logp).sum() / sum(w * k for w, k in zip(weights, n))
            self._seen.append((mx.stop_gradient(part), values, n, weights))
            scaled = part if term.scale is None else part * term.scale(weights)
            total = scaled if total is None else total + scaled
        return total

    def _grad(self, terms: Sequence[Term], shift: MlxGrad | None = None) -> tuple[MlxGrad, list[BatchLoss]]:
        _, grads = self._loss_and_grad(terms, shift)
        flat = dict(tree_flatten(grads))
        gradient = MlxGrad([flat[name] for name in self.names])
        mx.eval(gradient.arrays, [part for part, *_ in self._seen])
        return gradient, [BatchLoss(part.item(), *rest) for part, *rest in self._seen]

    def grad(self, batch: Sequence[Encoded], weigh: Weigher | None = None,
             refusals: Sequence[Sequence[Encoded]] | None = None,
             hidden_shift: MlxGrad | None = None) -> tuple[MlxGrad, BatchLoss]:
        reference = [self.loglik(per_k) for per_k in refusals or []]
        self.model.train()
        gradient, (seen,) = self._grad([Term(batch, weigh and (lambda lp, n: weigh(lp, n, reference)))], hidden_shift)
        return gradient, seen

    def grad_sum(self, terms: Sequence[Term]) -> tuple[MlxGrad, list[BatchLoss]]:
        """A forward per term (MLX does not share the prompt's KV cache), one backward."""
        self.model.train()
        return self._grad(terms)

    def hidden_grad(self, batch: Sequence[Encoded]) -> tuple[MlxGrad, BatchLoss]:
        """∇ with respect to a zero δ_l added to each block's output, θ held constant (no ∇θ is taken).
        Shapes (B, T − 1, hidden), as the forward sees the batch (without its last position)."""
        self.model.train()
        shape = (len(batch), max(len(e.ids) for e in batch) - 1, self.model.args.hidden_size)
        counts: list[int] = []

        def loss(deltas: list[mx.array]):
            with self._shifted_blocks(deltas):
                logp, n = self._sample_logp(batch)
            counts[:] = n
            return -logp.sum() / sum(n), logp

        (value, logp), grads = mx.value_and_grad(loss)([mx.zeros(shape) for _ in self.model.layers])
        mx.eval(value, grads)
        return MlxGrad(grads), BatchLoss(value.item(), logp.tolist(), counts, [1.0] * len(batch))

    @contextmanager
    def _shifted_blocks(self, shifts: Sequence[mx.array]):
        """While open, block l's output is moved by shifts[l]: the model's own list of blocks is wrapped
        in place and unwrapped after, so θ's names and tree never change."""
        blocks = self.model.layers
        originals = list(blocks)
        blocks[:] = [Shifted(block, shift) for block, shift in zip(originals, shifts, strict=True)]
        try:
            yield
        finally:
            blocks[:] = originals

    def any_rank(self, flag: bool) -> bool:
        return flag  # one process

    # -- θ ------------------------------------------------------------------------------------
    def _params(self) -> list[mx.array]:
        flat = dict(tree_flatten(self.model.trainable_parameters()))
        return [flat[name] for name in self.names]

    def _tree(self, arrays: Sequence[mx.array]):
        return tree_unflatten(list(zip(self.names, arrays)))

    def perturb(self, direction: MlxGrad, scale: float) -> None:
        self._saved = self._params()
        self.model.update(self._tree([p + scale * d for p, d in zip(self._saved, direction.arrays, strict=True)]))

    def restore(self) -> None:
        self.model.update(self._tree(self._saved))

    def set_anchor(self) -> None:
        self._anchor = self._params()

    def step(self, gradient: MlxGrad, proximal: float = 0.0) -> dict[str, float]:
        t = self.training
        lr = t.lr * lr_factor(t.lr_schedule, t.warmup_steps, t.steps, self._steps)
        params, grads = self._params(), gradient.arrays
        if proximal:
            grads = [g + proximal * (p - a) for g, p, a in zip(grads, params, self._anchor, strict=True)]
        if t.max_grad_norm:
            grads, norm = optim.clip_grad_norm(grads, t.max_grad_norm)
            norm = norm.item()
        else:
            norm = gradient.norm()
        self.optimizer.learning_rate = lr
        self.model.update(self.optimizer.apply_gradients(self._tree(grads), self._tree(params)))
        mx.eval(self.model.trainable_parameters(), self.optimizer.state)
        self._steps += 1
        return {"lr": lr, "grad_norm": norm}

    # -- generation ---------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        """Greedy, the batch together (mlx-lm left-pads and stops each row at its own end token)."""
        from mlx_lm.generate import batch_generate
        from mlx_lm.tokenizer_utils import TokenizerWrapper

        self.model.eval()
        ids = [self.tokenizer(text, add_special_tokens=False)["input_ids"]
               for text in prompt_texts(self.tokenizer, prompts)]
        out = batch_generate(self.model, TokenizerWrapper(self.tokenizer), ids, max_tokens=max_new_tokens,
                             return_token_ids=True)
        return self.tokenizer.batch_decode(out.token_ids, skip_special_tokens=True)

    # -- files --------------------------------------------------------------------------------
    def save_adapter(self, directory: Path) -> list[Path]:
        """mlx-lm's adapter files, so `mlx_lm.generate --model BASE --adapter-path RUN` loads them."""
        directory = Path(directory)
        weights, config = directory / "adapters.safetensors", directory / "adapter_config.json"
        mx.save_safetensors(str(weights), dict(zip(self.names, self._params())))
        config.write_text(json.dumps({"model": self.config.model, **self.adapter_config}, indent=2))
        return [weights, config]

    def save_state(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        mx.save_safetensors(str(directory / TRAINABLE), dict(zip(self.names, self._params())))
        mx.save_safetensors(str(directory / OPTIMIZER_STATE), dict(tree_flatten(self.optimizer.state)))
        (directory / OPTIMIZER).write_text(json.dumps({"steps": self._steps}))
        if self._anchor is not None:
            mx.save_safetensors(str(directory / ANCHOR), dict(zip(self.names, self._anchor)))
        if self._kept:
            mx.save_safetensors(str(directory / KEPT), flat_kept({k: g.arrays for k, g in self._kept.items()},
                                                                 self.names))

    def load_state(self, directory: Path) -> None:
        directory = Path(directory)
        trainable = mx.load(str(directory / TRAINABLE))
        if sorted(trainable) != sorted(self.names):
            raise AntibodyError("checkpoint does not match the model's trainable parameters", file=str(directory))
        self.model.update(self._tree([trainable[name] for name in self.names]))
        self.optimizer.state = tree_unflatten(list(mx.load(str(directory / OPTIMIZER_STATE)).items()))
        self._steps = json.loads((directory / OPTIMIZER).read_text())["steps"]
        if (directory / ANCHOR).is_file():
            anchor = mx.load(str(directory / ANCHOR))
            self._anchor = [anchor[name] for name in self.names]
        kept = unflat_kept(mx.load(str(directory / KEPT)), self.names, str(directory / KEPT)) if (
            directory / KEPT).is_file() else {}
        self._kept = {k: MlxGrad(arrays) for k, arrays in kept.items()}
