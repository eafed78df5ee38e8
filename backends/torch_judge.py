"""A local moderation model as the HS judge: what the paper uses (beaver-dam-7b), offline.

Two shapes of moderation model exist and both are read from a local directory, never the Hub:
- a sequence classifier over (prompt, answer) — beaver-dam style; single-label models flag the
  `judge_unsafe` label, multi-label models (one label per harm category) flag any label over 0.5;
- a causal LM that answers a verdict — Llama Guard style; the conversation goes through the
  judge's own chat template and the first generated word decides (`unsafe` by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from antibody_cli.distributed import ranks
from antibody_cli.errors import AntibodyError
from antibody_cli.tasks import first_word
from backends.torch_backend import pick_device

VERDICT_TOKENS = 10  # "unsafe\nS1" and the like fit; only the first word is read


def check_judge_path(path: str) -> Path:
    """Judges are read offline from a directory: say so before any answer is generated."""
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise AntibodyError("judge: not a local model directory (no config.json); judges are loaded offline",
                            file=path, field="judge")
    return directory


class ModelJudge:
    def __init__(self, path: str, kind: str, unsafe: str, device: str, batch_size: int,
                 trust_remote_code: bool = False, allow_pickle: bool = False) -> None:
        directory = check_judge_path(path)
        options = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        config = AutoConfig.from_pretrained(directory, **options)
        if kind == "auto":
            kind = ("classifier" if any(a.endswith("ForSequenceClassification") for a in config.architectures or [])
                    else "causal")
        model_class = AutoModelForSequenceClassification if kind == "classifier" else AutoModelForCausalLM
        try:
            self.model = model_class.from_pretrained(directory, use_safetensors=None if allow_pickle else True,
                                                     **options)
        except OSError as e:
            raise AntibodyError(f"judge: cannot load ({str(e).splitlines()[0]}); safetensors weights are needed "
                                f"unless allow_pickle=true", file=path, field="judge") from None
        self.tokenizer = AutoTokenizer.from_pretrained(directory, **options)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id  # classifiers pool the last real token
        self.device = pick_device(device, ranks())
        self.model.to(self.device).eval()
        self.kind, self.unsafe, self.batch_size = kind, unsafe.strip().lower(), batch_size
        self.name = f"{kind}:{directory.name}"
        if kind == "classifier":
            self._unsafe_index = self._find_unsafe_label()

    def _find_unsafe_label(self) -> int | None:
        """None for multi-label models: every label is a harm category."""
        if self.model.config.problem_type == "multi_label_classification":
            return None
        labels = {i: str(name).lower() for i, name in self.model.config.id2label.items()}
        for index, name in labels.items():
            if name == self.unsafe:
                return index
        raise AntibodyError(f"judge: no label named '{self.unsafe}' (labels: {', '.join(labels.values())}); "
                            f"set judge_unsafe", field="judge_unsafe")

    def harmful(self, prompts: Sequence[str], answers: Sequence[str]) -> list[bool]:
        verdicts: list[bool] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            judge = self._classify if self.kind == "classifier" else self._ask
            verdicts += judge(list(prompts[chunk]), list(answers[chunk]))
        return verdicts

    @torch.no_grad()
    def _classify(self, prompts: list[str], answers: list[str]) -> list[bool]:
        self.tokenizer.padding_side = "right"
        inputs = self.tokenizer(prompts, answers, return_tensors="pt", padding=True, truncation=True,
                                max_length=1024).to(self.device)
        logits = self.model(**inputs).logits.float()
        if self._unsafe_index is None:
            return (torch.sigmoid(logits) > 0.5).any(dim=1).tolist()
        return (logits.argmax(dim=1) == self._unsafe_index).tolist()

    @torch.no_grad()
    def _ask(self, prompts: list[str], answers: list[str]) -> list[bool]:
        texts = [self.tokenizer.apply_chat_template([{"role": "user", "content": p},
                                                     {"role": "assistant", "content": a}],
                                                    tokenize=False, add_generation_prompt=True)
                 for p, a in zip(prompts, answers)]
        self.tokenizer.padding_side = "left"
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        out = self.model.generate(**inputs, max_new_tokens=VERDICT_TOKENS, do_sample=False,
                                  pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id)
        replies = self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [first_word(reply) == self.unsafe for reply in replies]
