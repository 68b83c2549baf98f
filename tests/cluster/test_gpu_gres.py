"""GPU jobs through the shipped cluster profile: what a rule declares is what SLURM is asked for.

The local cluster advertises 64 CPUs and 8 GPUs on a GPU-less machine, so a GPU job is scheduled
as on a real GPU node and then runs on the CPU; SLURM's record of the job shows what it asked for.

bash scripts/slurm/local_cluster.sh start && .venv/bin/pytest tests/cluster/test_gpu_gres.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
from slurm_fixture import REPO, slurm_cluster_fixture  # noqa: F401  (the slurm_cluster fixture)
from slurm_fixture import snakemake_env as _snakemake_env

pytestmark = pytest.mark.slurm

SHIPPED_PROFILE = REPO / "profiles" / "slurm"
GPUS, CPUS, MEM_MB, RUNTIME_MIN = 2, 6, 500, 5
# What the job's shell command sees of its allocation, one NAME=value line each (empty when
# unset: Snakemake runs shell commands under set -u, hence ${!v-}). The command runs in an srun
# step that the plugin starts with the job's --cpus-per-task and --gpus after removing the
# inherited SLURM_* variables, so SLURM_GPUS (set by sbatch, not by srun) is recorded but empty;
# the step's own SLURM_GPUS_ON_NODE, SLURM_STEP_GPUS and CUDA_VISIBLE_DEVICES carry the GPUs.
JOB_ENV = (
    "SLURM_JOB_ID",
    "SLURM_CPUS_PER_TASK",
    "SLURM_GPUS_ON_NODE",
    "SLURM_STEP_GPUS",
    "CUDA_VISIBLE_DEVICES",
    "SLURM_GPUS",
)

SNAKEFILE = textwrap.dedent(f"""
    rule gpu_job:
        output:
            "job_env.txt",
        threads: {CPUS}
        resources:
            gpu={GPUS},
            cpus_per_task={CPUS},
            mem_mb={MEM_MB},
            runtime={RUNTIME_MIN},
        shell:
            "for v in {" ".join(JOB_ENV)}; do echo \\"$v=${{{{!v-}}}}\\"; done > {{output}}"
    """)

# The shipped profile leaves these to each site (partition, status command) or sizes them for a
# real cluster (100 jobs, 60 s latency, 2 retries, 40 s first poll); this is the local one.
# --cores 1024 as in the shipped profile, given here too for versions of it without: Snakemake
# caps each job's threads at --cores, and the job's 6 must not be cut to the submit host's 2.
LOCAL_SITE = (
    "--slurm-status-command", "squeue",
    "--default-resources", "slurm_partition=debug",
    "--jobs", "2",
    "--cores", "1024",
    "--latency-wait", "5",
    "--retries", "0",
    "--slurm-init-seconds-before-status-checks", "8",
    "--seconds-between-status-checks", "8",
)  # fmt: skip


def _slurm(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout


def _fields(record: str) -> dict[str, str]:
    """KEY=value pairs of a one-line (scontrol -o) record; values here hold no spaces."""
    return dict(re.findall(r"(\S+?)=(\S*)", record))


def _require_gpu_node() -> None:
    # A cluster started by an older local_cluster.sh keeps running without GPUs; the job
    # would then be refused at submission with a message that does not say why.
    gres, cpus = _slurm("sinfo", "--noheader", "--format=%G %c").split()[:2]
    advertised = re.search(r"gpu:(?:\w+:)?(\d+)", gres)
    if not advertised or int(advertised.group(1)) < GPUS or int(cpus) < CPUS:
        pytest.fail(
            f"the running local cluster advertises {cpus} CPUs and GRES {gres!r}, fewer than this "
            f"test asks for ({CPUS} CPUs, gpu:{GPUS}); restart it so it picks up the current "
            "config: bash scripts/slurm/local_cluster.sh stop && bash "
            "scripts/slurm/local_cluster.sh start",
            pytrace=False,
        )


def test_gpu_rule_asks_slurm_for_its_gpus_cpus_memory_and_time(slurm_cluster, tmp_path):
    _require_gpu_node()
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--workflow-profile",
            str(SHIPPED_PROFILE),
            *LOCAL_SITE,
        ],
        cwd=tmp_path,
        env=_snakemake_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == 1, output
    job_id = submitted[0]

    # Inside the job: the allocation as SLURM hands it to the job's processes.
    seen = dict(line.split("=", 1) for line in (tmp_path / "job_env.txt").read_text().splitlines())
    assert seen["SLURM_JOB_ID"] == job_id
    assert seen["SLURM_CPUS_PER_TASK"] == str(CPUS)
    assert seen["SLURM_GPUS_ON_NODE"] == str(GPUS), seen
    # Device indices come with device files; where the cluster could not mknod them the GPUs
    # are counted only and these stay unset.
    for devices in ("SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        if seen[devices]:
            assert len(seen[devices].split(",")) == GPUS, seen

    # SLURM's record of the job, kept for MinJobAge after it ends: the request as submitted
    # (TresPerJob; without slurmdbd gres/gpu cannot be a tracked TRES, so TRES= omits it) and
    # what the scheduler allocated (JOB_GRES, from -d).
    job = _fields(_slurm("scontrol", "-o", "-d", "show", "job", job_id))
    assert job["JobState"] == "COMPLETED", job
    requested_gpus = re.search(
        r"gres[:/]gpu[:=](\d+)", job.get("TresPerJob", "") + " " + job["TRES"]
    )
    assert requested_gpus and int(requested_gpus.group(1)) == GPUS, job
    assert re.fullmatch(rf"gpu(?::\w+)?:{GPUS}(\(.*\))?", job["JOB_GRES"]), job
    assert job["NumCPUs"] == job["CPUs/Task"] == str(CPUS), job
    assert job["MinMemoryNode"] == f"{MEM_MB}M", job
    assert job["TimeLimit"] == f"00:{RUNTIME_MIN:02d}:00", job
    tres = dict(item.split("=", 1) for item in job["TRES"].split(","))
    assert tres["cpu"] == str(CPUS) and tres["mem"] == f"{MEM_MB}M", job
