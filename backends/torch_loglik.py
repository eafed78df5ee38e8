"""Per-sample log-likelihoods of answers and refusals in torch, written once for the torch backend and the
transformers integration (antibody_cli/integrations/transformers.py), so both weigh a sample from the same numbers.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F

from backends.common import IGNORE


def cache_argument(model) -> str:
    """The forward's name for the KV cache (`past_key_values`, renamed `cache` in transformers 5.x); the model
    output's field has the same name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def answer_logp(model, ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor, prompt_lens: Sequence[int],
                cache_name: str, use_cache: bool = False, autocast: AbstractContextManager = nullcontext()):
    """Summed log π(answer | prompt) per sample (differentiable), the answer token counts, and what
    continuation_logp needs: (the KV cache, the logits at each last prompt position)."""
    # Logits only from the first answer position on: the vocabulary projection and its softmax
    # are a large share of a small model's cost, and prompt positions are never scored.
    keep = ids.shape[1] - min(prompt_lens) + 1
    with autocast:
        out = model(input_ids=ids, attention_mask=attention, logits_to_keep=keep, use_cache=use_cache)
    targets = labels[:, -keep + 1:] if keep > 1 else labels[:, :0]
    logits = out.logits.float()
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    first = ids.shape[1] - keep  # the position of logits[:, 0]
    last_prompt = torch.stack([logits[row, p - 1 - first] for row, p in enumerate(prompt_lens)])
    return -nll.sum(dim=1), (targets != IGNORE).sum(dim=1), (getattr(out, cache_name), last_prompt)


def continuation_logp(model, cache, last_prompt: torch.Tensor, prompt_lens: Sequence[int],
                      answers: Sequence[Sequence[int]], pad_id: int, cache_name: str,
                      autocast: AbstractContextManager = nullcontext(), rows: Sequence[int] | None = None
                      ) -> tuple[torch.Tensor, list[int]]:
    """Summed log π(answer | prompt) per answer, continuing the prompts' keys and values from answer_logp's forward:
    answer j continues row rows[j] (default j). Differentiable when grad is on (the cache and last_prompt carry
    the graph back to the prompts' forward), so a second answer costs its own tokens, not its prompt's again.

    The cache holds the padded [prompt, answer] rows; it is cut at the longest prompt, and each
    row masks its own answer positions out and places its continuation at its own prompt length.
    """
    device = last_prompt.device
    widest = max(prompt_lens)
    if cache.get_seq_length() > widest:
        cache.crop(widest - cache.get_seq_length())  # a negative count removes that many positions
    if rows is not None:
        index = torch.tensor(list(rows), dtype=torch.long, device=device)
        cache.batch_select_indices(index)
        last_prompt, prompt_lens = last_prompt[index], [prompt_lens[r] for r in rows]
    width = max(len(a) for a in answers)
    ids = torch.full((len(answers), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(answers), widest + width), dtype=torch.long)
    positions = torch.zeros((len(answers), width), dtype=torch.long)
    for row, (prompt_len, answer) in enumerate(zip(prompt_lens, answers)):
        ids[row, : len(answer)] = torch.tensor(answer)
        attention[row, : prompt_len] = 1
        attention[row, widest: widest + len(answer)] = 1
        positions[row] = torch.arange(prompt_len, prompt_len + width)
    ids, attention, positions = ids.to(device), attention.to(device), positions.to(device)
    # token 0 of each answer is predicted by the prompt's last position (from the first forward)
    logits = last_prompt.unsqueeze(1)
    if width > 1:  # a one-token answer needs nothing more
        with autocast:
            later = model(input_ids=ids[:, :-1], attention_mask=attention[:, :-1], position_ids=positions[:, :-1],
                          **{cache_name: cache}, use_cache=True).logits.float()
        logits = torch.cat([logits, later], dim=1)
    targets = torch.full_like(ids, IGNORE)
    for row, answer in enumerate(answers):
        targets[row, : len(answer)] = ids[row, : len(answer)]
    nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    return -nll.sum(dim=1), [len(a) for a in answers]


@torch.no_grad()
def refusal_logp(model, cache, last_prompt: torch.Tensor, prompt_lens: Sequence[int],
                 answers: Sequence[Sequence[int]], pad_id: int, cache_name: str,
                 autocast: AbstractContextManager = nullcontext()) -> tuple[list[float], list[int]]:
    """log π(refusal | prompt) per sample, no grad, reusing the prompt's keys and values from answer_logp's forward."""
    sums, counts = continuation_logp(model, cache, last_prompt, prompt_lens, answers, pad_id, cache_name, autocast)
    return sums.tolist(), counts
