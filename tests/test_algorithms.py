"""The framework-free algorithms against a pure-Python backend: every formula checked by hand."""

import math

import pytest

from antibody_cli.algorithms import (HardenBatch, NonFiniteStep, Weighting, effective_batch, flatness, gate_weights,
                                     harden_step, lambda_raw, lisa_phase, log_mean_exp, opening_terms, ratios,
                                     smooth_lambda, softmax_weights, vaccine_step, weighted_step)
from antibody_cli.recipes import HardenRecipe, harden_config
from fake_backend import FakeBackend, Sample, VecGrad


def test_lambda_rules_match_their_formulas():
    g_a, g_s = VecGrad([1.0, 2.0]), VecGrad([3.0, -1.0])  # ⟨g_a,g_s⟩ = 1, ‖g_s‖² = 10
    assert lambda_raw("kkt", 5.0, g_a, g_s) == pytest.approx(5.0 - 1 / 10)
    assert lambda_raw("cosine", 5.0, g_a, g_s) == pytest.approx(5.0 - 1 / (math.sqrt(5) * math.sqrt(10)))
    assert lambda_raw("constant", 5.0, g_a, g_s) == 5.0
    # max(0, ·): an alignment gradient already descending L_sharp a lot needs no push
    assert lambda_raw("kkt", 0.5, VecGrad([30.0, -10.0]), g_s) == 0.0
    assert lambda_raw("kkt", 2.0, g_a, VecGrad([0.0, 0.0])) == 2.0


def test_lambda_is_smoothed_from_its_first_value_and_clipped():
    assert smooth_lambda(None, 3.0, 0.99, 10.0) == 3.0
    assert smooth_lambda(3.0, 5.0, 0.9, 10.0) == pytest.approx(0.9 * 3 + 0.1 * 5)
    assert smooth_lambda(9.0, 100.0, 0.5, 10.0) == 10.0


def test_softmax_weights_have_mean_one_and_follow_the_ratio():
    w = softmax_weights([0.0, math.log(2.0) * 0.5], temperature=0.5)
    assert sum(w) == pytest.approx(2.0)
    assert w[1] / w[0] == pytest.approx(2.0)
    assert softmax_weights([1.0, 1.0, 1.0], 0.2) == pytest.approx([1.0, 1.0, 1.0])
    # lower temperature = harder down-weighting of the low-ratio sample
    assert softmax_weights([-1.0, 1.0], 0.2)[0] < softmax_weights([-1.0, 1.0], 1.0)[0]
    assert log_mean_exp([math.log(1.0), math.log(3.0)]) == pytest.approx(math.log(2.0))


def test_effective_batch_counts_the_samples_the_weights_keep():
    assert effective_batch([1.0] * 8) == pytest.approx(8.0)
    assert effective_batch([8.0] + [0.0] * 7) == pytest.approx(1.0)
    assert effective_batch([2.0, 2.0, 0.0, 0.0]) == pytest.approx(2.0)


def test_harden_step_applies_g_a_plus_lambda_sharpness_plus_refusal():
    recipe = HardenRecipe(rho=0.5, eta=5.0, lambda_rule="kkt", refusal_weight=0.25, lambda_max=100.0,
                          refusal_openings=None)
    backend = FakeBackend(theta=[0.0, 0.0])
    harm, refusal, align = [Sample((1.0, 2.0), 2)], [Sample((-1.0, 0.0), 1)], [Sample((0.0, -3.0), 1)]
    lam, metrics = harden_step(backend, HardenBatch(harm, refusal, align), harden_config(recipe), lam_prev=None)

    # by hand: ∇ of N·½‖θ−t‖² / N = θ − t
    g_h = [0 - 1.0, 0 - 2.0]
    norm_h = math.hypot(*g_h)
    theta_p = [-0.5 * g / norm_h for g in g_h]
    g_p = [theta_p[0] - 1.0, theta_p[1] - 2.0]
    g_r = [theta_p[0] + 1.0, theta_p[1] - 0.0]
    g_a = [0.0, 3.0]
    g_s = [a - b for a, b in zip(g_h, g_p)]
    expected_lam = max(0.0, 5.0 - sum(a * s for a, s in zip(g_a, g_s)) / sum(s * s for s in g_s))
    expected = [a + expected_lam * s + 0.25 * r for a, s, r in zip(g_a, g_s, g_r)]
    assert lam == pytest.approx(expected_lam)
    assert backend.applied[0].values == pytest.approx(expected)
    assert backend.theta == pytest.approx([-0.1 * e for e in expected])  # and θ was restored before the step
    assert metrics["norm_g_h"] == pytest.approx(norm_h)


