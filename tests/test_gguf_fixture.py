"""The tiny GGUF fixture must load in transformers exactly as the model it was written from.

Other tests rely on it standing in for a real GGUF checkpoint, so we pin down here that the weights,
the tokenizer and the chat template all survive the round trip.
"""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")

from gguf_fixture import SPECIAL_TOKENS, tiny_llama_source, write_tiny_llama_gguf  # noqa: E402


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    """Written once per module: building and writing the file is the slow part."""
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama-f32.gguf")


@pytest.fixture(scope="module")
def tokenizer(gguf_path):
    return transformers.AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)


def test_model_loads_equal_to_source(gguf_path):
    loaded = transformers.AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    source = tiny_llama_source()

    assert isinstance(loaded, transformers.LlamaForCausalLM)
    assert loaded.config.num_hidden_layers == 2 and loaded.config.num_key_value_heads == 2
    assert not loaded.config.tie_word_embeddings

    # Every tensor, q/k included (transformers un-permutes those), must come back bit-identical.
    expected, actual = source.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    for name, value in expected.items():
        assert torch.equal(value, actual[name]), name

    input_ids = torch.arange(24).reshape(2, 12)
    with torch.no_grad():
        want = source(input_ids).logits
        got = loaded.eval()(input_ids).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_tokenizer_round_trips_text(tokenizer):
    text = "Hello, world!"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text)  # the merges were applied, not just bytes


def test_special_tokens_stay_whole(tokenizer):
    assert tokenizer.eos_token == "<|im_end|>"
    for token in SPECIAL_TOKENS:
        assert tokenizer(token)["input_ids"] == [tokenizer.convert_tokens_to_ids(token)]


def test_chat_template_renders_chatml(tokenizer):
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
