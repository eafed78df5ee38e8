"""The Antibody algorithms, written once against the backend protocol (docs/design.md, Stage 1 and 2).

Framework-free: gradients are opaque objects with + − · dot norm, so the same
functions run on torch, MLX or a NumPy fake.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from backends.base import Backend, BatchLoss, Encoded, Gradient, Term


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
class HardenConfig:
    """The harden step's constants (recipes.harden_config builds them from a HardenRecipe)."""

    rho: float             # radius of the simulated attack step
    eta: float             # target of the λ rule
    lambda_rule: str       # kkt, cosine or constant
    ema: float             # λ_t = ema·λ_{t−1} + (1 − ema)·λ_raw
    lambda_max: float
    refusal_weight: float  # λ_ref on the perturbed-refusal gradient
    attack_every: int = 1  # k: the simulated attack runs on steps t ≡ 0 (mod k), its result is reused between
    opening_weight: float = 0.0   # β on the refusal-openings term (0: off, the paper)
    opening_margin: float = -6.0  # m: openings with log π below it are left alone
    opening_harm_margin: float | None = None  # m_h: harmful prompts' refusal openings below it are pulled up
    openings_in_align_pass: bool = False  # the openings continue B_a's prompts, scored in g_a's pass


@dataclass(frozen=True)
class HardenBatch:
    harm: Sequence[Encoded]      # B_h: harmful prompt → harmful answer
    refusal: Sequence[Encoded]   # B_h's prompts → refusals
    align: Sequence[Encoded]     # B_a: harmful → refusal mixed with benign → helpful
    openings: Sequence[Encoded] = ()  # benign prompts → a refusal's opening words (pushed down)
    harm_openings: Sequence[Encoded] = ()  # harmful prompts → their refusal's opening words (pulled up, with m_h)


def _loss(result: BatchLoss | None) -> float | None:
    return None if result is None else result.loss


# Names of the gradients a harden step keeps for the steps that reuse its simulated attack (attack_every > 1).
KEPT_SHARPNESS, KEPT_REFUSAL = "harden.g_s", "harden.g_r"


