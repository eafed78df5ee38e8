"""The Antibody algorithms, written once against the backend protocol (DESIGN.md § Stage 1, 2).

Framework-free: gradients are opaque objects with + − · dot norm, so the same
functions run on torch, MLX or a NumPy fake.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from backends.base import Backend, Encoded, Gradient


class NonFiniteStep(Exception):
    """A loss, gradient norm or λ was NaN/inf; nothing was applied."""


def _check_finite(**values: float) -> None:
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise NonFiniteStep(", ".join(f"{k}={v}" for k, v in bad.items()))


# -- Stage 1: harden ---------------------------------------------------------------------------

def lambda_raw(rule: str, eta: float, g_a: Gradient, g_s: Gradient) -> float:
    """The un-smoothed multiplier on the sharpness gradient."""
    if rule == "constant":
        return eta
    s2 = g_s.dot(g_s)
    if s2 == 0.0:  # no sharpness signal this step: nothing to trade off against
        return eta
    if rule == "kkt":
        return max(0.0, eta - g_a.dot(g_s) / s2)
    if rule == "cosine":
        return max(0.0, eta - g_a.dot(g_s) / (g_a.norm() * math.sqrt(s2) or 1.0))
    raise ValueError(f"unknown lambda rule {rule!r}")


def smooth_lambda(previous: float | None, raw: float, ema: float, lambda_max: float) -> float:
    """EMA of λ, started at the first raw value, clipped to lambda_max."""
    value = raw if previous is None else ema * previous + (1.0 - ema) * raw
    return min(value, lambda_max)


@dataclass(frozen=True)
class HardenBatch:
    harm: Sequence[Encoded]      # B_h: harmful prompt → harmful answer
    refusal: Sequence[Encoded]   # B_h's prompts → refusals
    align: Sequence[Encoded]     # B_a: harmful → refusal mixed with benign → helpful


def harden_step(backend: Backend, batch: HardenBatch, recipe, lam_prev: float | None) -> tuple[float, dict]:
    """One Antibody alignment step: g = g_a + λ_t·(g_h − g_p) + λ_ref·g_r. Returns (λ_t, metrics)."""
    g_h, harm = backend.grad(batch.harm)
    norm_h = g_h.norm()
    _check_finite(loss_harm=harm.loss, norm_g_h=norm_h)
    g_r = refusal = None
    if recipe.rho > 0 and norm_h > 0:
        backend.perturb(g_h, -recipe.rho / norm_h)  # θ_p = θ − ρ·g_h/‖g_h‖: the simulated attack
        try:
            g_p, harm_p = backend.grad(batch.harm)
            if recipe.refusal_weight > 0:
                g_r, refusal = backend.grad(batch.refusal)
        finally:
            backend.restore()
        g_s = g_h - g_p
    else:
        g_s, harm_p = g_h * 0.0, harm
        if recipe.refusal_weight > 0:
            g_r, refusal = backend.grad(batch.refusal)
    g_a, align = backend.grad(batch.align)
    norm_s = g_s.norm()
    raw = lambda_raw(recipe.lambda_rule, recipe.eta, g_a, g_s)
    _check_finite(loss_align=align.loss, loss_harm_perturbed=harm_p.loss, norm_g_s=norm_s, lambda_raw=raw,
                  **({"loss_refusal": refusal.loss} if refusal else {}))
    lam = smooth_lambda(lam_prev, raw, recipe.ema, recipe.lambda_max)
    update = g_a + lam * g_s
    if g_r is not None:
        update = update + recipe.refusal_weight * g_r
    _check_finite(lambda_t=lam, norm_update=update.norm())
    applied = backend.step(update)
    metrics = {"loss_align": align.loss, "loss_harm": harm.loss, "loss_harm_perturbed": harm_p.loss,
               "loss_refusal": refusal.loss if refusal else None, "norm_g_h": norm_h, "norm_g_s": norm_s,
               "norm_g_a": g_a.norm(), "lambda_raw": raw, "lambda": lam, **applied}
    return lam, metrics


# -- Stage 2: finetune and score ---------------------------------------------------------------

def log_mean_exp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def softmax_weights(ratios: Sequence[float], temperature: float) -> list[float]:
    """softmax(r/τ) over the batch, scaled to mean 1 (the loss is invariant to the scale; 1 = SFT's weight)."""
    scaled = [r / temperature for r in ratios]
    top = max(scaled)
    exps = [math.exp(s - top) for s in scaled]
    total = sum(exps)
    return [len(exps) * e / total for e in exps]


def refusal_logp(per_template: Sequence[tuple[Sequence[float], Sequence[int]]]) -> list[float]:
    """lp_ref_i: mean-token log π(y_r|x_i), log-mean-exp over the K refusal templates."""
    means = [[s / n for s, n in zip(sums, counts)] for sums, counts in per_template]
    return [log_mean_exp(column) for column in zip(*means)]


def weighted_step(backend: Backend, batch: Sequence[Encoded], refusal_batches: Sequence[Sequence[Encoded]] | None,
                  temperature: float) -> dict:
    """One fine-tuning step on a user batch; refusal_batches None is plain SFT (uniform weights)."""
    ratios: list[float] = []
    weigh = None
    if refusal_batches is not None:
        def weigh(logp: list[float], counts: list[int], refusal) -> list[float]:
            ratios.extend(s / n - ref for s, n, ref in zip(logp, counts, refusal_logp(refusal)))
            return softmax_weights(ratios, temperature)

    gradient, result = backend.grad(batch, weigh, refusal_batches)
    _check_finite(loss=result.loss, norm_update=gradient.norm())
    applied = backend.step(gradient)
    return {"loss": result.loss, "weights": result.weights, "ratios": ratios or None, **applied}


def likelihood_ratios(backend: Backend, batch: Sequence[Encoded],
                      refusal_batches: Sequence[Sequence[Encoded]]) -> list[float]:
    """r_i = lp_task_i − lp_ref_i in nats/token, no grad: the score of DESIGN.md § Score."""
    (sums, counts), reference = backend.loglik_with_refusals(batch, refusal_batches)
    return [s / n - ref for s, n, ref in zip(sums, counts, refusal_logp(reference))]