def test_constant_lambda_without_refusal_is_booster():
    recipe = HardenRecipe(rho=0.5, eta=2.0, lambda_rule="constant", refusal_weight=0.0, refusal_openings=None)
    backend = FakeBackend(theta=[0.3, -0.2])
    harm, align = [Sample((1.0, 2.0))], [Sample((0.0, -3.0))]
    harden_step(backend, HardenBatch(harm, [Sample((9.0, 9.0))], align), harden_config(recipe), lam_prev=None)
    g_h = [0.3 - 1.0, -0.2 - 2.0]
    n = math.hypot(*g_h)
    g_p = [0.3 - 0.5 * g_h[0] / n - 1.0, -0.2 - 0.5 * g_h[1] / n - 2.0]
    g_a = [0.3, -0.2 + 3.0]
    assert backend.applied[0].values == pytest.approx([a + 2.0 * (h - p) for a, h, p in zip(g_a, g_h, g_p)])


def test_refusal_openings_are_pushed_down_while_likelier_than_the_margin_and_left_alone_below_it():
    recipe = HardenRecipe(rho=0.0, refusal_weight=0.0,
                          refusal_openings={"weight": 2.0, "margin": -1.0, "harmful_margin": None})
    align = [Sample((0.0, -3.0))]
    likely, unlikely = Sample((0.5, 0.0)), Sample((4.0, 4.0))  # log π at θ = 0: −0.125 and −16
    backend = FakeBackend(theta=[0.0, 0.0])
    _, metrics = harden_step(backend, HardenBatch([], [], align, [likely, unlikely]), harden_config(recipe), None)

    w = [1 / (1 + math.exp(-(-0.125 + 1.0))), 1e-6]  # σ(−15) is under the gate's floor
    g_o = [sum(wi * (0.0 - t) for wi, t in zip(w, column)) / sum(w) for column in ((0.5, 4.0), (0.0, 4.0))]
    scale = sum(w) / 2  # the share of openings still pushed
    assert backend.applied[0].values == pytest.approx([a - 2.0 * scale * g for a, g in zip([0.0, 3.0], g_o)])
    assert metrics["openings_pushed"] == pytest.approx(scale)
    # the step moves θ away from the likely opening: its log-likelihood falls
    assert backend.loglik([likely])[0][0] < -0.125

    backend = FakeBackend(theta=[0.0, 0.0])
    harden_step(backend, HardenBatch([], [], align, [unlikely]), harden_config(recipe), None)
    assert backend.applied[0].values == pytest.approx([0.0, 3.0], abs=1e-5)  # below the margin: no push
    off = HardenRecipe(rho=0.0, refusal_weight=0.0, refusal_openings=None)
    backend = FakeBackend(theta=[0.0, 0.0])
    _, metrics = harden_step(backend, HardenBatch([], [], align, [likely]), harden_config(off), None)
    assert backend.applied[0].values == pytest.approx([0.0, 3.0]) and "openings_pushed" not in metrics


