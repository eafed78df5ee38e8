"""A tiny Llama + byte-level BPE tokenizer written as one GGUF file, for tests.

Tests that exercise the GGUF code paths need a real file that `transformers` can load, but no model
hub is reachable, so we synthesise one: a randomly initialised `LlamaForCausalLM` (seeded, so the
values are reproducible) plus a ~270-token byte-level BPE vocabulary with ChatML special tokens.

`write_tiny_llama_gguf` writes the file; `tiny_llama_source` rebuilds the exact model whose weights
went into it, so a test can check that what `transformers` loads back equals the source.

Quirks of transformers' (legacy) GGUF llama loader that this has to match:
  * It undoes llama.cpp's rotary "permute" on `attn_q`/`attn_k` when reading, so we must apply that
    permute on writing (with the kv-head count for `attn_k`), or the loaded attention would differ.
  * `tie_word_embeddings` is inferred from whether `output.weight` exists, so we always write it.
  * Metadata floats are stored as f32, so the source config uses f32-representable values
    (`rms_norm_eps`) to stay bit-identical with what is read back.
  * Control tokens (type 3) become special tokens only if spelt in the byte-level alphabet, which
    plain ASCII like `<|im_start|>` is.
"""

from __future__ import annotations

import pathlib

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# A few merges so BPE actually merges something ("Hello", " world"); "Ġ" is the byte-level space.
MERGES = (
    "H e",
    "l l",
    "He ll",
    "Hell o",
    "Ġ w",
    "o r",
    "Ġw or",
    "l d",
    "Ġwor ld",
    "Ġ h",
    "Ġ t",
    "h e",
    "Ġt he",
)

# Model shape: small enough to build and load in well under a second.
TINY = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rope_theta=10000.0,
    # GGUF stores this as f32; an f32-exact value keeps source and loaded config identical.
    rms_norm_eps=float(np.float32(1e-6)),
)


def tiny_vocab() -> tuple[list[str], list[int], list[str]]:
    """`(tokens, token_types, merges)`: 256 byte tokens, the merge results, then ChatML specials.

    Token ids 0..255 are the raw bytes (in byte-level spelling), so any text round-trips.
    """
    from gguf import TokenType
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    spelling = bytes_to_unicode()
    tokens = [spelling[b] for b in range(256)]
    tokens += ["".join(m.split(" ")) for m in MERGES]
    tokens += list(SPECIAL_TOKENS)
    assert len(set(tokens)) == len(tokens), "merge results must be new tokens"
    types = [int(TokenType.NORMAL)] * (len(tokens) - len(SPECIAL_TOKENS))
    types += [int(TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    return tokens, types, list(MERGES)


def tiny_llama_source():
    """The seeded source `LlamaForCausalLM` whose weights `write_tiny_llama_gguf` writes.

    Weights are redrawn with a larger scale than Llama's default init (std 0.02): at that scale the
    attention logits are near zero, so a q/k permutation bug would hide inside a 1e-5 tolerance.
    The global RNG is left untouched.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokens, _, _ = tiny_vocab()
    config = LlamaConfig(
        vocab_size=len(tokens),
        tie_word_embeddings=False,
        bos_token_id=tokens.index("<|endoftext|>"),
        eos_token_id=tokens.index("<|im_end|>"),
        pad_token_id=tokens.index("<|endoftext|>"),
        **TINY,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("norm.weight"):  # keep norms near 1, but not all-ones
                    param.copy_(1.0 + 0.1 * torch.randn_like(param))
                else:
                    param.copy_(0.3 * torch.randn_like(param))
    return model.eval()


def _llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row permutation (convert_hf_to_gguf.py); transformers' loader inverts it."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _gguf_tensors(model) -> dict[str, np.ndarray]:
    """The model's state dict under GGUF tensor names, as float32 numpy, q/k permuted."""
    import gguf

    config = model.config
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tensors = {}
    for hf_name, value in model.state_dict().items():
        stem, suffix = hf_name.rsplit(".", 1)
        gguf_name = name_map.get_name(stem)
        if gguf_name is None:
            raise KeyError(f"no GGUF name for {hf_name}")
        array = value.detach().float().numpy().copy()
        if gguf_name.endswith(".attn_q"):
            array = _llama_cpp_permute(array, config.num_attention_heads)
        elif gguf_name.endswith(".attn_k"):
            array = _llama_cpp_permute(array, config.num_key_value_heads)
        tensors[f"{gguf_name}.{suffix}"] = array
    return tensors


def write_tiny_llama_gguf(path: pathlib.Path) -> pathlib.Path:
    """Write a tiny randomly-initialised Llama model + byte-level BPE tokenizer as one GGUF file (F32
    tensors), loadable by transformers via `from_pretrained(path.parent, gguf_file=path.name)`."""
    import gguf

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = tiny_llama_source()
    config = model.config
    tokens, token_types, merges = tiny_vocab()

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("tiny-llama-antibody-test")
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(TINY["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # GPT-2's split regex; transformers falls back to it anyway
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    writer.add_pad_token_id(config.pad_token_id)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    for name, array in _gguf_tensors(model).items():
        writer.add_tensor(name, array)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
