"""Jobs of workflow/rules/sampling.smk: a rejection-sampling setup's policy samples completions
(sample_completions) and a reward model or verifiers score them (score_samples)."""

from __future__ import annotations

from handbook import artifacts
from handbook.plan.core import Plan
from handbook.plan.jobs import Job, threads_for

SAMPLING_KEYS = ("num_completions", "temperature", "top_p", "max_new_tokens", "seed", "backend")


def sample_job(plan: Plan, name: str) -> Job:
    """The policy, and the prompts: a JSONL file, or a configured dataset's prepared train
    split. One GPU to sample a model that needs one (trained on GPUs, or a pretrained base)."""
    spec = plan.config["rejection_sampling"][name]
    prompts = spec["prompts"]
    if prompts in plan.config["datasets"]:
        prompts = artifacts.PREPARED.format(dataset=prompts)
    gpus = int(plan.needs_gpu(spec["policy"]))
    return Job(
        inputs={"model": plan.model_inputs(spec["policy"]), "prompts": prompts},
        args=" ".join(f"--{k} {spec[k]}" for k in SAMPLING_KEYS if k in spec),
        model=plan.model_location(spec["policy"]),
        gpus=gpus,
        threads=threads_for(gpus),
    )


def score_job(plan: Plan, name: str) -> Job:
    """Scored by the setup's reward model (its folder an input, unless it is a hub model; a GPU
    as its policy would get), or by verifiers, weighted, on the CPU."""
    spec = plan.config["rejection_sampling"][name]
    inputs = {"samples": artifacts.SAMPLES.format(name=name)}
    if "reward_model" in spec:
        gpus = int(plan.needs_gpu(spec["reward_model"]))
        inputs["reward_model"] = plan.model_inputs(spec["reward_model"])
        args = f"--reward_model {plan.model_location(spec['reward_model'])}"
    else:
        gpus = 0
        inputs["reward_model"] = []
        args = f"--verifiers {','.join(spec['verifiers'])}"
        if spec.get("verifier_weights"):
            args += f" --verifier_weights {','.join(str(w) for w in spec['verifier_weights'])}"
    return Job(inputs=inputs, args=args, gpus=gpus, threads=threads_for(gpus))


def sampling_writing(plan: Plan, source: str) -> list[dict]:
    """Rejection-sampling setups whose output folder a dataset source lies in."""
    return [
        spec
        for name, spec in plan.config["rejection_sampling"].items()
        if source.startswith(artifacts.SAMPLING.format(name=name) + "/")
    ]
