"""The torch backend on the tiny model: exact identities of the seam."""

import pytest
import torch

from antibody_cli.algorithms import HardenBatch, flatness, harden_step, lambda_raw, smooth_lambda, vaccine_step
from antibody_cli.errors import AntibodyError
from antibody_cli.recipes import FinetuneRecipe, HardenRecipe, ScoreRecipe, backend_configs, harden_config
from backends.base import Term
from backends.torch_backend import TorchBackend

PAIRS = [
    ([{"role": "user", "content": "What is 2 + 2?"}], "2 + 2 = 4."),
    ([{"role": "user", "content": "Name a colour."}], "Blue, for example, is a colour people like."),
    ([{"role": "user", "content": "Hurt someone for me."}], "I can't help with that."),
]


def tiny(recipe_cls=FinetuneRecipe, **fields):
    recipe = recipe_cls(model="tiny", device="cpu", max_length=64, **fields)
    return TorchBackend(*backend_configs(recipe)), recipe


def encode(backend, pairs=PAIRS, max_length=64):
    return [backend.encode(m, a, max_length) for m, a in pairs]


def test_encoding_masks_the_prompt_and_ends_with_the_template_end_token():
    backend, _ = tiny()
    e = backend.encode(*PAIRS[0], max_length=64)
    text = backend.tokenizer.decode(e.ids[e.prompt_len:])
    assert text.startswith("2 + 2 = 4.<|im_end|>")
    assert backend.tokenizer.decode(e.ids[: e.prompt_len]).endswith("<|im_start|>assistant\n")
    short = backend.encode(*PAIRS[1], max_length=e.prompt_len + 3)
    assert short.truncated and short.n_answer == 3 and len(short.ids) == e.prompt_len + 3


def test_uniform_weights_reproduce_plain_token_mean_sft_loss_and_gradient():
    backend, _ = tiny()
    batch = encode(backend)
    g_plain, plain = backend.grad(batch)
    g_uniform, uniform = backend.grad(batch, weigh=lambda logp, n, refusal: [0.37] * len(n))
    # the Hugging Face loss on the same padded batch: mean over every answer token
    ids, attention, labels = backend._collate(batch)
    hf_loss = backend.model(input_ids=ids, attention_mask=attention, labels=labels).loss
    assert plain.loss == pytest.approx(hf_loss.item(), rel=1e-6)
    assert uniform.loss == pytest.approx(plain.loss, rel=1e-6)
    hf_grads = torch.autograd.grad(hf_loss, backend.params)
    for a, b, c in zip(g_plain.tensors, g_uniform.tensors, hf_grads):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-7)


def test_loglik_is_the_per_sample_sum_over_answer_tokens():
    backend, _ = tiny()
    batch = encode(backend)
    together, counts = backend.loglik(batch)
    alone = [backend.loglik([e])[0][0] for e in batch]  # no padding, no neighbours
    assert together == pytest.approx(alone, rel=1e-5)
    assert counts == [e.n_answer for e in batch]


def test_perturb_then_restore_is_bitwise():
    backend, _ = tiny()
    before = [p.detach().clone() for p in backend.params]
    g, _ = backend.grad(encode(backend))
    backend.perturb(g, -0.1 / g.norm())
    assert any(not torch.equal(a, p) for a, p in zip(before, backend.params))
    backend.restore()
    assert all(torch.equal(a, p) for a, p in zip(before, backend.params))


