"""Model resolution for the torch backend: GGUF files, directories, runs, and clear errors."""

import pytest
import torch

from antibody_cli.errors import AntibodyError
from antibody_cli.recipes import FinetuneRecipe, ScoreRecipe, backend_configs
from backends import torch_models
from backends.torch_backend import TorchBackend
from gguf_fixture import tiny_llama_source, write_tiny_llama_gguf

PROMPT = [{"role": "user", "content": "Hello, world"}]


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_a_gguf_file_loads_through_the_backend_and_matches_its_source(gguf_file):
    recipe = ScoreRecipe(model=str(gguf_file), device="cpu")
    backend = TorchBackend(*backend_configs(recipe))
    source = tiny_llama_source()
    e = backend.encode(PROMPT, "Hello", max_length=64)
    logp, n = backend.loglik([e])
    with torch.no_grad():
        logits = source(torch.tensor([e.ids])).logits[0, :-1].log_softmax(-1)
    expected = sum(logits[i - 1, e.ids[i]].item() for i in range(e.prompt_len, len(e.ids)))
    assert n == [e.n_answer] and logp[0] == pytest.approx(expected, rel=1e-4)


def test_a_directory_holding_one_gguf_is_a_model(gguf_file):
    model, tokenizer = torch_models.load(str(gguf_file.parent))
    assert model.config.num_hidden_layers == 2 and tokenizer.eos_token == "<|im_end|>"


def test_lora_training_on_a_gguf_model(gguf_file):
    recipe = FinetuneRecipe(model=str(gguf_file), device="cpu", lora={"r": 2})
    backend = TorchBackend(*backend_configs(recipe))
    g, loss = backend.grad([backend.encode(PROMPT, "Hello", max_length=64)])
    assert loss.loss > 0 and g.norm() > 0


def test_missing_and_non_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(AntibodyError, match="does not exist"):
        torch_models.load(str(tmp_path / "missing.gguf"))
    with pytest.raises(AntibodyError, match="does not exist"):
        torch_models.load("./nowhere/model")
    with pytest.raises(AntibodyError, match="not a model directory"):
        torch_models.load(str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(AntibodyError, match="not a model"):
        torch_models.load(str(tmp_path / "weights.bin"))


def test_a_gguf_is_dequantized_once_then_read_from_the_cache(gguf_file, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIBODY_CACHE", str(tmp_path))
    first, tokenizer = torch_models.load(str(gguf_file))
    cached = list((tmp_path / "gguf").iterdir())
    assert len(cached) == 1 and (cached[0] / "model.safetensors").is_file()
    second, cached_tokenizer = torch_models.load(str(gguf_file))
    assert second.name_or_path == str(cached[0])  # loaded from the copy, not the GGUF
    chat = [{"role": "user", "content": "Hello, what is 2 + 2?"}]
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert cached_tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) == text
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    assert cached_tokenizer(text, return_tensors="pt")["input_ids"].equal(ids)
    with torch.no_grad():
        assert torch.equal(first(ids).logits, second(ids).logits)


def test_an_unwritable_cache_still_loads_the_gguf_and_a_failed_conversion_leaves_nothing(gguf_file, tmp_path,
                                                                                          monkeypatch):
    from backends.common import write_directory

    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("ANTIBODY_CACHE", str(blocker))
    model, _ = torch_models.load(str(gguf_file))  # torch has the model in memory: the cache is skipped
    assert model.config.num_hidden_layers > 0

    def half_then_fail(staging):
        (staging / "config.json").write_text("{}")
        raise OSError(28, "No space left on device")

    target = tmp_path / "cache" / "mlx" / "model"
    with pytest.raises(AntibodyError, match="cannot write the converted model .No space left on device.; set "
                                            "ANTIBODY_CACHE"):
        write_directory(target, half_then_fail)
    assert not target.exists() and list(target.parent.iterdir()) == []  # no half copy, no staging left
