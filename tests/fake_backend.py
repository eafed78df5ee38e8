"""A pure-Python backend over a linear 'model', for testing the framework-free algorithms.

θ is a list of floats; a sample's log-likelihood is −½‖θ − target‖² per token, so gradients
are exact and cheap, and every algorithm identity can be checked by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from backends.base import BatchLoss


class VecGrad:
    def __init__(self, values):
        self.values = [float(v) for v in values]

    def __add__(self, other):
        return VecGrad([a + b for a, b in zip(self.values, other.values)])

    def __sub__(self, other):
        return VecGrad([a - b for a, b in zip(self.values, other.values)])

    def __mul__(self, scale):
        return VecGrad([a * scale for a in self.values])

    __rmul__ = __mul__

    def dot(self, other):
        return sum(a * b for a, b in zip(self.values, other.values))

    def norm(self):
        return math.sqrt(self.dot(self))


@dataclass(frozen=True)
class Sample:
    """The algorithms pass samples through untouched, so the fake's samples need not be Encoded."""

    target: tuple[float, ...]
    n_answer: int = 1


@dataclass
class FakeBackend:
    """Sample i has ℓ_i = N_i · ½‖h_i − target_i‖², with h_i = θ its one hidden state (one 'block')."""

    theta: list[float]
    lr: float = 0.1

    def __post_init__(self):
        self.saved = None
        self.applied: list[VecGrad] = []
        self.held: dict[str, VecGrad] = {}

    def _hidden(self, batch, shift=None):
        """h_i = θ, moved by sample i's slice of shift (laid out as hidden_grad's)."""
        d = len(self.theta)
        return [[t + (shift.values[i * d + j] if shift else 0.0) for j, t in enumerate(self.theta)]
                for i in range(len(batch))]

    def loglik(self, batch, shift=None):
        return ([-e.n_answer * 0.5 * sum((h - x) ** 2 for h, x in zip(hidden, e.target))
                 for hidden, e in zip(self._hidden(batch, shift), batch)], [e.n_answer for e in batch])

    def loglik_with_refusals(self, batch, refusals):
        return self.loglik(batch), [self.loglik(r) for r in refusals]

    def _per_sample_grads(self, batch, w, shift=None):
        """∂loss/∂h_i = w_i N_i (h_i − target_i) / Σ w N, which is also sample i's part of ∂loss/∂θ."""
        denominator = sum(wi * e.n_answer for wi, e in zip(w, batch))
        return [[wi * e.n_answer * (h - x) / denominator for h, x in zip(hidden, e.target)]
                for wi, e, hidden in zip(w, batch, self._hidden(batch, shift))]

    def grad(self, batch, weigh=None, refusals=None, hidden_shift=None):
        logp, n = self.loglik(batch, hidden_shift)
        w = weigh(logp, n, [self.loglik(r) for r in refusals or []]) if weigh else [1.0] * len(batch)
        g = [sum(column) for column in zip(*self._per_sample_grads(batch, w, hidden_shift))]
        loss = sum(wi * -lp for wi, lp in zip(w, logp)) / sum(wi * ni for wi, ni in zip(w, n))
        return VecGrad(g), BatchLoss(loss, logp, n, list(w))

    def grad_sum(self, terms):
        """Σ scale_t · term t's gradient, each from grad: the linear model's gradients simply add."""
        total, seen = None, []
        for term in terms:
            g, result = self.grad(term.batch, term.weigh and (lambda lp, n, _, w=term.weigh: w(lp, n)))
            scaled = g if term.scale is None else g * term.scale(result.weights)
            total = scaled if total is None else total + scaled
            seen.append(result)
        return total, seen

    def hidden_grad(self, batch):
        logp, n = self.loglik(batch)
        w = [1.0] * len(batch)
        return (VecGrad([v for sample in self._per_sample_grads(batch, w) for v in sample]),
                BatchLoss(-sum(logp) / sum(n), logp, n, w))

    def perturb(self, direction, scale):
        self.saved = list(self.theta)
        self.theta = [t + scale * d for t, d in zip(self.theta, direction.values)]

    def restore(self):
        self.theta = self.saved

    def keep(self, name, gradient):
        if gradient is None:
            self.held.pop(name, None)
        else:
            self.held[name] = gradient

    def kept(self, name):
        return self.held.get(name)

    def set_anchor(self):
        self.anchor = list(self.theta)

    def step(self, gradient, proximal=0.0):
        if proximal:
            gradient = gradient + proximal * VecGrad([t - a for t, a in zip(self.theta, self.anchor)])
        self.applied.append(gradient)
        self.theta = [t - self.lr * g for t, g in zip(self.theta, gradient.values)]
        return {"lr": self.lr, "grad_norm": gradient.norm()}


