"""Stand-ins of the hub models and datasets (handbook.standins and the standin_* modules): every
one the shipped plan reads has one, lm-eval's task data included, and they load offline under the
real ids through the real loading path; lm-eval's own tasks run on them (e2e)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_script, workflow_env

from handbook.config import load_config
from handbook.lm_eval_data import NltkData, TaskData
from handbook.offline import HubDataset, HubModel, Needs, hub_needs, selected_columns
from handbook.plan import build_plan
from handbook.standin_models import MODELS
from handbook.standin_schemas import DATASETS, MMLU_SUBJECTS
from handbook.standins import MANIFEST, MARKER, TASK_ROWS, StandinError, check, claim

ROWS = 20

# Run in a fresh process with the hub switched off and the stand-ins' caches in its place; it then
# builds the set again (argv[1]) from the needs pickled in argv[3], sparing the tests a second start
# of torch and transformers and a second build of lm-eval's task index.
LOAD_CHECKS = """
import json, pickle, sys, datasets
from transformers import AutoModelForCausalLM, AutoTokenizer
mistral = AutoModelForCausalLM.from_pretrained("mistralai/Mistral-7B-v0.1")
mixtral = AutoModelForCausalLM.from_pretrained("mistral-community/Mixtral-8x22B-v0.1")
gemma = AutoModelForCausalLM.from_pretrained("google/gemma-7b")
qwen = AutoTokenizer.from_pretrained("Qwen/Qwen2.5-1.5B-Instruct")
hello = [{"role": "user", "content": "Hi"}]
mistral_tokenizer = AutoTokenizer.from_pretrained("mistralai/Mistral-7B-v0.1")
prefs = datasets.load_dataset("HuggingFaceH4/ultrafeedback_binarized", split="test_prefs")
gsm8k = datasets.load_dataset("openai/gsm8k", "main", split="train")
arc = datasets.load_dataset("allenai/ai2_arc", "ARC-Challenge")
hellaswag = datasets.load_dataset("Rowan/hellaswag", split="validation")
mmlu = datasets.load_dataset("cais/mmlu", "anatomy", split="dev")
truthfulqa = datasets.load_dataset("truthfulqa/truthful_qa", "multiple_choice", split="validation")
winogrande = datasets.load_dataset("allenai/winogrande", "winogrande_xl", split="train")
print(json.dumps({
    "mistral": type(mistral).__name__,
    "mixtral": [type(mixtral).__name__, mixtral.config.num_local_experts,
                mixtral.config.num_experts_per_tok],
    "gemma": type(gemma).__name__,
    "qwen_chat": qwen.apply_chat_template(hello, tokenize=False, add_generation_prompt=True),
    "qwen_eos": qwen.eos_token,
    "mistral_starts_with_bos":
        mistral_tokenizer("Hi")["input_ids"][0] == mistral_tokenizer.bos_token_id,
    "prefs": [prefs.column_names, prefs.num_rows, prefs[0]["chosen"][-1]["role"]],
    "gsm8k_answer": gsm8k[0]["answer"],
    "arc": [sorted(arc), arc["train"].column_names, arc["train"].num_rows,
            all(r["answerKey"] in r["choices"]["label"] for r in arc["train"])],
    "hellaswag": [hellaswag.column_names, sorted({r["label"] for r in hellaswag}),
                  len(hellaswag[0]["endings"])],
    "mmlu": [mmlu.column_names, mmlu.features["answer"].names, mmlu[0]["subject"]],
    "truthfulqa": [truthfulqa[0]["mc1_targets"]["labels"], truthfulqa[0]["mc2_targets"]["labels"]],
    "winogrande": [winogrande.column_names, sorted({r["answer"] for r in winogrande}),
                   all(r["sentence"].count("_") == 1 for r in winogrande)],
}))
from handbook.config import load_config
from handbook.offline import selected_columns
from handbook.plan import build_plan
from handbook.standins import build
plan = build_plan(load_config([]))
with open(sys.argv[3], "rb") as f:
    build(pickle.load(f), sys.argv[1], int(sys.argv[2]), selected_columns(plan))
