"""Finding and loading models for the torch backend: aliases, GGUF, local dirs, runs, the Hub.

Weights are read from safetensors or GGUF only; pickle-based files (which can run code when
loaded) are refused unless the recipe says `allow_pickle: true`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from antibody_cli.errors import AntibodyError
from backends.common import gguf_cache_dir, resolve, run_base, smollm2_path, write_directory
from backends.tiny import TINY_CONFIG, tiny_tokenizer

__all__ = ["load", "smollm2_path", "tiny_model", "tiny_tokenizer"]  # the last three are imported from here too


def tiny_model(vocab_size: int) -> LlamaForCausalLM:
    """A 2-layer Llama with fixed random weights (seed 0), for tests and smoke runs."""
    config = LlamaConfig(vocab_size=vocab_size, **TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(config)


def _load_gguf(path: Path, dtype: torch.dtype):
    """Dequantizing a GGUF takes seconds on every load; the first load keeps a safetensors copy that
    later loads read in a fraction of a second. A cache that cannot be written (read-only home) is
    skipped: the model is in memory already."""
    cached = gguf_cache_dir(path, "gguf")
    if (cached / "config.json").is_file():
        return _from_pretrained(str(cached), dtype, trust_remote_code=False, allow_pickle=False)
    directory, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=dtype)
    try:
        write_directory(cached, lambda staging: _save_dequantized(model, tokenizer, staging))
    except AntibodyError:
        pass
    return model, tokenizer


def _save_dequantized(model, tokenizer, target: Path) -> None:
    model.hf_quantizer = None  # the weights are dequantized already; transformers refuses to save otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def _load_run(directory: Path, dtype: torch.dtype, trust_remote_code: bool, allow_pickle: bool):
    """An Antibody LoRA run: load its base (recursively), then merge the adapter into it."""
    from peft import PeftModel

    base_spec = run_base(directory)
    base, tokenizer = load(base_spec, dtype, trust_remote_code, allow_pickle)
    try:
        model = PeftModel.from_pretrained(base, str(directory))
    except (ValueError, RuntimeError, KeyError) as e:
        raise AntibodyError(f"adapter does not fit its base model '{base_spec}': {str(e).splitlines()[0]}",
                            file=str(directory)) from None
    return model.merge_and_unload(), tokenizer


def load(spec: str, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False, allow_pickle: bool = False):
    """(model, tokenizer) for a model spec; see ModelSettings.model for the forms it takes."""
    kind, where = resolve(spec, allow_pickle)
    if kind == "tiny":
        tokenizer = tiny_tokenizer()
        return tiny_model(len(tokenizer)).to(dtype), tokenizer
    if kind == "gguf":
        return _load_gguf(where, dtype)
    if kind == "run":
        return _load_run(where, dtype, trust_remote_code, allow_pickle)
    return _from_pretrained(str(where), dtype, trust_remote_code, allow_pickle)  # a local dir or a Hub id


def _from_pretrained(name: str, dtype: torch.dtype, trust_remote_code: bool, allow_pickle: bool):
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, use_safetensors=None if allow_pickle else True,
                                                     trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:  # missing files, or files transformers cannot make sense of
        raise AntibodyError(f"cannot load model '{name}': {str(e).splitlines()[0]}") from None
    return model, tokenizer
