"""The seam between the Antibody algorithms and a framework (docs/design.md, "The backend seam").

The core only ever sees these types. A backend is any object with these
methods; nothing inherits from anything (torchtune's rule), so each backend
reads on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

Messages = Sequence[dict[str, str]]
# weigh(summed answer log-probs, answer token counts, per refusal template: (summed log-probs, counts))
#   -> one weight per sample.
Weigher = Callable[[list[float], list[int], list[tuple[list[float], list[int]]]], list[float]]
# weigh(summed answer log-probs, answer token counts) -> one weight per sample; scale(those weights) -> a float.
TermWeigher = Callable[[list[float], list[int]], list[float]]
G = TypeVar("G", bound="Gradient")


@dataclass(frozen=True)
class ModelConfig:
    """What a backend loads and how it scores; antibody_cli.recipes.backend_configs builds it from a recipe."""

    model: str               # a model spec: alias, .gguf, directory, run directory or Hub id
    device: str              # auto, cpu, cuda, cuda:N, mps (mlx: auto, cpu, gpu, mps)
    trust_remote_code: bool
    allow_pickle: bool
    share_prompt: bool       # refusal log-likelihoods from the answer forward's prompt KV cache (torch)


@dataclass(frozen=True)
class LoraConfig:
    r: int
    alpha: float             # scale = alpha / r, as peft
    dropout: float
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class TrainConfig:
    """What a backend needs to train θ: LoRA or all weights, the optimizer and its schedule."""

    steps: int
    lr: float
    weight_decay: float
    lr_schedule: str         # constant, cosine or linear, after a linear warm-up
    warmup_steps: int
    max_grad_norm: float | None
    seed: int                # LoRA initialisation
    full_finetune: bool
    gradient_checkpointing: bool
    fsdp: bool
    lora: LoraConfig


@dataclass(frozen=True)
class Encoded:
    """A tokenised sample: prompt tokens (never scored) then answer tokens."""

    ids: tuple[int, ...]
    prompt_len: int
    truncated: bool = False

    @property
    def n_answer(self) -> int:
        return len(self.ids) - self.prompt_len


@dataclass(frozen=True)
class BatchLoss:
    """What a gradient pass saw: the loss and the per-sample statistics that fed the weights."""

    loss: float
    logp: list[float]      # summed log π(y_i | x_i) over answer tokens (detached)
    n_tokens: list[int]    # N_i, answer tokens scored
    weights: list[float]   # w_i used in Σ w_i ℓ_i / Σ w_i N_i


@dataclass(frozen=True)
class Term:
    """One loss of the sum grad_sum takes in one backward: scale(w) · Σ w_i ℓ_i / Σ w_i N_i over `batch`,
    w = weigh(this term's detached log-probs, counts) (default 1), scale default 1."""

    batch: Sequence[Encoded]
    weigh: TermWeigher | None = None
    scale: Callable[[list[float]], float] | None = None


class Gradient(Protocol):
    """An opaque gradient over the trainable parameters θ: add, scale, dot, norm."""

    def __add__(self: G, other: G) -> G: ...
    def __sub__(self: G, other: G) -> G: ...
    def __mul__(self: G, scale: float) -> G: ...
    def __rmul__(self: G, scale: float) -> G: ...
    def dot(self: G, other: G) -> float: ...
    def norm(self) -> float: ...


class Backend(Protocol):
    def encode(self, messages: Messages, answer: str, max_length: int) -> Encoded:
        """Render through the chat template; truncate to max_length (answer first, at least one token)."""

    def loglik(self, batch: Sequence[Encoded]) -> tuple[list[float], list[int]]:
        """Per sample: summed answer log-prob and answer token count; no grad, one batched forward.
        Under N processes each passes its shard and gets the lists of the whole global batch."""

    def loglik_with_refusals(self, batch: Sequence[Encoded], refusals: Sequence[Sequence[Encoded]]
                             ) -> tuple[tuple[list[float], list[int]], list[tuple[list[float], list[int]]]]:
        """loglik(batch) and loglik of each refusal batch (same prompts); may share the prompt's forward."""

    def grad(self, batch: Sequence[Encoded], weigh: Weigher | None = None,
             refusals: Sequence[Sequence[Encoded]] | None = None,
             hidden_shift: Gradient | None = None) -> tuple[Gradient, BatchLoss]:
        """∇θ of Σ w_i ℓ_i / Σ w_i N_i; w = weigh(detached log-probs of this same forward, the no-grad
        log-likelihoods of `refusals` — one batch per template, same prompts), default 1.
        A backend may compute the refusals from the training forward's prompt (same values, less work).
        Under N processes: weigh sees the global batch, the sums are global, the gradient is summed.
        hidden_shift (shaped as hidden_grad's of this same batch, without refusals): the output of every
        transformer block is moved by it, a constant, in the forward (Vaccine's perturbed pass)."""

    def grad_sum(self, terms: Sequence[Term]) -> tuple[Gradient, list[BatchLoss]]:
        """∇θ of Σ_t scale_t(w_t) · Σ w_i ℓ_i / Σ w_i N_i over the terms, one backward; each term's BatchLoss
        (its loss unscaled). When every sample of the later terms has the prompt of a sample of the first, a
        backend may continue those prompts from the first term's forward (same values, less work: the
        prompts are not run again). Under N processes: as grad, term by term."""

    def hidden_grad(self, batch: Sequence[Encoded]) -> tuple[Gradient, BatchLoss]:
        """∇ of the token-mean loss Σ ℓ_i / Σ N_i with respect to the output hidden states of every
        transformer block (each block's, through all that follows it), no ∇θ: Vaccine's direction.
        The result is a Gradient over the hidden states, not θ; grad(hidden_shift=) takes it back.
        One process only (the hidden states are per sample, so a norm would have to be global)."""

    def perturb(self, direction: Gradient, scale: float) -> None:
        """θ ← θ + scale · direction, in place, remembering θ for restore()."""

    def restore(self) -> None:
        """θ ← the θ saved by perturb(), bitwise."""

    def any_rank(self, flag: bool) -> bool:
        """flag OR-ed over all processes (the identity in one process)."""

    def keep(self, name: str, gradient: Gradient | None) -> None:
        """Hold a gradient for later steps under `name` (None drops it); save_state / load_state carry what
        is held, so a resumed run reuses exactly what the interrupted one would have."""

    def kept(self, name: str) -> Gradient | None:
        """The gradient held under `name`, or None."""

    def set_anchor(self) -> None:
        """Remember the current θ as θ̃, the centre of step()'s proximal term (Lisa); kept by save_state."""

    def step(self, gradient: Gradient, proximal: float = 0.0) -> dict[str, float]:
        """Apply gradient + proximal·(θ − θ̃) through the optimizer (clip, AdamW, schedule); returns lr
        and grad_norm. proximal > 0 needs set_anchor() first."""

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        """Greedy answers for one batch of prompts."""

    def save_adapter(self, directory: Path) -> list[Path]:
        """The trained θ in the framework's usual adapter format (or full weights)."""

    def save_state(self, directory: Path) -> None:
        """θ, optimizer state, the anchor and the kept gradients, for resuming."""

    def load_state(self, directory: Path) -> None:
        """Inverse of save_state."""
