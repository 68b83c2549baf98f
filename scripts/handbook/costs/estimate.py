"""One job's cost: the tokens it trains on, its optimizer steps, FLOPs, GPU-hours at the configured
MFU, wall time against the time limit it asks SLURM for, and memory per GPU. Training jobs,
the shared reference pass of DPO runs, and rejection sampling's generation. Formulas and their
approximations: docs/costs.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from handbook.batch import DEFAULT_PER_DEVICE
from handbook.costs.lookup import (
    Data,
    artifact_root,
    dataset_estimate,
    local_rows,
    model_shape,
    run_data,
)
from handbook.costs.memory import (
    GIB,
    Memory,
    inference_memory,
    sharding,
    training_memory,
)
from handbook.costs.shapes import ModelShape
from handbook.plan.core import Plan, Run
from handbook.plan.sampling import sample_job
from handbook.plan.train import batch, reference_logps_job, reference_settings

# TRL's defaults for a recipe that does not set them (SFT/DPO/KTO/ORPO/reward configs: 1024;
# GRPO: prompts of 512 and completions of 256 tokens, 8 generations per prompt).
DEFAULT_MAX_LENGTH = 1024
GRPO_DEFAULTS = {"max_prompt_length": 512, "max_completion_length": 256, "num_generations": 8}
# TrainingArguments' default epochs.
DEFAULT_EPOCHS = 3.0


@dataclass(frozen=True)
class Rates:
    """What turns FLOPs into GPU-hours and bytes into a fit (the config's `costs`)."""

    peak_flops: float  # per GPU, dense bf16
    mfu: float  # training
    generation_mfu: float
    gpu_bytes: float
    tokens_per_row: float  # when nothing better is known
    mfu_source: str


@dataclass
class JobCost:
    job: str
    kind: str  # train | reference | sampling | merge
    gpus: int  # asked of the scheduler, over all nodes (0: a CPU job)
    limit_hours: float | None = None  # the SLURM time limit it asks for
    params: int | None = None  # N of 6·N·tokens (a mixture's active parameters)
    tokens: float | None = None
    measured: bool = False  # tokens counted in a built summary.json
    steps: int | None = None
    flops: float | None = None
    gpu_hours: float | None = None
    memory: Memory | None = None
    layout: str = ""  # how states are sharded
    notes: list[str] = field(default_factory=list)

    @property
    def wall_hours(self) -> float | None:
        return self.gpu_hours / self.gpus if self.gpu_hours is not None and self.gpus else None


@dataclass(frozen=True)
class Work:
    tokens: float  # trained on: forward and backward
    steps: int
    micro_batch_tokens: float  # one GPU's micro-batch at its longest (sizes the activations)
    generated: float = 0.0  # sampled during training (GRPO)


def training_work(run: Run, settings: dict, data: Data, per_device: int, global_batch: int) -> Work:
    """Tokens and steps of a run over its data: rows capped at max_length (a pair's two
    sequences each), packed into max_length sequences when packing, for num_train_epochs or
    max_steps x the global batch."""
    max_length = int(settings.get("max_length") or DEFAULT_MAX_LENGTH)
    generated_per_sequence = 0.0
    if run.method.data_format == "prompts":  # GRPO: global batch and steps count completions
        grpo = {**GRPO_DEFAULTS, **{k: settings[k] for k in GRPO_DEFAULTS if settings.get(k)}}
        completion = int(grpo["max_completion_length"])
        sequences = data.rows * int(grpo["num_generations"])
        per_sequence = min(data.tokens_per_row, grpo["max_prompt_length"]) + completion
        generated_per_sequence, micro = completion, per_device * per_sequence
    elif run.method.data_format == "preference":
        per_sequence = min(data.tokens_per_row, 2 * max_length)  # prompt + chosen, + rejected
        sequences = data.rows
        micro = per_device * 2 * max_length
        if run.method.unpaired:  # KTO: a pair becomes a desirable and an undesirable example
            sequences, per_sequence, micro = 2 * data.rows, per_sequence / 2, micro / 2
    else:
        per_sequence = min(data.tokens_per_row, max_length)
        sequences = data.rows
        micro = per_device * max_length
        if settings.get("packing"):
            sequences = math.ceil(data.rows * per_sequence / max_length)
            per_sequence = max_length
    max_steps = int(settings.get("max_steps", -1) or -1)
    if max_steps > 0:
        steps, trained = max_steps, max_steps * global_batch
    else:
        trained = sequences * float(settings.get("num_train_epochs", DEFAULT_EPOCHS))
        steps = math.ceil(trained / global_batch)
    return Work(trained * per_sequence, steps, micro, trained * generated_per_sequence)


def loss_types(settings: dict) -> list[str]:
    loss = settings.get("loss_type") or []
    return [loss] if isinstance(loss, str) else list(loss)


def training_flops(
    run: Run, settings: dict, shape: ModelShape, work: Work
) -> tuple[float, float, list[str]]:
    """(FLOPs at the training MFU, FLOPs of generation, what was counted). 6·N per trained
    token; LoRA 4·N through the frozen base (forward, and the backward pass to the inputs) plus
    6 per adapter parameter; a reference model's forward 2·N; generation 2·N per sampled token."""
    n, counted = shape.active_params(), []
    if settings.get("use_peft"):
        lora, unknown = shape.lora_params(settings.get("lora_target_modules"), lora_rank(settings))
        flops = (4 * n + 6 * lora) * work.tokens
        counted.append(f"LoRA: (4·N + 6·{lora / 1e6:.0f}M adapter params)·tokens")
        counted += [f"LoRA targets this shape lacks (not counted): {unknown}"] if unknown else []
    else:
        flops = 6 * n * work.tokens
        counted.append("6·N·tokens")
    if run.method.unpaired:  # KTOTrainer runs its reference model during training
        kl = "kto" in (loss_types(settings) or ["kto"])
        flops += (6 if kl else 2) * n * work.tokens
        counted.append(
            "reference 2·N·tokens" + (" + KL batch (policy, reference) 4·N·tokens" if kl else "")
        )
    if run.method.rollouts and float(settings.get("beta", 0.0) or 0.0) > 0:
        flops += 2 * n * work.tokens
        counted.append("reference 2·N·tokens (beta > 0)")
    generation = 2 * n * work.generated
    if generation:
        counted.append("generation 2·N per sampled token (max_completion_length, at most)")
    return flops, generation, counted


def lora_rank(settings: dict) -> int:
    return int(settings.get("lora_r", 16))  # TRL ModelConfig's default r


def gpu_hours(flops: float, generation: float, rates: Rates) -> float:
    seconds = flops / (rates.peak_flops * rates.mfu)
    seconds += generation / (rates.peak_flops * rates.generation_mfu)
    return seconds / 3600


def train_cost(plan: Plan, run: Run, rates: Rates) -> JobCost:
    cost = JobCost(run.ref, "train", run.requested_gpus, limit_hours=run.runtime / 60)
    if run.method.data == "model":
        cost.kind, cost.flops, cost.tokens = "merge", 0.0, 0.0
        cost.notes.append("a linear merge: no training")
        return cost
    shape, shape_source = model_shape(plan, run.model)
    settings = plan.recipe_settings(run)
    layout = batch(plan, run)
    data = run_data(plan, run, rates.tokens_per_row)
    cost.notes.append(data.source)
    if shape is None or data.rows is None:
        cost.notes += [shape_source] if shape is None else []
        return cost
    work = training_work(run, settings, data, layout["per_device"], layout["global"])
    flops, generation, counted = training_flops(run, settings, shape, work)
    cost.params, cost.tokens, cost.steps = shape.active_params(), work.tokens, work.steps
    cost.measured = data.measured
    cost.flops = flops + generation
    if run.method.data == "ref_logps":
        reference = f"ref_logps/{run.dataset}/{run.reference_model or run.model}"
        counted.append(f"the reference forward is its own job ({reference})")
    cost.notes.append(f"N from {shape_source}; FLOPs: {'; '.join(counted)}")
    if not run.requested_gpus:
        cost.notes.append("a CPU job: no GPU-hours or GPU memory")
        return cost
    cost.gpu_hours = gpu_hours(flops, generation, rates)
    shard = sharding(plan, run)
    lora = None
    if settings.get("use_peft"):
        lora = shape.lora_params(settings.get("lora_target_modules"), lora_rank(settings))[0]
    kto_reference = int(run.method.unpaired and not settings.get("precompute_ref_log_probs"))
    cost.memory = training_memory(
        settings, shape, shard, work.micro_batch_tokens, rates.gpu_bytes, lora, kto_reference
    )
    cost.layout = shard.describe() + (", QLoRA" if settings.get("load_in_4bit") else "")
    cost.layout += ", LoRA" if lora is not None and not settings.get("load_in_4bit") else ""
    return cost


def reference_cost(plan: Plan, dataset: str, ref: str, members: list[Run], rates: Rates) -> JobCost:
    """The reference model's forward pass over the pairs its DPO runs share (one job)."""
    job = reference_logps_job(plan, dataset, *ref.split("/", 1))
    max_length = reference_settings(plan, dataset, ref)["max_length"]
    cost = JobCost(f"ref_logps/{dataset}/{ref}", "reference", job.gpus, job.runtime / 60)
    shape, shape_source = model_shape(plan, ref)
    data = run_data(plan, members[0], rates.tokens_per_row)
    cost.notes.append(data.source)
    if shape is None or data.rows is None:
        cost.notes += [shape_source] if shape is None else []
        return cost
    cost.params = shape.active_params()
    cost.tokens = data.rows * min(data.tokens_per_row, 2 * max_length)
    cost.flops = 2 * cost.params * cost.tokens
    cost.notes.append(f"N from {shape_source}; FLOPs: forward 2·N·tokens, once for the group")
    if job.gpus:
        cost.gpu_hours = gpu_hours(cost.flops, 0.0, rates)
        # The job passes no recipe: TrainingArguments' batch of 8 pairs, the checkpoint's dtype.
        tokens = DEFAULT_PER_DEVICE * 2 * max_length
        cost.memory = inference_memory({"dtype": "bfloat16"}, shape, tokens)
        cost.layout = "one process, inference"
    return cost


def sampling_cost(plan: Plan, name: str, rates: Rates) -> JobCost:
    """Rejection sampling: num_completions replies of at most max_new_tokens per prompt."""
    spec = plan.config["rejection_sampling"][name]
    job = sample_job(plan, name)
    cost = JobCost(f"sampling/{name}", "sampling", job.gpus)
    shape, shape_source = model_shape(plan, spec["policy"])
    prompts = spec["prompts"]
    if prompts in plan.config["datasets"]:
        rows = dataset_estimate(plan, prompts, rates.tokens_per_row).rows
    else:
        rows = local_rows(artifact_root(plan) / plan.paths.local(prompts), "train")
    if shape is None or rows is None:
        cost.notes.append(shape_source if shape is None else f"unknown rows: {prompts}")
        return cost
    cost.params = shape.active_params()
    cost.tokens = rows * spec.get("num_completions", 1) * spec.get("max_new_tokens", 256)
    cost.flops = 2 * cost.params * cost.tokens
    cost.notes.append(
        f"{rows:,.0f} prompts x {spec.get('num_completions', 1)} x at most "
        f"{spec.get('max_new_tokens', 256)} new tokens; FLOPs: 2·N per generated token (prompt "
        f"prefill not counted); N from {shape_source}; time limit: the rule's own"
    )
    if job.gpus:
        cost.gpu_hours = gpu_hours(0.0, cost.flops, rates)
    return cost


def warnings_of(cost: JobCost, rates: Rates) -> list[str]:
    """A job whose estimate runs past its time limit, or that does not fit one GPU's memory."""
    found = []
    wall = cost.wall_hours
    if wall is not None and cost.limit_hours and wall > cost.limit_hours:
        found.append(
            f"warning: {cost.job}: about {wall:,.1f} h on {cost.gpus} GPU(s) at MFU "
            f"{rates.mfu:.2f}, over the {cost.limit_hours:g} h time limit it asks for "
            "(resources.runtime)"
        )
    if cost.memory is not None and cost.memory.total > rates.gpu_bytes:
        found.append(
            f"warning: {cost.job}: about {cost.memory.total / GIB:,.1f} GiB per GPU "
            f"({cost.layout}), more than the {rates.gpu_bytes / GIB:g} GiB of one GPU "
            "(costs.gpu_memory_gib)"
        )
    return found
