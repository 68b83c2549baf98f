"""The plan of judging: which endpoint judges at each scale, the verdict job's command and
resources, the judges' pinned downloads, published tolerances and anchors checked before any job,
and multi-GPU inference for a model one GPU cannot hold."""

from __future__ import annotations

import json
import shlex

import pytest
from test_plan import error_of, plan_of, small_config

from handbook.config import load_config
from handbook.plan import build_plan
from handbook.plan import eval as plan_eval
from handbook.plan import judges as plan_judges
from handbook.plan import tables as plan_tables

ENDPOINTS = {
    "api": {
        "base_url": "https://api.example.org/v1",
        "model": "judge-1",
        "api_key_env": "JUDGE_KEY",
        "temperature": 0,
        "tiny": "served",
    },
    "served": {"serve": {"engine": "transformers", "model": "sft/a"}, "max_tokens": 8},
}
JUDGES = {
    "mt": {
        "format": "mt_bench",
        "prompts": "org/mt_bench_prompts",
        "endpoint": "api",
        "judge_prompts": {"url": "https://example.org/judge_prompts.jsonl", "sha256": "a" * 64},
    }
}


def judged_config(**table) -> dict:
    tables = {"t": {"rows": {"sft": ["sft/a"]}, "judges": ["mt"], "demo": False, **table}}
    return small_config(judges=JUDGES, judge_endpoints=ENDPOINTS, tables=tables)


@pytest.fixture(scope="module")
def shipped():
    return build_plan(load_config([], {}))


def endpoint_of(job) -> dict:
    words = shlex.split(job.args)
    return json.loads(words[words.index("--endpoint") + 1])


def test_an_api_judge_at_full_scale_and_its_served_stand_in_at_tiny_scale(tmp_path):
    full = plan_of(judged_config(), tmp_path)
    job = plan_tables.verdicts_job(full, "mt", "t")
    endpoint = endpoint_of(job)
    assert endpoint["base_url"] == "https://api.example.org/v1" and endpoint["name"] == "api"
    assert "key" not in json.dumps({k: v for k, v in endpoint.items() if k != "api_key_env"})
    assert job.inputs["answers"] == ["results/judges/mt/model_answer/sft-a.jsonl"]
    download = plan_judges.data_file(full, JUDGES["mt"]["judge_prompts"])
    assert (
        job.inputs["judge_prompts"]
        == download
        == ("results/judges/downloads/aaaaaaaaaaaa-judge_prompts.jsonl")
    )
    assert f"--sha256 {'a' * 64}" in plan_judges.download_job(full, download.rsplit("/")[-1]).args
    assert plan_tables.result_files(full, "sft/a", "t")["judgment:mt"] == (
        "results/judges/mt/verdicts/t.json"
    )

    config = judged_config()
    config["scale"] = "tiny"
    tiny = plan_of(config, tmp_path)
    job = plan_tables.verdicts_job(tiny, "mt", "t")
    endpoint = endpoint_of(job)
    # The served model is a model of this workflow: its folder, and an input of the job.
    assert endpoint["serve"]["model"] == endpoint["model"] == "results/models/sft/a"
    assert "results/models/sft/a" in job.inputs["serve"] and job.gpus == 0
    # The demo world's questions and judge prompts stand in for FastChat's files.
    assert job.inputs["judge_prompts"] == "results/judges/prompts/mt_bench_demo_judge_prompts.jsonl"
    assert "--questions results/judges/prompts/mt_bench_demo.jsonl" in job.args


def test_a_changed_endpoint_changes_the_rerun_digest(tmp_path):
    before = plan_judges.endpoint_digest(plan_of(judged_config(), tmp_path), "mt")
    ENDPOINTS["api"]["model"] = "judge-2"
    try:
        after = plan_judges.endpoint_digest(plan_of(judged_config(), tmp_path), "mt")
    finally:
        ENDPOINTS["api"]["model"] = "judge-1"
    assert before != after


def test_bad_judging_config_is_named_before_any_job(tmp_path):
    config = judged_config()
    config["judges"] = {"mt": {**JUDGES["mt"], "endpoint": "nope"}}
    assert "judges.mt.endpoint: unknown judge endpoint 'nope'" in error_of(config, tmp_path)
    config = judged_config()
    config["judge_endpoints"] = {**ENDPOINTS, "api": {"model": "x", "tiny": "served"}}
    assert "judge_endpoints.api.base_url" in error_of(config, tmp_path)
    published = [{"label": "p", "source": "s", "values": {"mt": 7.0}, "reproduced_by": "dpo"}]
    message = error_of(judged_config(published=published), tmp_path)
    assert "tables.t.published[0].reproduced_by: no row 'dpo'" in message
    published = [{"label": "p", "source": "s", "values": {"mt": 7.0}, "tolerance": {"x": 1}}]
    assert "tolerance: ['x']: no published value" in error_of(
        judged_config(published=published), tmp_path
    )
    config = judged_config()
    config["judge_endpoints"] = {**ENDPOINTS, "api": {**ENDPOINTS["api"], "api_key": "sk-1"}}
    assert "api_key" in error_of(config, tmp_path)


def test_anchors_are_answered_and_judged_beside_the_tables_models(tmp_path):
    anchors = {"big (hub)": {"model": "base/big", "published": {"mt": 7.3}}}
    plan = plan_of(judged_config(anchors=anchors), tmp_path)
    entries = {e.label: e for e in plan.tables["t"]}
    anchor = entries["big (hub)"]
    assert anchor.params == {"anchor": True} and anchor.ref == "base/big"
    assert anchor.files["answers:mt"] == "results/judges/mt/model_answer/base-big.jsonl"
    assert (
        "results/judges/mt/model_answer/base-big.jsonl"
        in (plan_tables.verdicts_job(plan, "mt", "t").inputs["answers"])
    )
    answer = plan_judges.answer_job(plan, "mt", "base-big")
    assert "--model org/big-7b" in answer.args and answer.gpus == 1


def test_the_141b_table_answers_and_evaluates_on_a_node_of_gpus(shipped):
    """Mixtral-8x22B's bf16 weights (281 GB) need 8 GPUs of 80 GiB: accelerate's device map
    spreads it; a 7B model stays on one GPU."""
    answer = plan_judges.answer_job(shipped, "mt_bench", "orpo-zephyr-141b-A35b")
    assert answer.gpus == 8 and "--device_map auto --dtype bfloat16" in answer.args
    assert plan_eval.inference_gpus(shipped, "dpo/zephyr-7b-beta") == 1
    small = plan_judges.answer_job(shipped, "mt_bench", "dpo-zephyr-7b-beta")
    assert small.gpus == 1 and "--device_map" not in small.args


def test_the_shipped_paper_tables_are_judged_by_endpoints_at_full_scale(shipped):
    job = plan_tables.verdicts_job(shipped, "mt_bench", "zephyr-7b-beta")
    endpoint = endpoint_of(job)
    assert endpoint["model"] == "gpt-4-0613" and endpoint["api_key_env"] == "OPENAI_API_KEY"
    assert job.inputs["reference_answers"].startswith("results/judges/downloads/")
    alpaca = plan_tables.verdicts_job(shipped, "alpaca_eval", "zephyr-7b-beta")
    assert "--references tatsu-lab/alpaca_eval --references_config alpaca_eval_gpt4_baseline" in (
        alpaca.args
    )
    assert endpoint_of(alpaca)["model"] == "gpt-4-1106-preview"
