"""The judge layer without a model: FastChat's MT-Bench grading, AlpacaEval 2 annotation, the
endpoint's checks and the cached client, the client against a small real HTTP server on
localhost that speaks the OpenAI chat API."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from handbook.jsonl import read_jsonl, write_jsonl
from handbook.judging import alpaca, mt_bench
from handbook.judging.client import Completion, JudgeClient
from handbook.judging.endpoint import Endpoint, JudgeError
from handbook.judging.run import mt_bench_job, run_job
from handbook.judging.serve import server_command
from handbook.judging.verdicts import estimate_cost, prompt_hash, record

PLANTED_KEY = "sk-planted-judge-key-0"
KEY_ENV = "JUDGING_TEST_API_KEY"

# Judge prompts in FastChat's fields and placeholders, in this test's own words.
JUDGE_PROMPTS = [
    {
        "name": "pair-v2",
        "type": "pairwise",
        "system_prompt": "Compare two answers.",
        "prompt_template": "{question} {answer_a} {answer_b}",
        "description": "ignored here",
        "category": "general",
        "output_format": "[[A]]",
    },
    {
        "name": "single-v1",
        "type": "single",
        "system_prompt": "You grade one answer.",
        "prompt_template": "Q: {question}\nA: {answer}\nGive a grade as [[rating]].",
        "description": "one turn",
        "category": "general",
        "output_format": "[[rating]]",
    },
    {
        "name": "single-math-v1",
        "type": "single",
        "system_prompt": "You grade one answer against a reference.",
        "prompt_template": "Q: {question}\nRef: {ref_answer_1}\nA: {answer}\n[[rating]]",
        "description": "one turn, reference",
        "category": "math",
        "output_format": "[[rating]]",
    },
    {
        "name": "single-v1-multi-turn",
        "type": "single",
        "system_prompt": "You grade the second answer.",
        "prompt_template": "Q1: {question_1}\nA1: {answer_1}\nQ2: {question_2}\nA2: {answer_2}",
        "description": "two turns",
        "category": "general",
        "output_format": "[[rating]]",
    },
    {
        "name": "single-math-v1-multi-turn",
        "type": "single",
        "system_prompt": "You grade the second answer against references.",
        "prompt_template": (
            "Q1: {question_1}\nR1: {ref_answer_1}\nA1: {answer_1}\n"
            "Q2: {question_2}\nR2: {ref_answer_2}\nA2: {answer_2}"
        ),
        "description": "two turns, reference",
        "category": "math",
        "output_format": "[[rating]]",
    },
]
QUESTIONS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Now a limerick."]},
    {
        "question_id": 111,
        "category": "math",
        "turns": ["What is 2+2?", "And 3+3?"],
        "reference": ["4", "6"],
    },
    {"question_id": 121, "category": "reasoning", "turns": ["Who is taller?", "Why?"]},
]
REFERENCE_ANSWERS = [{"question_id": 121, "choices": [{"index": 0, "turns": ["Ann", "Because"]}]}]


def answer_row(question_id, turns):
    return {"question_id": question_id, "model_id": "sft-tiny", "choices": [{"turns": turns}]}


ANSWERS = {
    81: answer_row(81, ["Leaves fall", "There once was"]),
    111: answer_row(111, ["four", "six"]),
    121: answer_row(121, ["Bob", "No idea"]),
}


@pytest.fixture
def mt_files(tmp_path):
    write_jsonl(tmp_path / "judge_prompts.jsonl", JUDGE_PROMPTS)
    write_jsonl(tmp_path / "question.jsonl", QUESTIONS)
    write_jsonl(tmp_path / "gpt-4.jsonl", REFERENCE_ANSWERS)
    write_jsonl(tmp_path / "sft-tiny.jsonl", list(ANSWERS.values()))
    return tmp_path


def build_mt_requests(folder):
    prompts = mt_bench.load_judge_prompts(folder / "judge_prompts.jsonl")
    references = mt_bench.load_references(folder / "gpt-4.jsonl")
    return mt_bench.grading_requests(QUESTIONS, {"sft-tiny": ANSWERS}, prompts, references)


def test_mt_bench_requests_follow_fastchat(mt_files):
    requests = {(r.question_id, r.turn): r for r in build_mt_requests(mt_files)}
    assert len(requests) == 6
    assert requests[81, 1].prompt_name == "single-v1"
    assert requests[81, 1].messages[0] == {"role": "system", "content": "You grade one answer."}
    second = requests[81, 2]
    assert second.prompt_name == "single-v1-multi-turn"
    assert second.messages[1]["content"] == (
        "Q1: Write a haiku.\nA1: Leaves fall\nQ2: Now a limerick.\nA2: There once was"
    )
    # math: the question's own reference; reasoning: the reference answers file
    assert requests[111, 1].prompt_name == "single-math-v1"
    assert "Ref: 4\n" in requests[111, 1].messages[1]["content"]
    assert "R2: 6\n" in requests[111, 2].messages[1]["content"]
    assert requests[121, 2].prompt_name == "single-math-v1-multi-turn"
    assert "R1: Ann\n" in requests[121, 2].messages[1]["content"]


def test_mt_bench_missing_reference_and_answer(mt_files):
    prompts = mt_bench.load_judge_prompts(mt_files / "judge_prompts.jsonl")
    with pytest.raises(ValueError, match="question_id 121"):
        mt_bench.grading_requests(QUESTIONS, {"sft-tiny": ANSWERS}, prompts, {})
    partial = {k: v for k, v in ANSWERS.items() if k != 111}
    with pytest.raises(ValueError, match=r"sft-tiny\.jsonl: model 'sft-tiny' .*question_id 111"):
        mt_bench.grading_requests(
            QUESTIONS,
            {"sft-tiny": partial},
            prompts,
            mt_bench.load_references(mt_files / "gpt-4.jsonl"),
            sources={"sft-tiny": "sft-tiny.jsonl"},
        )


def test_judge_prompts_are_checked(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [p for p in JUDGE_PROMPTS if p["name"] != "single-math-v1"])
    with pytest.raises(ValueError, match=r"p\.jsonl: judge prompt 'single-math-v1' is missing"):
        mt_bench.load_judge_prompts(tmp_path / "p.jsonl")
    broken = [dict(p) for p in JUDGE_PROMPTS]
    broken[1]["prompt_template"] = "Q: {question} but no answer"
    write_jsonl(tmp_path / "q.jsonl", broken)
    with pytest.raises(ValueError, match=r"'single-v1' has no placeholder \{answer\}"):
        mt_bench.load_judge_prompts(tmp_path / "q.jsonl")


@pytest.mark.parametrize(
    "text, rating",
    [
        ("Fine work. Rating: [[8]]", 8.0),
        ("[[7.5]] overall", 7.5),
        ("I would say [8] here", 8.0),
        ("[[9]] then [3]", 9.0),
        ("No rating at all", -1.0),
        ("", -1.0),
    ],
)
def test_parse_rating(text, rating):
    assert mt_bench.parse_rating(text) == rating


def completion(text, cached=False, top_logprobs=None):
    return Completion(text, "judge-model", 10, 2, top_logprobs, 1700000000.0, cached)


def test_summarise_counts_failures(mt_files):
    rows = [
        mt_bench.judgment_row(r, completion(t), mt_bench.parse_rating(t), "judge-model")
        for r, t in zip(build_mt_requests(mt_files), ["[[8]]", "[[6]]", "none", "[[4]]", "", "x"])
    ]
    assert rows[0]["judge"] == ["judge-model", "single-v1"]
    assert rows[0]["user_prompt"].startswith("Q: Write a haiku.")
    assert rows[0]["tstamp"] == 1700000000.0 and rows[0]["cached"] is False
    summary = mt_bench.summarise(rows)["sft-tiny"]
    assert summary == {
        "score": 6.0,
        "score_turn_1": 8.0,
        "score_turn_2": 5.0,
        "n_judged": 6,
        "n_parse_failures": 3,
    }
    failed = mt_bench.summarise([dict(r, score=-1.0) for r in rows])["sft-tiny"]
    assert failed["score"] is None and failed["n_parse_failures"] == 6


REFERENCES = {"Name a fruit.": "An apple.", "Name a colour.": "Blue."}


def alpaca_output(instruction, output, generator="sft-tiny"):
    return {"instruction": instruction, "output": output, "generator": generator, "dataset": "demo"}


def test_alpaca_template_from_package_puts_reference_first():
    template, config = alpaca.load_annotator()
    assert alpaca.answer_tokens(config) == ("m", "M") and alpaca.wants_logprobs(config)
    outputs = {"sft-tiny": [alpaca_output("Name a fruit.", "A pear, {output_1}.")]}
    (request,) = alpaca.pairwise_requests(REFERENCES, outputs, template)
    assert (request.output_1, request.output_2) == ("An apple.", "A pear, {output_1}.")
    assert [m["role"] for m in request.messages] == ["system", "user"]
    user = request.messages[1]["content"]
    assert '"""Name a fruit."""' in user
    # the reference is model "m" (output_1); the model's output, left unfilled inside, is "M"
    assert user.index('"""An apple."""') < user.index('"""A pear, {output_1}."""')


def test_alpaca_bad_inputs():
    with pytest.raises(ValueError, match="unknown AlpacaEval annotator 'no_such'; some there are"):
        alpaca.load_annotator("no_such")
    template, _ = alpaca.load_annotator()
    outputs = {"sft-tiny": [alpaca_output("Name a planet " + "x" * 80, "Mars")]}
    with pytest.raises(
        ValueError, match=r"model 'sft-tiny': instruction 'Name a planet x+' is not"
    ):
        alpaca.pairwise_requests(REFERENCES, outputs, template)


@pytest.mark.parametrize(
    "text, preference",
    [("M", 2.0), (" m\n", 1.0), ("M.", 2.0), ("Many words", None), ("", None), ("output", None)],
)
def test_preference_from_text(text, preference):
    assert alpaca.parse_preference(completion(text)) == preference


def test_preference_from_logprobs():
    import math

    top = [
        {"token": "M", "logprob": -0.2},
        {"token": "m", "logprob": -1.8},
        {"token": "x", "logprob": -3},
    ]
    expected = 1 + math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.8))
    assert alpaca.parse_preference(completion("M", top_logprobs=top)) == pytest.approx(expected)
    # no answer token among the alternatives: read the text instead
    assert alpaca.parse_preference(completion("m", top_logprobs=top[2:])) == 1.0


def annotation(preference, output_2="A pear.", model="sft-tiny", output_1="An apple."):
    request = alpaca.Request(model, "Name a fruit.", "demo", output_1, output_2, [])
    return alpaca.annotation_row(request, completion("M"), preference, "judge-model")


def test_leaderboard_win_rate_and_failures():
    rows = [annotation(p) for p in (2.0, 2.0, 2.0, 1.0, None)]
    assert rows[0]["generator_1"] == "reference" and rows[0]["generator_2"] == "sft-tiny"
    board = alpaca.leaderboard(rows)["sft-tiny"]
    assert board["win_rate"] == pytest.approx(75.0)
    assert board["standard_error"] == pytest.approx(25.0)
    assert board["n_total"] == 5 and board["n_parse_failures"] == 1
    assert board["avg_length"] == len("A pear.")
    assert board["lc_method"] == "not_fitted" and board["length_controlled_winrate"] is None


def test_length_only_lc_discounts_length():
    # The model wins exactly when its output is longer than the reference's.
    rows = []
    for i in range(16):
        longer = i % 4 != 0
        output = "word " * (30 + i if longer else 2 + i % 3)
        rows.append(annotation(1.9 if longer else 1.1, output_2=output, output_1="word " * 10))
    board = alpaca.leaderboard(rows)["sft-tiny"]
    assert board["lc_method"] == "length_only"
    assert board["win_rate"] == pytest.approx(70.0)
    assert 0 < board["length_controlled_winrate"] < board["win_rate"]
    assert board["lc_standard_error"] is None


def fake_alpaca_eval_hub(folder, n):
    """AlpacaEval's two hub tables in their columns, for n instructions, made up."""
    import pandas as pd

    difficulty = pd.Series([(i % 5 - 2) / 2 for i in range(n)], name="instruction_difficulty")
    difficulty.to_csv(folder / "instruction_difficulty.csv")
    gamed = [
        {
            "model": model,
            "index": i,
            "instruction_difficulty": difficulty[i],
            "preference": preference,
            "std_delta_len": delta,
            "not_gamed_baseline": False,
        }
        for model, preference, delta in (("gamed_long", 0.8, -1.5), ("gamed_short", 0.2, 1.5))
        for i in range(n)
    ]
    pd.DataFrame(gamed).to_csv(folder / "df_gamed.csv", index=False)
    return lambda repo_id, filename, **kwargs: str(folder / filename)


