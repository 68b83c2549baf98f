"""Jobs of workflow/rules/eval.smk that evaluate a model: on the demo world's held-out prompts
(eval_demo, with the local lm-eval suites), its win rate (judge_winrate), a reward model's
accuracy (eval_reward), and lm-eval suites from the hub (lm_eval, lm_eval_task_folders). The
judges' jobs are in handbook.plan.judges."""

from __future__ import annotations

import json
import math
import re
import shlex

from handbook import artifacts
from handbook.methods import PLAIN_STAGES
from handbook.plan.core import Plan
from handbook.plan.jobs import Job, threads_for
from handbook.suites import RUN_KEYS


def suite_at_scale(plan: Plan, name: str) -> str:
    """The suite evaluated for `name`: its demo counterpart at tiny scale."""
    if plan.scale == "tiny":
        return plan.config["suites"][name].get("tiny") or name
    return name


def suite_tasks_dir(plan: Plan, suite: str) -> str | None:
    """Local suites read tasks generated from the demo world, in the suite's prompt format."""
    spec = plan.config["suites"][suite]
    if not spec.get("local"):
        return None
    return artifacts.LM_EVAL_TASKS.format(
        format="chat" if spec.get("apply_chat_template") else "plain"
    )


def task_folders_file(plan: Plan, suite: str) -> str | None:
    """Hub suites: the lm-eval task folders their tasks live in, found once per suite."""
    if plan.config["suites"][suite].get("local"):
        return None
    return artifacts.TASK_FOLDERS.format(suite=suite)


def suite_spec(plan: Plan, suite: str) -> dict:
    """The suite as its scripts read it: what it is, without how much of it runs (RUN_KEYS)."""
    return {k: v for k, v in plan.config["suites"][suite].items() if k not in RUN_KEYS}


def suites_json_arg(plan: Plan, suite: str) -> str:
    """The suite for a script's --suites_json (the lm_eval and lm_eval_task_folders rules)."""
    return f"--suites_json {shlex.quote(json.dumps({suite: suite_spec(plan, suite)}))}"


def local_suites(plan: Plan) -> list[str]:
    """Suites (as evaluated at this scale) on tasks generated here that some table reads: the
    demo evaluation runs them on the model it has loaded (one process per model), so their
    files are outputs of eval_demo, not of lm_eval."""
    used = {
        suite_at_scale(plan, s)
        for spec in plan.config["tables"].values()
        for s in spec.get("suites", [])
    }
    return sorted(s for s in used if plan.config["suites"][s].get("local"))


def lm_eval_suite_pattern(plan: Plan) -> str:
    """Wildcard constraint of the lm_eval rule: the suites eval_demo does not write."""
    others = sorted(set(plan.config["suites"]) - set(local_suites(plan)))
    return "|".join(re.escape(s) for s in others) if others else "(?!)"


def suite_entry(plan: Plan, ref: str, suite: str) -> dict:
    """What an evaluation needs to run one suite: its spec, tasks folder, limit and output."""
    return {
        "spec": suite_spec(plan, suite),
        "include_path": suite_tasks_dir(plan, suite),
        "limit": plan.config["suites"][suite].get("limit"),
        "output": artifacts.for_model(artifacts.SUITE_RESULT, ref, suite=suite),
    }


def demo_eval_job(plan: Plan, stage: str, run: str) -> Job:
    ref = f"{stage}/{run}"
    demo = plan.demo_eval
    inputs = {"model": plan.model_inputs(ref), "prompts": demo["prompts"]}
    if demo.get("loss_dataset"):
        inputs["loss_data"] = plan.tokenized_path(demo["loss_dataset"], ref)
    suites = local_suites(plan)
    inputs["tasks"] = sorted({suite_tasks_dir(plan, s) for s in suites})
    # A model that knows no chat format samples no chat replies: their styles and pass@k would
    # measure nothing (its accuracy is read in the plain format).
    samples = 0 if stage in PLAIN_STAGES else demo["num_samples"]
    args = f"--num_samples {samples} --max_new_tokens {demo['max_new_tokens']}"
    if demo.get("same_knowledge"):
        inputs["same_knowledge"] = demo["same_knowledge"]
        args += f" --same_knowledge {demo['same_knowledge']}"
    reference = kl_reference(plan, ref)
    if reference and samples:
        inputs["reference"] = plan.model_inputs(reference)
        args += f" --reference {plan.model_location(reference)}"
    if suites:
        entries = {s: suite_entry(plan, ref, s) for s in suites}
        args += f" --lm_eval {shlex.quote(json.dumps(entries))}"
    if "loss_data" in inputs:
        args = f"--loss_data {inputs['loss_data']} " + args
    return Job(inputs=inputs, args=args, model=plan.model_location(ref))