def test_harden_step_equals_a_hand_computed_update():
    fields = dict(rho=0.3, eta=5.0, lambda_rule="kkt", refusal_weight=0.05, lr=1e-2, max_grad_norm=None,
                  lambda_max=100.0, refusal_openings=None)
    backend, recipe = tiny(HardenRecipe, **fields)
    manual, _ = tiny(HardenRecipe, **fields)
    harm = encode(backend, [PAIRS[2]] * 2)
    refusal = encode(backend, [(PAIRS[2][0], "No.")] * 2)
    align = encode(backend, PAIRS[:2])
    lam, _ = harden_step(backend, HardenBatch(harm, refusal, align), harden_config(recipe), lam_prev=None)

    def hf_grad(batch):  # the reference loss: Hugging Face's own token-mean cross-entropy
        ids, attention, labels = manual._collate(batch)
        loss = manual.model(input_ids=ids, attention_mask=attention, labels=labels).loss
        return torch.autograd.grad(loss, manual.params)

    theta = [p.detach().clone() for p in manual.params]
    g_h = hf_grad(harm)
    norm_h = torch.sqrt(sum((g.double() ** 2).sum() for g in g_h))
    with torch.no_grad():
        for p, g in zip(manual.params, g_h):
            p.sub_(0.3 * g / norm_h.float())
    g_p, g_r = hf_grad(harm), hf_grad(refusal)
    with torch.no_grad():
        for p, t in zip(manual.params, theta):
            p.copy_(t)
    g_a = hf_grad(align)
    g_s = [h - p for h, p in zip(g_h, g_p)]
    dot = sum((a.double() * s.double()).sum() for a, s in zip(g_a, g_s))
    expected_lam = max(0.0, 5.0 - float(dot / sum((s.double() ** 2).sum() for s in g_s)))
    assert lam == pytest.approx(expected_lam, rel=1e-4)
    for p, a, s, r in zip(manual.params, g_a, g_s, g_r):
        p.grad = a + expected_lam * s + 0.05 * r
    manual.optimizer.step()
    for a, b in zip(backend.params, manual.params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def paper_step(backend, batch, config, lam_prev):
    """The paper's harden step over the seam, as docs/design.md writes it: the reference for attack_every = 1."""
    g_h, _ = backend.grad(batch.harm)
    backend.perturb(g_h, -config.rho / g_h.norm())
    g_p, _ = backend.grad(batch.harm)
    g_r, _ = backend.grad(batch.refusal)
    backend.restore()
    g_a, _ = backend.grad(batch.align)
    g_s = g_h - g_p
    lam = smooth_lambda(lam_prev, lambda_raw(config.lambda_rule, config.eta, g_a, g_s), config.ema, config.lambda_max)
    backend.step(g_a + lam * g_s + config.refusal_weight * g_r)
    return lam


def test_attack_every_one_is_bitwise_the_paper_step_and_two_takes_fewer_passes():
    fields = dict(rho=0.3, refusal_weight=0.05, lr=1e-2, refusal_openings=None)
    thetas, passes = {}, {}
    for k in ("paper", 1, 2):
        backend, recipe = tiny(HardenRecipe, **fields, attack_every=1 if k == "paper" else k)
        calls = []
        for name in ("grad", "grad_sum"):  # a pass is either
            setattr(backend, name, lambda *a, real=getattr(backend, name), **kw: calls.append(1) or real(*a, **kw))
        batch = HardenBatch(encode(backend, [PAIRS[1]] * 2), encode(backend, [(PAIRS[1][0], "No.")] * 2),
                            encode(backend, [PAIRS[0], PAIRS[2]]))
        lam = None
        for t in range(4):
            lam = (paper_step(backend, batch, harden_config(recipe), lam) if k == "paper"
                   else harden_step(backend, batch, harden_config(recipe), lam, t)[0])
        thetas[k], passes[k] = [p.detach().clone() for p in backend.params], len(calls)
    assert all(torch.equal(a, b) for a, b in zip(thetas["paper"], thetas[1]))
    assert passes == {"paper": 16, 1: 16, 2: 4 + 1 + 4 + 1}
    assert not all(torch.equal(a, b) for a, b in zip(thetas["paper"], thetas[2]))  # the reuse does change θ


def test_flatness_restores_theta_bitwise_and_a_longer_attack_drops_the_harmful_loss_further():
    backend, _ = tiny(HardenRecipe, lr=1e-2)
    g, _ = backend.grad(encode(backend))
    backend.step(g)  # LoRA B is no longer 0
    before = [p.detach().clone() for p in backend.params]
    out = flatness(backend, encode(backend, [PAIRS[1]] * 2), rho=0.05, steps=3)
    assert all(torch.equal(a, p) for a, p in zip(before, backend.params))
    assert 0 < out["flatness_sharpness"] < out["flatness_attack_drop"] < out["flatness_loss_harm"]


def test_vaccine_at_rho_zero_is_the_plain_alignment_step_bitwise_and_rho_moves_it():
    plain, zero, half = (tiny(HardenRecipe, lr=1e-2)[0] for _ in range(3))
    batch = encode(plain)
    g, loss = plain.grad(batch)
    plain.step(g)
    metrics = vaccine_step(zero, batch, rho=0.0)
    assert metrics["norm_hidden_grad"] > 0 and metrics["norm_shift"] == 0
    assert metrics["loss_align"] == metrics["loss_align_perturbed"] == loss.loss
    assert all(torch.equal(a, b) for a, b in zip(zero.params, plain.params))
    vaccine_step(half, batch, rho=0.5)
    assert any(not torch.allclose(a, b) for a, b in zip(half.params, plain.params))


@pytest.mark.parametrize("checkpointed", [False, True], ids=["plain", "gradient_checkpointing"])
def test_hidden_grad_is_the_derivative_of_the_loss_in_each_blocks_shifted_output(checkpointed):
    backend, _ = tiny(HardenRecipe, gradient_checkpointing=checkpointed)
    batch = encode(backend)
    g_e, clean = backend.hidden_grad(batch)
    assert len(g_e.tensors) == 2 and g_e.tensors[0].shape == (3, max(len(e.ids) for e in batch), 32)  # 2 blocks
    # moving the outputs by ±t along the gradient changes the loss by ±t‖g_e‖ (central difference)
    t, unit = 1e-3, g_e * (1 / g_e.norm())
    up, down = backend.grad(batch, hidden_shift=unit * t)[1].loss, backend.grad(batch, hidden_shift=unit * -t)[1].loss
    assert (up - down) / (2 * t) == pytest.approx(g_e.norm(), rel=1e-3)
    assert backend.grad(batch)[1].loss == clean.loss  # the hooks are gone once the pass is over
    metrics = vaccine_step(backend, batch, rho=0.5)
    assert metrics["norm_shift"] == pytest.approx(0.5) and metrics["loss_align_perturbed"] > metrics["loss_align"]


def test_unknown_lora_target_is_a_clear_error():
    with pytest.raises(AntibodyError, match="q_prj"):
        tiny(lora={"target_modules": ["q_prj"]})


def test_save_and_load_state_round_trip(tmp_path):
    backend, _ = tiny()
    g, _ = backend.grad(encode(backend))
    backend.step(g)
    backend.keep("g", g)
    backend.save_state(tmp_path / "state")
    other, _ = tiny()
    other.load_state(tmp_path / "state")
    assert all(torch.equal(a, b) for a, b in zip(backend.params, other.params))
    assert all(torch.equal(a, b) for a, b in zip(g.tensors, other.kept("g").tensors))
    g2, _ = backend.grad(encode(backend))
    backend.step(g2)
    other.step(g2)
    assert all(torch.equal(a, b) for a, b in zip(backend.params, other.params))


def test_sharing_the_prompt_cache_gives_the_same_refusal_scores_weights_and_gradient():
    shared, _ = tiny(share_prompt=True)
    separate, _ = tiny(share_prompt=False)
    batch = encode(shared)  # prompts of different lengths: rows mask their own answers out of the cache
    refusals = [encode(shared, [(m, r) for m, _ in PAIRS]) for r in ("I can't help with that.", "No, sorry.")]
    seen = {}

    def weigh(name):
        def record(logp, n, refusal):
            seen[name] = refusal
            return [1.0 + 0.5 * i for i in range(len(n))]
        return record

    g_shared, r_shared = shared.grad(batch, weigh("shared"), refusals)
    g_separate, r_separate = separate.grad(batch, weigh("separate"), refusals)
    for (s_sums, s_counts), (p_sums, p_counts) in zip(seen["shared"], seen["separate"]):
        assert s_counts == p_counts
        assert s_sums == pytest.approx(p_sums, rel=1e-5, abs=1e-5)
    assert seen["separate"][0][0] == pytest.approx(separate.loglik(refusals[0])[0], rel=1e-6)
    assert r_shared.loss == pytest.approx(r_separate.loss, rel=1e-6)
    for a, b in zip(g_shared.tensors, g_separate.tensors):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_gradient_checkpointing_changes_memory_not_results():
    plain, _ = tiny()
    checkpointed, _ = tiny(gradient_checkpointing=True)
    assert checkpointed.share_prompt is False
    assert any(getattr(m, "gradient_checkpointing", False) for m in checkpointed.model.modules())
    assert not any(getattr(m, "gradient_checkpointing", False) for m in plain.model.modules())
    batch = encode(plain)
    g_plain, a = plain.grad(batch)
    g_checkpointed, b = checkpointed.grad(batch)
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    for x, y in zip(g_plain.tensors, g_checkpointed.tensors):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)


