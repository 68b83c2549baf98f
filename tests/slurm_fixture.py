"""A session-wide handle on the one-node SLURM cluster of scripts/slurm/local_cluster.sh.

Use a running cluster when there is one; on CI (CI=true) start one and fail if
that is impossible, so a broken cluster setup cannot pass as a skipped test;
anywhere else skip with the command that sets it up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "slurm" / "local_cluster.sh"
LOCAL_PROFILE = REPO / "profiles" / "slurm-local"
SETUP_COMMAND = (
    "bash scripts/slurm/local_cluster.sh start && .venv/bin/pytest tests/test_slurm_cluster.py"
)


@dataclass(frozen=True)
class SlurmCluster:
    profile: Path
    started_here: bool


def _cluster(action: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), action],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _cluster_is_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return _cluster("status", timeout=60).returncode == 0


# Registered by name: a test module imports slurm_cluster_fixture, and its tests take
# `slurm_cluster` without the parameter shadowing an imported name.
@pytest.fixture(scope="session", name="slurm_cluster")
def slurm_cluster_fixture():
    if _cluster_is_up():
        yield SlurmCluster(profile=LOCAL_PROFILE, started_here=False)
        return

    if os.environ.get("CI") != "true":
        pytest.skip(
            "no local SLURM cluster is running; set one up (root, Debian) and run "
            f"this test with: {SETUP_COMMAND}"
        )

    # apt-get may have to install the packages first, hence the generous limit.
    started = _cluster("start", timeout=600)
    if started.returncode != 0:
        pytest.fail(
            "CI=true but the local SLURM cluster did not start "
            f"(exit {started.returncode}):\n{started.stdout}\n{started.stderr}",
            pytrace=False,
        )
    try:
        yield SlurmCluster(profile=LOCAL_PROFILE, started_here=True)
    finally:
        _cluster("stop", timeout=120)


def snakemake_env() -> dict[str, str]:
    # Jobs inherit the submitter's environment (sbatch --export=ALL), so the
    # venv must come first on PATH for the tools rules call inside a job.
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
