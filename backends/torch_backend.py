"""The torch backend: transformers + peft, on CUDA, MPS or CPU.

θ is the LoRA adapter weights (or every weight with full_finetune). Gradients are
taken with torch.autograd.grad, so no `.grad` is touched until step(); under FSDP
(backends/torch_fsdp.py) θ is sharded and gradients come through backward().
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import warnings
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.distributed.tensor import DTensor

from antibody_cli.distributed import Ranks, ranks
from antibody_cli.errors import AntibodyError
from backends import torch_fsdp, torch_models
from backends.base import BatchLoss, Encoded, Messages, ModelConfig, Term, TrainConfig, Weigher
from backends.common import (ANCHOR, KEPT, OPTIMIZER, OPTIMIZER_STATE, TRAINABLE, KeptGradients,
                             check_targets, encode, ensure_pad_token, flat_kept, pad_batch, prompt_rows,
                             prompt_texts, shares_prompts, unflat_kept)
from backends.torch_loglik import answer_logp, cache_argument, continuation_logp, refusal_logp

# peft calls a transformers API that transformers itself has deprecated: noise for our users.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


class TorchGrad:
    """One tensor per trainable parameter; the arithmetic the core needs, nothing more."""

    __slots__ = ("tensors",)

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        self.tensors = tensors

    def __add__(self, other: TorchGrad) -> TorchGrad:
        return TorchGrad([a + b for a, b in zip(self.tensors, other.tensors, strict=True)])

    def __sub__(self, other: TorchGrad) -> TorchGrad:
        return TorchGrad([a - b for a, b in zip(self.tensors, other.tensors, strict=True)])

    def __mul__(self, scale: float) -> TorchGrad:
        return TorchGrad([a * scale for a in self.tensors])

    __rmul__ = __mul__

    def dot(self, other: TorchGrad) -> float:
        if isinstance(self.tensors[0], DTensor):  # shards: the sum over all of them
            return torch_fsdp.dot(self.tensors, other.tensors)
        # float64 accumulation: λ rules divide by ‖g_s‖², which can be small.
        return float(sum((a.double() * b.double()).sum() for a, b in zip(self.tensors, other.tensors, strict=True)))

    def norm(self) -> float:
        return math.sqrt(self.dot(self))


def pick_device(name: str, where: Ranks) -> torch.device:
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise AntibodyError(f"unknown device '{name}' (auto, cpu, cuda, cuda:N or mps)", field="device") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise AntibodyError("no CUDA device on this machine", field="device")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if where.world > 1 else 0)
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def transformer_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks in forward order: the modules transformers keeps whole (`_no_split_modules`,
    e.g. LlamaDecoderLayer), under peft's wrapper too. Taken before FSDP renames their classes."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or ())
    return [m for m in base.modules() if type(m).__name__ in names]


def lr_scheduler(optimizer, schedule: str, warmup: int, total: int):
    """transformers' schedulers; its "constant" ignores warm-up, "constant_with_warmup" honours it."""
    from transformers import get_scheduler

    name = "constant_with_warmup" if schedule == "constant" and warmup else schedule
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total)


def _leave_process_group() -> None:
    """Tear the process group down before the interpreter exits: a rank that exits with it alive can abort in
    its destructor ("terminate called without an active exception", exit code -6) after its run finished."""
    if dist.is_initialized():
        dist.destroy_process_group()