def test_scoring_with_the_shared_prompt_equals_separate_forwards():
    recipe = ScoreRecipe(model="tiny", device="cpu", share_prompt=True)
    shared = TorchBackend(*backend_configs(recipe))
    separate = TorchBackend(*backend_configs(recipe.model_copy(update={"share_prompt": False})))
    batch = encode(shared)
    refusals = [encode(shared, [(m, "I can't help with that.") for m, _ in PAIRS])]
    (a_task, a_n), a_ref = shared.loglik_with_refusals(batch, refusals)
    (b_task, b_n), b_ref = separate.loglik_with_refusals(batch, refusals)
    assert a_n == b_n and a_task == pytest.approx(b_task, rel=1e-6)
    assert a_ref[0][1] == b_ref[0][1] and a_ref[0][0] == pytest.approx(b_ref[0][0], rel=1e-5, abs=1e-5)


def test_grad_sum_continues_the_first_terms_prompts_with_the_values_of_separate_passes():
    backend, _ = tiny(HardenRecipe)
    assert backend.share_prompt  # harden shares its alignment prompts
    align = encode(backend)
    pushed = encode(backend, [(PAIRS[0][0], "I can't help with that."), (PAIRS[1][0], "No.")])  # unequal lengths
    pulled = encode(backend, [(PAIRS[2][0], "I")])
    terms = [Term(align), Term(pushed, lambda logp, n: [0.25 + i for i in range(len(n))], lambda w: -0.5 * sum(w)),
             Term(pulled, None, lambda w: 2.0)]
    forwards = []
    real = backend._sample_logp
    backend._sample_logp = lambda *args, **kw: forwards.append(1) or real(*args, **kw)
    shared, shared_seen = backend.grad_sum(terms)
    assert len(forwards) == 1  # the openings ran from the first forward's KV cache
    backend.share_prompt = False
    separate, separate_seen = backend.grad_sum(terms)
    assert len(forwards) == 1 + 3
    backend.share_prompt = True
    summed = None
    for term in terms:  # the definition: Σ scale_t · grad of term t
        g, seen = backend.grad(term.batch, term.weigh and (lambda lp, n, _, w=term.weigh: w(lp, n)))
        g = g * (term.scale(seen.weights) if term.scale else 1.0)
        summed = g if summed is None else summed + g
    for a, b, c in zip(shared.tensors, separate.tensors, summed.tensors):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-7)
    assert shared.norm() > 0
    for s, u in zip(shared_seen, separate_seen):
        assert s.n_tokens == u.n_tokens and s.weights == u.weights
        assert s.loss == pytest.approx(u.loss, rel=1e-5) and s.logp == pytest.approx(u.logp, rel=1e-5)
    # a prompt the first term does not hold: separate forwards, the same numbers
    forwards.clear()
    elsewhere = encode(backend, [([{"role": "user", "content": "Something else?"}], "No.")])
    _, (_, other) = backend.grad_sum([Term(align[:1]), Term(elsewhere)])
    assert len(forwards) == 2 and other.logp == pytest.approx(backend.loglik(elsewhere)[0], rel=1e-5)
