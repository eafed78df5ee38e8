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
    """Sample i has ℓ_i = N_i · ½‖θ − target_i‖²."""

    theta: list[float]
    lr: float = 0.1

    def __post_init__(self):
        self.saved = None
        self.applied: list[VecGrad] = []
        self.held: dict[str, VecGrad] = {}

    def _loss(self, e: Sample) -> float:
        return e.n_answer * 0.5 * sum((t - x) ** 2 for t, x in zip(self.theta, e.target))

    def loglik(self, batch):
        return [-self._loss(e) for e in batch], [e.n_answer for e in batch]

    def loglik_with_refusals(self, batch, refusals):
        return self.loglik(batch), [self.loglik(r) for r in refusals]

    def grad(self, batch, weigh=None, refusals=None):
        logp, n = self.loglik(batch)
        w = weigh(logp, n, [self.loglik(r) for r in refusals or []]) if weigh else [1.0] * len(batch)
        denominator = sum(wi * ni for wi, ni in zip(w, n))
        g = [0.0] * len(self.theta)
        for wi, e in zip(w, batch):
            for j, (t, x) in enumerate(zip(self.theta, e.target)):
                g[j] += wi * e.n_answer * (t - x) / denominator
        loss = sum(wi * -lp for wi, lp in zip(w, logp)) / denominator
        return VecGrad(g), BatchLoss(loss, logp, n, list(w))

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


