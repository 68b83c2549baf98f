"""What a plan reads from the hub (handbook.offline, handbook.lm_eval_data): the list, a table's
share of it, lm-eval's task data as its own task configs name it, the fetch's refusals.

The list tests call the command's main() in this process: lm-eval's task index (seconds to build)
is then built once for all of them."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import REPO, workflow_env

from handbook.config import ConfigError, load_config
from handbook.lm_eval_data import TaskData, leaf_configs, lm_eval_index, lm_eval_needs
from handbook.offline import (
    FETCHERS,
    HubDataset,
    HubModel,
    hub_model,
    hub_needs,
    main,
    merge_datasets,
    selected_columns,
)
from handbook.plan import build_plan
from handbook.standin_schemas import MMLU_SUBJECTS

ZEPHYR_7B_BETA = {
    "model mistralai/Mistral-7B-v0.1@main",
    "model HuggingFaceH4/zephyr-7b-beta@main",  # the table's judge anchor
    "dataset HuggingFaceH4/ultrachat_200k (default) train_sft,test_sft",
    "dataset HuggingFaceH4/ultrafeedback_binarized (default) train_prefs,test_prefs",
    "dataset HuggingFaceH4/mt_bench_prompts (default) train",
    "dataset tatsu-lab/alpaca_eval (alpaca_eval) eval",
    # AlpacaEval 2's reference outputs, read by the judging job
    "dataset tatsu-lab/alpaca_eval (alpaca_eval_gpt4_baseline) eval",
}


def offline_cli(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "handbook.offline", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**workflow_env(), "PYTHONPATH": str(REPO / "scripts"), **env},
    )


@pytest.fixture(scope="module")
def plan():
    return build_plan(load_config([]), origin=REPO)


def listed(capsys, *args) -> list[str]:
    assert main(["list", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_list_names_the_hub_models_and_datasets_and_nothing_local(capsys):
    lines = listed(capsys)
    assert "model mistralai/Mistral-7B-v0.1@main" in lines
    ultrafeedback = [
        line for line in lines if line.startswith("dataset HuggingFaceH4/ultrafeedback_binarized ")
    ]
    assert len(ultrafeedback) == 1 and {"train_prefs", "test_prefs"} <= set(
        ultrafeedback[0].split()[-1].split(",")
    )
    assert not [line for line in lines if "results/" in line or "demo" in line]
    assert "lmeval google/IFEval (default) train" in lines  # the ifeval suite's task
    assert "nltk punkt_tab (read by ifeval)" in lines  # which its checks read when scoring


def test_a_table_lists_only_what_it_reads(capsys):
    lines = listed(capsys, "--table", "zephyr-7b-beta")
    assert {line for line in lines if not line.startswith("lmeval ")} == ZEPHYR_7B_BETA


def test_a_tables_hub_suites_list_the_data_their_lm_eval_tasks_read(capsys):
    lines = [
        line for line in listed(capsys, "--table", "zephyr-7b-beta") if line.startswith("lmeval ")
    ]
    assert "lmeval allenai/ai2_arc (ARC-Challenge) test,train,validation" in lines
    assert "lmeval Rowan/hellaswag (default) train,validation" in lines
    assert "lmeval truthfulqa/truthful_qa (multiple_choice) validation" in lines
    assert "lmeval allenai/winogrande (winogrande_xl) train,validation" in lines
    assert "lmeval openai/gsm8k (main) test,train" in lines
    # The mmlu group, followed through its four category groups and their tags to each subject.
    mmlu = {
        line.split()[2].strip("()"): line.split()[3]
        for line in lines
        if line.startswith("lmeval cais/mmlu ")
    }
    assert set(mmlu) == set(MMLU_SUBJECTS) and set(mmlu.values()) == {"dev,test"}
    assert len(lines) == 5 + len(MMLU_SUBJECTS)  # openllm only: no ifeval in this table


def test_the_readers_and_shots_of_task_data_are_kept(plan):
    needs = hub_needs(plan, ["zephyr-7b-beta"])
    arc = next(item for item in needs.lm_eval if item.id == "allenai/ai2_arc")
    assert (arc.tasks, arc.fewshot) == (("arc_challenge",), 25)
    assert {item.tasks for item in needs.lm_eval if item.id == "cais/mmlu"} == {("mmlu",)}
    assert {type(item) for item in needs.items()} <= set(FETCHERS)  # `fetch` fetches task data too


def test_an_unknown_table_is_one_line_and_status_2():
    proc = offline_cli("list", "--table", "zephyr-7b-bet")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")
    assert "zephyr-7b-bet" in proc.stderr


def test_fetch_refuses_to_run_offline():
    proc = offline_cli("fetch", "--table", "zephyr-7b-beta", HF_HUB_OFFLINE="1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        len(proc.stderr.strip().splitlines()) == 1
        and "unset" in proc.stderr
        and "HF_HUB_OFFLINE" in proc.stderr
    )


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
    assert [m.id for m in hub_needs(plan, ["pref_align_scan"]).models] == [
        "alignment-handbook/zephyr-7b-sft-full"
    ]


def test_demo_tables_need_nothing_from_the_hub(plan):
    assert hub_needs(plan, ["demo", "rejection_sampling", "online"]).items() == []


def test_a_plan_without_hub_suites_never_imports_lm_eval():
    code = (
        "import sys; from handbook.config import load_config; "
        "from handbook.plan import build_plan; "
        "from handbook.offline import hub_needs; plan = build_plan(load_config([])); "
        "assert hub_needs(plan, ['demo', 'rejection_sampling']).lm_eval == (); "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('lm_eval', 'torch', 'datasets')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**workflow_env(), "PYTHONPATH": str(REPO / "scripts")},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# A task folder of lm-eval's own format, indexed by lm-eval's TaskManager without its built-in
# tasks.
TASKS = {
    "base.yaml": "task: base_task\ndataset_path: org/base\ndataset_name: one\ntest_split: test\n"
    "training_split: train\nnum_fewshot: 3\ntag: [my_tag]\n",
    "other.yaml": "task: other_task\ndataset_path: org/other\nvalidation_split: validation\n"
    "fewshot_config: {split: dev}\ntag: [my_tag]\n",
    "local.yaml": "task: local_task\ndataset_path: json\n"
    "dataset_kwargs: {data_files: {test: x.jsonl}}\ntest_split: test\n",
    "group.yaml": "group: my_group\ntask:\n  - my_tag\n  - {task: base_task, dataset_name: two}\n"
    "  - {task: inline_task, dataset_path: org/inline, test_split: eval}\n  - local_task\n",
}


@pytest.fixture(scope="module")
def task_index(tmp_path_factory):
    from lm_eval.tasks import TaskManager

    folder = tmp_path_factory.mktemp("tasks")
    for name, text in TASKS.items():
        (folder / name).write_text(text)
    return TaskManager(include_path=str(folder), include_defaults=False).task_index


def suite_plan(plan, tasks) -> SimpleNamespace:
    """The plan's hub checks and error style, with one suite of these tasks."""
    return SimpleNamespace(
        config={"suites": {"mine": {"tasks": tasks}}}, is_hub=plan.is_hub, error=plan.error
    )


