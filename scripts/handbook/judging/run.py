"""One judging job from inputs to verdict files: read, build every request, judge, summarise.

Every input is read and every request built before the judge is started or asked anything, so a
bad file fails in one line and costs nothing. A served judge is started only when some verdict is
not cached yet: a rerun over a filled cache needs neither GPUs nor a key.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook import judge_formats as jf
from handbook.jsonl import write_jsonl
from handbook.judging import alpaca, mt_bench
from handbook.judging.client import Completion, JudgeClient, api_key
from handbook.judging.endpoint import Endpoint
from handbook.judging.length_control import reference_index
from handbook.judging.serve import served
from handbook.judging.verdicts import estimate_cost, prompt_hash, record
from handbook.provenance import write_json

logger = logging.getLogger("handbook.judging")
BENCHMARKS = ("mt_bench", "alpaca_eval")


@dataclass
class Job:
    """A benchmark's requests and how its verdicts become rows and a summary."""

    benchmark: str
    requests: list[Any]
    logprobs: bool
    prompt_texts: list[str]
    # (request, completion, judge model id) -> the verdict row
    row: Callable[[Any, Completion, str], dict[str, Any]]
    summarise: Callable[[list[dict[str, Any]]], dict[str, Any]]


def mt_bench_answers(paths: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """Answers by model id, the file's stem (FastChat's convention), and each model's file."""
    answers, sources = {}, {}
    for path in paths:
        model_id = Path(path).stem
        if model_id in answers:
            raise ValueError(f"{path}: model id {model_id!r} also names {sources[model_id]}")
        answers[model_id], sources[model_id] = jf.read_mt_bench_answers(path), str(path)
    return answers, sources


def mt_bench_job(
    questions: str,
    judge_prompts: str,
    reference_answers: str | None,
    answers: list[str],
    questions_config: str | None = None,
    questions_split: str = "train",
) -> Job:
    prompts = mt_bench.load_judge_prompts(judge_prompts)
    references = mt_bench.load_references(reference_answers) if reference_answers else {}
    by_model, sources = mt_bench_answers(answers)
    requests = mt_bench.grading_requests(
        jf.load_prompts(questions, "mt_bench", questions_config, questions_split),
        by_model,
        prompts,
        references,
        sources,
    )
    texts = [
        prompts[name][part]
        for name in mt_bench.SINGLE_PROMPTS
        for part in ("system_prompt", "prompt_template")
    ]

    def row(request, completion, judge):
        score = mt_bench.parse_rating(completion.text)
        return mt_bench.judgment_row(request, completion, score, judge)

    return Job("mt_bench", requests, False, texts, row, mt_bench.summarise)


def reference_outputs(source: str, config: str | None, split: str) -> dict[str, str]:
    """instruction -> reference output, from a local file or a hub dataset, in file order."""
    rows = jf.load_rows(source, config, split, what="references")
    for i, row in enumerate(rows):
        if not isinstance(row.get("instruction"), str) or not isinstance(row.get("output"), str):
            raise ValueError(f"{source} row {i}: references need 'instruction' and 'output'")
    return {row["instruction"]: row["output"] for row in rows}


def alpaca_outputs(paths: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Model outputs by generator (alpaca_eval's model id), each instruction once per model."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for row in jf.read_alpaca_eval_outputs(path):
            by_model.setdefault(row["generator"], []).append(row)
    for model_id, rows in by_model.items():
        if len({r["instruction"] for r in rows}) != len(rows):
            raise ValueError(f"model {model_id!r}: the same instruction has several outputs")
    return by_model


def alpaca_eval_job(
    references: str, config: str | None, split: str, annotator: str, answers: list[str]
) -> Job:
    template, settings = alpaca.load_annotator(annotator)
    reference = reference_outputs(references, config, split)
    requests = alpaca.pairwise_requests(reference, alpaca_outputs(answers), template)
    tokens = alpaca.answer_tokens(settings)

    def row(request, completion, judge):
        preference = alpaca.parse_preference(completion, tokens)
        return alpaca.annotation_row(request, completion, preference, judge)

    def summarise(rows):
        return alpaca.leaderboard(rows, reference_index(list(reference)))

    return Job("alpaca_eval", requests, alpaca.wants_logprobs(settings), [template], row, summarise)


def judge_all(client: JudgeClient, job: Job) -> list[Completion]:
    completions = []
    every = max(1, math.ceil(len(job.requests) / 10))
    for i, request in enumerate(job.requests, start=1):
        completions.append(client.complete(request.messages, logprobs=job.logprobs))
        if i % every == 0 or i == len(job.requests):
            logger.info(
                "judged %d/%d (%d asked, %d from cache)",
                i,
                len(job.requests),
                client.requests_made,
                client.cache_hits,
            )
    return completions


def count_uncached(job: Job, endpoint: Endpoint, cache_dir: Path | str) -> int:
    probe = JudgeClient(endpoint, None, cache_dir)
    return sum(not probe.is_cached(r.messages, job.logprobs) for r in job.requests)


def run_job(
    job: Job, endpoint: Endpoint, cache_dir: Path | str, server_log: Path | str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Judge every request (through the cache) and return the rows and the summary."""
    uncached = count_uncached(job, endpoint, cache_dir)
    logger.info(
        "%d requests: %d cached, %d to ask",
        len(job.requests),
        len(job.requests) - uncached,
        uncached,
    )
    if uncached:
        api_key(endpoint)  # a missing key fails here, before a server starts
    judge = served(endpoint, server_log) if uncached else nullcontext(None)
    with judge as base_url:
        client = JudgeClient(endpoint, base_url, cache_dir)
        completions = judge_all(client, job)
        reported = client.reported_model_id()
    reported = reported or next((c.model_reported for c in completions if c.model_reported), None)
    judge_id = reported or endpoint.model
    rows = [job.row(r, c, judge_id) for r, c in zip(job.requests, completions)]
    counts = {"requests_made": client.requests_made, "cache_hits": client.cache_hits}
    summary = {
        "benchmark": job.benchmark,
        "models": job.summarise(rows),
        **record(endpoint, reported, prompt_hash(job.prompt_texts), counts),
        "cost_estimate": estimate_cost(job.requests, endpoint.max_tokens),
    }
    return rows, summary


def log_parse_failures(summary: dict[str, Any]) -> None:
    for model_id, row in summary["models"].items():
        if row["n_parse_failures"]:
            logger.warning(
                "%s: %d verdicts gave no readable rating or preference (counted, left out)",
                model_id,
                row["n_parse_failures"],
            )


def write_outputs(
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    output: Path | str,
    summary_path: Path | str,
) -> None:
    write_jsonl(output, rows)  # atomic: a temporary file renamed into place
    write_json(summary_path, summary)


def describe_cost(job: Job, endpoint: Endpoint) -> str:
    return json.dumps(estimate_cost(job.requests, endpoint.max_tokens), sort_keys=True)
