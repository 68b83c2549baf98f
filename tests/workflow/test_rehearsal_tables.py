"""Every published family's table at scale rehearsal, in one build (make test-rehearsal, kept out of
`make test` for its length): the full-scale plan of each table (recipes, chat templates, loss
masking, data layouts with their real split and column names, accelerate, DeepSpeed and FSDP
configs, global batch, lm-eval suites, judges) on tiny stand-ins of the real hub models, datasets
and lm-eval task data, read through the hub-loading path with the hub switched off. `make test`
rehearses through SLURM instead (tests/cluster/test_rehearsal_slurm.py: Zephyr-7B-beta's SFT with
the shipped profile).

Non-training jobs are given one thread each, so that two share the two cores; each still asks a
cluster for what the plan says (tests/cluster/test_rehearsal_slurm.py checks that).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import make_workdir, run_snakemake

from handbook.config import load_config
from handbook.plan import build_plan
from handbook.plan import tables as plan_tables
from handbook.plan import train as plan_train

pytestmark = pytest.mark.rehearsal_tables

ONE_THREAD = [
    f"{rule}=1"
    for rule in (
        "lm_eval",
        "judge_answers_mt_bench",
        "judge_answers_alpaca_eval",
        "compute_ref_logps",
        "sample_completions",
        "score_samples",
        "demo_judge",
        "judge_verdicts",
    )
]  # fmt: skip


@pytest.fixture(scope="module")
def plan():
    return build_plan(load_config([], {"scale": "rehearsal"}))


def family_tables(plan) -> list[str]:
    """The tables the published families' files define (config/recipes/*/family.yaml)."""
    return sorted(
        name
        for name in plan.config["tables"]
        if plan.sources.get(f"tables.{name}", "").endswith("family.yaml")
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, plan):
    work = make_workdir(tmp_path_factory.mktemp("rehearsal_tables"))
    targets = [f"results/tables/{name}.md" for name in family_tables(plan)]
    # --set-threads takes every following word: "--" ends it before the targets.
    proc = run_snakemake(
        work,
        "--config",
        "scale=rehearsal",
        "--set-threads",
        *ONE_THREAD,
        "--",
        *targets,
        timeout=5400,
    )
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
    """Each model is built, and each trained one says in its log it trained with its recipe's
    global batch."""
    for ref in refs:
        folder = root / "results" / "models" / ref
        assert (folder / "model.safetensors").is_file(), ref
        run = plan.runs[ref]
        if run.method.data == "model":
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        batch = plan_train.batch(plan, run)
        assert batch["global"] == batch["recipe"]["global"], ref
        assert metrics["world_size"] == batch["processes"], ref
        log = (root / "results" / "logs" / run.stage / f"{run.name}.log").read_text()
        line = (
            f"global batch: {batch['per_device']} per device x {batch['accumulation']} "
            f"accumulation x {batch['processes']} processes = {batch['global']}"
        )
        assert line in log, ref


def test_every_family_has_a_table_and_all_of_them_built(plan, built):
    root, _ = built
    names = family_tables(plan)
    assert len(names) == 12, names
    for name in names:
        for ext in ("csv", "md", "png"):
            assert (root / "results" / "tables" / f"{name}.{ext}").is_file(), (name, ext)


def test_each_row_holds_its_suites_and_judged_answers(plan, built):
    root, _ = built
    checked = 0
    for name in family_tables(plan):
        spec = plan_tables.table_spec(plan, name)
        if spec["table"].get("columns"):  # a grid (the scans): checked below
            continue
        table = pd.read_csv(root / "results" / "tables" / f"{name}.csv").set_index("model")
        for run in spec["runs"]:
            row = table.loc[run["label"]]
            for key, path in run["files"].items():
                kind, _, what = key.partition(":")
                if kind == "suite" and "not_evaluated" in json.loads((root / path).read_text()):
                    continue
                # A judge's verdicts were made (the served demo judge's mostly fail to parse, so
                # its score may be empty; the count of verdicts is not).
                column = {"suite": f"{what}/average", "judgment": f"{what}/judged"}.get(kind)
                if column is None:
                    continue
                if kind == "judgment":
                    assert row[column] > 0, (name, run["label"], column)
                if (
                    kind == "suite" and f"{what}/{what}" in table.columns
                ):  # a one-task suite (ifeval, gsm8k)
                    column = f"{what}/{what}"
                assert pd.notna(row[column]), (name, run["label"], column)
                checked += 1
    assert checked > 80, checked


def test_preference_runs_are_evaluated_on_their_held_out_pairs(built):
    root, _ = built
    table = pd.read_csv(root / "results" / "tables" / "constitutional-ai.csv").set_index("model")
    for label in ("anthropic-dpo", "grok-dpo"):
        assert 0 <= table.loc[label, "reward_accuracy"] <= 1, label
        assert pd.notna(table.loc[label, "reward_margin"]), label


def test_ifeval_runs_for_real_on_its_stand_in(built):
    root, log = built
    table = pd.read_csv(root / "results" / "tables" / "smollm2.csv").set_index("model")
    assert table.loc["smollm2-135m-dpo", "ifeval/ifeval"] >= 0
    result = json.loads(
        (root / "results" / "eval" / "dpo" / "smollm2-135m" / "lm_eval" / "ifeval.json").read_text()
    )
    assert result["settings"]["max_gen_toks"] == 16 and result["settings"]["limit"] == 2
    assert "inst_level_strict_acc,none" in result["results"]["ifeval"]
    eval_log = (
        root / "results" / "logs" / "eval" / "dpo" / "smollm2-135m_lm_eval_ifeval.log"
    ).read_text()
    assert "indexing the task folders ['ifeval'] only" in eval_log
    # StarCoder2's base tokenizer has no chat template, as the real one: its IFEval cell stays
    # empty, said once.
    starchat = (root / "results" / "tables" / "starchat2-15b.md").read_text()
    assert (
        "`ifeval` not evaluated on starcoder2-15b: the suite prompts through the chat template "
        "and the model's tokenizer has none"
    ) in starchat


