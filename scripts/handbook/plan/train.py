"""Jobs of workflow/rules/train.smk: training a run (train_model) and the reference log-probs
that runs of a preference loss share (compute_ref_logps)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from handbook import artifacts, dashboards
from handbook.batch import BatchError, keep_global, recipe_batch
from handbook.launch import launcher
from handbook.methods import BASE
from handbook.plan.core import Plan, Run
from handbook.plan.jobs import Job, threads_for
from handbook.plan.recipes import read_yaml

# The default accelerate config is for CPU; a GPU run without one of its own gets plain DDP.
GPU_ACCELERATE_CONFIG = "config/accelerate/ddp.yaml"
# Recipe defaults the shared reference log-probs are computed with (TRL's DPOConfig defaults).
REFERENCE_DEFAULTS = {"max_length": 1024, "truncation_mode": "keep_start"}


@dataclass(frozen=True)
class TrainJob(Job):
    """A training job; its arguments and launcher follow the GPUs and nodes it gets at run time
    (a profile may change them), keeping the run's global batch."""

    plan: Plan | None = None
    run: Run | None = None
    script: str = ""

    def args_for(self, gpus: int | None = None, nodes: int | None = None) -> str:
        return train_args(self.plan, self.run, gpus, nodes)

    def launcher_for(self, gpus: int | None = None, nodes: int = 1, threads: int = 1) -> str:
        return train_launcher(self.plan, self.run, gpus, nodes, threads)


def train_job(plan: Plan, stage: str, name: str) -> TrainJob:
    run = plan.run(stage, name)
    return TrainJob(
        inputs={
            "recipe": run.recipe,
            "model": plan.model_inputs(run.model),
            "data": train_data(plan, run),
            "decontamination": decontamination_gate(plan, run.dataset),
        },
        model=plan.model_location(run.model),
        # GPU runs need the GPU stack (DeepSpeed, flash-attn); CPU runs the lighter train env.
        env="../../envs/gpu.yaml" if run.gpus_per_node else "../../envs/train.yaml",
        threads=run.threads,
        gpus=run.requested_gpus,
        nodes=run.nodes,
        mem_mb=run.mem_mb,
        runtime=run.runtime,
        plan=plan,
        run=run,
        script=run.method.script,
    )


def decontamination_gate(plan: Plan, dataset: str) -> list[str]:
    """What a training job waits for beyond its data: its dataset's overlap check with the
    evaluation prompts, when decontamination.max_fraction is set (handbook.plan.decontamination),
    so an overlap above it stops the build before training."""
    if plan.config["decontamination"]["max_fraction"] is None or not dataset:
        return []
    return [artifacts.DECONTAMINATION.format(dataset=dataset)]


def train_data(plan: Plan, run: Run) -> str:
    """What the run trains on: a tokenized or prepared dataset, reference log-probs, or (a
    merge) the other model."""
    kind = run.method.data
    if kind == "tokenized":
        return plan.tokenized_path(run.dataset, run.model)
    if kind == "ref_logps":
        reference = run.reference_model or run.model
        return artifacts.for_model(artifacts.REF_LOGPS, reference, dataset=run.dataset)
    if kind == "model":
        return plan.model_location(run.merge_with)
    return artifacts.PREPARED.format(dataset=run.dataset)


def train_args(plan: Plan, run: Run, gpus: int | None = None, nodes: int | None = None) -> str:
    """Per-run overrides of the recipe, passed as --key value (the command line wins), for the
    job's resources as they are at run time (`gpus` over all nodes; a profile may change it).
    A run from a base model given a chat template passes it on, so the trained model carries
    it. The global batch goes with it, and the accumulation that keeps it on these processes."""
    args = dict(run.args)
    base_stage, _, base = run.model.partition("/")
    template = plan.chat_template_of(base) if base_stage == BASE else None
    if template and "chat_template" not in args:
        args["chat_template"] = template
    total_gpus, processes = launch_shape(plan, run, gpus, nodes)
    args["gpus"] = total_gpus
    report_to = plan.recipe_settings(run).get("report_to")
    args.update(dashboards.job_args(run.stage, run.name, run.sweep or run.stage, report_to))
    layout = batch(plan, run, processes)
    if layout is not None:
        args["global_batch"] = layout["global"]
        if layout["accumulation"] != layout["recipe"]["accumulation"]:
            args["gradient_accumulation_steps"] = layout["accumulation"]
    return " ".join(f"--{key} {shlex.quote(str(value))}" for key, value in sorted(args.items()))


