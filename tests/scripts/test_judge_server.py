"""scripts/judge.py against a real judge server: `transformers serve` started by the script with
the untrained tiny model, for MT-Bench and AlpacaEval, run twice (the rerun from the cache)."""

from __future__ import annotations

import json

import pytest
from conftest import PLANTED_SECRETS, read_jsonl, run_script
from tiny_model import build_model, build_world

from handbook.jsonl import write_jsonl

JUDGE_PROMPTS = [
    {
        "name": name,
        "type": "single",
        "system_prompt": "Grade the answer from 1 to 10.",
        "prompt_template": template + "\nReply as [[rating]].",
        "description": name,
        "category": "math" if "math" in name else "general",
        "output_format": "[[rating]]",
    }
    for name, template in [
        ("single-v1", "{question}\n{answer}"),
        ("single-math-v1", "{question}\n{ref_answer_1}\n{answer}"),
        ("single-v1-multi-turn", "{question_1}\n{answer_1}\n{question_2}\n{answer_2}"),
        (
            "single-math-v1-multi-turn",
            "{question_1}\n{ref_answer_1}\n{answer_1}\n{question_2}\n{ref_answer_2}\n{answer_2}",
        ),
    ]
]
QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Describe a town.", "Shorter."]},
    {"question_id": 2, "category": "math", "turns": ["2+2?", "3+3?"], "reference": ["4", "6"]},
]
REFERENCES = [
    {"instruction": "Name a town.", "output": "Millbrook.", "generator": "ref", "dataset": "demo"},
    {"instruction": "Say hello.", "output": "Hello there.", "generator": "ref", "dataset": "demo"},
    {"instruction": "Count to 3.", "output": "1, 2, 3.", "generator": "ref", "dataset": "demo"},
]


@pytest.fixture(scope="module")
def judge_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("judge")
    model = build_model(root / "model", build_world(root / "world"))
    write_jsonl(root / "judge_prompts.jsonl", JUDGE_PROMPTS)
    write_jsonl(root / "question.jsonl", QUESTIONS)
    write_jsonl(
        root / "sft-tiny.jsonl",
        [
            {
                "question_id": 1,
                "model_id": "sft-tiny",
                "choices": [{"turns": ["A town.", "Town."]}],
            },
            {"question_id": 2, "model_id": "sft-tiny", "choices": [{"turns": ["4", "7"]}]},
        ],
    )
    (root / "references.json").write_text(json.dumps(REFERENCES))
    outputs = [
        dict(r, output=f"My answer {i}.", generator="sft-tiny") for i, r in enumerate(REFERENCES)
    ]
    (root / "sft-tiny.json").write_text(json.dumps(outputs))
    return root, model


def endpoint(model) -> str:
    serve = {"engine": "transformers", "model": str(model), "args": ["--device", "cpu"]}
    return json.dumps({"name": "tiny", "model": str(model), "serve": serve, "max_tokens": 8})


def judge(root, model, benchmark, *inputs):
    out = root / benchmark
    proc = run_script(
        "judge.py",
        "--benchmark",
        benchmark,
        "--endpoint",
        endpoint(model),
        *inputs,
        "--cache",
        root / "cache",
        "--output",
        out / "verdicts.jsonl",
        "--summary",
        out / "summary.json",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    return summary, read_jsonl(out / "verdicts.jsonl"), proc.stderr


def check_reruns_from_cache(root, model, benchmark, inputs, n_requests, parsed_of):
    first, rows, _ = judge(root, model, benchmark, *inputs)
    assert first["judge_model_reported"] == str(model)
    assert (first["requests_made"], first["cache_hits"]) == (n_requests, 0)
    board = first["models"]["sft-tiny"]
    parsed = sum(1 for row in rows if parsed_of(row))
    judged = board.get("n_judged", board.get("n_total"))
    assert judged == n_requests == len(rows)
    assert board["n_parse_failures"] + parsed == judged
    assert (root / benchmark / "verdicts.jsonl.server.log").exists()
    again, rows_again, stderr = judge(root, model, benchmark, *inputs)
    assert (again["requests_made"], again["cache_hits"]) == (0, n_requests)
    assert "starting" not in stderr  # everything cached: no server started
    assert [dict(r, cached=None) for r in rows_again] == [dict(r, cached=None) for r in rows]
    assert again["models"] == first["models"]
    written = "".join(p.read_text() for p in root.rglob("*") if p.is_file() and p.suffix == ".json")
    assert not [s for s in PLANTED_SECRETS if s in written]
    return first, rows


def test_judge_against_transformers_serve(judge_world):
    root, model = judge_world
    mt_inputs = [
        "--questions",
        root / "question.jsonl",
        "--judge_prompts",
        root / "judge_prompts.jsonl",
        "--answers",
        root / "sft-tiny.jsonl",
    ]
    summary, rows = check_reruns_from_cache(
        root, model, "mt_bench", mt_inputs, 4, lambda row: row["score"] != -1
    )
    assert {tuple(row["judge"]) for row in rows} >= {(str(model), "single-math-v1")}
    ae_inputs = ["--references", root / "references.json", "--answers", root / "sft-tiny.json"]
    summary, rows = check_reruns_from_cache(
        root, model, "alpaca_eval", ae_inputs, 3, lambda row: row["preference"] is not None
    )
    assert summary["models"]["sft-tiny"]["lc_method"] == "not_fitted"
    assert {row["generator_1"] for row in rows} == {"reference"}