def test_groups_tags_and_overrides_resolve_as_lm_eval_builds_them(plan, task_index):
    needs = lm_eval_needs(
        suite_plan(plan, [{"task": "my_group", "num_fewshot": 5, "metric": "acc"}]),
        ["mine"],
        task_index,
    )
    assert needs == (
        TaskData("org/base", "one", ("test", "train")),  # through the tag
        TaskData("org/base", "two", ("test", "train")),  # the group's override of dataset_name
        TaskData("org/inline", None, ("eval",)),  # a task defined inside the group
        TaskData("org/other", None, ("dev", "validation")),  # the few-shot split of fewshot_config
    )  # and the task reading local files is not listed
    assert {item.fewshot for item in needs} == {5} and {item.tasks for item in needs} == {
        ("my_group",)
    }
    alone = lm_eval_needs(
        suite_plan(plan, [{"task": "base_task", "metric": "acc"}]), ["mine"], task_index
    )
    assert alone[0].fewshot == 3  # the task's own num_fewshot when the suite sets none


def test_an_unknown_lm_eval_task_is_a_config_error(plan, task_index):
    with pytest.raises(
        ConfigError, match="suites.mine: unknown task 'nope', not in lm-eval's task index"
    ):
        lm_eval_needs(suite_plan(plan, [{"task": "nope", "metric": "acc"}]), ["mine"], task_index)


def test_an_unknown_table_is_a_config_error(plan):
    with pytest.raises(ConfigError, match="unknown table 'nope'"):
        hub_needs(plan, ["nope"])


def test_splits_of_one_dataset_merge_in_first_read_order_and_default_is_no_config():
    merged = merge_datasets(
        [HubDataset("a/b", None, ("train",)), HubDataset("a/b", None, ("test", "train"))]
    )
    assert merged == (HubDataset("a/b", None, ("train", "test")),)
    assert hub_model({"path": "org/m", "revision": "v2"}) == HubModel("org/m", "v2")
    assert HubModel("org/m").line() == "model org/m@main"


def test_the_columns_the_prepare_step_selects_are_known_per_source(plan):
    columns = selected_columns(plan)
    assert columns[("openai/gsm8k", "main")] == {"question", "answer"}  # the keys of a renaming
    assert columns[("HuggingFaceTB/smoltalk2", "Preference")] == {"chosen", "rejected"}
    assert not [key for key in columns if key[0].startswith("results/")]


def test_a_hub_suite_indexes_only_the_task_folders_its_tasks_live_in(tmp_path):
    from lm_eval.tasks import TaskManager

    from handbook.lm_harness import lm_eval_tasks_root, suite_task_folders, usable_task_folders

    plan = build_plan(load_config([]), origin=REPO)
    tasks = [t["task"] for t in plan.config["suites"]["openllm"]["tasks"]]
    folders = suite_task_folders(lm_eval_index(), lm_eval_tasks_root(), tasks)
    assert folders == ["arc", "gsm8k", "hellaswag", "mmlu", "truthfulqa", "winogrande"]
    small = TaskManager(
        include_path=[str(lm_eval_tasks_root() / f) for f in folders], include_defaults=False
    )
    assert set(tasks) <= set(small.all_tasks)
    # The mmlu group reaches the same 57 subjects through the folders alone.
    whole = {cfg["dataset_name"] for cfg in leaf_configs(lm_eval_index(), "mmlu")}
    assert (
        {cfg["dataset_name"] for cfg in leaf_configs(small.task_index, "mmlu")}
        == whole
        == set(MMLU_SUBJECTS)
    )
    written = tmp_path / "openllm.json"
    written.write_text(json.dumps({"suite": "openllm", "lm_eval": "0.0.1", "folders": folders}))
    assert usable_task_folders(str(written)) is None  # another lm-eval: the whole index instead
