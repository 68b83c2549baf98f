"""The global batch: the plan keeps each run's on whatever processes a job gets, or stops."""

from __future__ import annotations

import pytest
from test_plan import DPO_RECIPE, SFT_RECIPE, error_of, gpu_run, plan_of, small_config

from handbook.batch import BatchError, keep_global, recipe_batch
from handbook.config import ConfigError
from handbook.plan import export as plan_export
from handbook.plan import train as plan_train


def test_recipe_batch_and_trainer_defaults():
    assert (
        recipe_batch({"per_device_train_batch_size": 16, "gradient_accumulation_steps": 2}, 8).size
        == 256
    )
    assert recipe_batch({}, 1).as_dict() == {
        "per_device": 8,
        "accumulation": 1,
        "processes": 1,
        "global": 8,
    }


def test_accumulation_keeps_the_global_batch_or_says_why_not():
    assert keep_global(128, 16, 2).accumulation == 4
    with pytest.raises(
        BatchError,
        match=r"a global batch of 16 is not a whole number of steps of 4 per device x 8 processes "
        r"\(= 32\)",
    ):
        keep_global(16, 4, 8)


def test_plan_states_each_runs_global_batch_beside_the_recipes(tmp_path):
    # The demo SFT recipe: 16 per device, accumulation 1; on 8 GPUs that is 128.
    plan = plan_of(gpu_run(gpus=8), tmp_path)
    batch = plan_train.batch(plan, plan.runs["sft/a"])
    assert batch == {
        "per_device": 16,
        "accumulation": 1,
        "processes": 8,
        "global": 128,
        "recipe": batch["recipe"],
    }
    assert batch["recipe"]["global"] == 128
    assert plan_export.to_dict(plan)["runs"]["sft/a"]["batch"]["global"] == 128
    assert "--global_batch 128" in plan_train.train_job(plan, "sft", "a").args_for(gpus=8)


def test_a_profile_giving_fewer_gpus_raises_accumulation_and_more_stops(tmp_path):
    plan = plan_of(gpu_run(gpus=8), tmp_path)
    args = plan_train.train_job(plan, "sft", "a").args_for(gpus=2)
    assert (
        "--gradient_accumulation_steps 4" in args
        and "--global_batch 128" in args
        and "--gpus 2" in args
    )
    assert "--num_processes 2" in plan_train.train_job(plan, "sft", "a").launcher_for(
        gpus=2, nodes=1, threads=8
    )
    # 128 = 16 x 8 x 1: on 16 GPUs accumulation would be 1/2.
    with pytest.raises(
        ConfigError,
        match=r"runs\.sft\.a: on 16 processes: a global batch of 128 is not a whole number",
    ):
        plan_train.train_job(plan, "sft", "a").args_for(gpus=16)


def test_a_runs_own_global_batch_sets_accumulation_on_its_processes(tmp_path):
    plan = plan_of(gpu_run(processes=2, global_batch=64), tmp_path)
    assert "--gradient_accumulation_steps 2" in plan_train.train_job(plan, "sft", "a").args_for()
    assert "not a whole number" in error_of(gpu_run(processes=2, global_batch=40), tmp_path)


def test_threads_default_to_four_per_gpu_process_and_are_the_jobs_cpus(tmp_path):
    assert plan_train.train_job(plan_of(gpu_run(gpus=8), tmp_path), "sft", "a").threads == 32
    assert plan_train.train_job(plan_of(gpu_run(gpus=1), tmp_path), "sft", "a").threads == 8
    assert plan_train.train_job(plan_of(gpu_run(), tmp_path), "sft", "a").threads == 8
    plan = plan_of(gpu_run(gpus=8, threads=12), tmp_path)
    assert plan_export.to_dict(plan)["runs"]["sft/a"]["resources"]["cpus_per_task"] == 12


def test_merges_have_no_batch(tmp_path):
    runs = {
        "sft": {"a": {"model": "base/tiny", "dataset": "chat", "recipe": SFT_RECIPE}},
        "dpo": {"b": {"model": "sft/a", "dataset": "pairs", "recipe": DPO_RECIPE}},
        "merge": {
            "m": {
                "model": "dpo/b",
                "merge_with": "sft/a",
                "recipe": "config/recipes/smollm3/merge/linear.yaml",
            }
        },
    }
    plan = plan_of(small_config(runs=runs), tmp_path)
    assert (
        plan_train.batch(plan, plan.runs["merge/m"]) is None
        and plan_train.batch(plan, plan.runs["dpo/b"])["global"] == 16
    )


def test_a_gpu_count_that_does_not_fill_every_node_is_named(tmp_path):
    plan = plan_of(gpu_run(gpus=8, resources={"nodes": 2}), tmp_path)
    with pytest.raises(
        ConfigError, match=r"runs\.sft\.a: 3 GPUs cannot be spread evenly over 2 nodes"
    ):
        plan_train.train_job(plan, "sft", "a").args_for(gpus=3, nodes=2)
    assert "--gpus 8" in plan_train.train_job(plan, "sft", "a").args_for(
        gpus=8, nodes=2
    )  # 4 per node, global batch kept: accumulation 2