def launch_shape(
    plan: Plan, run: Run, gpus: int | None = None, nodes: int | None = None
) -> tuple[int, int]:
    """(GPUs over all nodes, processes over all nodes) the job trains on. The scheduler's `gpu`
    resource (a profile may raise it) sets them on GPUs; a CPU stand-in keeps its processes."""
    if run.on_cpu_stand_in or not run.gpus_per_node:
        return 0, run.processes
    gpus = int(gpus if gpus is not None else run.gpus_per_node * run.nodes)
    nodes = int(nodes or run.nodes)
    if gpus < nodes or gpus % nodes:
        raise plan.error(
            f"runs.{run.stage}.{run.name}",
            f"{gpus} GPUs cannot be spread evenly over {nodes} nodes (a profile's gpu counts "
            "the GPUs of all nodes)",
        )
    return gpus, gpus


def batch(plan: Plan, run: Run, processes: int | None = None) -> dict | None:
    """The run's global batch on `processes` processes (default: as configured), beside the
    recipe's: per-device batch x accumulation x processes. None for runs that do not train."""
    if run.method.data == "model":
        return None
    recipe = recipe_batch(plan.recipe_settings(run), run.recipe_processes or run.launch_processes)
    target = run.global_batch or recipe.size
    processes = processes or run.launch_processes
    if processes == recipe.processes and target == recipe.size:
        layout = recipe
    else:
        try:
            layout = keep_global(target, recipe.per_device, processes)
        except BatchError as err:
            raise plan.error(
                f"runs.{run.stage}.{run.name}", f"on {processes} processes: {err}"
            ) from None
    return {**layout.as_dict(), "recipe": recipe.as_dict()}


def train_launcher(
    plan: Plan, run: Run, gpus: int | None = None, nodes: int = 1, threads: int = 1
) -> str:
    """The launch command for the job's actual resources (a profile may change them)."""
    nodes = int(nodes or 1) if not run.on_cpu_stand_in else 1
    per_node = launch_shape(plan, run, gpus, nodes)[0] // nodes  # each node runs its share
    accel = accelerate_config(plan, run, on_gpus=bool(per_node))
    return launcher(accel, read_yaml(accel), per_node, nodes, run.processes, int(threads))


def accelerate_config(plan: Plan, run: Run, on_gpus: bool) -> str:
    """The accelerate config file a run launches with: its own, else the default for where its
    processes run."""
    default = GPU_ACCELERATE_CONFIG if on_gpus else plan.config["accelerate_config"]
    return plan.paths.config_file(run.accelerate_config or default)


# --- reference log-probs


def reference_groups(plan: Plan) -> dict[tuple[str, str], list[Run]]:
    """(dataset, reference model) -> the runs sharing its log-probs, computed once."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in plan.runs.values():
        if run.method.data == "ref_logps":
            groups.setdefault((run.dataset, run.reference_model or run.model), []).append(run)
    return groups


def reference_settings(plan: Plan, dataset: str, ref: str) -> dict:
    """Truncation the shared log-probs are computed with: every run using them must agree."""
    seen: dict[tuple, list[str]] = {}
    members = reference_groups(plan)[(dataset, ref)]
    for run in members:
        settings = {**REFERENCE_DEFAULTS, **plan.recipe_settings(run)}
        key = (settings["max_length"], settings["truncation_mode"])
        seen.setdefault(key, []).append(run.name)
    if len(seen) > 1:
        detail = "; ".join(
            f"max_length={k[0]}, truncation_mode={k[1]}: {v}" for k, v in seen.items()
        )
        stages = sorted({r.stage for r in members})
        raise plan.error(
            f"runs.{'/'.join(stages)}",
            f"runs sharing reference log-probs of {ref} on '{dataset}' disagree ({detail})",
        )
    max_length, truncation_mode = next(iter(seen))
    return {"max_length": max_length, "truncation_mode": truncation_mode}


def reference_logps_job(plan: Plan, dataset: str, stage: str, name: str) -> Job:
    """One forward pass of the reference model over the data of the runs it serves. One GPU
    when they train on GPUs; the longest of their runtimes (at least 4 hours) and a quarter of
    the largest host memory (one process, not one per GPU; at least 16 GB); at rehearsal the
    runs' own."""
    ref = f"{stage}/{name}"
    runs = reference_groups(plan).get((dataset, ref), [])
    settings = reference_settings(plan, dataset, ref)
    gpus = int(any(r.requested_gpus_per_node for r in runs))
    if plan.scale == "rehearsal":
        runtime, mem_mb = max(r.runtime for r in runs), max(r.mem_mb for r in runs)
    else:
        runtime = max([240] + [r.runtime for r in runs if r.gpus_per_node])
        mem_mb = max([16000] + [r.mem_mb // 4 for r in runs if r.gpus_per_node])
    return Job(
        inputs={
            "model": plan.model_inputs(ref),
            "data": artifacts.PREPARED.format(dataset=dataset),
        },
        args=f"--max_length {settings['max_length']} "
        f"--truncation_mode {settings['truncation_mode']}",
        model=plan.model_location(ref),
        gpus=gpus,
        # One thread on a CPU: on 2 cores the runs it frees then train beside it.
        threads=threads_for(gpus),
        mem_mb=mem_mb,
        runtime=runtime,
    )
