"""The preference stack through the workflow: every trainer path, shared reference log-probs,
rejection-sampling artifacts, and KTO's data handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasets
import pytest
from conftest import REPO, make_workdir, run_snakemake

from handbook.preference import label_balance, unpair_and_shuffle

CONFIG = REPO / "tests" / "config" / "preference.yaml"
SCAN = [
    f"scan-{loss}-beta{beta}"
    for loss in ("sigmoid", "ipo", "hinge", "robust")
    for beta in (0.1, 0.5)
]
TARGETS = [f"results/models/dpo/{run}" for run in SCAN] + [
    "results/models/kto/tiny",
    "results/models/orpo/tiny",
    "results/models/cpo/simpo",
    "results/models/sft/bon",
    "results/models/dpo/onpol",
    "results/eval/rm/tiny/reward.json",
    "results/models/sft/lora",
    "results/models/orpo/qlora",
    "results/models/dpo/tracked-beta0.1",
    "results/models/dpo/tracked-beta0.5",
]
# Runs with report_to: trackio (tests/config/preference.yaml), by Trackio project: a sweep's runs
# share its project, a run outside one its stage's.
TRACKIO_RUNS = {
    "tracked": ["dpo/tracked-beta0.1", "dpo/tracked-beta0.5"],
    "rm": ["rm/tiny"],
    "sft": ["sft/bon"],
    "kto": ["kto/tiny"],
    "orpo": ["orpo/tiny"],
}


def pairs(n: int) -> datasets.Dataset:
    return datasets.Dataset.from_list(
        [
            {
                "chosen": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "good"},
                ],
                "rejected": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "bad"},
                ],
            }
            for i in range(n)
        ]
    )


def test_kto_data_is_unpaired_and_mixed():
    unpaired = unpair_and_shuffle(pairs(200), seed=1)
    assert len(unpaired) == 400 and set(unpaired.column_names) == {"prompt", "completion", "label"}
    assert 0.3 < label_balance(unpaired) < 0.7, "a sequential sampler must not see one label only"
    other = unpair_and_shuffle(pairs(200), seed=2)
    assert unpaired["label"] != other["label"], "seeds must give different orders"
    assert sum(unpaired["label"]) == 200


def test_sweep_dry_run_shares_reference_logps(workdir):
    out = run_snakemake(workdir, "-n", *TARGETS[:8], configfiles=[CONFIG]).stdout
    table = {
        line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) == 2
    }
    assert table.get("train_model") == "8" and table.get("compute_ref_logps") == "1"
    for run in SCAN:
        assert f"results/models/dpo/{run}" in out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("preference"))
    run_snakemake(work, *TARGETS, configfiles=[CONFIG])
    return work


def test_reference_logps_computed_once_per_dataset_and_model(built):
    logs = sorted(
        p.relative_to(built / "results/logs/ref_logps")
        for p in (built / "results/logs/ref_logps").rglob("*.log")
        if ".attempts" not in p.parent.name
    )
    assert [str(p) for p in logs] == ["demo_on_policy/base/tiny.log", "demo_pref/base/tiny.log"]
    for run in SCAN:
        log = (built / f"results/logs/dpo/{run}.log").read_text()
        assert "reusing precomputed reference log-probs" in log
        assert "Computing reference log probs" not in log
        args = json.loads((built / f"results/models/dpo/{run}/provenance.json").read_text())[
            "config"
        ]["DPOConfig"]
        loss, beta = run.split("-")[1], float(run.split("beta")[1])
        assert args["loss_type"] == [loss] and args["beta"] == beta


def test_every_trainer_saves_a_plain_transformers_model(built):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    for ref in ("kto/tiny", "orpo/tiny", "cpo/simpo", "sft/bon", "dpo/onpol", f"dpo/{SCAN[0]}"):
        model = AutoModelForCausalLM.from_pretrained(built / "results/models" / ref)
        assert model.config.model_type == "llama", ref
        history = json.loads((built / "results/models" / ref / "log_history.json").read_text())
        assert max(entry["step"] for entry in history) == 2, ref
    rm = AutoModelForSequenceClassification.from_pretrained(built / "results/models/rm/tiny")
    assert rm.config.num_labels == 1
    reward = json.loads((built / "results/eval/rm/tiny/reward.json").read_text())
    assert 0 <= reward["pairwise_accuracy"] <= 1 and reward["n"] == 16


def test_kto_log_shows_mixed_labels(built):
    log = (built / "results/logs/kto/tiny.log").read_text()
    share = float(log.split("desirable share in the first batches: ")[1].split()[0])
    assert 0.2 < share < 0.8


def test_rejection_sampling_artifacts(built):
    folder = built / "results/rejection_sampling/demo"
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    scored = [json.loads(line) for line in (folder / "scored.jsonl").read_text().splitlines()]
    assert len(samples) == 12 and all(len(s["completions"]) == 3 for s in samples)
    assert all(len(s["scores"]) == 3 for s in scored)
    best = {}
    for split in ("train", "test"):
        for line in (folder / "best_of_n" / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            best[row["prompt_id"]] = row
    for row in scored:
        top = max(range(3), key=lambda i: row["scores"][i])
        assert best[row["prompt_id"]]["messages"][-1]["content"] == row["completions"][top]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary


def test_lora_is_merged_and_qlora_maps_to_lora_at_tiny_scale(built):
    from transformers import AutoModelForCausalLM

    for ref in ("sft/lora", "orpo/qlora"):
        folder = built / "results/models" / ref
        assert (folder / "adapter" / "adapter_config.json").exists(), ref
        model = AutoModelForCausalLM.from_pretrained(folder)
        assert not any("lora" in name for name, _ in model.named_parameters()), (
            "saved model must be merged"
        )
    log = (built / "results/logs/orpo/qlora.log").read_text()
    assert "QLoRA needs CUDA" in log and "runs it as LoRA" in log


def test_qlora_without_cuda_fails_before_training():
    from trl import ModelConfig

    from handbook.trainers import quantization_config
    from handbook.training import RecipeError, WorkflowArguments

    args = ModelConfig(model_name_or_path="x", load_in_4bit=True, use_peft=True)
    with pytest.raises(RecipeError, match=r"QLoRA \(load_in_4bit/load_in_8bit\) needs CUDA"):
        quantization_config(args, WorkflowArguments())


@pytest.mark.parametrize("stage", ["sft", "rm", "dpo", "kto", "orpo"])
def test_killed_training_resumes_and_ends_as_the_uninterrupted_run(built, stage):
    """SIGKILL right after the checkpoint of step 2 (of 6); the rebuilt target resumes from it and
    ends with the weights and metrics of the same run trained without interruption."""
    import torch
    from safetensors.torch import load_file

    run_snakemake(built, f"results/models/{stage}/again", configfiles=[CONFIG])
    killed = run_snakemake(
        built,
        f"results/models/{stage}/resume",
        configfiles=[CONFIG],
        check=False,
        env={"HANDBOOK_KILL_AFTER_CHECKPOINT": "2"},
    )
    assert killed.returncode != 0
    checkpoints = built / f"results/checkpoints/{stage}/resume"
    assert [p.name for p in checkpoints.glob("checkpoint-*")] == ["checkpoint-2"]
    assert not (built / f"results/models/{stage}/resume").exists()  # no complete-looking target
    run_snakemake(built, f"results/models/{stage}/resume", configfiles=[CONFIG])
    log = (built / f"results/logs/{stage}/resume.log").read_text()
    assert f"Resuming from results/checkpoints/{stage}/resume/checkpoint-2" in log
    models = {name: built / f"results/models/{stage}/{name}" for name in ("resume", "again")}
    weights = {name: load_file(folder / "model.safetensors") for name, folder in models.items()}
    for key, tensor in weights["again"].items():
        torch.testing.assert_close(weights["resume"][key], tensor, rtol=1e-5, atol=1e-6)
    histories = {
        name: json.loads((folder / "log_history.json").read_text())
        for name, folder in models.items()
    }
    losses = {
        name: {h["step"]: h["loss"] for h in history if "loss" in h and h["step"] > 2}
        for name, history in histories.items()
    }
    assert sorted(losses["resume"]) == [3, 4, 5, 6] and losses["resume"] == pytest.approx(
        losses["again"], rel=1e-5
    )
    metrics = {
        name: json.loads((folder / "metrics.json").read_text()) for name, folder in models.items()
    }
    assert metrics["resume"]["eval_loss"] == pytest.approx(metrics["again"]["eval_loss"], rel=1e-5)


def tensorboard_steps(run_dir, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def trackio(built, *args) -> dict:
    """Trackio's own command line over the workflow's store, offline."""
    cli = [sys.executable, "-m", "trackio.cli", *args, "--json"]
    env = {**os.environ, "TRACKIO_DIR": str(built / "results/runs/trackio")}
    out = subprocess.run(cli, env=env, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_tensorboard_runs_hold_each_runs_loss_curve(built):
    """report_to: tensorboard in a sweep's args: one folder per target under results/runs, with
    a point per logged step, none inside the checkpoints."""
    for ref in [f"dpo/{run}" for run in SCAN] + ["cpo/simpo"]:
        assert tensorboard_steps(built / "results/runs" / ref, "train/loss") == [1, 2], ref
    assert not list((built / "results/checkpoints").rglob("events.out.tfevents.*"))


def test_the_dashboard_serves_every_run_on_localhost(built):
    """What `make dashboard` starts: TensorBoard over results/runs, listing each run's folder."""
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", "results/runs", "--port", str(port)]
        + ["--host", "127.0.0.1"],
        cwd=built,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2) as r:
                    runs = json.loads(r.read())
                if runs:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("TensorBoard did not answer on localhost within 60 s")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert {f"dpo/{run}" for run in SCAN} | {"cpo/simpo"} <= set(runs)


def test_trackio_groups_a_sweeps_runs_in_one_project(built):
    for project, runs in TRACKIO_RUNS.items():
        assert sorted(trackio(built, "list", "runs", "--project", project)["runs"]) == runs
    # Each trainer's curve is there: the sweep's runs (DPO) and one run of another trainer (KTO).
    for project, run in [("tracked", r) for r in TRACKIO_RUNS["tracked"]] + [("kto", "kto/tiny")]:
        curve = trackio(
            built, "get", "metric", "--project", project, "--run", run, "--metric", "train/loss"
        )["values"]
        assert len(curve) == 2 and all(point["value"] > 0 for point in curve), run
