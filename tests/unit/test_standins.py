"""Stand-ins of the hub models and datasets (handbook.standins): every one the shipped plan reads has
one, and they load offline under the real ids through the real loading path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_script, workflow_env
from handbook.config import load_config
from handbook.offline import HubDataset, HubModel, Needs, hub_needs, selected_columns
from handbook.plan import build_plan
from handbook.standins import DATASETS, MANIFEST, MARKER, MODELS, StandinError, check, claim

ROWS = 20

# Run in a fresh process with the hub switched off and the stand-ins' caches in its place; it then
# builds the set again (argv[1]), sparing the tests a second start of torch and transformers.
LOAD_CHECKS = """
import json, sys, datasets
from transformers import AutoModelForCausalLM, AutoTokenizer
mistral = AutoModelForCausalLM.from_pretrained("mistralai/Mistral-7B-v0.1")
mixtral = AutoModelForCausalLM.from_pretrained("mistral-community/Mixtral-8x22B-v0.1")
gemma = AutoModelForCausalLM.from_pretrained("google/gemma-7b")
qwen = AutoTokenizer.from_pretrained("Qwen/Qwen2.5-1.5B-Instruct")
hello = [{"role": "user", "content": "Hi"}]
mistral_tokenizer = AutoTokenizer.from_pretrained("mistralai/Mistral-7B-v0.1")
prefs = datasets.load_dataset("HuggingFaceH4/ultrafeedback_binarized", split="test_prefs")
gsm8k = datasets.load_dataset("openai/gsm8k", "main", split="train")
print(json.dumps({
    "mistral": type(mistral).__name__,
    "mixtral": [type(mixtral).__name__, mixtral.config.num_local_experts, mixtral.config.num_experts_per_tok],
    "gemma": type(gemma).__name__,
    "qwen_chat": qwen.apply_chat_template(hello, tokenize=False, add_generation_prompt=True),
    "qwen_eos": qwen.eos_token,
    "mistral_starts_with_bos": mistral_tokenizer("Hi")["input_ids"][0] == mistral_tokenizer.bos_token_id,
    "prefs": [prefs.column_names, prefs.num_rows, prefs[0]["chosen"][-1]["role"]],
    "gsm8k_answer": gsm8k[0]["answer"],
}))
from handbook.config import load_config
from handbook.offline import hub_needs, selected_columns
from handbook.plan import build_plan
from handbook.standins import build
plan = build_plan(load_config([]))
build(hub_needs(plan), sys.argv[1], int(sys.argv[2]), selected_columns(plan))
"""


@pytest.fixture(scope="module")
def plan():
    return build_plan(load_config([]), origin=REPO)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("standins") / "a"
    proc = run_script("make_standins.py", "--out", out, "--rows", ROWS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_model_and_dataset_the_shipped_plan_reads_has_a_stand_in(plan):
    needs = hub_needs(plan)
    assert {m.id for m in needs.models} <= set(MODELS)
    assert {d.id for d in needs.datasets} <= set(DATASETS)
    check(needs, selected_columns(plan))  # configurations, splits and selected columns too


def test_an_item_without_a_stand_in_or_beyond_the_real_one_is_refused():
    with pytest.raises(StandinError, match="model org/unknown: no stand-in"):
        check(Needs(models=(HubModel("org/unknown"),)))
    with pytest.raises(StandinError, match="no split 'train'"):
        check(Needs(datasets=(HubDataset("HuggingFaceH4/ultrachat_200k", None, ("train",)),)))
    with pytest.raises(StandinError, match="no configuration 'socratic'"):
        check(Needs(datasets=(HubDataset("openai/gsm8k", "socratic", ("train",)),)))
    columns = {("HuggingFaceH4/ultrachat_200k", None): {"messages", "completion"}}
    with pytest.raises(StandinError, match="no column 'completion'"):
        check(Needs(datasets=(HubDataset("HuggingFaceH4/ultrachat_200k", None, ("train_sft",)),)), columns)


def test_a_folder_that_is_not_the_builders_is_left_alone(tmp_path):
    (tmp_path / "precious.txt").write_text("x")
    with pytest.raises(StandinError, match="not a stand-in folder"):
        claim(tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_a_rebuild_first_makes_the_folder_unfinished(tmp_path):
    (tmp_path / MARKER).write_text("")
    (tmp_path / MANIFEST).write_text("{}")
    (tmp_path / "hub" / "models--old").mkdir(parents=True)
    claim(tmp_path)
    assert not (tmp_path / MANIFEST).exists() and not (tmp_path / "hub").exists()


def test_the_build_lists_what_it_made_in_its_manifest(built, plan):
    manifest = json.loads((built / MANIFEST).read_text())
    needs = hub_needs(plan)
    assert set(manifest["models"]) == {m.id for m in needs.models}
    assert manifest["models"]["gpt2"]["snapshot"].startswith("hub/models--gpt2/snapshots/")
    sha = manifest["models"]["mistralai/Mistral-7B-v0.1"]["snapshot"].rsplit("/", 1)[1]
    assert (built / "hub" / "models--mistralai--Mistral-7B-v0.1" / "refs" / "main").read_text() == sha
    ultrachat = manifest["datasets"]["HuggingFaceH4/ultrachat_200k (default)"]
    assert ultrachat["path"].startswith("datasets/HuggingFaceH4___ultrachat_200k/default/0.0.0/")
    assert ultrachat["splits"] == {"train_sft": ROWS, "test_sft": ROWS // 5, "train_gen": ROWS, "test_gen": ROWS // 5}


@pytest.fixture(scope="module")
def second_process(built) -> dict:
    """What a fresh offline process loads from the stand-ins; it builds them again into b/."""
    env = {
        **workflow_env(),
        "PYTHONPATH": str(REPO / "scripts"),
        "HF_HUB_CACHE": str(built / "hub"),
        "HF_DATASETS_CACHE": str(built / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_CHECKS, str(built.parent / "b"), str(ROWS)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))


def test_stand_ins_load_offline_under_the_real_ids(second_process):
    loaded = second_process
    assert loaded["mistral"] == "MistralForCausalLM" and loaded["gemma"] == "GemmaForCausalLM"
    assert loaded["mixtral"] == ["MixtralForCausalLM", 4, 2]
    assert loaded["qwen_chat"].startswith("<|im_start|>system\n")
    assert loaded["qwen_chat"].endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert loaded["qwen_eos"] == "<|im_end|>" and loaded["mistral_starts_with_bos"]
    columns, rows, last_role = loaded["prefs"]
    assert columns == ["prompt", "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected"]
    assert rows == ROWS // 5 and last_role == "assistant"
    assert loaded["gsm8k_answer"].split("\n#### ")[1].isdigit()


def test_the_same_build_twice_is_byte_identical(built, second_process):
    again = built.parent / "b"
    for name in ("models--mistralai--Mistral-7B-v0.1", "models--google--gemma-7b", "models--gpt2"):
        first = next((built / "hub" / name / "snapshots").iterdir()) / "model.safetensors"
        second = next((again / "hub" / name / "snapshots").iterdir()) / "model.safetensors"
        assert first.read_bytes() == second.read_bytes(), name
    assert (built / MANIFEST).read_text() == (again / MANIFEST).read_text()  # every file's hash