def test_openings_in_the_alignment_pass_make_the_same_update_and_lambda_sees_it_with_g_a():
    from dataclasses import replace

    openings = {"weight": 2.0, "margin": -1.0, "harmful_margin": -1.0}
    align = [Sample((0.0, -3.0))]
    pushed, pulled = [Sample((0.5, 0.0))], [Sample((1.0, 2.0))]
    batch = HardenBatch([Sample((1.0, 2.0))], [Sample((-1.0, 0.0))], align, pushed, pulled)

    def step(in_pass: bool, **fields):
        config = replace(harden_config(HardenRecipe(refusal_openings=openings, **fields)),
                         openings_in_align_pass=in_pass)
        backend = FakeBackend(theta=[0.0, 0.0])
        return backend, harden_step(backend, batch, config, None)[1]

    # no sharpness term: one backward over the three losses is the step of separate ones
    (own, own_metrics), (shared, shared_metrics) = (step(p, rho=0.0, refusal_weight=0.0) for p in (False, True))
    assert shared.applied[0].values == pytest.approx(own.applied[0].values)
    for key in ("loss_openings", "openings_pushed", "loss_harm_openings", "openings_pulled"):
        assert shared_metrics[key] == pytest.approx(own_metrics[key]), key
    # with it, λ_raw = η − ⟨g_a − β·g_o, g_s⟩ / ‖g_s‖²: the rule trades the whole non-sharpness update
    (_, own_metrics), (_, shared_metrics) = (step(p, rho=0.5, eta=5.0, refusal_weight=0.0) for p in (False, True))
    config = harden_config(HardenRecipe(refusal_openings=openings))
    backend = FakeBackend(theta=[0.0, 0.0])
    g_a, _ = backend.grad(align)
    minus_beta_g_o, _ = backend.grad_sum([term for _, term in opening_terms(batch, config)])
    g_h, _ = backend.grad(batch.harm)
    backend.perturb(g_h, -0.5 / g_h.norm())
    g_s = g_h - backend.grad(batch.harm)[0]
    assert own_metrics["lambda_raw"] == pytest.approx(lambda_raw("kkt", 5.0, g_a, g_s))
    assert shared_metrics["lambda_raw"] == pytest.approx(lambda_raw("kkt", 5.0, g_a + minus_beta_g_o, g_s))
    assert own_metrics["lambda_raw"] != pytest.approx(shared_metrics["lambda_raw"])


def test_with_a_harmful_margin_refusal_openings_are_also_pulled_up_under_harmful_prompts_until_likely():
    recipe = HardenRecipe(rho=0.0, refusal_weight=0.0,
                          refusal_openings={"weight": 2.0, "margin": -1.0, "harmful_margin": -1.0})
    align = [Sample((0.0, -3.0))]
    likely, unlikely = Sample((0.5, 0.0)), Sample((4.0, 4.0))  # log π at θ = 0: −0.125 and −16
    backend = FakeBackend(theta=[0.0, 0.0])
    # the benign opening is unlikely already (no push); both harmful prompts' openings are weighed σ(m_h − log π)
    _, metrics = harden_step(backend, HardenBatch([], [], align, [unlikely], [likely, unlikely]),
                             harden_config(recipe), None)

    w = [1 / (1 + math.exp(-(-1.0 + 0.125))), 1 / (1 + math.exp(-(-1.0 + 16.0)))]
    g_up = [sum(wi * (0.0 - t) for wi, t in zip(w, column)) / sum(w) for column in ((0.5, 4.0), (0.0, 4.0))]
    scale = sum(w) / 2  # the share of harmful openings still pulled
    assert backend.applied[0].values == pytest.approx([a + 2.0 * scale * g for a, g in zip([0.0, 3.0], g_up)],
                                                      abs=1e-5)
    assert metrics["openings_pulled"] == pytest.approx(scale) and metrics["openings_pushed"] == pytest.approx(1e-6)
    # the step makes the unlikely harmful opening likelier
    assert backend.loglik([unlikely])[0][0] > -16.0


def test_vaccine_step_descends_the_loss_with_each_hidden_state_moved_along_its_gradient():
    backend = FakeBackend(theta=[0.5, -1.0])
    batch = [Sample((1.0, 2.0), 2), Sample((0.0, -3.0), 1)]  # two samples: two hidden states, 3 tokens
    metrics = vaccine_step(backend, batch, rho=0.4)
    # by hand: ∂L/∂h_i = N_i (θ − t_i) / ΣN; one norm over both; ε_i = ρ·that/norm; g = Σ N_i (θ + ε_i − t_i) / ΣN
    g_e = [[2 * (0.5 - 1.0) / 3, 2 * (-1.0 - 2.0) / 3], [(0.5 - 0.0) / 3, (-1.0 + 3.0) / 3]]
    norm = math.sqrt(sum(v * v for sample in g_e for v in sample))
    eps = [[0.4 * v / norm for v in sample] for sample in g_e]
    expected = [sum(e.n_answer * (t + shift[j] - e.target[j]) for e, shift in zip(batch, eps)) / 3
                for j, t in enumerate([0.5, -1.0])]
    assert backend.applied[0].values == pytest.approx(expected)
    assert metrics["norm_hidden_grad"] == pytest.approx(norm) and metrics["norm_shift"] == pytest.approx(0.4)
    assert metrics["loss_align_perturbed"] > metrics["loss_align"]

    plain, still = FakeBackend(theta=[0.5, -1.0]), FakeBackend(theta=[0.5, -1.0])
    vaccine_step(still, batch, rho=0.0)
    assert still.applied[0].values == plain.grad(batch)[0].values  # ρ = 0: the plain alignment gradient