"""


@pytest.fixture(scope="module")
def plan():
    return build_plan(load_config([]), origin=REPO)


@pytest.fixture(scope="module")
def needs(plan) -> Needs:
    return hub_needs(plan)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("standins") / "a"
    proc = run_script("make_standins.py", "--out", out, "--rows", ROWS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_model_and_dataset_the_shipped_plan_reads_has_a_stand_in(plan, needs):
    assert {m.id for m in needs.models} <= set(MODELS)
    assert {d.id for d in needs.datasets} <= set(DATASETS)
    assert {d.id for d in needs.lm_eval} <= set(DATASETS)
    assert [item.name for item in needs.nltk] == ["punkt_tab"]
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
        check(
            Needs(datasets=(HubDataset("HuggingFaceH4/ultrachat_200k", None, ("train_sft",)),)),
            columns,
        )
    with pytest.raises(StandinError, match="dataset org/benchmark: no stand-in schema"):
        check(Needs(lm_eval=(TaskData("org/benchmark", None, ("test",)),)))
    with pytest.raises(StandinError, match="no configuration 'all'"):
        check(Needs(lm_eval=(TaskData("cais/mmlu", "all", ("test",)),)))
    with pytest.raises(StandinError, match="no split 'train'"):
        check(Needs(lm_eval=(TaskData("truthfulqa/truthful_qa", "multiple_choice", ("train",)),)))
    with pytest.raises(StandinError, match="nltk wordnet .*no stand-in builder"):
        check(Needs(nltk=(NltkData("wordnet", ("some_task",)),)))


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


def test_the_build_lists_what_it_made_in_its_manifest(built, needs):
    manifest = json.loads((built / MANIFEST).read_text())
    assert set(manifest["models"]) == {m.id for m in needs.models}
    assert manifest["models"]["gpt2"]["snapshot"].startswith("hub/models--gpt2/snapshots/")
    sha = manifest["models"]["mistralai/Mistral-7B-v0.1"]["snapshot"].rsplit("/", 1)[1]
    assert (
        built / "hub" / "models--mistralai--Mistral-7B-v0.1" / "refs" / "main"
    ).read_text() == sha
    ultrachat = manifest["datasets"]["HuggingFaceH4/ultrachat_200k (default)"]
    assert ultrachat["path"].startswith("datasets/HuggingFaceH4___ultrachat_200k/default/0.0.0/")
    assert ultrachat["splits"] == {
        "train_sft": ROWS,
        "test_sft": ROWS // 5,
        "train_gen": ROWS,
        "test_gen": ROWS // 5,
    }


def test_lm_evals_task_data_is_built_with_rows_for_its_shots_and_the_nltk_data_ifeval_reads(built):
    manifest = json.loads((built / MANIFEST).read_text())
    datasets = manifest["datasets"]
    assert {f"cais/mmlu ({subject})" for subject in MMLU_SUBJECTS} <= set(datasets)
    assert datasets["cais/mmlu (anatomy)"]["splits"] == {
        "test": TASK_ROWS,
        "validation": TASK_ROWS,
        "dev": TASK_ROWS,
    }
    assert datasets["allenai/ai2_arc (ARC-Challenge)"]["splits"]["train"] > 25  # 25-shot
    # One GSM8K for the plan's prompts and lm-eval's gsm8k: the rows of both.
    assert datasets["openai/gsm8k (main)"]["splits"] == {"train": TASK_ROWS, "test": TASK_ROWS}
    assert datasets["google/IFEval (default)"]["splits"] == {"train": TASK_ROWS}
    assert manifest["nltk"]["punkt_tab"]["path"] == "nltk_data/tokenizers/punkt_tab/english"
    assert manifest["environment"]["NLTK_DATA"] == "nltk_data"


@pytest.fixture(scope="module")
def second_process(built, needs) -> dict:
    """What a fresh offline process loads from the stand-ins; it builds them again into b/."""
    pickled = built.parent / "needs.pickle"
    pickled.write_bytes(pickle.dumps(needs))
    env = {
        **workflow_env(),
        "PYTHONPATH": str(REPO / "scripts"),
        "HF_HUB_CACHE": str(built / "hub"),
        "HF_DATASETS_CACHE": str(built / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_CHECKS, str(built.parent / "b"), str(ROWS), str(pickled)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
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
    assert columns == [
        "prompt",
        "prompt_id",
        "chosen",
        "rejected",
        "messages",
        "score_chosen",
        "score_rejected",
    ]
    assert rows == ROWS // 5 and last_role == "assistant"
    assert loaded["gsm8k_answer"].split("\n#### ")[1].isdigit()


def test_task_data_has_the_columns_and_answers_lm_evals_tasks_read(second_process):
    loaded = second_process
    splits, columns, rows, keys_valid = loaded["arc"]
    assert splits == ["test", "train", "validation"] and columns == [
        "id",
        "question",
        "choices",
        "answerKey",
    ]
    assert rows == TASK_ROWS and keys_valid
    columns, labels, endings = loaded["hellaswag"]
    assert {"activity_label", "ctx_a", "ctx_b", "endings", "label"} <= set(columns)
    assert set(labels) <= {"0", "1", "2", "3"} and len(labels) > 1 and endings == 4
    assert loaded["mmlu"] == [
        ["question", "subject", "choices", "answer"],
        ["A", "B", "C", "D"],
        "anatomy",
    ]
    assert loaded["truthfulqa"] == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
    ]  # true statements first, as lm-eval expects
    assert loaded["winogrande"] == [["sentence", "option1", "option2", "answer"], ["1", "2"], True]


def test_the_same_build_twice_is_byte_identical(built, second_process):
    again = built.parent / "b"
    for name in ("models--mistralai--Mistral-7B-v0.1", "models--google--gemma-7b", "models--gpt2"):
        first = next((built / "hub" / name / "snapshots").iterdir()) / "model.safetensors"
        second = next((again / "hub" / name / "snapshots").iterdir()) / "model.safetensors"
        assert first.read_bytes() == second.read_bytes(), name
    assert (built / MANIFEST).read_text() == (again / MANIFEST).read_text()  # every file's hash


# lm-eval's own tasks on the stand-ins, offline, as handbook.lm_harness runs a suite: the shipped
# openllm suite's ARC-Challenge (25-shot) and GSM8K (5-shot) on Mistral, and the ifeval suite
# (through the chat template, its checks reading langdetect and NLTK's punkt_tab) on Zephyr's SFT
# model; two documents each, generating at most 16 tokens.
LM_EVAL_RUN = """
import json
from handbook.config import load_config
from handbook.lm_harness import SuiteRun, evaluate, load_lm, prepare
from handbook.plan import build_plan
from handbook.suites import headline
suites = build_plan(load_config([])).config["suites"]
tasks = [t for t in suites["openllm"]["tasks"] if t["task"] in ("arc_challenge", "gsm8k")]
openllm = {**suites["openllm"], "tasks": tasks}
out = {}
for model, name, suite in [("mistralai/Mistral-7B-v0.1", "openllm", openllm),
                           ("alignment-handbook/zephyr-7b-sft-full", "ifeval", suites["ifeval"])]:
    run = SuiteRun(suite=name, suites={name: suite}, limit=2, max_gen_toks=16)
    specs, task_manager, loaded = prepare(run)
    raw = evaluate(load_lm(model, run), run, specs, task_manager, loaded)
    config = raw["configs"][specs[-1].task]
    out[name] = {"headline": headline(raw, specs), "n-samples": raw["n-samples"],
                 "n-shot": raw["n-shot"],
                 "max_gen_toks": config["generation_kwargs"]["max_gen_toks"]}
print(json.dumps(out))
"""


@pytest.mark.e2e
def test_lm_evals_hub_tasks_run_offline_on_the_stand_ins(built):
    env = {
        **workflow_env(),
        "PYTHONPATH": str(REPO / "scripts"),
        "HF_HUB_CACHE": str(built / "hub"),
        "HF_DATASETS_CACHE": str(built / "datasets"),
        "NLTK_DATA": str(built / "nltk_data"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", LM_EVAL_RUN],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    openllm, ifeval = result["openllm"], result["ifeval"]
    assert set(openllm["headline"]) == {"arc_challenge", "gsm8k", "average"}
    assert all(0.0 <= score <= 1.0 for score in openllm["headline"].values())
    assert openllm["n-shot"] == {"arc_challenge": 25, "gsm8k": 5}
    assert {task: n["effective"] for task, n in openllm["n-samples"].items()} == {
        "arc_challenge": 2,
        "gsm8k": 2,
    }
    assert (
        0.0 <= ifeval["headline"]["ifeval"] <= 1.0
        and ifeval["n-samples"]["ifeval"]["effective"] == 2
    )
    assert (
        openllm["max_gen_toks"] == ifeval["max_gen_toks"] == 16
    )  # gsm8k's 256 and ifeval's 1280, capped
