"""Finding and loading models for the MLX backend: the specs torch_models takes, through mlx-lm.

mlx-lm reads Hugging Face style directories (config.json + safetensors). A GGUF (the default SmolLM2
among them) is converted once, with MLX's own GGUF reader, to such a directory under the cache
($ANTIBODY_CACHE, else ~/.cache/antibody) and loaded from there afterwards; the same directory works
as `mlx_lm.generate --model DIR --adapter-path RUN`.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_unflatten
from mlx_lm.models import llama
from mlx_lm.tuner.utils import load_adapters
from mlx_lm.utils import load_model

from antibody_cli.errors import AntibodyError
from backends.common import gguf_cache_dir, resolve, run_base, write_directory
from backends.tiny import TINY_CONFIG, tiny_tokenizer

# llama.cpp tensor names -> Hugging Face (= mlx-lm) names
LAYER_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
               "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
               "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
# GGUF pre-tokenizers that split text as plain GPT-2 byte-level BPE does (others need their own regex)
BYTE_LEVEL_PRE = {None, "default", "gpt2", "gpt-2", "smollm"}


def load(spec: str, trust_remote_code: bool = False, allow_pickle: bool = False):
    """(mlx-lm model, Hugging Face tokenizer) for a model spec; see ModelSettings.model."""
    kind, where = resolve(spec, allow_pickle)
    if kind == "tiny":
        return tiny_model(), tiny_tokenizer()
    if kind == "gguf":
        return _load_dir(converted(where))
    if kind == "run":
        return _load_run(where, trust_remote_code, allow_pickle)
    if kind == "hub":
        from huggingface_hub import snapshot_download

        try:
            where = snapshot_download(where, allow_patterns=["*.json", "model*.safetensors", "*.jinja", "*.txt"])
        except Exception as e:  # offline, unknown repo, gated: one line either way
            raise AntibodyError(f"cannot load model '{spec}': {str(e).splitlines()[0]}") from None
    return _load_dir(Path(where), trust_remote_code)


def tiny_model():
    """The `tiny` Llama shape with MLX's own seeded initialisation (not torch's weights)."""
    args = llama.ModelArgs.from_dict({"model_type": "llama", "vocab_size": len(tiny_tokenizer()), **TINY_CONFIG})
    mx.random.seed(0)
    model = llama.Model(args)
    mx.eval(model.parameters())
    return model


def _load_dir(path: Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    config = json.loads((path / "config.json").read_text())
    # transformers ≥ 5 writes rope_theta inside rope_parameters, where mlx-lm does not look
    theta = (config.get("rope_parameters") or {}).get("rope_theta")
    extra = {"rope_theta": theta} if theta is not None and "rope_theta" not in config else None
    try:
        model, _ = load_model(path, model_config=extra, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:  # no safetensors, an architecture mlx-lm lacks, ...
        raise AntibodyError(f"cannot load model for MLX: {str(e).splitlines()[0]}", file=str(path)) from None
    return model, tokenizer


def _load_run(directory: Path, trust_remote_code: bool, allow_pickle: bool):
    """An Antibody MLX run: its base (recursively) with the adapter fused in."""
    if not (directory / "adapters.safetensors").is_file():
        raise AntibodyError("not an MLX run (no adapters.safetensors; was it made by the torch backend?)",
                            file=str(directory))
    model, tokenizer = load(run_base(directory), trust_remote_code, allow_pickle)
    load_adapters(model, str(directory))
    fused = [(name, module.fuse()) for name, module in model.named_modules() if hasattr(module, "fuse")]
    model.update_modules(tree_unflatten(fused))
    return model, tokenizer


def converted(gguf: Path) -> Path:
    """The mlx-lm directory for a GGUF file, converted on first use (MLX loads from it, so a cache that
    cannot be written is an error)."""
    target = gguf_cache_dir(gguf, "mlx")
    if not (target / "config.json").is_file():
        write_directory(target, lambda staging: _convert_gguf(gguf, staging))
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    """A llama-architecture GGUF as float32 safetensors + config.json + tokenizer files."""
    weights, meta = mx.load(str(gguf), return_metadata=True)

    def value(key, default=None):
        v = meta.get(key, default)
        return v.item() if isinstance(v, mx.array) else v

    if value("general.architecture") != "llama":
        raise AntibodyError(f"only llama GGUF files convert for MLX (this is {value('general.architecture')})",
                            file=str(gguf))
    heads, kv_heads = value("llama.attention.head_count"), value("llama.attention.head_count_kv")
    tensors = {}
    for name, w in weights.items():
        if not name.endswith(".weight"):
            continue  # .scales and .biases of a quantized tensor, read with it
        base = name[: -len(".weight")]
        if f"{base}.scales" in weights:  # Q4_0/Q4_1/Q8_0 arrive as MLX affine quantization, groups of 32
            scales, biases = weights[f"{base}.scales"], weights[f"{base}.biases"]
            bits = w.shape[-1] // scales.shape[-1]
            w = mx.dequantize(w, scales.astype(mx.float32), biases.astype(mx.float32), group_size=32, bits=bits)
        w = w.astype(mx.float32)
        block, _, kind = base.rpartition(".")
        if kind in ("attn_q", "attn_k"):  # undo llama.cpp's rotary permutation of the rows
            n = heads if kind == "attn_q" else kv_heads
            w = w.reshape(n, w.shape[0] // n // 2, 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape)
        tensors[f"model.layers.{block[4:]}.{LAYER_NAMES[kind]}.weight" if block else f"{TOP_NAMES[kind]}.weight"] = w
    tokenizer = _gguf_tokenizer(meta, gguf)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": value("llama.embedding_length"), "intermediate_size": value("llama.feed_forward_length"),
        "num_hidden_layers": value("llama.block_count"), "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "rms_norm_eps": value("llama.attention.layer_norm_rms_epsilon"),
        "rope_theta": value("llama.rope.freq_base", 10000.0), "max_position_embeddings": value("llama.context_length"),
        "vocab_size": tensors["model.embed_tokens.weight"].shape[0],
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
    }
    mx.save_safetensors(str(target / "model.safetensors"), tensors, metadata={"format": "mlx"})
    (target / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(str(target))


def _gguf_tokenizer(meta: dict, gguf: Path):
    """The byte-level BPE tokenizer a GGUF describes (what transformers builds from it, without torch)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if meta.get("tokenizer.ggml.model") != "gpt2" or meta.get("tokenizer.ggml.pre") not in BYTE_LEVEL_PRE:
        raise AntibodyError(f"GGUF tokenizer {meta.get('tokenizer.ggml.model')}/{meta.get('tokenizer.ggml.pre')} "
                            f"is not supported for MLX: convert the model to a Hugging Face directory",
                            file=str(gguf))
    tokens = meta["tokenizer.ggml.tokens"]
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                   merges=[tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    types = meta["tokenizer.ggml.token_type"].tolist() if "tokenizer.ggml.token_type" in meta else []
    special = {f"{role}_token": tokens[meta[f"tokenizer.ggml.{key}_token_id"].item()]
               for role, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding"))
               if f"tokenizer.ggml.{key}_token_id" in meta}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special,
                                        additional_special_tokens=[t for t, k in zip(tokens, types) if k == 3])
    tokenizer.chat_template = meta.get("tokenizer.chat_template")
    return tokenizer
