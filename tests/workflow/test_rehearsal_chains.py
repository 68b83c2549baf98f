"""Published chains at scale rehearsal, in one build: the full-scale plan (recipes, chat templates,
loss masking, data layouts with their real split and column names, accelerate, DeepSpeed and FSDP
configs, global batch) on tiny stand-ins of the real hub models and datasets, read through the
hub-loading path with the hub switched off.

Within `make test`'s time, the launchers: Zephyr-7B-beta's SFT -> reference pass -> DPO with
ZeRO-3 on 2 processes and its QLoRA runs, and Zephyr-141B's table (Mixtral, FSDP, 4 nodes x 8 GPUs
on 2 CPU processes, MT-Bench answers judged by the demo reward model). Every family's table, with
every architecture, builds at rehearsal in tests/workflow/test_rehearsal_tables.py (make
test-rehearsal).
"""

from __future__ import annotations

import json

import pytest

from conftest import make_workdir, run_snakemake
from handbook.config import load_config
from handbook.plan import build_plan

MODELS = [
    "dpo/zephyr-7b-beta",              # Mistral, ZeRO-3 on 2 processes: SFT -> reference pass -> DPO
    "dpo/zephyr-7b-beta-qlora",        # QLoRA -> LoRA on 1 process
    "orpo/zephyr-141b-A35b",           # Mixtral, FSDP, 4 nodes x 8 GPUs -> 2 CPU processes
]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("rehearsal"))
    # One table too: Zephyr-141B's, whose MT-Bench answers come from the Mixtral stand-in and are
    # judged by the demo reward model, as at tiny scale.
    targets = [f"results/models/{ref}" for ref in MODELS] + ["results/tables/zephyr-141b-A35b.md"]
    proc = run_snakemake(work, *targets, "--config", "scale=rehearsal", timeout=3000)
    return work / "results" / "rehearsal", proc.stdout + proc.stderr


def chain(plan, ref: str) -> list[str]:
    """A model and every run it is trained from."""
    refs = []
    while not ref.startswith("base/"):
        refs.append(ref)
        run = plan.runs[ref]
        if run.merge_with:
            refs += chain(plan, run.merge_with)
        ref = run.model
    return refs


def assert_trained_with_the_recipes_global_batch(root, plan, refs) -> None:
    """Each model is built, and each trained one says in its log it trained with its recipe's global batch."""
    for ref in refs:
        folder = root / "results" / "models" / ref
        assert (folder / "model.safetensors").is_file(), ref
        run = plan.runs[ref]
        if run.method.data == "model":
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        batch = plan.batch(run)
        assert batch["global"] == batch["recipe"]["global"], ref
        assert metrics["world_size"] == batch["processes"], ref
        log = (root / "results" / "logs" / run.stage / f"{run.name}.log").read_text()
        line = (f"global batch: {batch['per_device']} per device x {batch['accumulation']} accumulation x "
                f"{batch['processes']} processes = {batch['global']}")
        assert line in log, ref


@pytest.mark.e2e
def test_every_family_chain_trains_at_rehearsal_with_the_global_batch_of_its_recipe(built):
    root, _ = built
    plan = build_plan(load_config([], {"scale": "rehearsal"}))
    trained = sorted({ref for model in MODELS for ref in chain(plan, model)})
    assert len(trained) >= 5, trained
    assert_trained_with_the_recipes_global_batch(root, plan, trained)


@pytest.mark.e2e
def test_the_real_architectures_load_from_the_stand_ins_under_their_hub_ids(built):
    root, _ = built
    expected = {"sft/zephyr-7b-beta": "MistralForCausalLM", "orpo/zephyr-141b-A35b": "MixtralForCausalLM"}
    for ref, architecture in expected.items():
        config = json.loads((root / "results" / "models" / ref / "config.json").read_text())
        assert config["architectures"] == [architecture], ref
    card = (root / "results" / "models" / "sft" / "zephyr-7b-beta" / "README.md").read_text()
    assert "base_model: mistralai/Mistral-7B-v0.1" in card


@pytest.mark.e2e
def test_rehearsal_says_what_it_changed_and_the_jobs_read_the_stand_ins(built):
    root, log = built
    assert "rehearsal: orpo/zephyr-141b-A35b: 8 GPU(s) x 4 node(s) -> 2 CPU process(es) on one node" in log
    assert "tiny scale" not in log
    orpo = (root / "results" / "logs" / "orpo" / "zephyr-141b-A35b.log").read_text()
    assert "rehearsal trains with adamw_torch instead" in orpo  # adamw_bnb_8bit without CUDA
    assert "No CUDA device: attn_implementation flash_attention_2 -> sdpa" in orpo or "attn_implementation = 'sdpa'" in orpo
    qlora = (root / "results" / "logs" / "sft" / "zephyr-7b-beta-qlora.log").read_text()
    assert "rehearsal runs it as LoRA in fp32 instead" in qlora
    prepare = (root / "results" / "logs" / "data" / "ultrachat_200k" / "prepare.log").read_text()
    assert "HuggingFaceH4/ultrachat_200k" in prepare
    manifest = json.loads((root / "results" / "standins" / "manifest.json").read_text())
    assert "mistralai/Mistral-7B-v0.1" in json.dumps(manifest)


@pytest.mark.e2e
def test_a_paper_table_builds_at_rehearsal(built):
    root, _ = built
    table = (root / "results" / "tables" / "zephyr-141b-A35b.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| zephyr-141b-A35b |"))
    assert "| orpo |" in row and row.rstrip(" |").split("|")[-1].strip()  # a judged MT-Bench value
    assert "judged by the demo reward model rm/tiny" in table