def test_alpaca_eval_lc_with_hub_tables(tmp_path, monkeypatch):
    from handbook.judging import length_control

    download = fake_alpaca_eval_hub(tmp_path, 16)
    monkeypatch.setattr(length_control.glm_module(), "hf_hub_download", download)
    instructions = [f"instruction {i}" for i in range(16)]
    assert length_control.reference_index(instructions[:15]) is None  # not AlpacaEval's set
    index = length_control.reference_index(instructions)
    assert index["instruction 3"] == 3
    rows = [
        dict(
            annotation(1.9 if i % 4 else 1.1, output_2="word " * (30 + i if i % 4 else 2)),
            instruction=instructions[i],
        )
        for i in range(16)
    ]
    board = alpaca.leaderboard(rows, index)["sft-tiny"]
    assert board["lc_method"] == "length_controlled_v1"
    assert 0 < board["length_controlled_winrate"] < board["win_rate"]
    assert board["lc_standard_error"] > 0


def endpoint(url, **extra):
    return Endpoint.from_dict(
        {"name": "test-judge", "base_url": url, "model": "judge-model", **extra}
    )


def test_endpoint_validation():
    judge = endpoint("http://h/v1", api_key_env="OPENAI_API_KEY", temperature=0.0, max_tokens=16)
    assert judge.identity() == {
        "base_url": "http://h/v1",
        "model": "judge-model",
        "temperature": 0.0,
        "max_tokens": 16,
    }
    assert judge.describe()["api_key_env"] == "OPENAI_API_KEY"
    with pytest.raises(ValueError, match="unknown key 'temprature'"):
        endpoint("http://h/v1", temprature=0.5)
    for secret in ({"api_key": "sk-x"}, {"openai_api_key": "sk-x"}):
        with pytest.raises(ValueError, match="put the key in the environment variable named by"):
            endpoint("http://h/v1", **secret)
    served = {"engine": "vllm", "model": "/m", "gpus": 2}
    assert Endpoint.from_dict({"name": "v", "model": "/m", "serve": served}).identity()[
        "base_url"
    ] == ("served:vllm")
    with pytest.raises(ValueError, match="exactly one of 'base_url' and 'serve'"):
        endpoint("http://h/v1", serve=served)
    with pytest.raises(ValueError, match="'--api-key' takes a key"):
        Endpoint.from_dict(
            {"name": "v", "model": "/m", "serve": {**served, "args": ["--api-key=s"]}}
        )


