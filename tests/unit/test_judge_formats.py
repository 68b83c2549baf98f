"""Answer files for FastChat's MT-Bench judge and AlpacaEval: exact fields on fixed inputs,
multi-turn answers in turn order, demo prompts, and one generation with the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace

import generate_for_judges as gfj
import pytest
from conftest import REPO, workflow_env
from tiny_model import build_model, build_world

from handbook import judge_formats as jf

FASTCHAT_QUESTION = {
    "question_id": 81,
    "category": "writing",
    "turns": ["Write a haiku.", "Now make it rhyme."],
}
H4_QUESTION = {
    "prompt_id": 81,
    "category": "writing",
    "prompt": ["Write a haiku.", "Now make it rhyme."],
    "reference": None,
}


def test_mt_bench_answer_has_fastchat_fields():
    row = jf.mt_bench_answer(81, "tiny-dpo", ["first answer", "second answer"], tstamp=1700000000.0)
    assert set(row) == {"question_id", "answer_id", "model_id", "choices", "tstamp"}
    assert (
        row["question_id"] == 81 and row["model_id"] == "tiny-dpo" and row["tstamp"] == 1700000000.0
    )
    assert row["choices"] == [{"index": 0, "turns": ["first answer", "second answer"]}]
    assert isinstance(row["answer_id"], str) and len(row["answer_id"]) == 22
    assert (
        row["answer_id"]
        == jf.mt_bench_answer(81, "tiny-dpo", ["first answer", "second answer"])["answer_id"]
    )
    assert (
        row["answer_id"]
        != jf.mt_bench_answer(81, "tiny-dpo", ["second answer", "first answer"])["answer_id"]
    )


def test_mt_bench_file_round_trip_sorted_by_question(tmp_path):
    rows = [jf.mt_bench_answer(q, "m", [f"a{q}.1", f"a{q}.2"], tstamp=0.0) for q in (102, 81, 95)]
    path = tmp_path / "model_answer" / "m.jsonl"
    jf.write_mt_bench_answers(path, rows)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["question_id"] for r in lines] == [81, 95, 102]
    assert lines[0]["choices"][0]["turns"] == ["a81.1", "a81.2"]
    assert jf.read_mt_bench_answers(path)[95] == rows[2]


def test_alpaca_eval_outputs_are_a_json_list(tmp_path):
    row = jf.alpaca_eval_output("What is 2 plus 2?", "The answer is 4.", "tiny", "helpful_base")
    assert row == {
        "instruction": "What is 2 plus 2?",
        "output": "The answer is 4.",
        "generator": "tiny",
        "dataset": "helpful_base",
    }
    path = tmp_path / "outputs.json"
    jf.write_alpaca_eval_outputs(path, [row, {**row, "instruction": "Hi"}])
    loaded = json.loads(path.read_text())
    assert isinstance(loaded, list) and [r["instruction"] for r in loaded] == [
        "What is 2 plus 2?",
        "Hi",
    ]
    assert jf.read_alpaca_eval_outputs(path) == loaded
    path.write_text(json.dumps([{"instruction": "x", "output": "y"}]))
    with pytest.raises(jf.FormatError, match=r"missing \['dataset', 'generator'\]"):
        jf.read_alpaca_eval_outputs(path)


def test_prompt_rows_normalised():
    assert jf.normalise_prompts([H4_QUESTION], "mt_bench") == [FASTCHAT_QUESTION]
    assert jf.normalise_prompts(
        [{"instruction": "Hi", "output": "old", "generator": "gpt4"}], "alpaca_eval"
    ) == [{"instruction": "Hi", "dataset": ""}]
    with pytest.raises(jf.FormatError, match="question 81 needs 'turns'"):
        jf.normalise_prompts([{"question_id": 81, "turns": "Write a haiku."}], "mt_bench")
    with pytest.raises(jf.FormatError, match="duplicate question_id"):
        jf.normalise_prompts([FASTCHAT_QUESTION, FASTCHAT_QUESTION], "mt_bench")
    with pytest.raises(jf.FormatError, match="row 0: AlpacaEval prompt needs"):
        jf.normalise_prompts([{"prompt": "Hi"}], "alpaca_eval")


def test_turns_answered_in_order_with_earlier_answers_fed_back(monkeypatch):
    seen = []

    def fake_generate(model, tokenizer, conversations, args):
        seen.append(conversations)
        return [f"reply to {c[-1]['content']} after {len(c) // 2} turns" for c in conversations]

    monkeypatch.setattr(gfj, "generate", fake_generate)
    questions = [
        {"question_id": 2, "category": "x", "turns": ["Q2a", "Q2b", "Q2c"]},
        {"question_id": 1, "category": "x", "turns": ["Q1a"]},
    ]
    rows = gfj.answer_mt_bench(None, None, questions, Namespace(model_id="m"))
    assert [r["question_id"] for r in rows] == [2, 1]
    assert rows[0]["choices"][0]["turns"] == [
        "reply to Q2a after 0 turns",
        "reply to Q2b after 1 turns",
        "reply to Q2c after 2 turns",
    ]
    assert rows[1]["choices"][0]["turns"] == ["reply to Q1a after 0 turns"]
    assert len(seen) == 3 and [len(batch) for batch in seen] == [2, 1, 1]  # one batch per turn
    assert seen[2][0] == [
        {"role": "user", "content": "Q2a"},
        {"role": "assistant", "content": "reply to Q2a after 0 turns"},
        {"role": "user", "content": "Q2b"},
        {"role": "assistant", "content": "reply to Q2b after 1 turns"},
        {"role": "user", "content": "Q2c"},
    ]
    monkeypatch.setattr(
        gfj, "generate", lambda m, t, convs, a: [c[-1]["content"].upper() for c in convs]
    )
    out = gfj.answer_alpaca_eval(
        None, None, [{"instruction": "hi", "dataset": "d"}], Namespace(model_id="m")
    )
    assert out == [{"instruction": "hi", "output": "HI", "generator": "m", "dataset": "d"}]


EVAL_ROWS = [
    {"prompt": f"What is {i} plus 1?", "answer": str(i + 1), "task": "arithmetic"}
    for i in range(10)
]


def test_demo_prompts():
    questions = jf.demo_mt_bench_questions(EVAL_ROWS, 4, seed=0)
    assert questions == jf.demo_mt_bench_questions(EVAL_ROWS, 4, seed=0)
    assert [q["question_id"] for q in questions] == [1, 2, 3, 4]
    assert all(len(q["turns"]) == 2 and len(q["reference"]) == 2 for q in questions)
    assert questions[0]["turns"][1] == jf.POLITE_FOLLOW_UP
    assert questions[0]["reference"][1].startswith("Happy to help: the answer is")
    assert questions[1]["turns"][1] in {r["prompt"] for r in EVAL_ROWS} - {questions[1]["turns"][0]}
    assert jf.normalise_prompts(questions, "mt_bench")[0]["category"] == "math"  # by reference
    alpaca = jf.demo_alpaca_eval_prompts(EVAL_ROWS, 3, seed=0)
    assert [set(r) for r in alpaca] == [{"instruction", "output", "generator", "dataset"}] * 3
    assert all(
        r["dataset"] == "demo_arithmetic" and r["output"].startswith("The answer is")
        for r in alpaca
    )


def test_generate_mt_bench_with_tiny_model(tmp_path_factory, tmp_path):
    base = tmp_path_factory.getbasetemp()  # shared with other modules that build the same world
    world = build_world(base / "tiny_world")
    model = build_model(base / "tiny_model", world)
    script = str(REPO / "scripts" / "generate_for_judges.py")
    env = {**workflow_env(), "OMP_NUM_THREADS": "1"}
    prompts = tmp_path / "prompts"
    make = [sys.executable, script, "--make_demo_prompts", str(prompts), "--n_demo", "3"]
    make += ["--eval_prompts", str(world / "eval" / "test.jsonl")]
    subprocess.run(make, env=env, check=True, capture_output=True, timeout=60)
    assert (
        json.loads((prompts / "alpaca_eval_demo.json").read_text())[0]["generator"]
        == "demo_reference"
    )
    output = tmp_path / "model_answer" / "tiny.jsonl"
    cmd = [
        sys.executable,
        script,
        "--model",
        str(model),
        "--prompts",
        str(prompts / "mt_bench_demo.jsonl"),
    ]
    cmd += [
        "--format",
        "mt_bench",
        "--model_id",
        "tiny",
        "--max_new_tokens",
        "6",
        "--temperature",
        "1.0",
        "--seed",
        "3",
    ]
    proc = subprocess.run(
        cmd + ["--output", str(output)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["question_id"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert set(row) == {"question_id", "answer_id", "model_id", "choices", "tstamp"}
        assert row["model_id"] == "tiny" and len(row["choices"]) == 1
        assert len(row["choices"][0]["turns"]) == 2 and all(
            isinstance(t, str) for t in row["choices"][0]["turns"]
        )
    assert any(t for r in rows for t in r["choices"][0]["turns"])  # sampling gives some text
    settings = json.loads((tmp_path / "model_answer" / "tiny.settings.json").read_text())
    assert (
        settings["temperature"],
        settings["max_new_tokens"],
        settings["seed"],
        settings["do_sample"],
    ) == (
        1.0,
        6,
        3,
        True,
    )
    assert "<|assistant|>" in settings["chat_template"]
    proc = subprocess.run(
        cmd + ["--output", str(tmp_path / "wrong.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--output must be <dir>/tiny.jsonl" in proc.stderr


def test_mt_bench_score_is_the_mean_of_parsed_judgments(tmp_path):
    rows = [
        {
            "question_id": 81,
            "model": "dpo-tiny",
            "judge": ["gpt-4", "single-v1"],
            "score": 9,
            "turn": 1,
        },
        {
            "question_id": 81,
            "model": "dpo-tiny",
            "judge": ["gpt-4", "single-v1-multi-turn"],
            "score": 6,
            "turn": 2,
        },
        {"question_id": 82, "model": "dpo-tiny", "score": -1, "turn": 1},
        {"question_id": 81, "model": "sft-tiny", "score": 2, "turn": 1},
    ]
    path = tmp_path / "gpt-4_single.jsonl"
    jf.write_jsonl(path, rows)
    assert jf.mt_bench_score(path, "dpo-tiny") == pytest.approx(7.5)
    assert jf.mt_bench_score(path, "sft-tiny") == pytest.approx(2.0)
    with pytest.raises(jf.FormatError, match="no MT-Bench judgments for model 'other'"):
        jf.mt_bench_score(path, "other")


def test_alpaca_eval_win_rate_from_the_leaderboard(tmp_path):
    path = tmp_path / "leaderboard.csv"
    path.write_text(
        ",win_rate,standard_error,n_total,avg_length\ndpo-tiny,61.5,1.2,805,900\nsft-tiny,40.25,1.1,805,700\n"
    )
    assert jf.alpaca_eval_win_rate(path, "sft-tiny") == pytest.approx(40.25)
    with pytest.raises(jf.FormatError, match="no row for generator 'x'"):
        jf.alpaca_eval_win_rate(path, "x")


def test_demo_judge_rows_round_trip_through_the_readers(tmp_path):
    questions = [
        {
            "question_id": 1,
            "category": "arithmetic",
            "turns": ["What is 2+3?", "Now say it politely."],
        },
        {"question_id": 2, "category": "fact", "turns": ["Which river?", "And the flag?"]},
        {"question_id": 3, "category": "fact", "turns": ["Unanswered?"]},
    ]
    answers = {
        1: jf.mt_bench_answer(1, "dpo-x", ["5", "The answer is 5."]),
        2: jf.mt_bench_answer(2, "dpo-x", ["Amber"]),  # one turn answered of two
    }
    turns = jf.mt_bench_turns(questions, answers)
    assert [(q, t) for q, t, _ in turns] == [(1, 1), (1, 2), (2, 1)]
    assert turns[1][2] == [
        {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "Now say it politely."},
        {"role": "assistant", "content": "The answer is 5."},
    ]
    rows = [
        jf.mt_bench_judgment(q, "dpo-x", t, s, "reward-model:rm")
        for (q, t, _), s in zip(turns, [1.0, 2.5, -0.5])
    ]
    assert rows[1]["judge"] == ["reward-model:rm", "single-v1-multi-turn"] and rows[0]["turn"] == 1
    path = tmp_path / "judgment.jsonl"
    jf.write_jsonl(path, rows)
    # Negative rewards are scores too here; only FastChat's -1 marks a failed judgment.
    assert jf.mt_bench_score(path, "dpo-x") == pytest.approx((1.0 + 2.5 - 0.5) / 3)

    board = tmp_path / "leaderboard.csv"
    jf.write_alpaca_eval_leaderboard(
        board, {"dpo-x": jf.alpaca_eval_row([1.0, 0.5, 0.0, 1.0], [10, 20, 30, 40])}
    )
    assert jf.alpaca_eval_win_rate(board, "dpo-x") == pytest.approx(62.5)
    with pytest.raises(jf.FormatError, match="no outputs"):
        jf.alpaca_eval_row([], [])
