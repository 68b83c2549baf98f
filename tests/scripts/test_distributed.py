"""Data-parallel training on CPU through the workflow's own rule and launcher.

A shrunken chain is built once (demo world, tokenizer, base model, SFT data); its SFT run trains in
two gloo processes. The checks show that both ranks took part (world size, per-rank log lines, half
the optimizer steps) and that the saved model loads with plain transformers. With deepspeed
installed, the same run under the shipped ZeRO-2 and ZeRO-3 configs must train the same model and
leave DeepSpeed's per-rank shards in its checkpoints.
"""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import yaml
from conftest import REPO, TINY_CONFIG, make_workdir, run_snakemake
from tiny_model import SMALL_ARCH

EPOCHS = 2
BATCH = 16  # per_device_train_batch_size of config/recipes/demo/sft/tiny.yaml
# SFT straight from the random-init base: CPT would add a job and nothing to what is checked here.
SFT_RUN = {
    "model": "base/tiny",
    "dataset": "demo_sft",
    "recipe": "config/recipes/demo/sft/tiny.yaml",
    "processes": 2,
    "args": {"num_train_epochs": EPOCHS, "save_steps": 1000},
}
# One optimizer step of 16 sequences, as 1 process x accumulation 4 and as 2 processes: the plan
# keeps the global batch by giving the second accumulation 2 (its args still say 4).
STEP_ARGS = {
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 4,
    "max_steps": 4,
    "logging_steps": 1,
    "save_steps": 1000,
    "eval_strategy": "no",
    "warmup_steps": 0,
    "lr_scheduler_type": "constant",
}
# Without a GPU, accelerate finds no process-group backend for DeepSpeed unless the Trainer names
# one, and then reports a single process (DeepSpeed's batch-size check fails).
ZERO_ARGS = {**SFT_RUN["args"], "ddp_backend": "gloo"}
SMALL = {
    "demo_world": {
        "n_towns": 6,
        "corpus_chars": 6000,
        "n_sft": 96,
        "n_sft_test": 8,
        "n_pref": 4,
        "n_pref_test": 4,
        "n_generation": 4,
        "n_eval": 8,
    },
    "base_models": {"tiny": {"build": {"vocab_size": 400, "arch": SMALL_ARCH}}},
    "runs": {
        "sft": {
            "tiny": {**SFT_RUN, "accelerate_config": "config/accelerate/cpu_ddp.yaml"},
            "zero2": {
                **SFT_RUN,
                "accelerate_config": "config/accelerate/zero2.yaml",
                "args": ZERO_ARGS,
            },
            "zero3": {
                **SFT_RUN,
                "accelerate_config": "config/accelerate/zero3.yaml",
                "args": ZERO_ARGS,
            },
            "acc4": {**SFT_RUN, "processes": 1, "args": STEP_ARGS},
            "dp2": {
                **SFT_RUN,
                "accelerate_config": "config/accelerate/cpu_ddp.yaml",
                "global_batch": 16,
                "args": STEP_ARGS,
            },
        },
    },
}


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("ddp"))
    small = work / "small.yaml"
    small.write_text(yaml.safe_dump(SMALL))
    build(work, small, "results/models/sft/tiny")
    return work, small


def build(work, small, *targets):
    # A flag between the config files and the target ends --configfile's list of files.
    return run_snakemake(work, "--printshellcmds", *targets, configfiles=[TINY_CONFIG, small])


def train_rows(work) -> int:
    from datasets import load_from_disk

    return len(load_from_disk(str(work / "results/data/demo_sft/tokenized/tiny"))["train"])


def final_step(model_dir) -> int:
    return max(entry["step"] for entry in json.loads((model_dir / "log_history.json").read_text()))


