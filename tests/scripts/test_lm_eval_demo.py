"""lm-eval on the demo world: generated task YAMLs, a run on an untrained tiny model, and the
one-line errors for a hub-only task offline and for a tasks folder in the wrong format."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, workflow_env
from make_lm_eval_tasks import ANSWER_REGEX, write_tasks
from tiny_model import build_model, build_world

from handbook.tasks import extract_answer, extract_plain_answer

DEMO_SUITES = {
    "demo": {
        "tasks": ["demo_mc", "demo_gen"],
        "num_fewshot": 0,
        "apply_chat_template": True,
        "local": True,
    },
    "demo_plain": {
        "tasks": ["demo_mc", "demo_gen"],
        "num_fewshot": 0,
        "apply_chat_template": False,
        "local": True,
    },
    "typo": {
        "tasks": [{"task": "demo_mcq", "metric": "acc"}],
        "apply_chat_template": True,
        "local": True,
    },
    "hub": {"tasks": [{"task": "arc_easy", "num_fewshot": 0, "metric": "acc"}]},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()  # shared with other modules that build the same world
    world = build_world(base / "tiny_world")
    model = build_model(base / "tiny_model", world)
    tasks = tmp_path_factory.mktemp("lm_eval_tasks") / "demo"
    write_tasks(world / "eval" / "test.jsonl", tasks, seed=0, fmt="chat")
    return {"world": world, "model": model, "tasks": tasks}


def run_eval(
    demo, tmp_path: Path, suite: str, *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(REPO / "scripts" / "eval_lm_harness.py"),
        "--model",
        str(demo["model"]),
    ]
    cmd += [
        "--suite",
        suite,
        "--suites_json",
        json.dumps(DEMO_SUITES),
        "--output",
        str(tmp_path / "out.json"),
        *extra,
    ]
    # one thread: on a busy 2-core machine torch's thread pool makes a 30k-parameter model 100x
    # slower
    env = {**workflow_env(), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_task_files_are_local_json_tasks(demo):
    for name, output_type in (("demo_mc", "multiple_choice"), ("demo_gen", "generate_until")):
        config = yaml.safe_load((demo["tasks"] / f"{name}.yaml").read_text())
        assert (config["task"], config["dataset_path"], config["output_type"]) == (
            name,
            "json",
            output_type,
        )
        data_file = Path(config["dataset_kwargs"]["data_files"]["test"])
        assert data_file.is_absolute() and data_file.exists()
    prompts = read_jsonl(demo["world"] / "eval" / "test.jsonl")
    rows = read_jsonl(demo["tasks"] / "demo_mc.jsonl")
    assert len(rows) == len(prompts)
    answers_by_task = {}
    for p in prompts:
        answers_by_task.setdefault(p["task"], set()).add(p["answer"])
    for row, prompt in zip(rows, prompts):
        assert row["question"] == prompt["prompt"]
        assert len(set(row["choice_answers"])) == 4
        assert row["choice_answers"][row["gold"]] == prompt["answer"]
        assert row["choices"][row["gold"]] == f"The answer is {prompt['answer']}."
        assert set(row["choice_answers"]) <= answers_by_task[prompt["task"]]
    assert len({row["gold"] for row in rows}) > 1  # the gold answer is not always in one place


def test_distractors_deterministic_by_seed(demo, tmp_path):
    eval_prompts = demo["world"] / "eval" / "test.jsonl"
    write_tasks(eval_prompts, tmp_path / "a", seed=0, fmt="chat")
    write_tasks(eval_prompts, tmp_path / "b", seed=1, fmt="plain")
    same = read_jsonl(tmp_path / "a" / "demo_mc.jsonl")
    assert same == read_jsonl(demo["tasks"] / "demo_mc.jsonl")
    other = read_jsonl(tmp_path / "b" / "demo_mc.jsonl")
    assert [r["choice_answers"] for r in other] != [r["choice_answers"] for r in same]
    assert other[0]["choices"] == other[0]["choice_answers"]  # plain: bare answers
    plain = yaml.safe_load((tmp_path / "b" / "demo_gen.yaml").read_text())
    assert plain["doc_to_text"] == "Question: {{question}}\nAnswer:"


@pytest.mark.parametrize(
    "completion",
    [
        "The answer is 17.",
        "Ugh, fine. It is PLANT.",
        "Happy to help: the answer is Sabra.",
        "17",
        " I think 42 \nno",
        "wodniw<|user|>",
        "The answer is 5<",
        "...",
    ],
)
def test_lm_eval_answer_extraction_matches_demo_scorer(completion):
    """The regex filters in the task YAMLs read answers as handbook.tasks does."""

    def regex_filter(fmt):  # lm-eval's RegexFilter: first findall match, "[invalid]" if none
        found = re.findall(ANSWER_REGEX[fmt], completion)
        return found[0].strip() if found else None

    assert regex_filter("chat") == extract_answer(completion)
    assert regex_filter("plain") == extract_plain_answer(completion)


def test_demo_suite_on_tiny_model(demo, tmp_path):
    proc = run_eval(demo, tmp_path, "demo", "--include_path", str(demo["tasks"]), "--limit", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert set(out["results"]) == {"demo_mc", "demo_gen"}
    assert set(out["headline"]) == {"demo_mc", "demo_gen", "average"}
    assert all(0.0 <= v <= 1.0 for v in out["headline"].values())
    assert out["headline"]["demo_mc"] == out["results"]["demo_mc"]["acc,none"]
    assert out["headline"]["demo_gen"] == out["results"]["demo_gen"]["exact_match,get-answer"]
    assert {t: n["effective"] for t, n in out["n-samples"].items()} == {"demo_mc": 8, "demo_gen": 8}
    assert out["n-shot"] == {"demo_mc": 0, "demo_gen": 0}
    settings = out["settings"]
    assert (settings["suite"], settings["apply_chat_template"], settings["limit"]) == (
        "demo",
        True,
        8,
    )
    assert settings["packages"]["lm-eval"] and settings["packages"]["torch"]


def test_demo_evaluation_runs_the_suite_on_its_loaded_model_with_the_same_scores(demo, tmp_path):
    """eval_demo.py's --lm_eval gives what a job of its own (eval_lm_harness.py) gives."""
    alone = run_eval(demo, tmp_path, "demo", "--include_path", str(demo["tasks"]), "--limit", "8")
    assert alone.returncode == 0, alone.stderr[-3000:]
    entry = {
        "spec": DEMO_SUITES["demo"],
        "include_path": str(demo["tasks"]),
        "limit": 8,
        "output": str(tmp_path / "with.json"),
    }
    cmd = [sys.executable, str(REPO / "scripts" / "eval_demo.py"), "--model", str(demo["model"])]
    cmd += [
        "--prompts",
        str(demo["world"] / "eval" / "test.jsonl"),
        "--num_samples",
        "0",
        "--max_new_tokens",
        "8",
    ]
    cmd += ["--lm_eval", json.dumps({"demo": entry}), "--output", str(tmp_path / "demo.json")]
    env = {**workflow_env(), "OMP_NUM_THREADS": "1"}
    together = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert together.returncode == 0, together.stderr[-3000:]
    one, other = (json.loads((tmp_path / name).read_text()) for name in ("out.json", "with.json"))
    for key in ("headline", "results", "n-samples", "configs", "n-shot"):
        assert one[key] == other[key], key
    assert json.loads((tmp_path / "demo.json").read_text())["chat"]["n"] > 0
    # A bad suite stops the job before the model is loaded, in one line.
    entry["spec"] = DEMO_SUITES["typo"]
    bad = subprocess.run(
        [*cmd[:-4], "--lm_eval", json.dumps({"typo": entry}), *cmd[-2:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "demo_mcq" in bad.stderr.strip().splitlines()[-1], bad.stderr[
        -2000:
    ]


def test_hub_only_task_offline_is_one_line(demo, tmp_path):
    empty = {"HF_DATASETS_CACHE": str(tmp_path / "datasets"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    proc = run_eval(demo, tmp_path, "hub", "--limit", "2", env=empty)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: task 'arc_easy' needs Hugging Face Hub access"), last
    assert "allenai/ai2_arc" in last
    assert not (tmp_path / "out.json").exists()


def test_wrong_format_and_unknown_local_task(demo, tmp_path):
    proc = run_eval(demo, tmp_path, "demo_plain", "--include_path", str(demo["tasks"]))
    assert proc.returncode == 2
    assert (
        "were written with --format chat; rebuild them with --format plain"
        in proc.stderr.strip().splitlines()[-1]
    )
    proc = run_eval(demo, tmp_path, "typo", "--include_path", str(demo["tasks"]))
    assert proc.returncode == 2
    assert re.search(
        r"suite 'typo': unknown task 'demo_mcq'.*did you mean demo_mc",
        proc.stderr.strip().splitlines()[-1],
    )
