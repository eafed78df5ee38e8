"""Typed recipes: one pydantic model per command, YAML files, `key=value` overrides.

Each field's description is the documentation (`antibody recipe show` prints it).
Defaults are the values measured to work on SmolLM2-135M on a CPU; see README.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from antibody_cli.algorithms import HardenConfig, Weighting
from antibody_cli.errors import AntibodyError
from antibody_cli.untrusted import check_text, parse_yaml, read_text
from backends.base import LoraConfig, ModelConfig, TrainConfig

RECIPE_DIRS = (Path(__file__).parent / "recipes", Path(__file__).parent.parent / "recipes")
# Checked against backends.REGISTRY by a test; kept here so validating a recipe imports no backend.
BACKEND_NAMES = ("torch", "mlx")


class Strict(BaseModel):
    # allow_inf_nan=False: every float field of every recipe is finite (lr=inf trained to a NaN adapter)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class LoraSettings(Strict):
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: float = Field(32.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout; 0 keeps steps deterministic.")
    target_modules: list[str] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1, description="Module names that get adapters; an unknown name is an error.")


class ModelSettings(Strict):
    model: str = Field("smollm2-135m", description="Local HF dir, .gguf file, Hub id, an Antibody run dir, "
                                                   "or an alias: smollm2-135m, tiny.")
    backend: str = Field("torch", description=f"Framework adapter: {', '.join(BACKEND_NAMES)}.")
    device: str = Field("auto", description="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
    max_length: int = Field(256, ge=8, description="Tokens per sample (prompt + answer); longer samples "
                                                   "are truncated and counted.")
    batch_size: int = Field(8, ge=1, description="Samples per batch.")
    trust_remote_code: bool = Field(False, description="Run a Hub model's own Python code. Off unless you "
                                                       "trust the model's author.")
    allow_pickle: bool = Field(False, description="Load pickle-based weights (.bin/.pt), which can run code "
                                                  "when loaded. Off: safetensors and GGUF only.")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKEND_NAMES:
            raise ValueError(f"unknown backend '{value}' (choose from {', '.join(BACKEND_NAMES)})")
        return value


class RatioSettings(ModelSettings):
    """What the likelihood ratio r_i = log π(y_i|x_i) − log π(y_r|x_i) needs."""

    refusals: str = Field("builtin:refusals", description="Refusal templates y_r: a text file, one per line.")
    refusal_templates: int = Field(1, ge=1, description="K: refusals averaged (log-mean-exp) per sample, "
                                                        "cycling the template list by sample position.")
    share_prompt: bool = Field(True, description="Score the refusal from the prompt's KV cache of the answer's "
                                                 "forward instead of a second full forward (same numbers, less work).")
    ratio_norm: Literal["longer", "mean"] = Field("longer", description="Length normalisation of r. longer: "
                                                  "(log π(y|x) − log π(y_r|x)) / max(N_y, N_r), the whole-sequence "
                                                  "ratio per token of the longer sequence; mean: the paper's "
                                                  "mean-token log π(y|x) − mean-token log π(y_r|x), which makes "
                                                  "short answers (labels) look suspect until their format is "
                                                  "learnt.")


class TrainingSettings(ModelSettings):
    steps: int = Field(100, ge=1, description="Optimizer steps.")
    lr: float = Field(5e-4, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    lr_schedule: Literal["constant", "cosine", "linear"] = Field("constant", description="After warm-up.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Clip the applied gradient to this norm; "
                                                               "null disables.")
    full_finetune: bool = Field(False, description="Train all weights instead of LoRA adapters.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass: less "
                                                            "memory for long sequences, about one forward more "
                                                            "compute (turns share_prompt off).")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    seed: int = Field(0, description="Seeds data order and initialisation.")
    save_every: int = Field(20, ge=1, description="Write a resumable checkpoint every N steps.")
    on_nonfinite: Literal["skip", "stop"] = Field("skip", description="A non-finite loss, gradient or λ: "
                                                                      "skip that step, or stop the run.")
    fsdp: bool = Field(False, description="Under torchrun, shard the weights, gradients and optimizer state "
                                          "over the processes (FSDP2) for full fine-tuning of a model that does "
                                          "not fit one GPU; needs full_finetune.")
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(
        default_factory=list, description="Also send every metrics.jsonl row to these trackers (TensorBoard: event "
                                          "files in RUN/tensorboard); each is the optional extra of its name.")

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_tracker_or_none(cls, value: Any) -> Any:
        """`report_to=tensorboard` and transformers' `report_to=none` work too."""
        return ([] if value == "none" else [value]) if isinstance(value, str) else value

    @field_validator("fsdp")
    @classmethod
    def _fsdp_shards_full_weights(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("full_finetune"):
            raise ValueError("fsdp: true needs full_finetune: true (LoRA runs are not sharded)")
        if value and info.data.get("backend") != "torch":
            raise ValueError("fsdp needs the torch backend")
        return value


class FlatnessSettings(Strict):
    """The flatness of the hardened θ, measured at the end of `antibody harden`: how much a short attack on
    harmful data lowers the harmful loss (docs/design.md, "Measuring flatness")."""

    rho: float = Field(0.1, gt=0, description="Length of each normalised attack step (the simulated attack's ρ).")
    steps: int = Field(3, ge=1, description="Attack steps: the first gives flatness_sharpness (the one-step attack "
                                            "harden trains against), all of them flatness_attack_drop.")
    samples: int = Field(8, ge=1, description="Harmful samples, a seeded draw from harm_data, that the attack "
                                              "descends and is measured on.")


class OpeningSettings(Strict):
    """A contrastive term against over-refusal (docs/design.md, "Choices beyond the paper"): on benign prompts of
    the alignment data, the opening words of a refusal are pushed down while they are likelier than e^margin, and
    under the step's harmful prompts their own refusal's opening is pulled up while less likely than
    e^harmful_margin. Greedy decoding refuses a benign request whenever "I" outweighs each of the many ways to start
    an answer, so hardening that only pulls refusals up on harmful prompts refuses everyday requests too. Pushed
    alone (harmful_margin null) it unlearnt "I" on harmful prompts as well (docs/efficacy.md, section 11); these
    two-sided defaults, with builtin:align_everyday, took SmolLM2-135M's everyday refusals to 0% (section 13), the
    default since section 16."""

    weight: float = Field(1.0, gt=0, description="β: the term's weight beside the alignment loss.")
    margin: float = Field(-3.0, le=0, description="m, nats: an opening's summed log-likelihood below which it is "
                                                  "left alone (weight σ(log π − m), per sample).")
    words: int = Field(1, ge=1, description="Words of each refusal that make its opening.")
    harmful_margin: float | None = Field(-0.5, le=0, description="m_h, nats: also pull each harmful "
                                         "prompt's own refusal opening up while it is less likely than e^m_h (weight "
                                         "σ(m_h − log π)), so the term teaches where refusals open rather than "
                                         "unlearning the word; null: benign prompts only.")
    prompts: Literal["own", "alignment"] = Field("own", description="own: B_h benign prompts of align_data drawn "
                                                 "for the term and the step's B_h harmful prompts, two short passes "
                                                 "of their own every step; alignment: the alignment batch's own "
                                                 "prompts, scored inside its pass from their KV cache (cheaper: "
                                                 "the prompts are not run again; but the weighted fine-tune then "
                                                 "answered more harmful prompts: docs/attack-every.md).")


class VaccineSettings(Strict):
    """Vaccine (Huang et al., NeurIPS 2024): align with every transformer block's output moved by the drift
    that raises the alignment loss most, so later fine-tuning drifts the hidden states less harmfully."""

    rho: float = Field(2.0, ge=0, description="ρ: norm of the perturbation of all blocks' output hidden states "
                                              "together (the authors' value, for Llama-2-7B); 0 is refusal SFT.")


# Fields only Antibody's step reads; a vaccine recipe that sets one is a mistake, not a no-op.
ANTIBODY_ONLY = ("harm_batch_size", "attack_every", "rho", "eta", "lambda_rule", "ema", "lambda_max", "refusal_weight",
                 "refusal_openings")


class HardenRecipe(TrainingSettings):
    """Antibody alignment stage (docs/design.md, "Stage 1: harden")."""

    align_data: str = Field("builtin:align_everyday", description="D_align: harmful prompts→refusals (records "
                            "with `refusal` and is_safe false) mixed with benign prompts→helpful answers; the "
                            "default is builtin:align with 76 everyday requests, for refusal_openings to push on.")
    harm_data: str = Field("builtin:align", description="D_harm: records labelled harmful (prompt→harmful "
                           "answer); their `refusal`, or a template, gives L_refusal.")
    refusals: str = Field("builtin:refusals", description="Refusal templates for harmful records without "
                                                          "their own `refusal`.")
    steps: int = Field(40, ge=1, description="Optimizer steps.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    harm_batch_size: int = Field(4, ge=1, description="Samples per D_harm batch (B_h).")
    benign_share: float | None = Field(0.75, ge=0, le=1, description="Fraction of each alignment batch drawn "
                                       "from benign records (null: sample the file uniformly). More benign = "
                                       "less over-refusal (SmolLM2-135M: 0.5 refused 32% of benign prompts, "
                                       "0.75 refused 8%).")
    rho: float = Field(0.1, ge=0, description="ρ: radius of the simulated attack step.")
    eta: float = Field(1.0, ge=0, description="η: target for λ (see lambda_rule). The paper's 5 made SmolLM2-135M "
                       "refuse 25% of everyday requests, 1 17% (docs/efficacy.md, section 12).")
    lambda_rule: Literal["kkt", "cosine", "constant"] = Field("kkt", description="kkt: max(0, η − ⟨g_a,g_s⟩/"
                                                              "‖g_s‖²); cosine: max(0, η − cos); constant: η.")
    ema: float = Field(0.99, ge=0, lt=1, description="m: λ_t = m·λ_{t−1} + (1−m)·λ_raw (λ starts at the first "
                                                     "λ_raw).")
    lambda_max: float = Field(10.0, ge=0, description="Clip λ_t to this.")
    refusal_weight: float = Field(0.05, ge=0, description="λ_ref on the perturbed-refusal loss; 0 with "
                                                          "lambda_rule constant is Booster.")
    attack_every: int = Field(1, ge=1, description="k: run the simulated attack (g_h, the perturbation, g_p, g_r) "
                              "every k steps and reuse its sharpness and refusal gradients in between, λ recomputed "
                              "each step; a step in between is one pass instead of four. 1: every step (the paper).")
    refusal_openings: OpeningSettings | None = Field(default_factory=OpeningSettings, description="Push refusal "
                                                     "openings down under benign prompts of align_data each step, "
                                                     "and with harmful_margin up under harmful ones (where the "
                                                     "prompts come from: prompts); null: off (the paper).")
    flatness: FlatnessSettings | None = Field(default_factory=FlatnessSettings, description="Measure the hardened "
                                              "θ's flatness for summary.json (flatness_* keys); null skips it.")
    vaccine: VaccineSettings | None = Field(None, description="Align by Vaccine's perturbation-aware step on "
                                            "align_data instead of Antibody's (no harm_data, no λ); null: Antibody.")

    @model_validator(mode="before")
    @classmethod
    def _vaccine_has_no_openings_term(cls, values: Any) -> Any:
        """Vaccine's step has no refusal-openings term: off unless the recipe sets one, which is refused below."""
        if isinstance(values, dict) and values.get("vaccine") is not None:
            values = {"refusal_openings": None, **values}
        return values

    @model_validator(mode="after")
    def _vaccine_reads_no_antibody_field(self) -> HardenRecipe:
        fields = type(self).model_fields
        unused = {name: fields[name].get_default(call_default_factory=True) for name in ANTIBODY_ONLY}
        unused["refusal_openings"] = None  # on by default for Antibody, off for Vaccine
        changed = [name for name, value in unused.items() if getattr(self, name) != value]
        if self.vaccine is not None and changed:
            raise ValueError(f"{', '.join(changed)}: Antibody's settings, which vaccine does not use "
                             f"(Vaccine's radius is vaccine.rho)")
        return self


class LisaSettings(Strict):
    """Lisa (NeurIPS 2024): alternate alignment and task steps, each pulled towards where the other left θ."""

    align_data: str = Field("builtin:align", description="Alignment data for the alignment steps (as harden's).")
    benign_share: float | None = Field(0.75, ge=0, le=1, description="Fraction of each alignment batch drawn "
                                       "from benign records (null: sample the file uniformly).")
    align_steps: int = Field(2, ge=1, description="Alignment steps per cycle.")
    task_steps: int = Field(8, ge=1, description="Task (user data) steps per cycle; a cycle starts with these.")
    proximal: float = Field(1.0, ge=0, description="ρ of the proximal term ρ/2‖θ − θ̃‖², θ̃ = θ at the last "
                                                   "switch between alignment and task steps.")


class SafetySettings(Strict):
    """The provider's alignment samples mixed into every batch of the user's data: trusted, so they keep weight
    1. Their refusals keep what the upload's benign part wears away (it erodes safety by itself, which no
    per-sample weight can see), their benign answers keep refusals from spreading
    (docs/design.md, "Safety samples"). SafeInstr is refusals only: `benign_share: null`, `per_batch: 1`."""

    data: str = Field("builtin:align_everyday", description="Alignment data: harmful prompts answered by their "
                      "`refusal` (else a template from `refusals`), benign prompts by their answer; the default is "
                      "harden's.")
    per_batch: int = Field(4, ge=1, description="Alignment samples added to each batch of the user's data.")
    benign_share: float | None = Field(0.75, ge=0, le=1, description="Fraction of them drawn from the benign "
                                       "records (as harden's benign_share), so the mix teaches where refusals end; "
                                       "null: harmful records only (SafeInstr).")


class FinetuneRecipe(TrainingSettings, RatioSettings):
    """Likelihood-ratio weighted fine-tuning (docs/design.md, "Stage 2: finetune")."""

    data: str | None = Field(None, description="The user's training data (JSONL/JSON); --data sets it.")
    steps: int = Field(20, ge=1, description="Optimizer steps.")
    lr: float = Field(3e-4, gt=0, description="Peak learning rate (AdamW).")
    weighting: Literal["antibody", "none"] = Field("antibody", description="antibody: likelihood-ratio sample "
                                                   "weights (weight_rule); none: plain SFT.")
    weight_rule: Literal["softmax", "gate"] = Field("gate", description="softmax: the paper's B·softmax(r/τ) "
                                                    "over the batch (samples compete for weight); gate: σ((r − "
                                                    "threshold)/τ) per sample, loss Σwℓ/ΣN (benign samples keep "
                                                    "weight ≈ 1).")
    temperature: float = Field(0.1, gt=0, description="τ: lower = harder down-weighting (the paper's softmax: 0.2 "
                               "measured on SmolLM2).")
    threshold: float = Field(-1.0, description="gate: the ratio (nats/token) at which a sample gets weight 0.5; "
                             "−1: a sample whose answer is e (2.7) times less likely per token than a refusal.")
    safety: SafetySettings | None = Field(default_factory=SafetySettings, description="Mix the provider's "
                                          "alignment samples into each batch; null: the batches hold the user's "
                                          "data only (the paper's fine-tune).")
    lisa: LisaSettings | None = Field(None, description="Interleave alignment steps with a proximal term "
                                      "(the Lisa baseline); null: every step trains on the user's data.")


class ScoreRecipe(RatioSettings):
    """Triage: the likelihood ratio over a whole upload."""

    data: str | None = Field(None, description="The data to score; --data sets it.")
    top: int = Field(10, ge=0, description="Rows in the table of most suspect samples.")


class EvalRecipe(ModelSettings):
    """Harmful score, over-refusal and task accuracy on held-out prompts."""

    batch_size: int = Field(32, ge=1, description="Prompts generated together (larger amortises weight reads).")
    harmful_prompts: str | None = Field("builtin:eval_harmful", description="Held-out harmful prompts (HS); "
                                        "null skips them and the judge.")
    benign_prompts: str | None = Field("builtin:eval_benign", description="Held-out benign prompts, many of which "
                                       "only sound dangerous (over-refusal); null skips them.")
    everyday_prompts: str | None = Field("builtin:eval_everyday", description="Held-out everyday requests "
                                         "(writing, cooking, games, advice, study): their refusal rate; null skips.")
    max_new_tokens: int = Field(32, ge=1, description="Greedy tokens generated per answer.")
    limit: int | None = Field(None, ge=1, description="Use only the first N prompts of each set.")
    judge: str = Field("rules", description="Who sorts answers to harmful prompts into refusal / harmful / "
                       "non_answer: `rules` (reads the answer: refusal patterns, then no content = non_answer, "
                       "see docs/judge.md), `patterns` (every non-refusal is harmful), or a local moderation model "
                       "directory (sequence classifier, or a causal LM answering like Llama Guard or Qwen3Guard).")
    judge_kind: Literal["auto", "classifier", "causal"] = Field("auto", description="auto: a classifier when the "
                                                                "model's architecture says so, else causal.")
    judge_unsafe: str = Field("unsafe", description="Comma-separated words meaning harmful. Classifier: label "
                              "names (multi-label models: any label over 0.5). Causal: the first word of the verdict "
                              "(Llama Guard) or its Safety level (Qwen3Guard; 'unsafe,controversial' is its strict "
                              "mode).")
    task_data: str | None = Field(None, description="A task's test split for Finetune Accuracy (FA), e.g. "
                                  "builtin:sentiment_test; records with a prompt and the reference answer.")
    task_scorer: Literal["label", "number"] = Field("label", description="label: the answer's first word is the "
                                                    "reference's; number: the last numbers agree (GSM8K's rule).")
    task_max_new_tokens: int = Field(8, ge=1, description="Greedy tokens generated per task answer.")

    @model_validator(mode="after")
    def _something_to_measure(self) -> EvalRecipe:
        if not (self.harmful_prompts or self.benign_prompts or self.everyday_prompts or self.task_data):
            raise ValueError("every prompt set is null: set harmful_prompts, benign_prompts, everyday_prompts "
                             "or task_data")
        return self


RECIPES: dict[str, type[Strict]] = {
    "harden": HardenRecipe, "finetune": FinetuneRecipe, "score": ScoreRecipe, "eval": EvalRecipe,
}


def find_recipe(name_or_path: str) -> Path:
    """A path, or the name of a shipped recipe (`booster` → recipes/booster.yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for directory in RECIPE_DIRS:
        candidate = directory / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise AntibodyError("recipe file does not exist (nor is it a shipped recipe name)", file=name_or_path)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`a.b=1` → {"a": {"b": 1}}; values are parsed as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise AntibodyError(f"expected key=value, got '{item}'")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except (yaml.YAMLError, ValueError, RecursionError):  # not YAML, or past Python's digit limit:
            value = text  # the field's validation judges the text
        node = tree
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AntibodyError(f"'{key}' conflicts with another override")
        node[leaf] = value
    return tree


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    content = parse_yaml(read_text(path), str(path))
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise AntibodyError("a recipe must be a mapping of key: value", file=str(path))
    return content


def validate(cls: type[Strict], values: dict[str, Any], source: str) -> Strict:
    """Validate, turning pydantic's report into one line per field."""
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        lines = [f"{source}: field '{'.'.join(map(str, err['loc'])) or '(root)'}': {err['msg']}"
                 for err in e.errors()]
        raise AntibodyError("\n".join(lines)) from None


def load_recipe(command: str, recipe: str | None, overrides: list[str], **cli_values: Any) -> Strict:
    """Recipe file (optional) < CLI options < key=value overrides."""
    values: dict[str, Any] = {}
    source = "recipe"
    if recipe:
        path = find_recipe(recipe)
        values, source = read_yaml(path), str(path)
        intended = values.pop("command", command)
        if intended != command:
            raise AntibodyError(f"this recipe is for `antibody {intended}`, not `antibody {command}`", file=source)
    values = _merge(values, {k: v for k, v in cli_values.items() if v is not None})
    values = check_text(_merge(values, parse_overrides(overrides)), source)
    return validate(RECIPES[command], values, source)


def dump(recipe: Strict) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def shipped_names() -> list[str]:
    return sorted({path.stem for directory in RECIPE_DIRS if directory.is_dir() for path in directory.glob("*.yaml")})


def show(name_or_path: str) -> str:
    """A recipe resolved to every field, each under its description: YAML to copy and edit, that
    `--recipe` reads back to the same settings."""
    try:
        path = find_recipe(name_or_path)
    except AntibodyError:
        raise AntibodyError(f"no recipe '{name_or_path}' (shipped: {', '.join(shipped_names())})") from None
    command = read_yaml(path).get("command")
    if command not in RECIPES:
        raise AntibodyError(f"the recipe must say which command it is for (command: {', '.join(RECIPES)})",
                            file=str(path), field="command")
    recipe = load_recipe(command, str(path), [])
    values = recipe.model_dump(mode="json")
    lines = [f"# antibody {command} --recipe FILE (resolved from {path.name})", f"command: {command}"]
    for name, field in type(recipe).model_fields.items():
        if field.description:
            lines += [f"# {line}" for line in textwrap.wrap(field.description, 98)]
        lines.append(yaml.safe_dump({name: values[name]}, sort_keys=False, allow_unicode=True,
                                    default_flow_style=False, width=110).rstrip())
    return "\n".join(lines) + "\n"


# -- what the backends and the algorithms are given: typed, frozen, built here only -----------------------

def backend_configs(recipe: ModelSettings) -> tuple[ModelConfig, TrainConfig | None]:
    """The backend's inputs from a recipe: the model, and the training settings for harden and finetune."""
    training = isinstance(recipe, TrainingSettings)
    # checkpointed layers recompute in the backward pass and keep no KV cache to share; harden shares its
    # alignment batch's prompts with the refusal-openings term (it has no share_prompt field)
    share = getattr(recipe, "share_prompt", True) and not (training and recipe.gradient_checkpointing)
    model = ModelConfig(model=recipe.model, device=recipe.device, trust_remote_code=recipe.trust_remote_code,
                        allow_pickle=recipe.allow_pickle, share_prompt=share)
    if not training:
        return model, None
    lora = recipe.lora
    return model, TrainConfig(
        steps=recipe.steps, lr=recipe.lr, weight_decay=recipe.weight_decay, lr_schedule=recipe.lr_schedule,
        warmup_steps=recipe.warmup_steps, max_grad_norm=recipe.max_grad_norm, seed=recipe.seed,
        full_finetune=recipe.full_finetune, gradient_checkpointing=recipe.gradient_checkpointing, fsdp=recipe.fsdp,
        lora=LoraConfig(r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=tuple(lora.target_modules)))


def harden_config(recipe: HardenRecipe) -> HardenConfig:
    return HardenConfig(rho=recipe.rho, eta=recipe.eta, lambda_rule=recipe.lambda_rule, ema=recipe.ema,
                        lambda_max=recipe.lambda_max, refusal_weight=recipe.refusal_weight,
                        attack_every=recipe.attack_every,
                        **({"opening_weight": o.weight, "opening_margin": o.margin,
                            "opening_harm_margin": o.harmful_margin, "openings_in_align_pass": o.prompts == "alignment"}
                           if (o := recipe.refusal_openings) else {}))


def weighting(recipe: FinetuneRecipe) -> Weighting:
    """How a fine-tune turns likelihood ratios into sample weights (`antibody finetune` and the transformers
    integration read it from here)."""
    return Weighting(recipe.weight_rule, recipe.temperature, recipe.threshold, recipe.ratio_norm)