def test_weighted_step_with_equal_ratios_is_plain_sft():
    batch = [Sample((1.0, 0.0), 3), Sample((0.0, 2.0), 1)]
    plain, weighted = FakeBackend(theta=[0.0, 0.0]), FakeBackend(theta=[0.0, 0.0])
    weighted_step(plain, batch, None, Weighting(temperature=0.2))
    # identical refusal likelihoods and identical task likelihoods per token → equal ratios → uniform weights
    same = [Sample((0.0, 0.0), 1), Sample((0.0, 0.0), 1)]
    out = weighted_step(weighted, [Sample((1.0, 1.0), 3), Sample((1.0, 1.0), 1)], [same],
                        Weighting(temperature=0.2))
    assert out["weights"] == pytest.approx([1.0, 1.0])
    assert plain.applied[0].values == pytest.approx([-0.75, -0.5])  # token-mean of (θ − t)


def test_weighted_step_down_weights_the_sample_the_model_would_refuse():
    backend = FakeBackend(theta=[0.0])
    task = [Sample((0.1,)), Sample((2.0,))]           # sample 1 is unlikely under the model
    refusal = [[Sample((0.0,)), Sample((0.0,))]]       # refusal equally likely for both
    out = weighted_step(backend, task, refusal, Weighting(temperature=0.2))
    assert out["ratios"][1] < 0 < out["ratios"][0] + 0.01
    assert out["weights"][1] < 0.01 < out["weights"][0]


def test_non_finite_step_applies_nothing():
    backend = FakeBackend(theta=[0.0])
    with pytest.raises(NonFiniteStep):
        weighted_step(backend, [Sample((float("inf"),))], None, Weighting(temperature=1.0))
    assert backend.applied == []


class CountingBackend(FakeBackend):
    def grad(self, batch, weigh=None, refusals=None):
        self.passes = getattr(self, "passes", 0) + 1
        return super().grad(batch, weigh, refusals)


def test_rho_zero_is_refusal_sft_in_one_pass():
    recipe = HardenRecipe(rho=0.0, refusal_weight=0.0, refusal_openings=None)
    backend = CountingBackend(theta=[0.3, -0.2])
    lam, metrics = harden_step(backend, HardenBatch([Sample((1.0, 2.0))], [Sample((9.0, 9.0))],
                                                    [Sample((0.0, -3.0))]), harden_config(recipe), lam_prev=None)
    assert backend.passes == 1 and lam is None and metrics["loss_harm"] is None
    assert backend.applied[0].values == pytest.approx([0.3, -0.2 + 3.0])  # g_a alone


def test_lisa_schedule_alternates_and_marks_each_phase_start():
    phases = [lisa_phase(t, task_steps=3, align_steps=2) for t in range(7)]
    assert [p for p, _ in phases] == ["task"] * 3 + ["align"] * 2 + ["task"] * 2
    assert [t for t, (_, starts) in enumerate(phases) if starts] == [0, 3, 5]


def test_proximal_term_pulls_towards_the_anchor():
    backend = FakeBackend(theta=[1.0, -1.0])
    backend.set_anchor()
    backend.theta = [2.0, 0.0]  # θ drifted by (1, 1) since the anchor
    weighted_step(backend, [Sample((2.0, 0.0))], None, Weighting(temperature=1.0), proximal=0.5)  # zero task gradient
    assert backend.applied[0].values == pytest.approx([0.5, 0.5])


