"""Jobs of workflow/rules/eval.smk for the judges: each model's answers to a judge's prompts
(judge_answers_<format>), and at tiny scale and rehearsal the demo reward model's verdicts on a
table's answers in the judge's result format (demo_judge)."""

from __future__ import annotations

import shlex

from handbook import artifacts
from handbook.plan.core import Plan, model_id, ref_of
from handbook.plan.jobs import Job, threads_for

JUDGE_GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size")


def judges_of_format(plan: Plan, fmt: str) -> str:
    """Wildcard constraint: the judges of one format (a pattern matching nothing if none)."""
    names = [n for n, j in plan.config["judges"].items() if j["format"] == fmt]
    return "|".join(names) if names else "(?!)"


def judge_prompts(plan: Plan, name: str) -> str:
    """A judge's prompt set: the demo set at tiny scale and rehearsal when it comes from the hub
    (its answers are judged by the demo reward model there)."""
    spec = plan.config["judges"][name]
    if plan.scale in ("tiny", "rehearsal") and plan.is_hub(spec["prompts"]):
        return artifacts.JUDGE_DEMO_PROMPTS[spec["format"]]
    return spec["prompts"]


def answers_file(plan: Plan, judge: str, ref: str) -> str:
    fmt = plan.config["judges"][judge]["format"]
    return artifacts.JUDGE_ANSWERS[fmt].format(judge=judge, model_id=model_id(ref))


def answer_job(plan: Plan, judge: str, model: str) -> Job:
    """`model` is the judge's model id (<stage>-<run>)."""
    ref = ref_of(model)
    spec = plan.config["judges"][judge]
    prompts = judge_prompts(plan, judge)
    args = [
        f"--model {plan.model_location(ref)}",
        f"--format {spec['format']}",
        f"--prompts {shlex.quote(prompts)}",
        f"--model_id {model}",
        f"--device {plan.device(ref)}",
    ]
    if prompts == spec["prompts"]:
        args += [
            f"--{k} {shlex.quote(str(spec[k]))}"
            for k in ("prompts_config", "prompts_split")
            if spec.get(k)
        ]
    args += [f"--{k} {spec[k]}" for k in JUDGE_GENERATION_KEYS if k in spec]
    gpus = int(plan.needs_gpu(ref))
    return Job(
        inputs={
            "model": plan.model_inputs(ref),
            "prompts": [] if plan.is_hub(prompts) else [prompts],
        },
        args=" ".join(args),
        gpus=gpus,
        threads=threads_for(gpus),
    )
