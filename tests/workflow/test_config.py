"""Config validation at DAG build, and every shipped recipe parsed by TRL's parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

from handbook.methods import METHODS
from handbook.training import RecipeError, parse_recipe

RECIPES = sorted(
    p for p in (REPO / "config" / "recipes").glob("*/*/*.yaml") if p.parent.name in METHODS
)


def dry_run_error(workdir: Path, override: dict) -> str:
    bad = workdir / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    proc = run_snakemake(workdir, "-n", configfiles=[bad], check=False)
    assert proc.returncode != 0, "a bad config must fail the dry run"
    out = proc.stdout + proc.stderr
    # The message is the error, not a traceback into the workflow's helpers.
    assert (
        out.count("Config error: ") == 1 and "Traceback" not in out and "common.smk" not in out
    ), out
    return out


def test_unknown_key_names_file_and_key(workdir):
    out = dry_run_error(workdir, {"demo_world": {"n_sftt": 10}})
    assert "bad.yaml" in out and "demo_world" in out and "n_sftt" in out


def test_bad_value_names_key(workdir):
    out = dry_run_error(workdir, {"demo_world": {"n_sft": -5}})
    assert "bad.yaml" in out and "demo_world.n_sft" in out and "-5" in out


def test_unknown_model_reference(workdir):
    out = dry_run_error(
        workdir,
        {
            "runs": {
                "sft": {"tiny": {"model": "cpt/nope", "dataset": "demo_sft", "recipe": "x.yaml"}}
            }
        },
    )
    assert "runs.sft.tiny.model" in out and "cpt/nope" in out


def test_missing_recipe_file(workdir):
    out = dry_run_error(
        workdir,
        {
            "runs": {
                "sft": {
                    "tiny": {
                        "model": "cpt/tiny",
                        "dataset": "demo_sft",
                        "recipe": "config/nope.yaml",
                    }
                }
            }
        },
    )
    assert "runs.sft.tiny.recipe" in out and "config/nope.yaml" in out


def test_default_config_dry_run_lists_the_chain(workdir):
    out = run_snakemake(workdir, "-n").stdout
    for rule in (
        "make_demo_world",
        "train_tokenizer",
        "init_model",
        "prepare_dataset",
        "tokenize_dataset",
    ):
        assert rule in out
    assert "results/models/sft/tiny" in out and "results/tables/demo.csv" in out


@pytest.mark.parametrize("recipe", RECIPES, ids=[str(r.relative_to(REPO)) for r in RECIPES])
def test_shipped_recipe_parses(recipe, monkeypatch):
    from trl import ModelConfig

    from handbook.training import WorkflowArguments

    # Recipes live in config/recipes/<model>/<stage>/; the stage folder picks the trainer.
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    config_class = METHODS[recipe.parent.name].load_config_class()
    workflow_args, training_args, model_args = parse_recipe(
        (WorkflowArguments, config_class, ModelConfig),
        ["--config", str(recipe), "--output_dir", "/tmp/unused"],
    )
    assert type(training_args) is config_class
    if recipe.parent.name == "merge":  # a merge trains nothing
        assert 0 <= training_args.weight <= 1
        return
    assert training_args.learning_rate > 0
    assert not training_args.bf16, "on CPU the parser must switch bf16 off"


def test_unknown_recipe_key_is_one_clear_error(tmp_path):
    from trl import ModelConfig, SFTConfig

    from handbook.training import WorkflowArguments

    recipe = tmp_path / "r.yaml"
    recipe.write_text("learning_rate: 1.0e-3\nwarmup_ratoi: 0.1\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: unknown recipe key\(s\) warmup_ratoi$"):
        parse_recipe(
            (WorkflowArguments, SFTConfig, ModelConfig),
            ["--config", str(recipe), "--output_dir", "/tmp/x"],
        )


def test_a_target_naming_an_unknown_run_says_so_without_a_traceback(workdir):
    proc = run_snakemake(workdir, "-n", "results/models/sft/nope", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "No rule to produce results/models/sft/nope" in out
    assert "Traceback" not in out and "KeyError" not in out
