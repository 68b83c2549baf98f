"""scale: rehearsal: the full-scale plan with only sizes shrunk, GPU processes on CPUs."""

from __future__ import annotations

from pathlib import Path

from test_plan import plan_of, small_config

from handbook.config import load_config
from handbook.plan import build_plan
from handbook.plan import data as plan_data
from handbook.plan import eval as plan_eval
from handbook.plan import judges as plan_judges
from handbook.plan import tables as plan_tables
from handbook.plan import train as plan_train

ZERO3 = "config/accelerate/zero3.yaml"


def rehearsal_config(**run) -> dict:
    runs = {
        "sft": {
            "a": {
                "model": "base/big",
                "dataset": "hub_pairs",
                "recipe": "config/recipes/zephyr-7b-beta/sft/full.yaml",
                "gpus": 8,
                "accelerate_config": ZERO3,
                "resources": {"mem_mb": 256000, "runtime": 1440},
                **run,
            }
        }
    }
    return small_config(runs=runs, scale="rehearsal")


def test_a_gpu_run_keeps_its_recipe_launcher_and_global_batch_on_two_cpu_processes(tmp_path):
    plan = plan_of(rehearsal_config(), tmp_path)
    run = plan.runs["sft/a"]
    assert run.gpus_per_node == 0 and run.processes == 2 and run.on_cpu_stand_in
    # The recipe's 16 per device x 1 x 8 GPUs = 128, kept on 2 processes by accumulation 4.
    assert plan_train.batch(plan, run) == {
        "per_device": 16,
        "accumulation": 4,
        "processes": 2,
        "global": 128,
        "recipe": {"per_device": 16, "accumulation": 1, "processes": 8, "global": 128},
    }
    args = plan_train.train_job(plan, "sft", "a").args_for(gpus=8)
    for piece in (
        "--gpus 0",
        "--gradient_accumulation_steps 4",
        "--rehearsal True",
        "--max_steps 2",
        "--ddp_backend gloo",
        "--attn_implementation sdpa",
    ):
        assert piece in args
    # The run's own DeepSpeed config, on CPU processes; the scheduler is still asked for the plan's
    # GPUs.
    command = plan_train.train_job(plan, "sft", "a").launcher_for(gpus=8, nodes=1, threads=8)
    assert (
        f"--config_file {Path(plan.paths.config_file(ZERO3))}" in command
        and "--num_processes 2" in command
    )
    assert (
        plan_train.train_job(plan, "sft", "a").gpus == 8
        and plan_train.train_job(plan, "sft", "a").threads == 32
    )
    assert (
        plan_train.train_job(plan, "sft", "a").mem_mb == 3000
        and plan_train.train_job(plan, "sft", "a").runtime == 20
    )
    assert plan_train.train_job(plan, "sft", "a").env == "../../envs/train.yaml"
    assert any("8 GPU(s) x 1 node(s) -> 2 CPU process(es)" in line for line in plan.replacements)


def test_hub_models_and_data_stay_hub_ids_read_from_the_stand_ins(tmp_path):
    plan = plan_of(rehearsal_config(), tmp_path)
    assert plan.model_location("base/big") == "org/big-7b"
    assert plan_train.train_job(plan, "sft", "a").inputs["model"] == [
        "results/standins/manifest.json"
    ]
    assert plan_data.dataset_sources(plan, "hub_pairs") == ["results/standins/manifest.json"]
    assert plan.workdir == "results/rehearsal" and plan.device("base/big") == "cpu"


def test_multi_node_runs_rehearse_on_one_node(tmp_path):
    plan = plan_of(rehearsal_config(resources={"nodes": 4}), tmp_path)
    assert (
        plan_train.train_job(plan, "sft", "a").nodes == 1
        and plan_train.batch(plan, plan.runs["sft/a"])["recipe"]["processes"] == 32
    )
    assert "srun" not in plan_train.train_job(plan, "sft", "a").launcher_for(
        gpus=8, nodes=1, threads=8
    )


def test_every_shipped_family_plans_at_rehearsal():
    plan = build_plan(load_config([], {"scale": "rehearsal"}))
    for ref, run in plan.runs.items():
        assert run.gpus_per_node == 0, ref
        if run.method.data != "model":
            assert (
                plan_train.batch(plan, run)["global"]
                == plan_train.batch(plan, run)["recipe"]["global"]
            ), ref


def test_full_scale_batch_of_the_zephyr_recipes():
    plan = build_plan(load_config([]))
    assert plan_train.batch(plan, plan.runs["sft/zephyr-7b-beta"])["global"] == 128
    assert plan_train.batch(plan, plan.runs["dpo/zephyr-7b-beta"])["global"] == 128
    assert plan_train.batch(plan, plan.runs["dpo/zephyr-7b-beta-qlora"])["global"] == 16
    assert plan_train.batch(plan, plan.runs["orpo/zephyr-141b-A35b"])["global"] == 32


def test_fsdp_runs_rehearse_on_cpu_processes_that_load_their_own_weights():
    # Zephyr-141B's ORPO: 4 nodes x 8 GPUs under FSDP -> 2 CPU processes under the same FSDP config.
    plan = build_plan(load_config([], {"scale": "rehearsal"}))
    command = plan_train.train_job(plan, "orpo", "zephyr-141b-A35b").launcher_for(
        gpus=8, nodes=1, threads=8
    )
    assert "config/accelerate/fsdp.yaml --num_processes 2" in command
    assert "--fsdp_sync_module_states false --fsdp_cpu_ram_efficient_loading false" in command
    assert "ACCELERATE_USE_CPU=true" in command


def test_tables_rehearse_their_real_suites_on_few_documents_and_the_demo_judge():
    plan = build_plan(load_config([], {"scale": "rehearsal"}))
    args = plan_eval.lm_eval_job(plan, "sft", "zephyr-7b-beta", "openllm").args
    assert '"task": "mmlu"' in args and "--limit 2" in args and args.endswith("--device cpu")
    assert (
        plan_judges.judge_prompts(plan, "mt_bench") == "results/judges/prompts/mt_bench_demo.jsonl"
    )
    spec = plan_tables.table_spec(plan, "zephyr-7b-beta")["table"]
    # The judge endpoint's stand-in: the demo SFT model served on localhost by transformers.
    assert spec["suites"] == ["openllm"]
    assert spec["judges"]["mt_bench"]["judge"] == "demo_served (sft/tiny)"


def test_generating_suites_rehearse_with_their_generation_capped_and_keep_their_table_columns():
    plan = build_plan(load_config([], {"scale": "rehearsal"}))
    assert plan_tables.table_spec(plan, "smollm2")["table"]["suites"] == ["openllm", "ifeval"]
    args = plan_eval.lm_eval_job(plan, "sft", "smollm2-135m", "ifeval").args
    assert "--limit 2" in args and "--max_gen_toks 16" in args and '"max_gen_toks"' not in args
    assert any("generate at most 16 tokens" in line for line in plan.replacements)
    full = plan_eval.lm_eval_job(build_plan(load_config([])), "sft", "smollm2-135m", "ifeval").args
    assert "--max_gen_toks" not in full and "--limit" not in full