def load_checked(model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert (
        model.config.model_type == "llama" and model.config.hidden_size == SMALL_ARCH["hidden_size"]
    )
    return model


@pytest.mark.parametrize(
    "path", sorted((REPO / "config/accelerate").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import load_config_from_file

    settings = load_config_from_file(str(path))
    # One machine unless the launcher says otherwise; GPU configs train in bf16 like the handbook's.
    assert settings.num_machines == 1 and settings.compute_environment.value == "LOCAL_MACHINE"
    assert settings.use_cpu == path.name.startswith("cpu") and settings.mixed_precision in (
        "no",
        "bf16",
    )
    if path.stem.startswith("zero"):
        assert settings.deepspeed_config["zero_stage"] == int(path.stem[-1])
    if path.stem == "zero3":
        assert (
            settings.deepspeed_config["zero3_init_flag"]
            and settings.deepspeed_config["zero3_save_16bit_model"]
        )
    if path.stem == "fsdp":
        assert settings.fsdp_config["fsdp_sharding_strategy"] == "FULL_SHARD"
        assert settings.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"


@pytest.mark.e2e
def test_two_cpu_processes_train_one_model(ddp):
    work, _ = ddp
    model_dir = work / "results/models/sft/tiny"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["train_loss"] > 0
    # Each rank loads the data and logs it; only the main process writes the model.
    log = (work / "results/logs/sft/tiny.log").read_text()
    assert log.count("handbook.sft: train rows:") == 2
    assert log.count("INFO handbook: Saved results/models/sft/tiny") == 1
    # Each rank sees half of every epoch, so an epoch takes half the steps of one process.
    rows = train_rows(work)
    assert (
        final_step(model_dir)
        == EPOCHS * math.ceil(rows / (2 * BATCH))
        < EPOCHS * math.ceil(rows / BATCH)
    )
    load_checked(model_dir)


@pytest.mark.e2e
@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed"
)
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_zero_on_two_cpu_processes(ddp, stage):
    import torch

    work, small = ddp
    build(work, small, f"results/models/sft/{stage}")
    model_dir = work / f"results/models/sft/{stage}"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    # DeepSpeed wrote its own checkpoint, with optimizer states partitioned over both ranks.
    shards = list(
        (work / f"results/checkpoints/sft/{stage}").glob(
            "checkpoint-*/global_step*/zero_pp_rank_1_*optim*"
        )
    )
    assert shards, f"no rank-1 ZeRO shard under results/checkpoints/sft/{stage}"
    # Same data, seed and fp32 arithmetic as the DDP run: the same training, up to reduction order.
    reference = json.loads((work / "results/models/sft/tiny/metrics.json").read_text())
    assert metrics["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-3)
    assert final_step(model_dir) == final_step(work / "results/models/sft/tiny")
    # ZeRO-3 holds only shards; zero3_save_16bit_model gathers the full weights into the saved
    # folder.
    zero, ddp_model = load_checked(model_dir), load_checked(work / "results/models/sft/tiny")
    for (name, weight), expected in zip(zero.state_dict().items(), ddp_model.state_dict().values()):
        assert weight.shape == expected.shape and torch.allclose(weight, expected, atol=1e-3), name


@pytest.mark.e2e
def test_one_process_accumulating_4_equals_two_processes_accumulating_2(ddp):
    import torch

    work, small = ddp
    build(work, small, "results/models/sft/acc4", "results/models/sft/dp2")
    log = (work / "results/logs/sft/dp2.log").read_text()
    assert "global batch: 4 per device x 2 accumulation x 2 processes = 16" in log
    assert (
        "global batch: 4 per device x 4 accumulation x 1 processes = 16"
        in (work / "results/logs/sft/acc4.log").read_text()
    )

    def losses(run):
        history = json.loads((work / f"results/models/sft/{run}/log_history.json").read_text())
        return [entry["loss"] for entry in history if "loss" in entry]

    assert len(losses("acc4")) == 4
    assert losses("dp2") == pytest.approx(losses("acc4"), rel=1e-4)
    one, two = (
        load_checked(work / "results/models/sft/acc4"),
        load_checked(work / "results/models/sft/dp2"),
    )
    for (name, weight), expected in zip(two.state_dict().items(), one.state_dict().values()):
        assert torch.allclose(weight, expected, atol=1e-5), name