def harden_step(backend: Backend, batch: HardenBatch, config: HardenConfig,
                lam_prev: float | None, step: int = 0) -> tuple[float | None, dict]:
    """One Antibody alignment step: g = g_a + λ_t·(g_h − g_p) + λ_ref·g_r [− β·g_o]. Returns (λ_t, metrics).

    g_o (opening_weight β > 0, not the paper's) is opening_terms' push against refusal openings on
    benign prompts; it is computed every step, attack or not, in one backward over its own prompts. With
    openings_in_align_pass its openings continue B_a's prompts and it is taken in g_a's pass instead
    (backend.grad_sum: they cost their opening tokens, not their prompts again), and the λ rule then sees
    the sum g_a − β·g_o (docs/design.md, "Choices beyond the paper").

    ρ = 0 has no simulated attack, so no sharpness term and no harmful passes: with
    refusal_weight 0 too it is plain refusal SFT on the alignment data (one pass).

    attack_every k > 1 amortises the attack (docs/design.md, "Amortising the simulated attack"): on steps
    t ≡ 0 (mod k) it runs as above and g_s and g_r are kept (backend.keep, saved in checkpoints); the steps
    in between take one pass, g_a, and reuse them. λ is recomputed every step against the fresh g_a, so the
    λ rule still trades the current alignment gradient against the sharpness direction it steps along;
    only g_s and g_r, gradients measured at most k − 1 small steps ago, are stale. An attack that fails
    (non-finite) or finds ‖g_h‖ = 0 leaves nothing kept, so the next step attacks again. k = 1 keeps
    nothing and is the paper's step.
    """
    g_s = g_r = harm = harm_p = refusal = norm_h = None
    reuse = config.attack_every > 1 and step % config.attack_every != 0 and backend.kept(KEPT_SHARPNESS) is not None
    if reuse:
        g_s, g_r = backend.kept(KEPT_SHARPNESS), backend.kept(KEPT_REFUSAL)
    elif config.rho > 0:
        for name in (KEPT_SHARPNESS, KEPT_REFUSAL):  # this attack replaces them (at k = 1: nothing to drop)
            backend.keep(name, None)
        g_h, harm = backend.grad(batch.harm)
        norm_h = g_h.norm()
        _check_finite(loss_harm=harm.loss, norm_g_h=norm_h)
        if norm_h > 0:  # else: the harmful loss is flat already, nothing to sharpen against
            backend.perturb(g_h, -config.rho / norm_h)  # θ_p = θ − ρ·g_h/‖g_h‖: the simulated attack
            try:
                g_p, harm_p = backend.grad(batch.harm)
                if config.refusal_weight > 0:
                    g_r, refusal = backend.grad(batch.refusal)
            finally:
                backend.restore()
            g_s = g_h - g_p
    if config.refusal_weight > 0 and g_r is None:
        g_r, refusal = backend.grad(batch.refusal)
    named = opening_terms(batch, config)
    terms = [term for _, term in named]
    minus_beta_g_o = None  # −β·g_o, when it is not already in g_a
    if config.openings_in_align_pass:
        g_a, (align, *openings) = backend.grad_sum([Term(batch.align), *terms])
    else:
        g_a, align = backend.grad(batch.align)
        minus_beta_g_o, openings = backend.grad_sum(terms) if terms else (None, [])
    opening_metrics = opening_summary([names for names, _ in named], openings)
    _check_finite(loss_align=align.loss, **({"loss_harm_perturbed": harm_p.loss} if harm_p else {}),
                  **({"loss_refusal": refusal.loss} if refusal else {}), **opening_metrics)
    update, lam, raw = g_a, lam_prev, None
    if g_s is not None:
        raw = lambda_raw(config.lambda_rule, config.eta, g_a, g_s)
        _check_finite(lambda_raw=raw)
        lam = smooth_lambda(lam_prev, raw, config.ema, config.lambda_max)
        update = update + lam * g_s
    if g_r is not None:
        update = update + config.refusal_weight * g_r
    if minus_beta_g_o is not None:
        update = update + minus_beta_g_o
    _check_finite(**({"lambda_t": lam} if lam is not None else {}), norm_update=update.norm())
    if config.attack_every > 1 and not reuse and g_s is not None:  # only an attack that is applied is reused
        backend.keep(KEPT_SHARPNESS, g_s)
        backend.keep(KEPT_REFUSAL, g_r)
    applied = backend.step(update)
    metrics = {"attack": config.rho > 0 and not reuse, "loss_align": align.loss, "loss_harm": _loss(harm),
               "loss_harm_perturbed": _loss(harm_p), "loss_refusal": _loss(refusal), "norm_g_h": norm_h,
               "norm_g_s": None if g_s is None else g_s.norm(), "norm_g_a": g_a.norm(), "lambda_raw": raw,
               "lambda": lam, **applied, **opening_metrics}
    return lam, metrics


def opening_terms(batch: HardenBatch, config: HardenConfig) -> list[tuple[tuple[str, str], Term]]:
    """−β·g_o as scaled losses for grad_sum, each with its metrics' names: the hinge on refusal openings, which raises
    their loss under benign prompts and, with m_h, lowers it under harmful ones. Empty when β = 0 (the paper).

    Each benign opening is weighted σ(log π − m): pushed while it is likelier than e^m, left alone below, so
    the ascent stops by itself; each harmful one σ(m_h − log π): pulled while less likely than e^m_h. Each
    side's scale Σw/B makes a batch already past its margin move nothing. Log-likelihood gradients vanish on
    tokens the model is sure of, so the push lands on the uncertain first tokens, where greedy decoding
    decides between refusing and answering. Pushed alone, the word is unlearnt everywhere (harmful prompts
    too); pulled up where it belongs, the two sides ask the model to tell the prompts apart."""
    beta, terms = config.opening_weight, []
    if beta > 0 and batch.openings:
        terms.append((("loss_openings", "openings_pushed"),
                      Term(batch.openings, lambda logp, _: gate_weights(logp, 1.0, config.opening_margin),
                           lambda w: -beta * fmean(w))))
    if beta > 0 and config.opening_harm_margin is not None and batch.harm_openings:
        terms.append((("loss_harm_openings", "openings_pulled"),
                      Term(batch.harm_openings,
                           lambda logp, _: gate_weights([-x for x in logp], 1.0, -config.opening_harm_margin),
                           lambda w: beta * fmean(w))))
    return terms


def opening_summary(names: Sequence[tuple[str, str]], results: Sequence[BatchLoss]) -> dict[str, float]:
    """Each openings term's loss (scaled) and the share of its openings still pushed or pulled (Σw/B)."""
    out = {}
    for (loss, share), result in zip(names, results):
        scale = fmean(result.weights)
        out.update({loss: result.loss * scale, share: scale})
    return out


