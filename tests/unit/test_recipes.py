"""Recipe files: the handbook's keys mapped for TRL 1.16, `handbook.recipes check`, recipe families
merged under the config, and runs that take their model and data from a handbook recipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from test_plan import SFT_RECIPE, plan_of, small_config

from handbook.config import ConfigError, load_config
from handbook.plan import build_plan
from handbook.plan import export as plan_export
from handbook.recipes import RecipeFileError, check, read_recipe, recipe_dataset, resolve, stage_of

HANDBOOK = REPO / "tests" / "data" / "handbook_recipes"
KNOWN = {
    "dtype",
    "max_length",
    "warmup_steps",
    "learning_rate",
    "dataset_num_proc",
    "push_to_hub",
    "report_to",
    "packing_strategy",
    "model_name_or_path",
    "chat_template",
    "dataset_kwargs",
    "eval_strategy",
}


def test_renamed_and_removed_keys_are_mapped_with_one_note_each():
    recipe = {
        "torch_dtype": "bfloat16",
        "max_seq_length": 2048,
        "warmup_ratio": 0.1,
        "overwrite_output_dir": True,
        "hub_model_revision": "main",
        "max_prompt_length": 512,
        "packing_strategy": "ffd",
        "learning_rate": 2.0e-5,
        "evaluation_strategy": "epoch",  # older handbook files
    }
    out = resolve(recipe, KNOWN, "r.yaml")
    assert out.args == {
        "dtype": "bfloat16",
        "max_length": 2048,
        "warmup_steps": 0.1,
        "packing_strategy": "bfd",
        "learning_rate": 2.0e-5,
        "eval_strategy": "epoch",
    }
    assert len(out.notes) == 8 and "evaluation_strategy -> eval_strategy" in out.notes
    assert "torch_dtype -> dtype" in out.notes and "packing_strategy: ffd -> bfd" in out.notes
    assert any(n.startswith("max_prompt_length: dropped") for n in out.notes)


def test_hub_push_and_remote_reporting_stay_off_unless_the_run_turns_them_on():
    out = resolve({"push_to_hub": True, "report_to": ["tensorboard", "wandb"]}, KNOWN, "r.yaml")
    assert out.args == {"push_to_hub": False, "report_to": ["tensorboard"]}
    assert resolve({"report_to": "wandb"}, KNOWN, "r.yaml").args == {"report_to": "none"}
    assert resolve({"push_to_hub": False, "report_to": "none"}, KNOWN, "r.yaml").notes == []


def test_unknown_key_and_kto_pair_are_one_line_errors_naming_file_and_key():
    with pytest.raises(RecipeFileError, match=r"^r.yaml: unknown recipe key\(s\) lerning_rate$"):
        resolve({"lerning_rate": 1e-5}, KNOWN, "r.yaml")
    with pytest.raises(
        RecipeFileError, match=r"^r.yaml: loss_type: kto_pair is gone from TRL.*kto run"
    ):
        resolve({"loss_type": "kto_pair"}, KNOWN, "r.yaml")


def test_our_recipes_resolve_unchanged():
    recipe = read_recipe(REPO / "config/recipes/zephyr-7b-beta/dpo/full.yaml")
    out = resolve(recipe, None, "full.yaml")
    assert out.args == recipe and out.notes == [] and out.dataset is None and out.model is None


def test_data_keys_become_a_dataset_entry_in_every_form():
    mixture = {
        "datasets": [{"id": "org/a", "split": "train_sft", "columns": ["messages"], "weight": 0.5}],
        "seed": 1,
        "test_split_size": 100,
    }
    assert recipe_dataset({"dataset_mixture": mixture}, "r") == {"dataset_mixture": mixture}
    named = {
        "dataset_name": "org/a",
        "dataset_config": "default",
        "dataset_train_split": "train",
        "dataset_test_split": "test",
    }
    assert recipe_dataset(named, "r") == named
    legacy = recipe_dataset(
        {"dataset_mixer": {"org/a": 1.0}, "dataset_splits": ["train_prefs", "test_prefs"]}, "r"
    )
    assert legacy == {
        "dataset_name": "org/a",
        "dataset_train_split": "train_prefs",
        "dataset_test_split": "test_prefs",
    }
    two = recipe_dataset(
        {"dataset_mixer": {"org/a": 0.5, "org/b": 1.0}, "dataset_splits": ["train", "test"]}, "r"
    )
    assert two["dataset_mixture"]["test_split"] == "test" and [
        e["weight"] for e in two["dataset_mixture"]["datasets"]
    ] == [0.5, 1.0]
    with pytest.raises(RecipeFileError, match=r"^r: dataset_mixture.datasets\[0\]: needs an 'id'"):
        recipe_dataset({"dataset_mixture": {"datasets": [{"split": "train"}]}}, "r")


def test_stage_comes_from_the_recipe_folder():
    assert stage_of("config/recipes/zephyr-7b-beta/dpo/full.yaml") == "dpo"
    assert stage_of("x/orpo/config_full.yaml") == "orpo" and stage_of("x/config.yaml") is None


def handbook_files() -> list[Path]:
    return sorted(HANDBOOK.rglob("*.yaml"))


def test_every_handbook_format_file_checks_as_its_entry_point_would(capsys):
    files = handbook_files()
    families = {p.relative_to(HANDBOOK).parts[0] for p in files}
    assert len(families) >= 10, families
    for path in files:
        if "kto_pair" in path.name:
            with pytest.raises(RecipeFileError, match="kto_pair is gone from TRL"):
                check(str(path), None)
            continue
        assert check(str(path), None) == 0, path
        out = capsys.readouterr().out
        assert "trainer arguments:" in out and "mapped: torch_dtype -> dtype" in out, (path, out)
        assert "push_to_hub: False" in out or "push_to_hub" not in read_recipe(path), (path, out)


def test_check_command_exits_non_zero_with_one_line(tmp_path):
    bad = tmp_path / "dpo" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("beta: 0.1\nmax_promt_length: 512\n")
    proc = subprocess.run(
        [sys.executable, "-m", "handbook.recipes", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "scripts"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1]
        == f"error: {bad}: unknown recipe key(s) max_promt_length"
    )
    assert "Traceback" not in proc.stderr


# --- recipe families


def write_family(folder: Path, name: str, data: dict) -> Path:
    path = folder / "fams" / name / "family.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_family_runs_and_tables_merge_under_the_config_which_wins(tmp_path):
    write_family(
        tmp_path,
        "one",
        {
            "runs": {
                "sft": {
                    "fam": {
                        "model": "base/tiny",
                        "dataset": "chat",
                        "recipe": SFT_RECIPE,
                        "args": {"seed": 1},
                    }
                }
            }
        },
    )
    config = small_config(families=["fams/*/family.yaml"])
    plan = plan_of(config, tmp_path)
    assert plan.runs["sft/fam"].args == {"seed": 1} and "sft/a" in plan.runs
    config["runs"]["sft"]["fam"] = {"args": {"seed": 2}}
    assert plan_of(config, tmp_path).runs["sft/fam"].args == {"seed": 2}


def test_family_errors_name_the_family_file(tmp_path):
    write_family(
        tmp_path,
        "one",
        {"runs": {"sft": {"fam": {"model": "base/nope", "dataset": "chat", "recipe": SFT_RECIPE}}}},
    )
    with pytest.raises(
        ConfigError, match=r"^fams/one/family.yaml: runs.sft.fam.model: unknown base model 'nope'"
    ):
        plan_of(small_config(families=["fams/*/family.yaml"]), tmp_path)
    write_family(
        tmp_path,
        "one",
        {"runs": {"sft": {"fam": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}}}},
    )
    write_family(
        tmp_path,
        "two",
        {"runs": {"sft": {"fam": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}}}},
    )
    with pytest.raises(
        ConfigError,
        match=r"^fams/two/family.yaml: key 'runs.sft.fam': already defined in fams/one/family.yaml",
    ):
        plan_of(small_config(families=["fams/*/family.yaml"]), tmp_path)
    write_family(tmp_path, "two", {"scale": "tiny"})
    with pytest.raises(
        ConfigError, match=r"^fams/two/family.yaml: key 'scale': a family file defines only"
    ):
        plan_of(small_config(families=["fams/*/family.yaml"]), tmp_path)


def test_shipped_families_plan_at_both_scales_and_sweeps_take_their_tiny_grid():
    full = build_plan(load_config([]), origin=REPO)
    assert len(full.sweeps["pref_align_scan_dpo"]) == 20
    families = {
        Path(f).parent.name
        for f in plan_export.to_dict(full)["family_files"]
        if f.endswith("family.yaml")
    }
    assert {"zephyr-7b-beta", "pref_align_scan"} <= families
    tiny = build_plan(load_config([], {"scale": "tiny"}), origin=REPO)
    # 2 losses x 2 betas, each over the sweep's 3 tiny_seeds; the rehearsal keeps one run a cell.
    assert len(tiny.sweeps["pref_align_scan_dpo"]) == 12
    assert all(not run.gpus_per_node for run in tiny.runs.values())
    rehearsal = build_plan(load_config([], {"scale": "rehearsal"}), origin=REPO)
    assert len(rehearsal.sweeps["pref_align_scan_dpo"]) == 4


# --- runs from handbook recipes


def test_a_run_takes_model_dataset_and_chat_template_from_a_handbook_recipe(tmp_path):
    recipe = tmp_path / "sft" / "config_full.yaml"
    recipe.parent.mkdir()
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": "org/base-7b",
                "torch_dtype": "bfloat16",
                "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
                "dataset_mixture": {
                    "datasets": [{"id": "org/chat", "split": "train_sft", "columns": ["messages"]}],
                    "test_split_size": 10,
                },
            }
        )
    )
    config = small_config()
    config["runs"]["sft"]["mine"] = {"recipe": str(recipe)}
    plan = plan_of(config, tmp_path)
    run = plan.runs["sft/mine"]
    assert (
        run.model == "base/base-7b"
        and plan.config["base_models"]["base-7b"]["path"] == "org/base-7b"
    )
    assert plan.config["base_models"]["base-7b"]["chat_template"] == str(recipe)
    assert (
        run.dataset == "sft-mine"
        and plan.config["datasets"]["sft-mine"]["dataset_mixture"]["test_split_size"] == 10
    )
    assert any("dataset 'sft-mine'" in line for line in plan.from_recipes)
    config["tiny_scale"] = {"base_model": "sft/a", "datasets": {"conversations": "chat"}}
    tiny = plan_of({**config, "scale": "tiny"}, tmp_path)
    assert tiny.runs["sft/mine"].model == "sft/a" and tiny.runs["sft/mine"].args["max_steps"] == 10
    assert tiny.config["datasets"]["sft-mine"]["dataset_name"] == "results/demo_world/sft"
