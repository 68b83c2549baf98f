"""Faults on a built demo (the session's `demo` fixture, a checkout copy): a moved copy, damaged
model files, and SIGKILLs of Snakemake, of the trainer and of a checkpoint's write.

Each fault is followed by a rebuild, which must end with a model equal to the uninterrupted build's
or with one line naming what is wrong. A job's shell hands itself over to its entry point (`exec`),
so the trainer is the job's process: killing the job's process and killing the trainer are one
case here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO_CONFIG, DEMO_TARGETS, run_snakemake, workflow_env

pytestmark = pytest.mark.e2e

SFT = "results/models/sft/tiny"
CHECKPOINTS = "results/checkpoints/sft/tiny"


@pytest.fixture(scope="module")
def moved(demo, tmp_path_factory) -> Path:
    """The built demo copied elsewhere, as moving a project to scratch does (times kept)."""
    target = tmp_path_factory.mktemp("moved") / "elsewhere"
    shutil.copytree(demo, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def uninterrupted(demo) -> dict:
    """The SFT model's weights as the uninterrupted build made them."""
    from safetensors.torch import load_file

    return load_file(str(demo / SFT / "model.safetensors"))


def test_a_moved_checkout_has_nothing_to_do(moved):
    proc = run_snakemake(moved, "-n", *DEMO_TARGETS, configfiles=[DEMO_CONFIG], repo=moved)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_a_changed_or_deleted_weights_file_is_noticed(moved):
    weights = moved / SFT / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other contents
    weights.write_bytes(bytes(data))
    evaluation = ("--force", "results/eval/sft/tiny/demo.json")
    proc = run_snakemake(moved, *evaluation, configfiles=[DEMO_CONFIG], repo=moved, check=False)
    assert proc.returncode != 0
    log = (moved / "results/logs/eval/sft/tiny.log").read_text()
    assert "Traceback" not in log
    assert f"error: {SFT}: model.safetensors changed since the model was written" in log

    weights.unlink()
    proc = run_snakemake(moved, "-n", *DEMO_TARGETS, configfiles=[DEMO_CONFIG], repo=moved)
    assert f"{SFT}: model.safetensors is missing: rebuild the model" in proc.stdout + proc.stderr


def start_sft_build(demo: Path, env: dict | None = None) -> subprocess.Popen:
    """Rebuild the SFT model from scratch (its old checkpoints removed) in the background."""
    shutil.rmtree(demo / CHECKPOINTS, ignore_errors=True)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(demo / "workflow/Snakefile")]
    cmd += ["--cores", "2", "--force", SFT, "--configfile", DEMO_CONFIG]
    return subprocess.Popen(
        cmd,
        cwd=demo,
        env={**workflow_env(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(condition, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.5)


def trainer_pids(demo: Path) -> list[int]:
    """Processes running this checkout's SFT entry point."""
    script = f"{demo}/scripts/sft.py".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and script in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:  # ended meanwhile
            continue
    return pids


def assert_same_weights(folder: Path, expected: dict) -> None:
    import torch
    from safetensors.torch import load_file

    rebuilt = load_file(str(folder / "model.safetensors"))
    assert rebuilt.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.allclose(rebuilt[name], tensor, rtol=0, atol=1e-6), name


def checkpoints(demo: Path) -> list[Path]:
    return sorted(
        (demo / CHECKPOINTS).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
    )


def test_killed_snakemake_takes_its_trainer_along_and_the_rebuild_resumes(demo, uninterrupted):
    proc = start_sft_build(demo)
    wait_for(lambda: any((c / "trainer_state.json").exists() for c in checkpoints(demo)))
    trainers = trainer_pids(demo)
    assert trainers
    os.kill(proc.pid, signal.SIGKILL)  # Snakemake alone: not its process group
    proc.wait()
    wait_for(lambda: not trainer_pids(demo), seconds=30)
    time.sleep(2)
    assert not (demo / SFT).exists(), "a model folder appeared after its job was killed"
    # Snakemake's lock outlives it: --unlock, then the build resumes from the checkpoint.
    run_snakemake(demo, "--unlock", configfiles=[DEMO_CONFIG], repo=demo)
    run_snakemake(demo, "--rerun-incomplete", SFT, configfiles=[DEMO_CONFIG], repo=demo)
    log = (demo / "results/logs/sft/tiny.log").read_text()
    assert f"Resuming from {CHECKPOINTS}/checkpoint-" in log
    assert_same_weights(demo / SFT, uninterrupted)
    assert (demo / SFT / "manifest.json").exists()
    assert not list((demo / SFT).parent.glob(".*.partial"))


def test_killed_trainer_with_a_damaged_checkpoint_is_rebuilt_whole(demo, uninterrupted):
    """The trainer SIGKILLs itself after a checkpoint; that checkpoint's optimizer state is then
    cut short, as a write interrupted by a full disk leaves it. The demo keeps one checkpoint
    (save_total_limit: 1), so the rebuild names it and trains from the start (falling back to an
    older one is tests/unit/test_model_folder.py's)."""
    env = {"HANDBOOK_KILL_AFTER_CHECKPOINT": "100"}  # save_steps is 50 in tests/config/tiny.yaml
    proc = start_sft_build(demo, env)
    assert proc.wait(timeout=600) != 0
    assert [c.name for c in checkpoints(demo)] == ["checkpoint-100"]
    assert not (demo / SFT).exists()
    optimizer = demo / CHECKPOINTS / "checkpoint-100" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])

    run_snakemake(demo, SFT, configfiles=[DEMO_CONFIG], repo=demo)
    log = (demo / "results/logs/sft/tiny.log").read_text()
    assert f"Checkpoint {CHECKPOINTS}/checkpoint-100 cannot be read (optimizer.pt: " in log
    assert "Resuming from" not in log.split("cannot be read")[-1]
    # Snakemake removed the killed attempt's log before the rebuild; its copy is kept.
    assert "HANDBOOK_KILL_AFTER_CHECKPOINT=100: killing" not in log
    attempts = sorted((demo / "results/logs/sft/tiny.attempts").glob("*.log"))
    assert attempts[-1].read_text() == log
    killed = [a.read_text() for a in attempts[:-1]]
    assert "HANDBOOK_KILL_AFTER_CHECKPOINT=100: killing this process" in killed[-1]
    assert_same_weights(demo / SFT, uninterrupted)


def test_a_gpu_run_on_a_machine_without_cuda_fails_in_one_line(demo):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: asking for a GPU is not a mistake here")
    (demo / "gpu.yaml").write_text(
        "runs:\n  sft:\n    on_gpu:\n      model: cpt/tiny\n      dataset: demo_sft\n"
        "      recipe: config/recipes/demo/sft/tiny.yaml\n      gpus: 1\n"
    )
    target = "results/models/sft/on_gpu"
    proc = run_snakemake(
        demo, target, configfiles=[DEMO_CONFIG, "gpu.yaml"], repo=demo, check=False
    )
    assert proc.returncode != 0
    log = (demo / "results/logs/sft/on_gpu.log").read_text()
    assert "Traceback" not in log and "ChildFailedError" not in log
    assert log.startswith("error: the run asks for 1 GPU(s) but torch"), log[:500]
    assert not (demo / target).exists()