def test_server_commands(monkeypatch):
    from handbook.judging import serve

    monkeypatch.setattr(serve, "executable", lambda name: name)
    vllm = Endpoint.from_dict(
        {"name": "v", "model": "/m", "serve": {"engine": "vllm", "model": "/m", "gpus": 4}}
    )
    assert server_command(vllm.serve, 8000) == [
        "vllm", "serve", "/m", "--host", "127.0.0.1", "--port", "8000",
        "--tensor-parallel-size", "4",
    ]  # fmt: skip
    tf = Endpoint.from_dict(
        {"name": "t", "model": "/m", "serve": {"engine": "transformers", "model": "/m"}}
    )
    assert server_command(tf.serve, 8000)[-2:] == ["--device", "auto"]
    cpu = Endpoint.from_dict(
        {
            "name": "t",
            "model": "/m",
            "serve": {"engine": "transformers", "model": "/m", "args": ["--device", "cpu"]},
        }
    )
    command = server_command(cpu.serve, 8000)
    assert command[-2:] == ["--device", "cpu"] and command.count("--device") == 1


def test_missing_engine_is_one_line(monkeypatch, tmp_path):
    from handbook.judging import serve

    monkeypatch.setattr(serve.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(serve.shutil, "which", lambda name: None)
    with pytest.raises(JudgeError, match="no `vllm` executable next to python or on PATH"):
        serve.executable("vllm")


class FakeJudge(BaseHTTPRequestHandler):
    """The OpenAI chat API's two routes, answering from the server's script of statuses."""

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send(200, {"object": "list", "data": [{"id": "other"}, {"id": "judge-model"}]})

    def do_POST(self):
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        state["requests"].append(body)
        state["auth"].append(self.headers.get("authorization"))
        status = state["statuses"].pop(0) if state["statuses"] else 200
        if status != 200:
            self.send(status, {"error": {"message": "try later"}}, [("retry-after-ms", "20")])
            return
        self.send(200, chat_response(body, state["reply"]))


def chat_response(body, text):
    logprobs = None
    if body.get("logprobs"):
        top = [{"token": "M", "logprob": -0.1}, {"token": "m", "logprob": -2.4}]
        logprobs = {"content": [{"token": "M", "logprob": -0.1, "top_logprobs": top}]}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": logprobs,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


@pytest.fixture
def fake_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    server.state = {"requests": [], "auth": [], "statuses": [], "reply": "Good. [[8]]"}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server):
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