def test_gate_weights_judge_each_sample_alone():
    w = gate_weights([5.0, 0.0, -5.0], temperature=0.5, threshold=0.0)
    assert w[0] > 0.99 and w[1] == pytest.approx(0.5) and w[2] < 1e-4
    # unlike the softmax, a batch of equally good samples keeps every weight near 1
    assert effective_batch(gate_weights([2.0] * 8, 0.2, 0.0)) == pytest.approx(8.0)
    assert gate_weights([-1e4], 0.1, 0.0) == [pytest.approx(1e-6)]  # floored, never 0 or NaN
    assert softmax_weights([2.0, 2.5, 3.0, 3.5], 0.2)[0] < 0.1  # the softmax makes benign samples compete


def test_gate_step_does_not_hand_a_suspect_sample_s_share_to_the_others():
    """Loss (Σ w_i ℓ_i / Σ w_i N_i) · Σ w_i / B: a gated-out sample's share is not handed to the others."""
    task = [Sample((0.0,), 3), Sample((4.0,))]        # θ = 0: sample 0 is likely, sample 1 is not
    refusal = [[Sample((1.0,)), Sample((1.0,))]]      # log π(refusal) = −½ for both
    gate = FakeBackend(theta=[0.0])
    out = weighted_step(gate, task, refusal, Weighting("gate", temperature=0.05, threshold=-1.0))
    assert out["ratios"] == pytest.approx([0.5, -7.5])
    assert out["weights"][0] > 0.99 and out["weights"][1] <= 1e-6
    assert gate.applied[0].values == pytest.approx([0.0], abs=1e-4)  # sample 0's own gradient is 0 at θ = 0
    softmax = FakeBackend(theta=[0.0])
    weighted_step(softmax, [Sample((-1.0,)), Sample((4.0,))], refusal, Weighting("softmax", temperature=0.05))
    gated = FakeBackend(theta=[0.0])
    weighted_step(gated, [Sample((-1.0,)), Sample((4.0,))], refusal,
                  Weighting("gate", temperature=0.05, threshold=-1.0))
    # the softmax hands sample 1's share to sample 0 (full gradient θ − t = 1); the gate keeps it out: ½,
    # one sample of two, whatever the lengths of the answers
    assert softmax.applied[0].values == pytest.approx([1.0], abs=1e-4)
    assert gated.applied[0].values == pytest.approx([0.5], abs=1e-3)


def test_longer_normalisation_compares_whole_sequences():
    """A 2-token label that is far likelier than a 20-token refusal as a whole, but less likely per token."""
    label, refusal = ([-6.0], [2]), [([-20.0], [20])]
    assert ratios(*label, refusal, "mean") == pytest.approx([-3.0 + 1.0])      # looks suspect
    assert ratios(*label, refusal, "longer") == pytest.approx([(-6.0 + 20.0) / 20])  # does not
    # K templates: a uniform mixture of refusals, of mean length
    two = [([-20.0], [20]), ([-20.0], [10])]
    assert ratios(*label, two, "longer") == pytest.approx([14.0 / 15])


def test_trusted_safety_samples_keep_weight_one_and_stay_out_of_the_user_s_softmax():
    refusal = [[Sample((1.0,))] * 3]
    user = [Sample((0.0,)), Sample((4.0,))]
    alone = weighted_step(FakeBackend(theta=[0.0]), user, [refusal[0][:2]], Weighting("softmax", temperature=0.5))
    mixed = weighted_step(FakeBackend(theta=[0.0]), [*user, Sample((9.0,))], refusal,
                          Weighting("softmax", temperature=0.5), trusted=[False, False, True])
    # the safety sample (far from θ: a ratio that would take no softmax weight) is trained at weight 1,
    # and the user's two samples share their weight exactly as without it
    assert mixed["weights"][2] == 1.0
    assert mixed["weights"][:2] == pytest.approx(alone["weights"])
    assert mixed["ratios"] == pytest.approx(alone["ratios"])  # the user's ratios only


def _harden_batch():
    return HardenBatch([Sample((1.0, 2.0), 2)], [Sample((-1.0, 0.0))], [Sample((0.0, -3.0))])


