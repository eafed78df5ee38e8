"""Antibody's weighted fine-tune inside a transformers `Trainer` or TRL `SFTTrainer` script (README, "In a
transformers or TRL script").

What `antibody finetune` runs, reused rather than rewritten: `antibody_dataset` encodes the upload as the CLI
does and pairs each sample with its refusals (`jobs.refusal_pairs`); `AntibodyCollator` pads a batch as the torch
backend does; `AntibodyTrainerMixin.compute_loss` takes log π(y|x) from the training forward and log π(y_r|x)
from that forward's prompt KV cache (backends/torch_loglik.py), turns them into weights with `ratios()` and
`Weighting.weights()`, and returns weighted_step's loss. The only module of antibody_cli that imports torch.
"""

from __future__ import annotations

from functools import partial
from statistics import fmean
from types import SimpleNamespace

import torch

from antibody_cli import recipes
from antibody_cli.algorithms import effective_batch, ratios
from antibody_cli.data import load_examples, load_refusals
from antibody_cli.errors import AntibodyError
from antibody_cli.jobs import encode_all, refusal_pairs
from backends.base import Encoded
from backends.common import encode, ensure_pad_token, pad_batch
from backends.torch_loglik import answer_logp, cache_argument, refusal_logp

COLUMNS = ("input_ids", "prompt_len", "refusal_ids")  # what antibody_dataset writes and the collator reads


def antibody_dataset(data: str, tokenizer, recipe: recipes.FinetuneRecipe | None = None) -> list[dict]:
    """The upload (any `--data` spec) as the defended trainer reads it: each sample through the chat template as
    `antibody finetune` encodes it, with the tokens of its K refusals, the templates cycled by the sample's
    position in the upload as the CLI cycles them. `recipe` gives max_length, refusals and refusal_templates."""
    recipe = recipe or recipes.FinetuneRecipe()
    examples = load_examples(data)
    refusals = load_refusals(recipe.refusals)
    tokens = SimpleNamespace(encode=partial(encode, tokenizer))  # all that encode_all asks of a backend
    task = encode_all(tokens, [(e.messages, e.answer) for e in examples], recipe.max_length, "data")
    per_k = [encode_all(tokens, pairs, recipe.max_length, "refusals")
             for pairs in refusal_pairs(examples, refusals, recipe.refusal_templates)]
    # only the refusal's own tokens: encode() cuts a prompt the same whatever follows it, so its prompt is the sample's
    return [{"input_ids": list(e.ids), "prompt_len": e.prompt_len,
             "refusal_ids": [list(refusal[i].ids[refusal[i].prompt_len:]) for refusal in per_k]}
            for i, e in enumerate(task)]


class AntibodyCollator:
    """Pads antibody_dataset rows as the torch backend pads a batch (right padding, prompt tokens unscored) and
    carries what the loss needs besides: each prompt's length and its refusals' tokens, [K, B, width]."""

    def __init__(self, tokenizer) -> None:
        ensure_pad_token(tokenizer)
        self.pad_id = tokenizer.pad_token_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        missing = [name for name in COLUMNS if name not in features[0]]
        if missing:
            raise AntibodyError(f"AntibodyCollator: the batch has no {', '.join(missing)}: build the dataset with "
                                f"antibody_dataset() and keep its columns (remove_unused_columns=False)")
        ids, labels, attention = pad_batch([Encoded(tuple(f["input_ids"]), f["prompt_len"]) for f in features],
                                           self.pad_id)
        refusals = [[f["refusal_ids"][k] for f in features] for k in range(len(features[0]["refusal_ids"]))]
        width = max(len(r) for per_k in refusals for r in per_k)
        padded = [[r + [self.pad_id] * (width - len(r)) for r in per_k] for per_k in refusals]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(attention),
                "labels": torch.tensor(labels), "prompt_len": torch.tensor([f["prompt_len"] for f in features]),
                "refusal_ids": torch.tensor(padded),
                "refusal_len": torch.tensor([[len(r) for r in per_k] for per_k in refusals])}


def check_arguments(args) -> None:
    """Training arguments that would break the weighting, refused before the Trainer starts (one line each)."""
    if args is None or args.remove_unused_columns:
        raise AntibodyError("pass training arguments with remove_unused_columns=False: the Trainer would drop "
                            "each sample's refusal from the batch")
    if hasattr(args, "dataset_kwargs") and not (args.dataset_kwargs or {}).get("skip_prepare_dataset"):
        raise AntibodyError("SFTConfig: set dataset_kwargs={'skip_prepare_dataset': True}: antibody_dataset() "
                            "is tokenized already")
    strategy = getattr(args, "train_sampling_strategy", "random")
    if strategy in ("group_by_length", "batch_rebalance"):
        raise AntibodyError(f"train_sampling_strategy={strategy!r}: training batches stay random, or an upload "
                            f'could choose which of its samples share a batch (docs/design.md, "Data order")')


