"""The plan: config dicts in, resolved runs, sweeps, tiny scale, tables, launchers and errors out.

Plans are built from small configs in milliseconds; nothing here runs Snakemake.
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from handbook.config import ConfigError, load_config
from handbook.plan import build_plan
from handbook.plan import data as plan_data
from handbook.plan import eval as plan_eval
from handbook.plan import judges as plan_judges
from handbook.plan import tables as plan_tables
from handbook.plan import train as plan_train

SFT_RECIPE = "config/recipes/demo/sft/tiny.yaml"
DPO_RECIPE = "config/recipes/demo/dpo/tiny.yaml"
KTO_RECIPE = "config/recipes/demo/kto/tiny.yaml"


def small_config(**sections) -> dict:
    """A base model built here, a hub model with a demo counterpart, chat and pair data, one SFT
    run."""
    config = {
        "base_models": {
            "tiny": {
                "build": {
                    "corpus": "results/demo_world/corpus.jsonl",
                    "vocab_size": 1000,
                    "arch": {"hidden_size": 8},
                }
            },
            "big": {"path": "org/big-7b", "tiny": "sft/a"},
        },
        "datasets": {
            "chat": {
                "dataset_name": "results/demo_world/sft",
                "dataset_test_split": "test",
                "columns": ["messages"],
            },
            "pairs": {
                "dataset_name": "results/demo_world/preference",
                "dataset_test_split": "test",
            },
            "hub_pairs": {
                "dataset_name": "org/pairs",
                "dataset_train_split": "train_prefs",
                "tiny": "pairs",
            },
        },
        "runs": {"sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}}},
        "eval": {
            "demo": {
                "prompts": "results/demo_world/eval/test.jsonl",
                "judge": {"reward_model": "sft/a", "baseline": "sft/a"},
            }
        },
        "tables": {},
    }
    for key, value in sections.items():
        config[key] = (
            value if not isinstance(value, dict) or key not in config else {**config[key], **value}
        )
    return config


def plan_of(config, tmp_path, **kwargs):
    return build_plan(config, ["my.yaml"], origin=tmp_path, **kwargs)


def error_of(config, tmp_path) -> str:
    with pytest.raises(ConfigError) as info:
        plan_of(config, tmp_path)
    return str(info.value)


# --- sweeps


def dpo_sweep(args: dict, grid: dict) -> dict:
    """One DPO sweep, `scan`, from sft/a on the pairs."""
    return {
        "scan": {
            "stage": "dpo",
            "model": "sft/a",
            "dataset": "pairs",
            "recipe": DPO_RECIPE,
            "args": args,
            "grid": grid,
        }
    }


def test_sweep_expands_into_named_runs_sharing_one_reference_pass(tmp_path):
    sweeps = dpo_sweep(
        {"learning_rate": 1.0e-4},
        {"loss_type": ["sigmoid", "ipo"], "beta": [0.1, 0.5], "seed": [1]},
    )
    plan = plan_of(small_config(sweeps=sweeps), tmp_path)
    names = plan.sweeps["scan"]
    assert names == [
        "scan-sigmoid-beta0.1-seed1",
        "scan-sigmoid-beta0.5-seed1",
        "scan-ipo-beta0.1-seed1",
        "scan-ipo-beta0.5-seed1",
    ]
    run = plan.runs["dpo/scan-ipo-beta0.5-seed1"]
    assert (
        run.args == {"learning_rate": 1.0e-4, "loss_type": "ipo", "beta": 0.5, "seed": 1}
        and run.sweep == "scan"
    )
    # One reference pass for the four runs: one dataset, one reference model.
    assert list(plan_train.reference_groups(plan)) == [("pairs", "sft/a")]
    assert len(plan_train.reference_groups(plan)[("pairs", "sft/a")]) == 4
    assert (
        plan_train.train_job(plan, "dpo", names[0]).inputs["data"]
        == "results/ref_logps/pairs/sft/a"
    )
    assert (
        plan_train.reference_logps_job(plan, "pairs", "sft", "a").args
        == "--max_length 128 --truncation_mode keep_start"
    )
    assert (
        "--beta 0.5 --global_batch 16 --gpus 0 --learning_rate 0.0001 --loss_type ipo --seed 1"
        == plan_train.train_job(plan, "dpo", names[3]).args_for()
    )


def test_a_run_reporting_to_a_dashboard_gets_its_run_folder_and_group(tmp_path):
    """report_to: tensorboard/trackio adds the run's folder under results/runs and its group (the
    sweep, else the stage); a run reporting to none keeps the command it had."""
    config = small_config(sweeps=dpo_sweep({"report_to": "tensorboard"}, {"beta": [0.1]}))
    config["runs"]["sft"]["b"] = {
        "model": "base/tiny",
        "dataset": "chat",
        "recipe": SFT_RECIPE,
        "args": {"report_to": "trackio"},
    }
    plan = plan_of(config, tmp_path)
    swept = plan_train.train_job(plan, "dpo", "scan-beta0.1").args_for()
    assert "--run_dir results/runs/dpo/scan-beta0.1 --run_group scan" in swept
    single = plan_train.train_job(plan, "sft", "b").args_for()
    assert "--run_dir results/runs/sft/b --run_group sft" in single
    assert "--run_dir" not in plan_train.train_job(plan, "sft", "a").args_for()


def test_grid_values_that_collide_into_one_run_name_are_an_error(tmp_path):
    sweeps = {
        "s": {
            "stage": "sft",
            "model": "base/tiny",
            "dataset": "chat",
            "recipe": SFT_RECIPE,
            "grid": {"seed": [1, 1]},
        }
    }
    assert "my.yaml: sweeps.s: run 'sft/s-seed1' comes twice out of sweep 's'" in error_of(
        small_config(sweeps=sweeps), tmp_path
    )


def test_a_policy_is_evaluated_against_its_reference_and_on_the_same_knowledge_set(tmp_path):
    config = small_config(sweeps=dpo_sweep({}, {"beta": [0.1]}))
    config["eval"]["demo"]["same_knowledge"] = "results/demo_world/eval/same_knowledge.jsonl"
    plan = plan_of(config, tmp_path)
    dpo = plan_eval.demo_eval_job(plan, "dpo", "scan-beta0.1")
    assert dpo.inputs["reference"] == ["results/models/sft/a"]
    assert "--reference results/models/sft/a" in dpo.args and "--num_samples 16" in dpo.args
    assert "--same_knowledge results/demo_world/eval/same_knowledge.jsonl" in dpo.args
    sft = plan_eval.demo_eval_job(plan, "sft", "a")  # trained from a plain model: no KL
    assert "reference" not in sft.inputs and "--reference" not in sft.args


def test_a_tables_tiny_settings_apply_at_tiny_scale_only(tmp_path):
    table = {
        "runs": [{"sweep": "scan"}],
        "rows": "loss_type",
        "columns": "beta",
        "demo": False,
        "metrics": ["mt_bench"],
        "tiny": {"demo": True, "metrics": ["win_rate"]},
    }
    config = small_config(sweeps=dpo_sweep({"loss_type": "sigmoid"}, {"beta": [0.1]}))
    config["tables"] = {"scan": table}
    full = plan_of(config, tmp_path).config["tables"]["scan"]
    tiny = plan_of({**config, "scale": "tiny"}, tmp_path).config["tables"]["scan"]
    assert (full["demo"], full["metrics"]) == (False, ["mt_bench"])
    assert (tiny["demo"], tiny["metrics"]) == (True, ["win_rate"]) and "tiny" not in tiny
    table["plot"] = "pass_at_k"
    assert "tables.scan.plot: pass_at_k plots a table with rows by label" in error_of(
        config, tmp_path
    )


def test_sweep_run_clashing_with_a_configured_run(tmp_path):
    config = small_config(
        sweeps={
            "a": {
                "stage": "sft",
                "model": "base/tiny",
                "dataset": "chat",
                "recipe": SFT_RECIPE,
                "grid": {"x": ["b"]},
            }
        }
    )
    config["runs"]["sft"]["a-b"] = config["runs"]["sft"]["a"]
    assert "sweeps.a: run 'sft/a-b' is already defined in runs" in error_of(config, tmp_path)


def test_an_unknown_loss_type_is_caught_in_the_plan(tmp_path):
    runs = {
        "sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}},
        "dpo": {
            "x": {
                "model": "sft/a",
                "dataset": "pairs",
                "recipe": DPO_RECIPE,
                "args": {"loss_type": "kto_pair"},
            }
        },
    }
    out = error_of(small_config(runs=runs), tmp_path)
    assert (
        "runs.dpo.x.loss_type: 'kto_pair' is not a dpo loss" in out
        and "train a kto run instead" in out
    )


def test_runs_sharing_reference_logprobs_must_agree_on_truncation(tmp_path):
    runs = {
        "sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}},
        "dpo": {
            "x": {"model": "sft/a", "dataset": "pairs", "recipe": DPO_RECIPE},
            "y": {
                "model": "sft/a",
                "dataset": "pairs",
                "recipe": DPO_RECIPE,
                "args": {"max_length": 64},
            },
        },
    }
    out = error_of(small_config(runs=runs), tmp_path)
    assert (
        "runs.dpo: runs sharing reference log-probs of sft/a on 'pairs' disagree" in out
        and "max_length=64" in out
    )


# --- tiny scale


def scan_config() -> dict:
    runs = {
        "sft": {
            "a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE},
            "big": {
                "model": "base/big",
                "dataset": "chat",
                "recipe": SFT_RECIPE,
                "gpus": 8,
                "resources": {"mem_mb": 99999},
            },
        },
        "dpo": {
            "after_big": {"model": "sft/big", "dataset": "pairs", "recipe": DPO_RECIPE, "gpus": 8}
        },
        "kto": {"hub": {"model": "sft/a", "dataset": "hub_pairs", "recipe": KTO_RECIPE, "gpus": 2}},
    }
    return small_config(runs=runs, scale="tiny")


def test_tiny_scale_replaces_hub_models_and_data_and_shrinks_their_runs_in_one_pass(tmp_path):
    plan = plan_of(scan_config(), tmp_path)
    assert plan.workdir == "results/tiny" and plan.moves_workdir
    assert "model base/big -> sft/a" in plan.replacements
    assert "dataset hub_pairs -> pairs's data" in plan.replacements
    big, after, hub, a = (plan.runs[r] for r in ("sft/big", "dpo/after_big", "kto/hub", "sft/a"))
    assert big.model == "sft/a"  # the replacement
    # Trained from a replaced model, downstream of one, or on replaced data: tiny args, no GPU.
    for run in (big, after, hub):
        assert run.args["max_steps"] == 10 and run.gpus_per_node == 0 and run.threads == 1, run
    assert big.mem_mb == 16000  # its resources went with its GPUs
    assert a.args == {} and a.threads == 8  # untouched: built here, local data
    assert plan.config["datasets"]["hub_pairs"]["dataset_name"] == "results/demo_world/preference"
    assert (
        plan_train.train_job(plan, "dpo", "after_big").launcher_for(gpus=0, nodes=1, threads=1)
        == "python"
    )


def test_tiny_scale_localises_paths_as_the_working_directory_moves(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.jsonl").write_text("{}\n")
    config = scan_config()
    config["datasets"]["mine"] = {"dataset_name": "data/mine.jsonl", "columns": ["messages"]}
    config["runs"]["sft"]["mine"] = {"model": "sft/a", "dataset": "mine", "recipe": SFT_RECIPE}
    plan = plan_of(config, tmp_path)
    assert plan_data.dataset_sources(plan, "mine") == [str(tmp_path / "data/mine.jsonl")]
    assert plan.runs["sft/mine"].args == {}  # local data and a local model: trained as configured
    # Started inside results/tiny already (a cluster job of a tiny build): nothing moves.
    inside = tmp_path / "results" / "tiny"
    inside.mkdir(parents=True)
    assert not plan_of(scan_config(), inside).moves_workdir


def test_tiny_scale_needs_a_counterpart_for_hub_data(tmp_path):
    config = scan_config()
    config["datasets"]["web"] = {"dataset_name": "someone/web"}
    config["runs"]["sft"]["web"] = {"model": "sft/a", "dataset": "web", "recipe": SFT_RECIPE}
    assert (
        "my.yaml: datasets.web: reads the Hugging Face Hub; give it 'tiny: <demo dataset>'"
        in error_of(config, tmp_path)
    )


def test_tiny_scale_replacement_that_is_replaced_itself(tmp_path):
    config = scan_config()
    config["base_models"]["other"] = {"path": "org/other", "tiny": "base/big"}
    assert "base_models.other.tiny: 'base/big' is replaced itself" in error_of(config, tmp_path)


def test_full_scale_changes_nothing(tmp_path):
    config = scan_config()
    config["scale"] = "full"
    plan = plan_of(config, tmp_path)
    assert plan.workdir is None and plan.replacements == ()
    assert plan.runs["sft/big"].gpus_per_node == 8 and plan.runs["sft/big"].model == "base/big"
    assert plan.model_location("base/big") == "org/big-7b" and plan.model_inputs("base/big") == []


def test_suites_and_judges_switch_to_demo_counterparts_at_tiny_scale(tmp_path):
    suites = {
        "demo": {"tasks": ["demo_mc"], "local": True, "apply_chat_template": True},
        "hub": {"tasks": ["arc"], "tiny": "demo"},
    }
    judges = {
        "mt": {"format": "mt_bench", "prompts": "org/mt_bench_prompts", "max_new_tokens": 1024}
    }
    tables = {
        "t": {
            "rows": {"sft": ["sft/a"]},
            "suites": ["hub"],
            "judges": ["mt"],
            "metrics": ["hub", "mt"],
        }
    }
    endpoints = {"rm": {"reward_model": "sft/a"}}
    full = plan_of(small_config(suites=suites, judges=judges, tables=tables), tmp_path)
    judges["mt"]["endpoint"] = "rm"
    tiny = plan_of(
        small_config(
            suites=suites, judges=judges, tables=tables, judge_endpoints=endpoints, scale="tiny"
        ),
        tmp_path,
    )
    assert plan_tables.result_files(full, "sft/a", "t")["suite:hub"].endswith("lm_eval/hub.json")
    assert plan_tables.result_files(tiny, "sft/a", "t")["suite:hub"].endswith("lm_eval/demo.json")
    assert plan_judges.judge_prompts(tiny, "mt") == "results/judges/prompts/mt_bench_demo.jsonl"
    assert "--max_new_tokens 64" in plan_judges.answer_job(tiny, "mt", "sft-a").args
    assert "--prompts org/mt_bench_prompts" in plan_judges.answer_job(full, "mt", "sft-a").args
    assert plan_tables.table_spec(tiny, "t")["table"]["metrics"] == ["demo", "mt"]
    # A reward-model endpoint judges here; without an endpoint the judging is left to the
    # external tool (its `judgments` file, none here).
    assert "judgment:mt" in plan_tables.result_files(
        tiny, "sft/a", "t"
    ) and "judgment:mt" not in plan_tables.result_files(full, "sft/a", "t")
    # A local suite a table reads runs in the model's demo evaluation (one process per model);
    # lm_eval jobs run the others.
    assert (plan_eval.local_suites(full), plan_eval.lm_eval_suite_pattern(full)) == ([], "demo|hub")
    assert (plan_eval.local_suites(tiny), plan_eval.lm_eval_suite_pattern(tiny)) == (
        ["demo"],
        "hub",
    )
    assert "--lm_eval" not in plan_eval.demo_eval_job(full, "sft", "a").args
    entry = json.loads(shlex.split(plan_eval.demo_eval_job(tiny, "sft", "a").args).pop(-1))["demo"]
    assert (
        entry["output"] == "results/eval/sft/a/lm_eval/demo.json"
        and entry["include_path"] == "results/lm_eval_tasks/chat"
    )
    assert entry["spec"] == {"tasks": ["demo_mc"], "local": True, "apply_chat_template": True}
    assert plan_eval.demo_eval_job(tiny, "sft", "a").inputs["tasks"] == [
        "results/lm_eval_tasks/chat"
    ]


# --- tables


def table_config(table: dict) -> dict:
    sweeps = {
        "scan": {
            "stage": "dpo",
            "model": "sft/a",
            "dataset": "pairs",
            "recipe": DPO_RECIPE,
            "grid": {"beta": [0.1, 0.5], "seed": [1, 2]},
        }
    }
    return small_config(sweeps=sweeps, tables={"t": table})


def test_label_rows_select_sweep_runs(tmp_path):
    plan = plan_of(
        table_config(
            {"rows": {"sft": ["sft/a"], "dpo": {"sweep": "scan", "where": {"beta": 0.5}}}}
        ),
        tmp_path,
    )
    rows = [(e.label, e.ref) for e in plan.tables["t"]]
    assert rows == [
        ("sft", "sft/a"),
        ("dpo", "dpo/scan-beta0.5-seed1"),
        ("dpo", "dpo/scan-beta0.5-seed2"),
    ]
    assert (
        "results/eval/dpo/scan-beta0.5-seed2/winrate.json"
        in plan_tables.table_job(plan, "t").inputs["results"]
    )
    assert (
        plan_tables.curves_job(plan, "t").inputs["models"][0]
        == "results/models/dpo/scan-beta0.5-seed1"
    )


def test_grid_table_groups_runs_by_their_settings(tmp_path):
    plan = plan_of(
        table_config({"rows": "beta", "columns": "seed", "runs": [{"sweep": "scan"}]}), tmp_path
    )
    params = [e.params for e in plan.tables["t"]]
    assert [(p["beta"], p["seed"]) for p in params] == [(0.1, 1), (0.1, 2), (0.5, 1), (0.5, 2)]
    assert params[0]["learning_rate"] == 3.0e-5  # the recipe's value, under the run's args
    assert '"beta=0.5"' in plan_tables.curves_job(plan, "t").args


@pytest.mark.parametrize(
    "table, message",
    [
        ({"rows": {"x": {"sweep": "nope"}}}, "tables.t.rows.x.sweep: unknown sweep 'nope'"),
        (
            {"rows": {"x": {"sweep": "scan", "where": {"beta": 9}}}},
            "tables.t.rows.x.where: selects no run of sweep 'scan'",
        ),
        (
            {"rows": {"x": ["dpo/nope"]}},
            "tables.t.rows.x: 'dpo/nope' is not base/<name> or a configured run",
        ),
        (
            {"rows": "beta", "runs": [{"sweep": "scan"}]},
            "tables.t: a grid table (rows: <setting>) needs 'runs' and 'columns'",
        ),
        (
            {"rows": "beta", "columns": "gamma", "runs": [{"sweep": "scan"}]},
            "tables.t.runs.0: run dpo/scan-beta0.1-seed1 has no setting 'gamma'",
        ),
        (
            {"rows": {"x": ["sft/a"]}, "columns": "beta"},
            "tables.t: rows by label take no 'runs' or 'columns'",
        ),
        ({"rows": {"x": ["sft/a"]}, "suites": ["nope"]}, "tables.t.suites: unknown suite 'nope'"),
        ({"rows": {"x": ["sft/a"]}, "judges": ["nope"]}, "tables.t.judges: unknown judge 'nope'"),
    ],
)
def test_table_errors_name_the_key(tmp_path, table, message):
    assert message in error_of(table_config(table), tmp_path)


# --- launch commands


def gpu_run(**spec) -> dict:
    runs = {"sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE, **spec}}}
    return small_config(runs=runs)


def test_cpu_run_launches_one_process(tmp_path):
    plan = plan_of(small_config(), tmp_path)
    # One interpreter: accelerate's launcher adds nothing to one CPU process.
    assert (
        plan_train.train_job(plan, "sft", "a").launcher_for(gpus=0, nodes=1, threads=2) == "python"
    )
    zero = plan_of(gpu_run(accelerate_config="config/accelerate/zero2.yaml"), tmp_path)
    assert (
        plan_train.train_job(zero, "sft", "a")
        .launcher_for(gpus=0, nodes=1, threads=2)
        .startswith("accelerate launch --config_file")
    )
    assert plan_train.train_job(plan, "sft", "a").env == "../../envs/train.yaml"


def test_one_gpu_and_eight_gpus(tmp_path):
    plan = plan_of(gpu_run(gpus=8, accelerate_config="config/accelerate/zero3.yaml"), tmp_path)
    assert (
        plan_train.train_job(plan, "sft", "a").gpus == 8
        and plan_train.train_job(plan, "sft", "a").env == "../../envs/gpu.yaml"
    )
    eight = plan_train.train_job(plan, "sft", "a").launcher_for(gpus=8, nodes=1, threads=32)
    assert (
        eight
        == f"OMP_NUM_THREADS=4 accelerate launch --config_file {REPO}/config/accelerate/zero3.yaml "
        "--num_processes 8 --main_process_port 0"
    )
    one_gpu = plan_of(gpu_run(gpus=1), tmp_path)
    one = plan_train.train_job(one_gpu, "sft", "a").launcher_for(gpus=1, nodes=1, threads=8)
    assert (
        one
        == f"accelerate launch --config_file {REPO}/config/accelerate/ddp.yaml --num_processes 1"
    )


def test_two_nodes_start_one_launcher_per_node(tmp_path):
    plan = plan_of(gpu_run(gpus=8, resources={"nodes": 2}), tmp_path)
    assert (
        plan_train.train_job(plan, "sft", "a").gpus == 16
        and plan_train.train_job(plan, "sft", "a").nodes == 2
    )
    command = plan_train.train_job(plan, "sft", "a").launcher_for(gpus=16, nodes=2, threads=16)
    assert command.startswith(
        "OMP_NUM_THREADS=2 srun --nodes 2 --ntasks-per-node 1 --ntasks 2 --overlap "
        "--kill-on-bad-exit=1 bash -c "
    )
    assert (
        "--num_processes 16 --num_machines 2" in command and "--main_process_port 29500" in command
    )


def test_cpu_data_parallel_joins_over_gloo(tmp_path):
    plan = plan_of(gpu_run(processes=2), tmp_path)
    command = plan_train.train_job(plan, "sft", "a").launcher_for(gpus=0, nodes=1, threads=2)
    assert command.startswith("OMP_NUM_THREADS=1 ACCELERATE_USE_CPU=true accelerate launch")
    assert command.endswith("--num_processes 2 --main_process_port 0 --multi_gpu")


def test_nodes_without_gpus_is_a_config_error(tmp_path):
    assert "runs.sft.a.resources.nodes: 2 nodes need GPUs" in error_of(
        gpu_run(resources={"nodes": 2}), tmp_path
    )


# --- config errors


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c.update(demo_world={"n_sftt": 1}),
            "my.yaml: key 'demo_world': Additional properties are not allowed ('n_sftt'",
        ),
        (
            lambda c: c.update(demo_world={"n_sft": -5}),
            "key 'demo_world.n_sft': -5 is less than the minimum of 1",
        ),
        (
            lambda c: c["runs"].update(ppo={}),
            "key 'runs': 'ppo' is not one of "
            "['cpt', 'sft', 'rm', 'dpo', 'kto', 'orpo', 'cpo', 'grpo', 'merge']",
        ),
        (
            lambda c: c["runs"]["sft"]["a"].update(model="cpt/nope"),
            "runs.sft.a.model: 'cpt/nope' is not base/<name> or a configured run",
        ),
        (
            lambda c: c["runs"]["sft"]["a"].update(model="base/nope"),
            "runs.sft.a.model: unknown base model 'nope'",
        ),
        (
            lambda c: c["runs"]["sft"]["a"].update(dataset="nope"),
            "runs.sft.a.dataset: unknown dataset 'nope'",
        ),
        (
            lambda c: c["runs"]["sft"]["a"].update(recipe="config/nope.yaml"),
            "runs.sft.a.recipe: no such file 'config/nope.yaml'",
        ),
        (
            lambda c: c["eval"]["demo"]["judge"].update(baseline="sft/nope"),
            "eval.demo.judge.baseline: 'sft/nope' is not",
        ),
        (
            lambda c: c["base_models"]["tiny"].update(chat_template="config/nope.jinja"),
            "base_models.tiny.chat_template: no such file",
        ),
        (
            lambda c: c["base_models"].update(mine={"path": "./models/my-llama"}),
            "base_models.mine.path: no such folder './models/my-llama' (a hub id is 'org/name')",
        ),
        (
            lambda c: c["runs"]["sft"]["a"].update(recipe=KTO_RECIPE),
            "runs.sft.a.recipe: a kto recipe (trl.KTOConfig) on a sft run (trl.SFTConfig)",
        ),
        (
            lambda c: c.update(
                rejection_sampling={
                    "r": {"policy": "sft/a", "reward_model": "rm/nope", "prompts": "p.jsonl"}
                }
            ),
            "rejection_sampling.r.reward_model: 'rm/nope' is not",
        ),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, change, message):
    config = small_config()
    change(config)
    out = error_of(config, tmp_path)
    assert out.startswith("config/config.yaml + my.yaml: ") and message in out, out


def test_a_cycle_between_runs_is_an_error_not_a_hang(tmp_path):
    runs = {
        "sft": {
            "a": {"model": "sft/b", "dataset": "chat", "recipe": SFT_RECIPE},
            "b": {"model": "sft/a", "dataset": "chat", "recipe": SFT_RECIPE},
        }
    }
    config = small_config(runs=runs)
    config["eval"]["demo"].pop("judge")
    assert "runs.sft.a.model: models form a cycle: sft/a <- sft/b <- sft/a" in error_of(
        config, tmp_path
    )


def test_the_config_given_is_left_unchanged(tmp_path):
    config = scan_config()
    before = copy.deepcopy(config)
    plan_of(config, tmp_path)
    assert config == before


# --- the shipped config and the command line


def test_shipped_config_plans_the_demo_chain(tmp_path):
    plan = build_plan(load_config([]), origin=REPO)
    assert plan_tables.final_targets(plan)[:3] == [
        "results/tables/demo.csv",
        "results/tables/demo.md",
        "results/tables/demo.png",
    ]
    assert plan.base_of("dpo/demo_dpo-seed1") == "tiny"
    assert (
        plan_train.train_job(plan, "sft", "tiny").inputs["data"]
        == "results/data/demo_sft/tokenized/tiny"
    )
    assert (
        plan_train.train_job(plan, "kto", "demo_kto-seed1").inputs["data"]
        == "results/data/demo_pref/prepared"
    )
    assert {
        ("demo_pref", "sft/tiny"),
        ("demo_on_policy", "sft/tiny"),
        ("ultrafeedback_binarized", "sft/zephyr-7b-beta"),
        ("ultrafeedback_binarized", "base/zephyr-7b-sft"),
    } <= set(plan_train.reference_groups(plan))
    # The recipe families' runs are in the plan, none of them in the default target.
    assert not [t for t in plan_tables.final_targets(plan) if "zephyr" in t or "smollm" in t]


def test_plan_command_prints_json_at_both_scales(tmp_path):
    extra = tmp_path / "more.yaml"
    extra.write_text(yaml.safe_dump({"demo_world": {"n_towns": 5}}))

    def plan_json(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "handbook.plan", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO / "scripts")},
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    full = plan_json("--table", "pref_align_scan")
    assert full["scale"] == "full" and len(full["runs"]) == 30
    cell = full["runs"]["dpo/pref_align_scan_dpo-ipo-beta0.5"]
    assert cell["resources"]["gpu"] == 8 and cell["args"] == {"loss_type": "ipo", "beta": 0.5}
    assert (
        "--num_processes 8" in cell["launcher"]
        and cell["model_location"] == "alignment-handbook/zephyr-7b-sft-full"
    )
    tiny = plan_json("--scale", "tiny", "--table", "pref_align_scan", "--configfile", str(extra))
    assert (
        tiny["workdir"] == "results/tiny"
        and "model base/zephyr-7b-sft -> sft/tiny" in tiny["tiny_scale_replacements"]
    )
    # tiny_scale.args, then the scan's own tiny_args: the demo's learning rate over one epoch;
    # each cell runs with the sweep's three tiny_seeds (a seed axis only at scale: tiny).
    cells = [r for r in tiny["runs"] if r.startswith("dpo/pref_align_scan_dpo-ipo-beta0.5")]
    assert sorted(cells) == [f"dpo/pref_align_scan_dpo-ipo-beta0.5-seed{s}" for s in (1, 2, 3)]
    tiny_cell = tiny["runs"]["dpo/pref_align_scan_dpo-ipo-beta0.5-seed2"]["args"]
    assert tiny_cell["seed"] == 2
    assert tiny_cell["max_steps"] == -1 and tiny_cell["learning_rate"] == 3.0e-5
    assert tiny_cell["max_length"] == 256
    assert "sft/tiny" in tiny["runs"] and tiny["config_files"][-1].endswith("more.yaml")


def test_plan_command_reports_a_config_error_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("demo_world: {n_sft: -5}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "handbook.plan", "--configfile", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "scripts")},
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: config/config.yaml + {bad}: key 'demo_world.n_sft': -5 is less than the "
        "minimum of 1"
    ]


def test_a_target_naming_an_unknown_run_is_a_config_error(tmp_path):
    plan = plan_of(small_config(), tmp_path)
    with pytest.raises(
        ConfigError, match=r"runs\.sft\.nope: no such run is configured \(runs of sft: \['a'\]\)"
    ):
        plan_train.train_job(plan, "sft", "nope")


def test_a_local_dataset_folder_is_tracked_by_its_files(tmp_path):
    (tmp_path / "convs" / "sub").mkdir(parents=True)
    for name in ("train.jsonl", "test.jsonl", "sub/extra.jsonl", ".hidden"):
        (tmp_path / "convs" / name).write_text("{}\n")
    config = small_config()
    config["datasets"]["mine"] = {"dataset_name": "convs", "dataset_test_split": "test"}
    plan = plan_of(config, tmp_path)
    assert plan_data.dataset_sources(plan, "mine") == [
        "convs/sub/extra.jsonl",
        "convs/test.jsonl",
        "convs/train.jsonl",
    ]
    assert plan_data.dataset_sources(plan, "chat") == [
        "results/demo_world/sft/test.jsonl",
        "results/demo_world/sft/train.jsonl",
    ]


# --- handbook recipe files as the trainer reads them


def test_reference_pass_truncates_as_the_trainer_maps_a_handbook_recipe(tmp_path):
    (tmp_path / "dpo.yaml").write_text("beta: 0.01\nmax_seq_length: 2048\nmax_prompt_length: 512\n")
    runs = {
        "dpo": {"b": {"model": "sft/a", "dataset": "pairs", "recipe": str(tmp_path / "dpo.yaml")}}
    }
    config = small_config(runs={"sft": small_config()["runs"]["sft"], **runs})
    plan = plan_of(config, tmp_path)
    assert (
        plan_train.reference_logps_job(plan, "pairs", "sft", "a").args
        == "--max_length 2048 --truncation_mode keep_start"
    )


def test_a_recipes_local_model_path_is_always_that_path(tmp_path):
    # A folder named like the demo's base model (results/models/cpt/tiny) is another model.
    (tmp_path / "results/models/cpt/tiny").mkdir(parents=True)
    (tmp_path / "sft.yaml").write_text(
        "model_name_or_path: results/models/cpt/tiny\nlearning_rate: 1.0e-4\n"
    )
    runs = {
        "sft": {
            **small_config()["runs"]["sft"],
            "mine": {"dataset": "chat", "recipe": str(tmp_path / "sft.yaml")},
        }
    }
    plan = plan_of(small_config(runs=runs), tmp_path)
    base = plan.runs["sft/mine"].model
    assert base != "base/tiny" and plan.model_location(base) == "results/models/cpt/tiny"
    # The same path named twice is one base model; a hub id already configured is that model.
    (tmp_path / "again.yaml").write_text("model_name_or_path: ./results/models/cpt/tiny\n")
    (tmp_path / "hub.yaml").write_text("model_name_or_path: org/big-7b\n")
    runs["sft"] |= {
        "again": {"dataset": "chat", "recipe": str(tmp_path / "again.yaml")},
        "hub": {"dataset": "chat", "recipe": str(tmp_path / "hub.yaml")},
    }
    plan = plan_of(small_config(runs=runs), tmp_path)
    assert plan.runs["sft/again"].model == base and plan.runs["sft/hub"].model == "base/big"


def test_assistant_only_loss_with_a_template_without_markers_stops_in_the_plan(tmp_path):
    (tmp_path / "plain.jinja").write_text(
        "{% for m in messages %}{{ m['content'] + eos_token }}{% endfor %}"
    )
    (tmp_path / "sft.yaml").write_text("assistant_only_loss: true\n")
    config = small_config(
        runs={
            "sft": {
                "a": {"model": "base/big", "dataset": "chat", "recipe": str(tmp_path / "sft.yaml")}
            }
        }
    )
    config["base_models"]["big"]["chat_template"] = str(tmp_path / "plain.jinja")
    message = error_of(config, tmp_path)
    assert "runs.sft.a.recipe: assistant_only_loss: true needs {% generation %} markers" in message
    (tmp_path / "every_token.yaml").write_text("assistant_only_loss: false\n")
    config["runs"]["sft"]["a"]["recipe"] = str(tmp_path / "every_token.yaml")
    plan_of(config, tmp_path)  # loss on every token: any template will do


# --- YAML and names that would silently mean something else


def test_a_key_given_twice_in_a_config_or_a_recipe_is_an_error_naming_the_file(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("runs:\n  sft:\n    a: {model: base/tiny}\n    a: {model: base/other}\n")
    with pytest.raises(
        ConfigError,
        match=r"mine.yaml: cannot be read as YAML \(DuplicateKeyError: key 'a' given twice",
    ):
        load_config([config])
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(open(REPO / SFT_RECIPE).read() + "learning_rate: 0.1\n")
    message = error_of(
        small_config(
            runs={"sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": str(recipe)}}}
        ),
        tmp_path,
    )
    assert "runs.sft.a.recipe:" in message and "key 'learning_rate' given twice" in message
    # A merge key's values may be overridden by the mapping's own: not a repetition.
    from handbook import yamlio

    assert yamlio.load("base: &b {lr: 1}\nrun: {<<: *b, lr: 2}\n")["run"] == {"lr": 2}


@pytest.mark.parametrize("name", ["..", ".", "a b", "a/b"])
def test_a_run_name_that_is_not_one_folder_inside_results_is_refused(tmp_path, name):
    run = {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}
    message = error_of(small_config(runs={"sft": {name: run}}), tmp_path)
    assert "key 'runs.sft'" in message and "does not match" in message


def test_a_families_glob_that_matches_nothing_is_an_error(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("families: ['config/recipes/nope*/family.yaml']\n")
    with pytest.raises(
        ConfigError, match=r"families: 'config/recipes/nope\*/family.yaml' matches no file"
    ):
        build_plan(load_config([config]), [str(config)], origin=tmp_path)


@pytest.mark.parametrize(
    ("stage", "recipe", "args", "message"),
    [
        (
            "sft",
            SFT_RECIPE,
            {"num_train_epochs": 0, "max_steps": -1},
            "args.num_train_epochs: 0 trains nothing",
        ),
        ("sft", SFT_RECIPE, {"max_steps": 0}, "args.max_steps: 0 trains no step"),
        (
            "sft",
            SFT_RECIPE,
            {"learning_rate": float("nan")},
            "args.learning_rate: nan is not a finite number",
        ),
        (
            "sft",
            SFT_RECIPE,
            {"learning_rate": -1e-5},
            "args.learning_rate: -1e-05 is not a positive learning rate",
        ),
        ("dpo", DPO_RECIPE, {"beta": -0.5}, "args.beta: -0.5 is not a positive dpo beta"),
    ],
)
def test_settings_that_would_train_nonsense_stop_the_plan(tmp_path, stage, recipe, args, message):
    runs = {"sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}}}
    runs.setdefault(stage, {})["b"] = {
        "model": "sft/a" if stage == "dpo" else "base/tiny",
        "dataset": "pairs" if stage == "dpo" else "chat",
        "recipe": recipe,
        "args": args,
    }
    assert f"runs.{stage}.b.{message}" in error_of(small_config(runs=runs), tmp_path)


def test_a_nonsense_value_in_a_recipe_file_names_the_file(tmp_path):
    recipe = tmp_path / "dpo.yaml"
    recipe.write_text(open(REPO / DPO_RECIPE).read().replace("beta: 0.1", "beta: 0.0"))
    runs = {
        "sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}},
        "dpo": {"b": {"model": "sft/a", "dataset": "pairs", "recipe": str(recipe)}},
    }
    assert f"runs.dpo.b.recipe ({recipe}): beta: 0.0 is not a positive dpo beta" in error_of(
        small_config(runs=runs), tmp_path
    )


def test_schema_defaults_agree_with_the_embedded_config():
    """A default the schema fills in for a config without the key is the value config.yaml
    gives it (empty mappings and lists mean none and are left out)."""
    import yaml

    from handbook.config import DEFAULT_CONFIG, load_schema

    disagree = []

    def walk(schema, config, path):
        for key, sub in schema.get("properties", {}).items():
            if not isinstance(config, dict) or key not in config:
                continue
            if sub.get("default") not in (None, {}, []) and config[key] != sub["default"]:
                disagree.append(f"{path}{key}: {sub['default']!r} vs {config[key]!r}")
            walk(sub, config[key], f"{path}{key}.")

    walk(load_schema(), yaml.safe_load(DEFAULT_CONFIG.read_text()), "")
    assert not disagree


@pytest.mark.parametrize("scale", ["full", "tiny", "rehearsal"])
def test_building_every_job_leaves_the_resolved_config_as_it_was(scale):
    """The plan is resolved once: the jobs' builders only read it."""
    import copy

    from handbook.plan import eval as plan_eval
    from handbook.plan import export as plan_export
    from handbook.plan import judges as plan_judges

    plan = build_plan(load_config([], {"scale": scale}), origin=REPO)
    before = copy.deepcopy(plan.config)
    plan_export.to_dict(plan)
    for run in plan.runs.values():
        job = plan_train.train_job(plan, run.stage, run.name)
        job.args_for(job.gpus, job.nodes)
        plan_eval.demo_eval_job(plan, run.stage, run.name)
        for suite in plan.config["suites"]:
            plan_eval.lm_eval_job(plan, run.stage, run.name, suite)
        for judge in plan.config["judges"]:
            plan_judges.answer_job(plan, judge, run.stage + "-" + run.name)
    for name in plan.config["tables"]:
        plan_tables.table_job(plan, name)
        plan_tables.curves_job(plan, name)
    for name in plan.config["datasets"]:
        plan_data.prepare_job(plan, name)
    assert plan.config == before


def test_the_reference_pass_takes_one_thread_on_a_cpu_and_eight_beside_a_gpu(tmp_path):
    (tmp_path / "dpo.yaml").write_text("beta: 0.1\n")
    run = {"model": "sft/a", "dataset": "pairs", "recipe": str(tmp_path / "dpo.yaml")}
    for gpus, threads in ((0, 1), (4, 8)):
        spec = {**run, "gpus": gpus} if gpus else run
        config = small_config(runs={"sft": small_config()["runs"]["sft"], "dpo": {"b": spec}})
        job = plan_train.reference_logps_job(plan_of(config, tmp_path), "pairs", "sft", "a")
        assert (job.gpus, job.threads) == (int(bool(gpus)), threads)
