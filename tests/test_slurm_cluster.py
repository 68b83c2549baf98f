"""SLURM integration: Snakemake submits real jobs to the local one-node cluster.

bash scripts/slurm/local_cluster.sh start && .venv/bin/pytest tests/test_slurm_cluster.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from slurm_fixture import REPO, slurm_cluster  # noqa: F401  (fixture, used by name)
from snakemake.cli import parse_args

pytestmark = pytest.mark.slurm

# Two chained rules, so the second job can only be submitted after Snakemake
# has seen the first one finish through its status polling.
SNAKEFILE = textwrap.dedent("""
    rule all:
        input:
            "b.txt",

    rule make_a:
        output:
            "a.txt",
        log:
            "logs/make_a.log",
        shell:
            "echo $SLURM_JOB_ID > {log}; echo a > {output}"

    rule make_b:
        input:
            "a.txt",
        output:
            "b.txt",
        log:
            "logs/make_b.log",
        shell:
            "echo $SLURM_JOB_ID > {log}; cat {input} > {output}; echo b >> {output}"
    """)


def _snakemake_env() -> dict[str, str]:
    # Jobs inherit the submitter's environment (sbatch --export=ALL), so the
    # venv must come first on PATH for the tools rules call inside a job.
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("profile", ["slurm", "slurm-local", "default"])
def test_profile_keys_are_real_snakemake_options(profile, monkeypatch, tmp_path):
    # An option name that does not exist makes Snakemake exit with a usage
    # error; catch that here rather than on a cluster.
    monkeypatch.chdir(tmp_path)
    profile_dir = REPO / "profiles" / profile
    _, args = parse_args(["--profile", str(profile_dir), "--workflow-profile", "none"])
    if profile.startswith("slurm"):
        assert args.executor == "slurm"
    if profile == "slurm-local":
        # Without accounting, sacct never reports a job and Snakemake waits forever.
        assert args.slurm_status_command == "squeue"
        assert "slurm_partition" in args.default_resources


def test_two_chained_jobs_run_through_slurm(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(slurm_cluster.profile),
            # The repository's profiles/default must not leak into this run.
            "--workflow-profile",
            "none",
        ],
        cwd=tmp_path,
        env=_snakemake_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output

    assert (tmp_path / "a.txt").read_text() == "a\n"
    assert (tmp_path / "b.txt").read_text() == "a\nb\n"

    job_ids = []
    for rule in ("make_a", "make_b"):
        logged = (tmp_path / "logs" / f"{rule}.log").read_text().strip()
        assert re.fullmatch(
            r"\d+", logged
        ), f"{rule} log holds {logged!r}, not a job id"
        job_ids.append(logged)
    assert job_ids[0] != job_ids[1]

    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    assert sorted(submitted) == sorted(job_ids), output

    # The cluster keeps finished jobs visible (MinJobAge), so SLURM itself can
    # confirm that both jobs ran to completion.
    states = subprocess.run(
        [
            "squeue",
            "--states=all",
            "--noheader",
            "--format=%i %T",
            "--jobs",
            ",".join(job_ids),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert dict(zip(states[::2], states[1::2])) == dict.fromkeys(job_ids, "COMPLETED")
