"""The shipped cluster profile submits a rehearsal chain: what each job asks SLURM for is the
plan's.

Zephyr-7B-beta's SFT at scale rehearsal (stand-ins, prepare, tokenize, the 8-GPU ZeRO-3 SFT run as
2 CPU processes) goes through `--workflow-profile profiles/slurm` to the local cluster, which
advertises 64 CPUs and 8 GPUs; the submit host has 2 cores, so a job's CPUs come from its plan,
not from this machine.

bash scripts/slurm/local_cluster.sh start && .venv/bin/pytest tests/cluster/test_rehearsal_slurm.py
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import make_workdir
from slurm_fixture import REPO, slurm_cluster_fixture  # noqa: F401  (the slurm_cluster fixture)
from slurm_fixture import snakemake_env as _snakemake_env
from test_gpu_gres import LOCAL_SITE, SHIPPED_PROFILE, _fields, _require_gpu_node, _slurm

from handbook.config import load_config
from handbook.plan import build_plan, to_dict

pytestmark = pytest.mark.slurm

TARGET = "results/models/sft/zephyr-7b-beta"


def test_rehearsal_chain_asks_slurm_for_what_the_plan_says(slurm_cluster, tmp_path):
    _require_gpu_node()
    work = make_workdir(tmp_path / "work")
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
         TARGET, "--workflow-profile", str(SHIPPED_PROFILE), *LOCAL_SITE,
         "--config", "scale=rehearsal"],
        cwd=work, env=_snakemake_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == 4, output[-4000:]  # stand-ins, prepare, tokenize, SFT

    planned = to_dict(build_plan(load_config([], {"scale": "rehearsal"})))["runs"][
        "sft/zephyr-7b-beta"
    ]
    resources = planned["resources"]
    assert (
        resources["gpu"] == 8 and resources["cpus_per_task"] == 32
    )  # the full-scale job's request
    jobs = [_fields(_slurm("scontrol", "-o", "-d", "show", "job", job_id)) for job_id in submitted]
    assert all(job["JobState"] == "COMPLETED" for job in jobs), jobs
    gpu_jobs = [job for job in jobs if "gpu" in job.get("TresPerJob", "")]
    assert len(gpu_jobs) == 1, jobs
    train = gpu_jobs[0]
    assert re.search(rf"gpu[:=]{resources['gpu']}\b", train["TresPerJob"]), train
    assert train["NumCPUs"] == train["CPUs/Task"] == str(resources["cpus_per_task"]), train
    assert train["MinMemoryNode"] == f"{resources['mem_mb']}M", train
    assert train["TimeLimit"] == f"00:{resources['runtime']:02d}:00", train
    # The other jobs ask for their threads (1: data preparation, the stand-ins) and no GPU.
    for job in jobs:
        if job is not train:
            assert job["NumCPUs"] == "1", job

    root = work / "results" / "rehearsal"
    assert (root / TARGET / "model.safetensors").is_file()
    log = (root / "results" / "logs" / "sft" / "zephyr-7b-beta.log").read_text()
    assert "global batch: 16 per device x 4 accumulation x 2 processes = 128" in log
    assert log.count("handbook.sft: train rows:") == 2  # two processes trained