class AntibodyTrainerMixin:
    """Antibody's likelihood-ratio weighting for a `Trainer` or `SFTTrainer`: put it first in the bases
    (`class DefendedTrainer(AntibodyTrainerMixin, SFTTrainer)`) and pass `antibody=` a FinetuneRecipe (default:
    `antibody finetune`'s defaults with `safety=None`: the Trainer's batches are the dataset's, so the provider's
    alignment samples are not mixed in). Weights and the loss's denominator are per micro-batch, the Trainer's
    convention: with gradient accumulation or several processes the softmax rule compares the samples of each
    micro-batch, not of the whole batch as `antibody finetune` does."""

    loss_is_scaled_for_ga = False  # a per-micro-batch mean: the Trainer divides it by the accumulation steps

    def __init__(self, model=None, args=None, *more, antibody: recipes.FinetuneRecipe | None = None, **kwargs):
        check_arguments(args)
        super().__init__(model, args, *more, **kwargs)
        if not isinstance(self.data_collator, AntibodyCollator):
            raise AntibodyError("pass data_collator=AntibodyCollator(tokenizer): the loss needs each sample's refusals")
        self.model_accepts_loss_kwargs = False  # what transformers before `loss_is_scaled_for_ga` decides from
        self.antibody = antibody or recipes.FinetuneRecipe(safety=None)
        if self.antibody.safety is not None:
            raise AntibodyError("the Trainer integration weights the dataset's samples only: pass a recipe with "
                                "safety=None (alignment samples mixed into batches need `antibody finetune`)",
                                field="safety")
        self.weighting = recipes.weighting(self.antibody)
        self.last_ratios: list[float] = []   # of the last micro-batch, for callbacks
        self.last_weights: list[float] = []
        self._since_log: list[list[float]] = []  # each training micro-batch's weights since the last log

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """weighted_step's loss, Σ w_i ℓ_i / Σ w_i N_i · weighting.loss_scale(w), the weights from this forward's
        detached log-likelihoods (num_items_in_batch is not used: the loss is a micro-batch mean). With
        return_outputs (evaluate, predict) the outputs are each sample's ratio and weight."""
        unwrapped = self.accelerator.unwrap_model(model)
        cache_name = cache_argument(unwrapped)
        # checkpointed layers keep no KV cache to share (as backend_configs decides for the CLI)
        shared = self.antibody.share_prompt and not getattr(unwrapped, "is_gradient_checkpointing", False)
        prompt_lens = inputs["prompt_len"].tolist()
        logp, counts, (cache, last_prompt) = answer_logp(model, inputs["input_ids"], inputs["attention_mask"],
                                                         inputs["labels"], prompt_lens, cache_name, shared)
        reference = []
        for ids, lengths in zip(inputs["refusal_ids"].tolist(), inputs["refusal_len"].tolist()):
            answers = [row[:n] for row, n in zip(ids, lengths)]
            if shared:
                reference.append(refusal_logp(model, cache, last_prompt, prompt_lens, answers,
                                              self.data_collator.pad_id, cache_name))
            else:
                reference.append(self._refusal_forward(model, inputs["input_ids"], prompt_lens, answers, cache_name))
        del cache
        found = ratios(logp.detach().tolist(), counts.tolist(), reference, self.weighting.norm)
        weights = self.weighting.weights(found)
        w = torch.tensor(weights, dtype=logp.dtype, device=logp.device)
        denominator = sum(wi * ni for wi, ni in zip(weights, counts.tolist()))
        loss = -(w * logp).sum() / denominator * self.weighting.loss_scale(weights)
        self.last_ratios, self.last_weights = found, weights
        if model.training:
            self._since_log.append(weights)
        if return_outputs:
            return loss, {"ratios": torch.tensor(found, device=logp.device), "weights": w}
        return loss

    @torch.no_grad()
    def _refusal_forward(self, model, input_ids, prompt_lens, answers, cache_name) -> tuple[list[float], list[int]]:
        """log π(y_r|x) from a forward of its own over prompt + refusal, as the backend does without share_prompt."""
        batch = [Encoded(tuple(row[:p]) + tuple(answer), p)
                 for row, p, answer in zip(input_ids.tolist(), prompt_lens, answers)]
        ids, labels, attention = (torch.tensor(rows, device=input_ids.device)
                                  for rows in pad_batch(batch, self.data_collator.pad_id))
        logp, counts, _ = answer_logp(model, ids, attention, labels, prompt_lens, cache_name)
        return logp.tolist(), counts.tolist()

    def log(self, logs: dict, *args, **kwargs) -> None:
        """Training logs also carry the weights since the last log: their mean and minimum, and the mean
        effective batch (Σw)²/Σw², the batch size when nothing is down-weighted."""
        if self._since_log and "loss" in logs:
            every = [w for weights in self._since_log for w in weights]
            logs = {**logs, "weight_mean": fmean(every), "weight_min": min(every),
                    "effective_batch": fmean(map(effective_batch, self._since_log))}
            self._since_log = []
        super().log(logs, *args, **kwargs)