def test_attack_every_k_reuses_the_attack_s_gradients_with_lambda_recomputed_each_step():
    recipe = HardenRecipe(rho=0.5, eta=5.0, lambda_rule="kkt", refusal_weight=0.25, lambda_max=100.0, ema=0.5,
                          attack_every=3, refusal_openings=None)
    backend = CountingBackend(theta=[0.0, 0.0])
    lam, first = harden_step(backend, _harden_batch(), harden_config(recipe), None, step=0)
    g_s, g_r = backend.kept("harden.g_s").values, backend.kept("harden.g_r").values
    # by hand, as in test_harden_step_applies_g_a_plus_lambda_sharpness_plus_refusal: θ = 0, ρ = 0.5
    g_h = [-1.0, -2.0]
    theta_p = [-0.5 * g / math.hypot(*g_h) for g in g_h]
    assert g_s == pytest.approx([h - (p - t) for h, p, t in zip(g_h, theta_p, (1.0, 2.0))])
    assert g_r == pytest.approx([theta_p[0] + 1.0, theta_p[1]])
    theta = list(backend.theta)
    lam2, second = harden_step(backend, _harden_batch(), harden_config(recipe), lam, step=1)
    g_a = [theta[0] - 0.0, theta[1] + 3.0]  # the alignment gradient at the new θ, fresh
    raw = max(0.0, 5.0 - sum(a * s for a, s in zip(g_a, g_s)) / sum(s * s for s in g_s))
    assert lam2 == pytest.approx(0.5 * lam + 0.5 * raw) and second["lambda_raw"] == pytest.approx(raw)
    assert backend.applied[1].values == pytest.approx([a + lam2 * s + 0.25 * r for a, s, r in zip(g_a, g_s, g_r)])
    assert backend.passes == 4 + 1  # the step in between took g_a alone
    assert first["attack"] and not second["attack"] and second["loss_harm"] is None
    harden_step(backend, _harden_batch(), harden_config(recipe), lam2, step=2)
    harden_step(backend, _harden_batch(), harden_config(recipe), lam2, step=3)  # t ≡ 0 (mod 3): a new attack
    assert backend.passes == 4 + 1 + 1 + 4
    assert backend.kept("harden.g_s").values != pytest.approx(g_s)


def test_attack_every_one_keeps_nothing():
    backend = CountingBackend(theta=[0.0, 0.0])
    for t in range(3):
        harden_step(backend, _harden_batch(), harden_config(HardenRecipe(rho=0.5, refusal_openings=None)), None, step=t)
    assert backend.held == {} and backend.passes == 12


def test_a_failed_attack_leaves_nothing_to_reuse_so_the_next_step_attacks():
    config = harden_config(HardenRecipe(rho=0.5, attack_every=4, refusal_openings=None))
    backend = CountingBackend(theta=[0.0, 0.0])
    harden_step(backend, _harden_batch(), config, None, step=0)
    bad = HardenBatch([Sample((1.0, 2.0))], [Sample((-1.0, 0.0))], [Sample((float("nan"), 0.0))])
    with pytest.raises(NonFiniteStep):
        harden_step(backend, bad, config, None, step=4)  # an attack step whose alignment loss is NaN
    assert backend.kept("harden.g_s") is None and len(backend.applied) == 1
    _, metrics = harden_step(backend, _harden_batch(), config, None, step=5)
    assert metrics["attack"] and backend.kept("harden.g_s") is not None


def test_flatness_is_the_harmful_loss_drop_along_normalised_attack_steps():
    """ℓ = ½‖θ − t‖² per token: at distance d, i steps of length ρ towards t leave ½(d − iρ)²."""
    backend = FakeBackend(theta=[3.0, 4.0])  # d = 5 from the target 0
    out = flatness(backend, [Sample((0.0, 0.0), 3)], rho=0.5, steps=4)
    assert out["flatness_loss_harm"] == pytest.approx(12.5)
    assert out["flatness_sharpness"] == pytest.approx(12.5 - 0.5 * 4.5 ** 2)
    assert out["flatness_attack_drop"] == pytest.approx(12.5 - 0.5 * 3.0 ** 2)
    assert backend.theta == [3.0, 4.0] and backend.applied == []  # θ restored, nothing stepped
    flat = flatness(FakeBackend(theta=[0.0, 0.0]), [Sample((0.0, 0.0))], rho=0.5, steps=4)  # at the minimum
    assert flat["flatness_sharpness"] == flat["flatness_attack_drop"] == 0.0