def flatness(backend: Backend, batch: Sequence[Encoded], rho: float, steps: int) -> dict[str, float | int]:
    """How much a fine-tuning attack from θ lowers the harmful loss L on `batch`: 'harden keeps it flat' as
    numbers (docs/design.md, "Measuring flatness"). θ is left bitwise as it was, and nothing is stepped.

    The attack takes `steps` normalised gradient steps of length ρ, each from where the last left θ
    (θ_i = θ − ρ·Σ_{j≤i} g_j/‖g_j‖, built with perturb/restore from θ, so no copy of the state and no
    optimizer is touched). flatness_sharpness = L(θ) − L(θ_1), the one-step simulated attack whose gradient
    is harden's g_s; flatness_attack_drop = L(θ) − L(θ_steps). Positive: the attack made the harmful answers
    likelier; 0: flat. A vanishing gradient stops the attack where it is.
    """
    def loss() -> float:
        logp, counts = backend.loglik(batch)
        return -sum(logp) / sum(counts)

    before, path, after = loss(), None, []
    try:
        for _ in range(steps):
            g, _ = backend.grad(batch)
            norm = g.norm()
            if not norm > 0:
                break
            path = g * (1.0 / norm) if path is None else path + g * (1.0 / norm)
            if after:
                backend.restore()  # back to θ, so perturb() remembers θ and the path starts there
            backend.perturb(path, -rho)
            after.append(loss())
    finally:
        if after:
            backend.restore()
    after = after or [before]
    return {"flatness_rho": rho, "flatness_steps": steps, "flatness_loss_harm": before,
            "flatness_sharpness": before - after[0], "flatness_attack_drop": before - after[-1]}


def vaccine_step(backend: Backend, batch: Sequence[Encoded], rho: float) -> dict:
    """One Vaccine alignment step (Huang et al., NeurIPS 2024) on an alignment batch: e_l, the output of
    block l, is moved by ε_l = ρ·∇_{e_l}L / ‖∇_{e_1..L}L‖ (one norm over all blocks: the drift of radius ρ
    that raises L_align most, to first order), and θ descends L_align under that drift, so the
    alignment holds when fine-tuning later drifts the hidden states. Two passes; ρ = 0 is refusal SFT."""
    g_e, clean = backend.hidden_grad(batch)
    norm_e = g_e.norm()
    _check_finite(loss_align=clean.loss, norm_hidden_grad=norm_e)
    shift = g_e * (rho / norm_e if norm_e > 0 else 0.0)  # a flat loss has no worst direction: no drift
    gradient, perturbed = backend.grad(batch, hidden_shift=shift)
    _check_finite(loss_align_perturbed=perturbed.loss, norm_update=gradient.norm())
    applied = backend.step(gradient)
    return {"loss_align": clean.loss, "loss_align_perturbed": perturbed.loss, "norm_hidden_grad": norm_e,
            "norm_shift": shift.norm(), "norm_g_a": gradient.norm(), **applied}


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


GATE_FLOOR = 1e-6  # a batch of suspects still has a finite loss; its update is scaled to nothing