MESSAGES = [{"role": "system", "content": "judge"}, {"role": "user", "content": "grade this"}]


def test_cache_answers_a_repeated_request(fake_judge, tmp_path):
    client = JudgeClient(endpoint(url_of(fake_judge)), url_of(fake_judge), tmp_path / "cache")
    first = client.complete(MESSAGES)
    again = client.complete(MESSAGES)
    assert (first.text, first.cached, again.cached) == ("Good. [[8]]", False, True)
    assert again.text == first.text and again.created == first.created
    assert (first.model_reported, first.prompt_tokens, first.top_logprobs) == (
        "judge-model",
        12,
        None,
    )
    assert len(fake_judge.state["requests"]) == 1
    assert (client.requests_made, client.cache_hits) == (1, 1)
    sent = fake_judge.state["requests"][0]
    assert sent["temperature"] == 0.0 and "logprobs" not in sent
    with_logprobs = client.complete(MESSAGES, logprobs=True)  # another request, another entry
    assert with_logprobs.top_logprobs[0] == {"token": "M", "logprob": -0.1}
    assert fake_judge.state["requests"][1]["top_logprobs"] == 5
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    assert client.reported_model_id() == "judge-model"


def test_rate_limit_is_retried(fake_judge, tmp_path):
    fake_judge.state["statuses"] = [429]
    judge = endpoint(url_of(fake_judge), max_retries=2)
    text = JudgeClient(judge, url_of(fake_judge), tmp_path).complete(MESSAGES).text
    assert text == "Good. [[8]]" and len(fake_judge.state["requests"]) == 2