class TorchBackend(KeptGradients):
    def __init__(self, config: ModelConfig, training: TrainConfig | None = None) -> None:
        self.config, self.training = config, training
        self.ranks = ranks()
        self.device = pick_device(config.device, self.ranks)
        self.fsdp = training is not None and training.fsdp
        if self.fsdp and self.ranks.world == 1:
            raise AntibodyError("fsdp: true shards over several processes: launch with torchrun --nproc_per_node N")
        if self.ranks.world > 1 and not dist.is_initialized():  # launched by torchrun / accelerate
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            atexit.register(_leave_process_group)
        model, self.tokenizer = torch_models.load(config.model, trust_remote_code=config.trust_remote_code,
                                                 allow_pickle=config.allow_pickle)
        ensure_pad_token(self.tokenizer)
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
                         else nullcontext())
        if training is not None:
            torch.manual_seed(training.seed)  # LoRA A initialisation
            model = self._make_trainable(model, training)
        else:
            model.requires_grad_(False)
        self.blocks = transformer_blocks(model)  # whose outputs Vaccine perturbs
        self.model = torch_fsdp.shard(model, self.device, self.ranks.world) if self.fsdp else model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self._saved: list[torch.Tensor] | None = None
        self._anchor: list[torch.Tensor] | None = None  # θ̃ of the proximal term (Lisa)
        self._kept: dict[str, TorchGrad] = {}  # gradients held across steps (keep / kept)
        self.share_prompt = config.share_prompt  # one forward for answer and refusal: the prompt's KV cache
        self._cache_argument = cache_argument(model)
        if training is not None:
            self.optimizer = torch.optim.AdamW(self.params, lr=training.lr, weight_decay=training.weight_decay)
            self.scheduler = lr_scheduler(self.optimizer, training.lr_schedule, training.warmup_steps, training.steps)

    @staticmethod
    def _make_trainable(model, training: TrainConfig):
        if training.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        if training.full_finetune:
            model.requires_grad_(True)
            return model
        import peft

        check_targets((name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                       if isinstance(m, torch.nn.Linear)), training.lora.target_modules)
        lora = peft.LoraConfig(r=training.lora.r, lora_alpha=training.lora.alpha, lora_dropout=training.lora.dropout,
                               target_modules=list(training.lora.target_modules), task_type="CAUSAL_LM")
        return peft.get_peft_model(model, lora)

    # -- tokenisation -------------------------------------------------------------------------
    def encode(self, messages: Messages, answer: str, max_length: int) -> Encoded:
        return encode(self.tokenizer, messages, answer, max_length)

    # -- forward passes -----------------------------------------------------------------------
    def _collate(self, batch: Sequence[Encoded]):
        ids, labels, attention = pad_batch(batch, self.tokenizer.pad_token_id)
        return tuple(torch.tensor(rows, dtype=torch.long, device=self.device) for rows in (ids, attention, labels))

    def _sample_logp(self, batch: Sequence[Encoded], use_cache: bool = False):
        ids, attention, labels = self._collate(batch)
        return answer_logp(self.model, ids, attention, labels, [e.prompt_len for e in batch], self._cache_argument,
                           use_cache, self.autocast)

    @torch.no_grad()
    def loglik(self, batch: Sequence[Encoded]) -> tuple[list[float], list[int]]:
        """Per-sample values of the *global* batch when several processes each hold a shard."""
        self.model.eval()
        logp, n, _ = self._sample_logp(batch)
        return self._gather(logp.tolist()), self._gather(n.tolist())

    @torch.no_grad()
    def loglik_with_refusals(self, batch: Sequence[Encoded], refusals: Sequence[Sequence[Encoded]]):
        """loglik of the batch and of each refusal batch, sharing the prompt's forward when it can."""
        self.model.eval()
        shared = self.share_prompt and shares_prompts(batch, refusals)
        logp, n, (cache, last_prompt) = self._sample_logp(batch, use_cache=shared)
        task = (self._gather(logp.tolist()), self._gather(n.tolist()))
        return task, self._reference(batch, refusals, shared, cache, last_prompt)

    def _reference(self, batch, refusals, shared: bool, cache, last_prompt) -> list[tuple[list[float], list[int]]]:
        """Per refusal template: (summed log-probs, counts) of the global batch."""
        if not shared:
            return [self.loglik(per_k) for per_k in refusals]
        out = []
        for per_k in refusals:
            sums, counts = refusal_logp(self.model, cache, last_prompt, [e.prompt_len for e in batch],
                                        [r.ids[r.prompt_len:] for r in per_k], self.tokenizer.pad_token_id,
                                        self._cache_argument, self.autocast)
            out.append((self._gather(sums), self._gather(counts)))
        return out

    def grad(self, batch: Sequence[Encoded], weigh: Weigher | None = None,
             refusals: Sequence[Sequence[Encoded]] | None = None,
             hidden_shift: TorchGrad | None = None) -> tuple[TorchGrad, BatchLoss]:
        """Global semantics under N processes: the weights see every sample of the global batch, the
        denominator Σ w_i N_i is global, and the gradient is summed over processes."""
        shared = bool(refusals) and self.share_prompt and shares_prompts(batch, refusals)
        self.model.train()
        shifted = nullcontext() if hidden_shift is None else self._block_outputs(
            lambda i, hidden: hidden + hidden_shift.tensors[i].to(hidden.dtype))
        with shifted:
            logp, n, (cache, last_prompt) = self._sample_logp(batch, use_cache=shared)
        reference = self._reference(batch, refusals or [], shared, cache, last_prompt)
        del cache
        loss, seen = self._weighted(logp, n.tolist(), weigh and (lambda lp, counts: weigh(lp, counts, reference)))
        total = loss.detach().clone()
        tensors = self._backward(loss, [total])
        return TorchGrad(tensors), BatchLoss(total.item(), *seen)

    def grad_sum(self, terms: Sequence[Term]) -> tuple[TorchGrad, list[BatchLoss]]:
        """The later terms continue the first's prompts from its KV cache when they all can (share_prompt)."""
        first, later = terms[0].batch, [e for term in terms[1:] for e in term.batch]
        rows = prompt_rows(first, later) if later and self.share_prompt else None
        self.model.train()
        logp, n, (cache, last_prompt) = self._sample_logp(first, use_cache=rows is not None)
        parts = [(logp, n.tolist())]
        if rows is not None:
            sums, counts = continuation_logp(self.model, cache, last_prompt, [e.prompt_len for e in first],
                                             [e.ids[e.prompt_len:] for e in later], self.tokenizer.pad_token_id,
                                             self._cache_argument, self.autocast, rows)
            for term in terms[1:]:
                parts.append((sums[: len(term.batch)], counts[: len(term.batch)]))
                sums, counts = sums[len(term.batch):], counts[len(term.batch):]
        else:
            parts += [(lp, c.tolist()) for lp, c, _ in (self._sample_logp(term.batch) for term in terms[1:])]
        del cache
        loss, seen, totals = None, [], []
        for term, (term_logp, term_n) in zip(terms, parts):
            part, term_seen = self._weighted(term_logp, term_n, term.weigh)
            scaled = part if term.scale is None else part * term.scale(term_seen[2])
            loss = scaled if loss is None else loss + scaled
            seen.append(term_seen)
            totals.append(part.detach().clone())
        tensors = self._backward(loss, totals)
        return TorchGrad(tensors), [BatchLoss(total.item(), *s) for total, s in zip(totals, seen)]

    def _weighted(self, logp: torch.Tensor, n: list[int], weigh) -> tuple[torch.Tensor, tuple[list, list, list]]:
        """This process's part of Σ w_i ℓ_i / Σ w_i N_i, w = weigh(log-probs, counts of the global batch) or 1,
        and (those log-probs, counts, w)."""
        all_logp, all_n = self._gather(logp.detach().tolist()), self._gather(n)
        weights = list(weigh(all_logp, all_n)) if weigh else [1.0] * len(all_n)
        offset = self.ranks.rank * len(n)  # shards are equal and contiguous (distributed.shard)
        w = torch.tensor(weights[offset: offset + len(n)], dtype=logp.dtype, device=logp.device)
        denominator = sum(wi * ni for wi, ni in zip(weights, all_n))
        return -(w * logp).sum() / denominator, (all_logp, all_n, weights)

    def _backward(self, loss: torch.Tensor, totals: list[torch.Tensor]) -> list[torch.Tensor]:
        """∇θ of loss summed over processes; the totals (detached values) are summed over processes too."""
        if self.fsdp:  # backward() reduce-scatters: each gradient shard arrives summed over processes
            loss.backward()
            tensors = torch_fsdp.take_grads(self.params)
            self._sum_over_processes(totals)
        else:
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            tensors = [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, grads)]
            self._sum_over_processes(tensors + totals)
        return tensors

    def hidden_grad(self, batch: Sequence[Encoded]) -> tuple[TorchGrad, BatchLoss]:
        """Each block's output gets a zero δ_l added, and ∇ is taken with respect to the δ_l: the gradient
        with respect to the output itself, whether or not anything before it is trainable. Shapes
        (B, T, hidden); the last position and padding get zeros (nothing scored depends on them)."""
        self.model.train()
        deltas: dict[int, torch.Tensor] = {}

        def add_delta(i: int, hidden: torch.Tensor) -> torch.Tensor:
            deltas[i] = torch.zeros_like(hidden, requires_grad=True)
            return hidden + deltas[i]

        with self._block_outputs(add_delta):
            logp, n, _ = self._sample_logp(batch)
        loss = -logp.sum() / n.sum()
        grads = torch.autograd.grad(loss, [deltas[i] for i in range(len(self.blocks))])
        return TorchGrad(list(grads)), BatchLoss(loss.item(), logp.detach().tolist(), n.tolist(), [1.0] * len(batch))

    @contextmanager
    def _block_outputs(self, change):
        """While open, every forward replaces the output hidden states of block i by change(i, them)."""
        if not self.blocks:
            raise AntibodyError("hidden-state perturbation (vaccine) needs the model's transformer blocks, and "
                                "transformers names none for this model (_no_split_modules)")

        def hook(i, module, args, output):
            if isinstance(output, tuple):  # transformers before 4.54 returned (hidden, ...) from a block
                return (change(i, output[0]), *output[1:])
            return change(i, output)

        handles = [block.register_forward_hook(partial(hook, i)) for i, block in enumerate(self.blocks)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _gather(self, values: list) -> list:
        if self.ranks.world == 1:
            return values
        parts: list[list | None] = [None] * self.ranks.world
        dist.all_gather_object(parts, values)
        return [v for part in parts for v in part]

    def _sum_over_processes(self, tensors: list[torch.Tensor]) -> None:
        if self.ranks.world == 1:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])  # one collective, not one per tensor
        dist.all_reduce(flat)
        offset = 0
        for t in tensors:
            t.copy_(flat[offset: offset + t.numel()].view_as(t))
            offset += t.numel()

    def any_rank(self, flag: bool) -> bool:
        """True on every process if it is true on one (e.g. Ctrl-C reached only some)."""
        if self.ranks.world == 1:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    # -- θ ------------------------------------------------------------------------------------
    @torch.no_grad()
    def perturb(self, direction: TorchGrad, scale: float) -> None:
        if self._saved is None:  # one buffer per trainable tensor, reused every step
            self._saved = [torch.empty_like(p) for p in self.params]
        for p, saved, d in zip(self.params, self._saved, direction.tensors, strict=True):
            saved.copy_(p)
            p.add_(d.to(p.dtype), alpha=scale)

    @torch.no_grad()
    def restore(self) -> None:
        for p, saved in zip(self.params, self._saved, strict=True):
            p.copy_(saved)

    @torch.no_grad()
    def set_anchor(self) -> None:
        self._anchor = [p.detach().clone() for p in self.params]

    def step(self, gradient: TorchGrad, proximal: float = 0.0) -> dict[str, float]:
        lr = self.scheduler.get_last_lr()[0]
        for i, (p, g) in enumerate(zip(self.params, gradient.tensors, strict=True)):
            p.grad = g.to(p.dtype)
            if proximal:
                p.grad.add_(p.detach() - self._anchor[i], alpha=proximal)
        if self.training.max_grad_norm:
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.training.max_grad_norm))
        else:
            norm = gradient.norm()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"lr": lr, "grad_norm": norm}

    # -- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        self.model.eval()
        texts = prompt_texts(self.tokenizer, prompts)
        self.tokenizer.padding_side = "left"
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with self.autocast:
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    # -- files --------------------------------------------------------------------------------
    def save_adapter(self, directory: Path) -> list[Path]:
        """PEFT adapter (adapter_model.safetensors + adapter_config.json), or full safetensors weights.
        Under FSDP every process calls it (the weights are gathered) and rank 0 alone writes."""
        weights = torch_fsdp.whole(self.model.state_dict(keep_vars=True), self.ranks.main) if self.fsdp else None
        if not self.ranks.main:
            return []
        directory = Path(directory)
        staging = directory / ".adapter.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        if self.training.full_finetune:
            self.model.save_pretrained(staging, safe_serialization=True, state_dict=weights)
            self.tokenizer.save_pretrained(staging)
        else:
            self.model.peft_config["default"].base_model_name_or_path = self.config.model
            # save_embedding_layers=False: LoRA never touches embeddings, and "auto" looks the base up online.
            self.model.save_pretrained(staging, safe_serialization=True, save_embedding_layers=False)
        written = []
        for path in sorted(staging.iterdir()):
            if path.name == "README.md":
                continue
            target = directory / path.name
            path.replace(target)
            written.append(target)
        shutil.rmtree(staging)
        return written

    def save_state(self, directory: Path) -> None:
        """Whole tensors, so a checkpoint resumes with or without FSDP. Under FSDP every process calls it
        (the tensors are gathered) and rank 0 alone writes."""
        names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        main = self.ranks.main
        trainable = torch_fsdp.whole(dict(zip(names, self.params)), main)
        state = self.optimizer.state_dict()
        tensors = torch_fsdp.whole({f"{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()}, main)
        anchor = None if self._anchor is None else torch_fsdp.whole(dict(zip(names, self._anchor)), main)
        kept = torch_fsdp.whole(flat_kept({k: g.tensors for k, g in self._kept.items()}, names), main)
        if not main:
            return
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(trainable, str(directory / TRAINABLE))
        save_file(tensors, str(directory / OPTIMIZER_STATE))
        (directory / OPTIMIZER).write_text(json.dumps(
            {"param_groups": state["param_groups"], "scheduler": self.scheduler.state_dict()}))
        if anchor is not None:
            save_file(anchor, str(directory / ANCHOR))
        if kept:
            save_file(kept, str(directory / KEPT))

    def load_state(self, directory: Path) -> None:
        directory = Path(directory)
        trainable = load_file(str(directory / TRAINABLE))
        names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        if sorted(trainable) != sorted(names):
            raise AntibodyError("checkpoint does not match the model's trainable parameters", file=str(directory))
        with torch.no_grad():
            for n, p in zip(names, self.params):
                p.copy_(torch_fsdp.like(trainable[n], p))
        meta = json.loads((directory / OPTIMIZER).read_text())
        flat = load_file(str(directory / OPTIMIZER_STATE))
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in flat.items():
            index, name = key.split(".", 1)
            # load_state_dict places a tensor on its parameter's device, but cannot shard it
            state.setdefault(int(index), {})[name] = value if name == "step" else torch_fsdp.like(
                value, self.params[int(index)])
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.scheduler.load_state_dict(meta["scheduler"])
        if (directory / ANCHOR).is_file():
            anchor = load_file(str(directory / ANCHOR))
            self._anchor = [torch_fsdp.like(anchor[n], p) for n, p in zip(names, self.params)]
        kept = unflat_kept(load_file(str(directory / KEPT)), names, str(directory / KEPT)) if (
            directory / KEPT).is_file() else {}
        self._kept = {k: TorchGrad([torch_fsdp.like(t, p) for t, p in zip(tensors, self.params)])
                      for k, tensors in kept.items()}