def gate_weights(ratios: Sequence[float], temperature: float, threshold: float) -> list[float]:
    """σ((r − threshold)/τ) per sample: each sample is judged alone, so benign samples do not compete
    for weight (an all-benign batch keeps weights near 1, the effective batch near B)."""
    def sigmoid(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    return [max(GATE_FLOOR, sigmoid((r - threshold) / temperature)) for r in ratios]


@dataclass(frozen=True)
class Weighting:
    """How likelihood ratios become sample weights (docs/design.md § Stage 2)."""

    rule: str = "softmax"     # softmax: the paper's B·softmax(r/τ) over the batch; gate: σ((r − threshold)/τ)
    temperature: float = 0.2
    threshold: float = 0.0    # gate only, in nats/token
    norm: str = "mean"        # how r is normalised for length: see ratios()

    def weights(self, ratios: Sequence[float]) -> list[float]:
        if self.rule == "softmax":
            return softmax_weights(ratios, self.temperature)
        if self.rule == "gate":
            return gate_weights(ratios, self.temperature, self.threshold)
        raise ValueError(f"unknown weighting rule {self.rule!r}")

    def loss_scale(self, weights: Sequence[float]) -> float:
        """What multiplies Σ w_i ℓ_i / Σ w_i N_i: the gate's share of samples kept, Σw/B, so a gated-out sample's
        share of the step is not handed to the others; 1 for the softmax, whose weights have mean 1 already."""
        return sum(weights) / len(weights) if self.rule == "gate" else 1.0


def effective_batch(weights: Sequence[float]) -> float:
    """(Σw)² / Σw²: how many samples the weighted batch really trains on (B for uniform weights, 1 when
    one sample takes all the weight). A low τ can concentrate a benign batch on one or two samples."""
    return sum(weights) ** 2 / sum(w * w for w in weights)


def ratios(logp: Sequence[float], counts: Sequence[int],
           per_template: Sequence[tuple[Sequence[float], Sequence[int]]], norm: str) -> list[float]:
    """r_i from summed log-probs: answer (logp, counts) and each refusal template's (sums, counts).

    norm "mean" (the paper): mean-token log π(y|x) − mean-token log π(y_r|x), the refusal's
    log-mean-exp over the K templates. A 2-token label is then averaged against a 20-token refusal
    whose tokens after the first few are nearly free, so a task whose answers are short looks
    suspect until the model has learnt its format (the cold start).
    norm "longer": (log π(y|x) − log π(y_r|x)) / max(N_y, N_r), the whole-sequence likelihood ratio in
    nats per token of the longer sequence; the refusal's log-likelihood is the log-mean-exp of the
    templates' (a uniform mixture), N_r their mean length.
    """
    if norm == "mean":
        means = [[s / n for s, n in zip(sums, ns)] for sums, ns in per_template]
        return [s / n - log_mean_exp(column) for s, n, column in zip(logp, counts, zip(*means))]
    if norm == "longer":
        refusal = [log_mean_exp(column) for column in zip(*(sums for sums, _ in per_template))]
        lengths = [fmean(column) for column in zip(*(ns for _, ns in per_template))]
        return [(s - ref) / max(n, m) for s, n, ref, m in zip(logp, counts, refusal, lengths)]
    raise ValueError(f"unknown ratio normalisation {norm!r}")


def weighted_step(backend: Backend, batch: Sequence[Encoded], refusal_batches: Sequence[Sequence[Encoded]] | None,
                  weighting: Weighting, proximal: float = 0.0, trusted: Sequence[bool] = ()) -> dict:
    """One fine-tuning step on a user batch; refusal_batches None is plain SFT (uniform weights).

    The gate's loss is (Σ w_i ℓ_i / Σ w_i N_i) · Σ w_i / B: the token mean over the samples it keeps,
    scaled by the share of samples kept, so a down-weighted sample's share of the step is not handed
    to the others (a batch of suspects makes almost no update), whatever the answers' lengths.
    trusted marks samples of the global batch that are not the user's (safety samples): weight 1, and
    left out of the ratios and of the batch softmax. proximal > 0 adds Lisa's pull ρ·(θ − θ̃) towards
    the backend's anchor."""
    found: list[float] = []
    weigh = None
    if refusal_batches is not None:
        def weigh(logp: list[float], counts: list[int], refusal) -> list[float]:
            flags = list(trusted) or [False] * len(logp)
            found.extend(r for r, t in zip(ratios(logp, counts, refusal, weighting.norm), flags) if not t)
            user = iter(weighting.weights(found))
            return [1.0 if t else next(user) for t in flags]

    gradient, result = backend.grad(batch, weigh, refusal_batches)
    loss = result.loss
    if weigh is not None:
        scale = weighting.loss_scale(result.weights)
        gradient, loss = gradient * scale, loss * scale
    _check_finite(loss=loss, norm_update=gradient.norm())
    applied = backend.step(gradient, proximal)
    return {"loss": loss, "weights": result.weights, "ratios": found or None, **applied}


def lisa_phase(step: int, task_steps: int, align_steps: int) -> tuple[str, bool]:
    """Lisa's bi-state schedule: ("task" | "align", whether this step starts a phase). Cycles start with
    task steps; a phase start re-anchors the proximal term at the θ the other phase left."""
    position = step % (task_steps + align_steps)
    return ("task" if position < task_steps else "align"), position in (0, task_steps)


def likelihood_ratios(backend: Backend, batch: Sequence[Encoded],
                      refusal_batches: Sequence[Sequence[Encoded]], norm: str = "mean") -> list[float]:
    """r_i = lp_task_i − lp_ref_i in nats/token, no grad: the score (docs/design.md, "Score")."""
    (sums, counts), reference = backend.loglik_with_refusals(batch, refusal_batches)
    return ratios(sums, counts, reference, norm)
