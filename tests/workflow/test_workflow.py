"""Static checks of the workflow: lint, formatting, and a DAG build that imports no torch."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, run_snakemake, workflow_env


def test_lint_is_clean(workdir):
    proc = run_snakemake(workdir, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", str(REPO / "workflow")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dag_build_imports_no_torch(workdir):
    """Building the DAG must stay fast: the Snakefile and its helpers never import torch."""
    cmd = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "workflow/Snakefile"),
    ]
    cmd += ["--directory", str(workdir), "-n", "--cores", "1"]
    proc = subprocess.run(cmd, cwd=workdir, env=workflow_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "snakemake" in imported
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
    assert "transformers" not in imported