def test_failure_after_retries_is_an_error(fake_judge, tmp_path):
    fake_judge.state["statuses"] = [500, 500, 500]
    client = JudgeClient(endpoint(url_of(fake_judge), max_retries=1), url_of(fake_judge), tmp_path)
    with pytest.raises(JudgeError, match="request failed after 1 retries"):
        client.complete(MESSAGES)
    assert len(fake_judge.state["requests"]) == 2 and not list(tmp_path.glob("*.json"))


def test_key_is_sent_and_written_nowhere(fake_judge, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    judge = endpoint(url_of(fake_judge), api_key_env=KEY_ENV)
    with pytest.raises(JudgeError, match=f"environment variable {KEY_ENV} is not set"):
        JudgeClient(judge, url_of(fake_judge), tmp_path).complete(MESSAGES)
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    client = JudgeClient(judge, url_of(fake_judge), tmp_path / "cache")
    client.complete(MESSAGES)
    client.complete(MESSAGES, logprobs=True)
    client.reported_model_id()
    assert fake_judge.state["auth"] == [f"Bearer {PLANTED_KEY}"] * 2
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == 3
    assert not [p for p in files if PLANTED_KEY in p.read_text()]
    summary = record(judge, "judge-model", "sha256:x", {"requests_made": 2, "cache_hits": 0})
    assert PLANTED_KEY not in json.dumps(summary) and PLANTED_KEY not in caplog.text


def test_throttle_spaces_requests(fake_judge, tmp_path):
    import time

    judge = endpoint(url_of(fake_judge), requests_per_minute=300)  # one per 0.2 s
    client = JudgeClient(judge, url_of(fake_judge), tmp_path)
    start = time.monotonic()
    for i in range(3):
        client.complete([{"role": "user", "content": f"question {i}"}])
    assert time.monotonic() - start >= 0.4


def test_cost_hash_and_record():
    requests = [
        alpaca.Request("m", "i", "d", "a", "b", [{"role": "user", "content": "x" * 40}])
    ] * 3
    assert estimate_cost(requests, 8) == {
        "calls": 3,
        "prompt_tokens": 30,
        "completion_tokens_max": 24,
        "estimate": "prompt tokens at 4 characters per token",
    }
    assert prompt_hash(["a"]).startswith("sha256:") and prompt_hash(["a"]) != prompt_hash(["b"])
    judge = endpoint("http://h/v1", api_key_env="OPENAI_API_KEY")
    made = record(judge, "gpt-4-0613", "sha256:x", {"requests_made": 3, "cache_hits": 1})
    assert made["judge"]["api_key_env"] == "OPENAI_API_KEY"
    assert made["judge_model_reported"] == "gpt-4-0613" and made["requests_made"] == 3
    assert set(made["harness"]["packages"]) == {"openai", "alpaca-eval", "transformers", "vllm"}
    assert "commit" in made["harness"]["git"] and made["date"].endswith("+00:00")


def test_mt_bench_job_through_the_cache(fake_judge, mt_files):
    job = mt_bench_job(
        str(mt_files / "question.jsonl"),
        str(mt_files / "judge_prompts.jsonl"),
        str(mt_files / "gpt-4.jsonl"),
        [str(mt_files / "sft-tiny.jsonl")],
    )
    judge = endpoint(url_of(fake_judge))
    rows, summary = run_job(job, judge, mt_files / "cache")
    assert summary["models"]["sft-tiny"]["score"] == 8.0
    assert summary["judge_model_reported"] == "judge-model"
    assert (summary["requests_made"], summary["cache_hits"]) == (6, 0)
    assert summary["cost_estimate"]["calls"] == 6
    again, rerun = run_job(job, judge, mt_files / "cache")
    assert (rerun["requests_made"], rerun["cache_hits"]) == (0, 6)
    assert [dict(r, cached=None) for r in again] == [dict(r, cached=None) for r in rows]
    assert len(fake_judge.state["requests"]) == 6
    assert read_jsonl(mt_files / "sft-tiny.jsonl")  # inputs untouched


def test_answer_file_stem_names_the_model(tmp_path, mt_files):
    Path(tmp_path / "other").mkdir()
    write_jsonl(tmp_path / "other" / "sft-tiny.jsonl", list(ANSWERS.values()))
    with pytest.raises(ValueError, match="model id 'sft-tiny' also names"):
        mt_bench_job(
            str(mt_files / "question.jsonl"),
            str(mt_files / "judge_prompts.jsonl"),
            None,
            [str(mt_files / "sft-tiny.jsonl"), str(tmp_path / "other" / "sft-tiny.jsonl")],
        )
