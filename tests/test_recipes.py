"""Recipes: every shipped file validates, overrides apply, mistakes are one line per field."""

import pytest

from antibody_cli import recipes
from antibody_cli.errors import AntibodyError


def shipped():
    return sorted(recipes.RECIPE_DIRS[1].glob("*.yaml"))


def test_there_are_shipped_recipes():
    assert {p.stem for p in shipped()} >= {"harden", "booster", "finetune", "sft"}


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_every_shipped_recipe_validates(path):
    command = recipes.read_yaml(path).get("command")
    values = {k: v for k, v in recipes.read_yaml(path).items() if k != "command"}
    assert command in recipes.RECIPES, f"{path.name} must say which command it is for"
    recipes.validate(recipes.RECIPES[command], values, str(path))


def test_overrides_nest_and_parse_yaml_scalars():
    recipe = recipes.load_recipe("harden", "booster", ["lora.r=4", "rho=0.5", "lora.target_modules=[q_proj]"])
    assert recipe.lora.r == 4 and recipe.rho == 0.5 and recipe.lora.target_modules == ["q_proj"]
    assert recipe.lambda_rule == "constant" and recipe.refusal_weight == 0


def test_cli_values_override_the_file_and_overrides_win():
    recipe = recipes.load_recipe("finetune", "finetune", ["steps=7"], steps=3, data="x.jsonl")
    assert recipe.steps == 7 and recipe.data == "x.jsonl"


def test_mistakes_are_reported_one_line_per_field():
    with pytest.raises(AntibodyError) as err:
        recipes.load_recipe("harden", None, ["lr=fast", "lambda_rule=magic", "colour=blue"])
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert any("'lr'" in line for line in lines) and any("'colour'" in line for line in lines)
    with pytest.raises(AntibodyError, match="key=value"):
        recipes.load_recipe("harden", None, ["steps"])
    with pytest.raises(AntibodyError, match="does not exist"):
        recipes.load_recipe("harden", "no-such-recipe", [])


def test_backend_choices_equal_the_registry():
    import backends

    assert set(recipes.BACKEND_NAMES) == set(backends.REGISTRY)


@pytest.mark.parametrize("command", ["harden", "finetune"])
def test_the_default_recipe_files_spell_out_exactly_the_defaults(command):
    """recipes/harden.yaml and recipes/finetune.yaml document the defaults: they must not drift."""
    from_file = recipes.load_recipe(command, command, [])
    assert from_file.model_dump() == recipes.RECIPES[command]().model_dump()


@pytest.mark.parametrize("name", ["harden", "lisa", "booster", "vaccine"])
def test_recipe_show_prints_every_field_and_reads_back_to_the_same_recipe(name, tmp_path):
    text = recipes.show(name)
    copy = tmp_path / "mine.yaml"
    copy.write_text(text)
    command = recipes.read_yaml(copy)["command"]
    assert recipes.load_recipe(command, str(copy), []) == recipes.load_recipe(command, name, [])
    assert set(recipes.read_yaml(copy)) == {"command", *recipes.RECIPES[command].model_fields}
    assert "# Peak learning rate (AdamW)." in text  # the field descriptions come along as comments


def test_the_default_harden_has_the_two_sided_openings_term_on_everyday_data_and_the_baselines_do_not():
    default = recipes.load_recipe("harden", "harden", [])
    assert default == recipes.HardenRecipe(model="smollm2-135m")  # the shipped recipe is the model's defaults
    assert default.refusal_openings == recipes.OpeningSettings() and default.refusal_openings.harmful_margin is not None
    assert default.align_data == "builtin:align_everyday"
    assert recipes.load_recipe("finetune", "finetune", []).safety.data == default.align_data
    for name in ("refusal-sft", "booster", "vaccine"):  # as the paper table measured them
        baseline = recipes.load_recipe("harden", name, [])
        assert baseline.refusal_openings is None and baseline.align_data == "builtin:align"


def test_vaccine_has_no_openings_term_and_refuses_one_set_by_hand():
    assert recipes.load_recipe("harden", None, ["vaccine.rho=1"]).refusal_openings is None
    with pytest.raises(AntibodyError, match="refusal_openings: Antibody's settings"):
        recipes.load_recipe("harden", "vaccine", ["refusal_openings.weight=2"])


def test_recipe_show_of_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(AntibodyError, match="no recipe 'nope' \\(shipped: booster, finetune, finetune-paper, harden"):
        recipes.show("nope")


def test_backends_get_frozen_typed_settings_with_the_recipes_values():
    from dataclasses import FrozenInstanceError, fields

    recipe = recipes.load_recipe("harden", "booster", ["lora.r=4", "lr=0.02", "warmup_steps=3", "seed=7"])
    model, training = recipes.backend_configs(recipe)
    for field in fields(training):
        if field.name != "lora":
            assert getattr(training, field.name) == getattr(recipe, field.name), field.name
    assert training.lora.r == 4 and training.lora.target_modules == tuple(recipe.lora.target_modules)
    # harden shares its alignment batch's prompts with the refusal-openings term
    assert (model.model, model.device, model.share_prompt) == (recipe.model, recipe.device, True)
    with pytest.raises(FrozenInstanceError):
        training.lr = 1.0
    assert recipes.harden_config(recipe).lambda_rule == "constant" and recipes.harden_config(recipe).rho == 0.1


def test_share_prompt_reaches_the_backend_only_where_a_kv_cache_exists():
    score_model, score_training = recipes.backend_configs(recipes.ScoreRecipe())
    assert score_model.share_prompt and score_training is None
    checkpointed = recipes.FinetuneRecipe(gradient_checkpointing=True)
    assert not recipes.backend_configs(checkpointed)[0].share_prompt  # recomputed layers keep no cache
    assert recipes.backend_configs(recipes.FinetuneRecipe())[0].share_prompt
    assert not recipes.backend_configs(recipes.FinetuneRecipe(share_prompt=False))[0].share_prompt
    assert recipes.backend_configs(recipes.HardenRecipe())[0].share_prompt
    assert not recipes.backend_configs(recipes.HardenRecipe(gradient_checkpointing=True))[0].share_prompt
