"""Shared test helpers: run the workflow in a scratch directory against this repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
# Secrets planted in the reduced chain (its CPT recipe) and in every workflow run's environment; no
# artifact may keep them. A secret in a run's args is refused by the plan
# (tests/unit/test_secrets.py).
PLANTED_SECRETS = ("hf_planted_in_recipe_0", "hf_planted_in_env_0", "wandb_planted_in_env_0")


def workflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(HF_TOKEN=PLANTED_SECRETS[1], WANDB_API_KEY=PLANTED_SECRETS[2])
    return env


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles=(),
    check: bool = True,
    timeout: int = 1800,
    env=None,
    cores: str | None = "2",
    repo: Path = REPO,
):
    """Run snakemake on the Snakefile of `repo` (this repository, or a checkout copy), started in
    `workdir` (no --directory, which would override the tiny scale's own working directory).
    `cores=None` leaves them to a profile."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile")]
    cmd += ["--cores", cores] if cores else []
    cmd += list(args)
    if configfiles:  # last: --configfile takes every following word as a file
        cmd += ["--configfile", *map(str, configfiles)]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env={**workflow_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def run_script(script: str, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run one of scripts/ from the repository root, as the workflow's jobs do."""
    env = workflow_env()
    env.update(PYTHONPATH=str(REPO / "scripts"), TRL_EXPERIMENTAL_SILENCE="1")
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_workdir(path: Path) -> Path:
    """A scratch working directory that sees the shipped config (results go under it)."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "config").exists():
        (path / "config").symlink_to(REPO / "config")
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return make_workdir(tmp_path / "work")


def make_checkout(path: Path) -> Path:
    """A copy of this repository's files as a clone would have them (tracked, plus untracked ones
    git does not ignore), without .venv/, results/ or .snakemake/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = REPO / name
        if source.is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The default chain at a reduced size (tests/config/tiny.yaml), built once in a checkout copy
    of the repository: tests/workflow/test_e2e.py checks what it built, test_faults.py what a
    moved copy, damaged files and killed jobs do to it."""
    work = make_checkout(tmp_path_factory.mktemp("e2e") / "checkout")
    run_snakemake(work, *DEMO_TARGETS, configfiles=[DEMO_CONFIG], repo=work)
    return work


DEMO_CONFIG = "tests/config/tiny.yaml"  # relative: the demo's checkout has its own copy
DEMO_TARGETS = ("results/tables/chain.csv",)
