"""What a plan reads from the hub (handbook.offline): the list, a table's share of it, the fetch's refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, workflow_env
from handbook.config import ConfigError, load_config
from handbook.offline import HubDataset, HubModel, hub_model, hub_needs, merge_datasets, selected_columns
from handbook.plan import build_plan

ZEPHYR_7B_BETA = {
    "model mistralai/Mistral-7B-v0.1@main",
    "dataset HuggingFaceH4/ultrachat_200k (default) train_sft,test_sft",
    "dataset HuggingFaceH4/ultrafeedback_binarized (default) train_prefs,test_prefs",
    "dataset HuggingFaceH4/mt_bench_prompts (default) train",
    "dataset tatsu-lab/alpaca_eval (alpaca_eval) eval",
}


def offline_cli(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handbook.offline", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**workflow_env(), "PYTHONPATH": str(REPO / "scripts"), **env},
    )


@pytest.fixture(scope="module")
def plan():
    return build_plan(load_config([]), origin=REPO)


def test_list_names_the_hub_models_and_datasets_and_nothing_local():
    proc = offline_cli("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "model mistralai/Mistral-7B-v0.1@main" in lines
    ultrafeedback = [line for line in lines if line.startswith("dataset HuggingFaceH4/ultrafeedback_binarized ")]
    assert len(ultrafeedback) == 1 and {"train_prefs", "test_prefs"} <= set(ultrafeedback[0].split()[-1].split(","))
    assert not [line for line in lines if "results/" in line or "demo" in line]


def test_a_table_lists_only_what_it_reads():
    proc = offline_cli("list", "--table", "zephyr-7b-beta")
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.splitlines()) == ZEPHYR_7B_BETA


def test_an_unknown_table_is_one_line_and_status_2():
    proc = offline_cli("list", "--table", "zephyr-7b-bet")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")
    assert "zephyr-7b-bet" in proc.stderr


def test_fetch_refuses_to_run_offline():
    proc = offline_cli("fetch", "--table", "zephyr-7b-beta", HF_HUB_OFFLINE="1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "unset" in proc.stderr and "HF_HUB_OFFLINE" in proc.stderr


def test_a_mixtures_test_split_is_read_from_each_source(plan):
    needs = hub_needs(plan, ["constitutional-ai"])
    cai = next(d for d in needs.datasets if d.id == "HuggingFaceH4/cai-conversation-harmless")
    assert set(cai.splits) == {"train_sft", "test_sft", "train_prefs", "test_prefs"}
    assert [m.id for m in needs.models] == ["mistralai/Mistral-7B-v0.1"]


def test_iterative_dpo_rounds_bring_their_prompt_set_and_policy(plan):
    needs = hub_needs(plan, ["online-gsm8k"])
    assert HubDataset("openai/gsm8k", "main", ("train", "test")) in needs.datasets
    assert [m.id for m in needs.models] == ["Qwen/Qwen2.5-1.5B-Instruct"]


def test_a_sweep_from_a_hub_sft_model_needs_that_model_not_the_zephyr_base(plan):
    assert [m.id for m in hub_needs(plan, ["pref_align_scan"]).models] == ["alignment-handbook/zephyr-7b-sft-full"]


def test_demo_tables_need_nothing_from_the_hub(plan):
    assert hub_needs(plan, ["demo", "rejection_sampling", "online"]).items() == []


def test_an_unknown_table_is_a_config_error(plan):
    with pytest.raises(ConfigError, match="unknown table 'nope'"):
        hub_needs(plan, ["nope"])


def test_splits_of_one_dataset_merge_in_first_read_order_and_default_is_no_config():
    merged = merge_datasets([HubDataset("a/b", None, ("train",)), HubDataset("a/b", None, ("test", "train"))])
    assert merged == (HubDataset("a/b", None, ("train", "test")),)
    assert hub_model({"path": "org/m", "revision": "v2"}) == HubModel("org/m", "v2")
    assert HubModel("org/m").line() == "model org/m@main"


def test_the_columns_the_prepare_step_selects_are_known_per_source(plan):
    columns = selected_columns(plan)
    assert columns[("openai/gsm8k", "main")] == {"question", "answer"}  # the keys of a renaming
    assert columns[("HuggingFaceTB/smoltalk2", "Preference")] == {"chosen", "rejected"}
    assert not [key for key in columns if key[0].startswith("results/")]