def test_the_scans_fill_their_grid(plan, built):
    root, _ = built
    for name in ("pref_align_scan", "pref_align_scan_openhermes"):
        markdown = (root / "results" / "tables" / f"{name}.md").read_text()
        for loss in ("sigmoid", "ipo", "kto"):
            assert any(line.startswith(f"| {loss} |") for line in markdown.splitlines()), (
                name,
                loss,
            )
    # The Zephyr arm checks the blog's finding on its MT-Bench cells, in words.
    scan = (root / "results" / "tables" / "pref_align_scan.md").read_text()
    assert "Finding checked: the blog's Zephyr arm, best MT-Bench at beta 0.01" in scan


def test_every_run_trained_with_the_global_batch_of_its_recipe(plan, built):
    root, _ = built
    trained = sorted({
        ref for name in family_tables(plan) for run in plan_tables.table_spec(plan, name)["runs"]
        if not run["ref"].startswith("base/") for ref in chain(plan, run["ref"])
    })  # fmt: skip
    assert len(trained) >= 40, trained
    assert_trained_with_the_recipes_global_batch(root, plan, trained)


def test_rehearsal_says_what_it_changed_and_the_jobs_read_the_stand_ins(built):
    root, log = built
    assert (
        "rehearsal: orpo/zephyr-141b-A35b: 8 GPU(s) x 4 node(s) -> 2 CPU process(es) on one node"
        in log
    )
    assert "tiny scale" not in log
    orpo = (root / "results" / "logs" / "orpo" / "zephyr-141b-A35b.log").read_text()
    assert "rehearsal trains with adamw_torch instead" in orpo  # adamw_bnb_8bit without CUDA
    assert (
        "No CUDA device: attn_implementation flash_attention_2 -> sdpa" in orpo
        or "attn_implementation = 'sdpa'" in orpo
    )
    qlora = (root / "results" / "logs" / "sft" / "zephyr-7b-beta-qlora.log").read_text()
    assert "rehearsal runs it as LoRA in fp32 instead" in qlora
    prepare = (root / "results" / "logs" / "data" / "ultrachat_200k" / "prepare.log").read_text()
    assert "HuggingFaceH4/ultrachat_200k" in prepare
    manifest = json.loads((root / "results" / "standins" / "manifest.json").read_text())
    assert "mistralai/Mistral-7B-v0.1" in json.dumps(manifest)
    table = (root / "results" / "tables" / "zephyr-141b-A35b.md").read_text()
    assert "judged by endpoint `demo_served`, model `results/models/sft/tiny` as its" in table
    assert "Built at rehearsal scale" in table  # no rehearsal number passes for a result


def test_the_real_architectures_load_from_the_stand_ins_under_their_hub_ids(built):
    root, _ = built
    expected = {
        "sft/zephyr-7b-beta": "MistralForCausalLM",
        "sft/zephyr-7b-gemma": "GemmaForCausalLM",
        "orpo/zephyr-141b-A35b": "MixtralForCausalLM",
        "sft/starchat2-15b": "Starcoder2ForCausalLM",
        "cpt/gpt2-nl": "GPT2LMHeadModel",
        "grpo/qwen2.5-1.5b-gsm8k": "Qwen2ForCausalLM",
        "sft/smollm3-mid": "SmolLM3ForCausalLM",
        "sft/smollm2-135m": "LlamaForCausalLM",
    }
    for ref, architecture in expected.items():
        config = json.loads((root / "results" / "models" / ref / "config.json").read_text())
        assert config["architectures"] == [architecture], ref
    card = (root / "results" / "models" / "sft" / "zephyr-7b-beta" / "README.md").read_text()
    assert "base_model: mistralai/Mistral-7B-v0.1" in card


def test_iterative_dpo_rounds_train_on_pairs_of_their_own_samples(plan, built):
    root, _ = built
    rounds = plan.rounds["qwen2.5-1.5b-gsm8k"]
    assert len(rounds) == 3
    for ref in rounds:
        name = ref.split("/", 1)[1]
        pairs = json.loads(
            (root / "results" / "data" / name / "prepared" / "summary.json").read_text()
        )
        assert pairs["train"]["rows"] > 0, ref
        assert (root / "results" / "models" / ref / "model.safetensors").is_file(), ref


def test_smollm3_release_is_the_weighted_mean_of_apo_and_mid_training(built):
    import torch
    from transformers import AutoModelForCausalLM

    models = built[0] / "results" / "models"
    merged, apo, mid = (
        AutoModelForCausalLM.from_pretrained(models / ref).state_dict()
        for ref in ("merge/smollm3", "dpo/smollm3-apo", "sft/smollm3-mid")
    )
    assert set(merged) == set(apo)
    for key, value in merged.items():
        assert torch.allclose(value, 0.9 * apo[key] + 0.1 * mid[key], atol=1e-6), key
    assert any(not torch.equal(apo[key], mid[key]) for key in apo), (
        "the two models must differ for the test to mean anything"
    )