def kl_reference(plan: Plan, ref: str) -> str | None:
    """The model a policy's KL is measured against: a preference or online run's reference model,
    else the model it was trained from (the SFT model in the demo and the scans); None for other
    stages, whose starting model answers no chat prompt."""
    run = plan.runs.get(ref)
    if run is None or run.method.data_format not in ("preference", "prompts"):
        return None
    return run.reference_model or run.model


def winrate_job(plan: Plan, stage: str, run: str) -> Job:
    judge = plan.demo_eval["judge"]
    baseline_stage, baseline_run = judge["baseline"].split("/", 1)
    return Job(
        inputs={
            "samples": artifacts.DEMO_SAMPLES.format(stage=stage, run=run),
            "baseline": artifacts.DEMO_SAMPLES.format(stage=baseline_stage, run=baseline_run),
            "reward_model": plan.model_inputs(judge["reward_model"]),
        },
        model=plan.model_location(judge["reward_model"]),
    )


def reward_eval_job(plan: Plan, run: str) -> Job:
    return Job(inputs={"model": plan.model_inputs(f"rm/{run}"), "pairs": plan.demo_eval["pairs"]})


def inference_gpus(plan: Plan, ref: str) -> int:
    """GPUs an evaluation job asks for: one, or as many as hold the model's bf16 weights with a
    quarter to spare for activations and the KV cache (a power of two, up to a node's 8), from
    the shape the cost plan knows. Mixtral-8x22B's 281 GB need 8 GPUs of 80 GiB."""
    if not plan.needs_gpu(ref):
        return 0
    from handbook.costs.lookup import model_shape

    shape, _ = model_shape(plan, ref)
    if shape is None:
        return 1
    weights = 2 * shape.total_params() * 1.25
    per_gpu = float(plan.config["costs"]["gpu_memory_gib"]) * 2**30
    needed = max(1, math.ceil(weights / per_gpu))
    return min(8, 2 ** math.ceil(math.log2(needed)))


def multi_gpu_args(gpus: int) -> list[str]:
    """A model over several GPUs: accelerate's device map spreads its layers in bf16."""
    return ["--device_map auto", "--dtype bfloat16"] if gpus > 1 else []


def lm_eval_job(plan: Plan, stage: str, run: str, suite: str) -> Job:
    ref = f"{stage}/{run}"
    spec = plan.config["suites"][suite]
    inputs = {"model": plan.model_inputs(ref)}
    args = suites_json_arg(plan, suite)
    if suite_tasks_dir(plan, suite):
        inputs["tasks"] = suite_tasks_dir(plan, suite)
        args += f" --include_path {suite_tasks_dir(plan, suite)}"
    if task_folders_file(plan, suite):
        inputs["task_folders"] = task_folders_file(plan, suite)
        args += f" --task_folders {task_folders_file(plan, suite)}"
    for key in ("limit", "max_gen_toks"):
        if spec.get(key):
            args += f" --{key} {spec[key]}"
    gpus = inference_gpus(plan, ref)
    if gpus > 1:  # one GPU cannot hold it: accelerate spreads it over the job's GPUs
        args += " --parallelize --dtype bfloat16"
    return Job(
        inputs=inputs,
        args=args + f" --device {plan.device(ref)}",
        model=plan.model_location(ref),
        gpus=gpus,
        threads=threads_for(gpus),
    )
