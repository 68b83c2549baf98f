"""The command that starts a training entry point: accelerate on one CPU, GPUs, or several nodes."""

from __future__ import annotations

import re
import shlex

ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")

# Rendezvous port of multi-node runs. Every node must know it in advance, so it cannot be a free
# port picked at launch; nodes of a multi-node job are not shared with another such job.
MULTI_NODE_PORT = 29500


class LaunchError(ValueError):
    pass


def job_prefix(scripts) -> str:
    """What every job's shell runs first (Snakemake's shell.prefix, which formats it once).

    Scripts import the shared package from scripts/, also inside conda envs and SLURM jobs; the
    job's start time lets them log how long start-up took (handbook.provenance.log_startup). Rules
    name their script as $HANDBOOK_SCRIPTS/<name>.py: the checkout's path is set here, outside
    what Snakemake records of a job, so a moved or re-cloned checkout has nothing to rebuild.
    Snakemake removes a job's log before each attempt: `log_attempt {log}` (each rule's first
    command) links the new log into <log without .log>.attempts/<UTC time>.log, so a failed,
    killed or retried attempt's log outlives the next attempt.
    """
    return (
        f"export HANDBOOK_SCRIPTS={scripts} PYTHONPATH={scripts}${{{{PYTHONPATH:+:$PYTHONPATH}}}} "
        "HANDBOOK_JOB_START=$(date +%s.%N); "
        'log_attempt() {{ mkdir -p "${{1%.log}}.attempts" && : > "$1" && '
        'ln -f "$1" "${{1%.log}}.attempts/$(date -u +%Y%m%dT%H%M%S.%N).log"; }}; '
    )


def exec_form(command: str) -> str:
    """The launch command as the job shell's last act: its leading VAR=value words, then exec, so
    the process Snakemake or SLURM signals is the launcher itself, not a shell above it."""
    words = command.split(" ")
    at = 0
    while at < len(words) and ASSIGNMENT.match(words[at]):
        at += 1
    return " ".join([*words[:at], "exec", *words[at:]])


def multi_node_launcher(accel: str, gpus_per_node: int, nodes: int, threads: int) -> str:
    """One accelerate launcher per node through srun, each starting that node's GPU processes.

    srun runs the quoted script once per node; the rule's script and arguments follow the launcher
    in the shell command and reach accelerate as "$@". The variables are expanded on each node, so
    every launcher learns its own rank ($SLURM_NODEID) and the first host of the allocation, which
    hosts the rendezvous. With a static rendezvous all ranks need the same host and port.
    The SLURM executor may run the job inside a one-task step of its own: --overlap lets this step
    share that step's resources (without it srun waits forever), and --ntasks overrides the task
    count the outer step leaves in the environment. --kill-on-bad-exit stops the other nodes when
    one launcher fails, instead of leaving them waiting at the rendezvous.
    """
    launch = " ".join(
        [
            'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1);',
            f"exec accelerate launch --config_file {shlex.quote(str(accel))}",
            f"--num_processes {gpus_per_node * nodes} --num_machines {nodes}",
            '--machine_rank "$SLURM_NODEID" --main_process_ip "$head"',
            f'--main_process_port {MULTI_NODE_PORT} "$@"',
        ]
    )
    env = f"OMP_NUM_THREADS={max(1, threads // gpus_per_node)} "
    srun = (
        f"srun --nodes {nodes} --ntasks-per-node 1 --ntasks {nodes} --overlap --kill-on-bad-exit=1"
    )
    return f"{env}{srun} bash -c {shlex.quote(launch)} accelerate"


def launcher(
    accel: str, settings: dict, gpus_per_node: int, nodes: int, processes: int, threads: int
) -> str:
    """accelerate launch with one process per GPU (or `processes` CPU processes); plain python for
    one CPU process under a config that distributes nothing.

    `accel` is the accelerate config file and `settings` its contents; `gpus_per_node` counts the
    GPUs of one node (each node runs one launcher; `processes` counts CPU processes without GPUs).
    Several processes on one machine get a free port (--main_process_port 0), so parallel jobs on
    a node do not collide, and share the job's threads. Several CPU processes need
    more: accelerate starts one process for a NO or MULTI_CPU config (it expects mpirun), so they go
    through its torchrun path (--multi_gpu), and that path does not tell the Trainer to stay on the
    CPU, so ACCELERATE_USE_CPU=true makes it join them over gloo. DeepSpeed decides that itself (the
    flag would switch DeepSpeed off); it needs `ddp_backend: gloo` in the run's args on CPU. The
    scripts train in fp32 without CUDA, so a bf16 config is overridden there (DeepSpeed refuses the
    mismatch).
    """
    if nodes > 1:
        if not gpus_per_node:
            raise LaunchError(f"{nodes} nodes need GPUs (set gpus, the GPUs of each node)")
        return multi_node_launcher(accel, gpus_per_node, nodes, threads)
    processes = gpus_per_node or processes
    kind = str(settings.get("distributed_type", "NO")).upper()
    if processes == 1 and not gpus_per_node and kind == "NO":
        # One CPU process needs nothing from accelerate's launcher; without it the job starts one
        # interpreter instead of two (each importing torch).
        return "python"
    command = f"accelerate launch --config_file {accel} --num_processes {processes}"
    if processes == 1:
        return command
    kind = str(settings.get("distributed_type", "NO")).upper()
    env = f"OMP_NUM_THREADS={max(1, threads // processes)} "
    if int(settings.get("num_machines", 1)) == 1:
        command += " --main_process_port 0"
    if gpus_per_node:
        return env + command
    if kind in ("NO", "MULTI_CPU"):
        command += " --multi_gpu"
    if kind != "DEEPSPEED":
        env += "ACCELERATE_USE_CPU=true "
    if str(settings.get("mixed_precision", "no")).lower() != "no":
        command += " --mixed_precision no"
    if kind == "FSDP":
        # Syncing module states (and RAM-efficient loading, which needs it) broadcasts from an
        # accelerator device, which CPU processes lack; each rank loads the same weights itself.
        command += " --fsdp_sync_module_states false --fsdp_cpu_ram_efficient_loading false"
    return env + command
