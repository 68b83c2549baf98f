"""Rejection sampling: prompts in, k sampled completions per prompt, reward-model scores, and the
best-of-n and on-policy preference sets built from them."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

from handbook import verifiers
from handbook.data import DataError
from handbook.jsonl import read_jsonl
from handbook.reward_scoring import score_conversations
from handbook.tasks import extract_answer, is_correct, style_of

CARRIED = ("task", "answer")


def prompt_source_rows(path: str) -> list[dict]:
    """Rows of a JSONL file, or of the train split of a prepared dataset folder (save_to_disk)."""
    file = Path(path)
    if file.is_dir():
        from datasets import load_from_disk

        return list(load_from_disk(str(file))["train"])
    if not file.is_file():
        raise DataError(f"{path}: no such file")
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


def read_prompts(path: str, limit: int | None = None) -> list[dict]:
    """Prompt rows with `messages` ending on a user turn and a stable `prompt_id`."""
    rows = []
    for i, row in enumerate(prompt_source_rows(path)):
        # A conversational prompt-only row carries its turns in 'prompt'.
        messages = list(
            row.get("messages") or (row["prompt"] if isinstance(row.get("prompt"), list) else [])
        )
        while messages and messages[-1].get("role") == "assistant":
            messages.pop()
        if not messages:
            if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
                raise DataError(
                    f"{path}: row {i}: needs a 'prompt' string or 'messages' with a user turn"
                )
            messages = [{"role": "user", "content": row["prompt"]}]
        prompt = (
            row.get("prompt") if isinstance(row.get("prompt"), str) else messages[-1]["content"]
        )
        prompt_id = row.get("prompt_id") or hashlib.sha256(prompt.encode()).hexdigest()
        rows.append(
            {
                "prompt_id": prompt_id,
                "prompt": prompt,
                "messages": messages,
                "task": row.get("task"),
                "answer": row.get("answer"),
            }
        )
        if limit and len(rows) == limit:
            break
    if not rows:
        raise DataError(f"{path}: no prompts")
    return rows


def read_samples(path: str) -> list[dict]:
    """Rows from sample_completions.py (or score_samples.py): prompt messages and their
    completions."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: no such file")
    rows = read_jsonl(file)
    for i, row in enumerate(rows):
        if not row.get("messages") or not isinstance(row.get("completions"), list):
            raise DataError(
                f"{path}: row {i}: needs 'messages' and a 'completions' list (from "
                "sample_completions.py)"
            )
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def score_rows(model, tokenizer, rows: list[dict], batch_size: int) -> list[dict]:
    """Each row plus `scores`: the reward of "prompt messages + assistant completion", per
    completion."""
    conversations = [
        row["messages"] + [{"role": "assistant", "content": completion}]
        for row in rows
        for completion in row["completions"]
    ]
    flat = score_conversations(model, tokenizer, conversations, batch_size)
    scored, start = [], 0
    for row in rows:
        k = len(row["completions"])
        scored.append(dict(row, scores=flat[start : start + k]))
        start += k
    return scored


def verify_rows(rows: list[dict], names: list[str], weights: list[float] | None) -> list[dict]:
    """Each row plus `scores`: the weighted sum of the verifiers' checks of each completion against
    the row's carried columns (answer, task)."""
    scored = []
    for row in rows:
        context = {key: row.get(key) for key in CARRIED}
        contexts = [context] * len(row["completions"])
        scored.append(
            dict(row, scores=verifiers.score(names, weights, contexts, row["completions"]))
        )
    return scored


def hash_fraction(prompt_id: str) -> float:
    return int(hashlib.sha256(str(prompt_id).encode()).hexdigest()[:12], 16) / 16**12


def split_rows(rows: list[dict], test_fraction: float) -> tuple[list[dict], list[dict]]:
    """Rows whose prompt hash falls below the fraction go to test; a non-empty set keeps at least
    one test row (when it has two or more), so the test split always loads."""
    test = [r for r in rows if hash_fraction(r["prompt_id"]) < test_fraction]
    if test_fraction > 0 and not test and len(rows) > 1:
        test = [min(rows, key=lambda r: hash_fraction(r["prompt_id"]))]
    test_ids = {r["prompt_id"] for r in test}
    return [r for r in rows if r["prompt_id"] not in test_ids], test


def best_and_worst(scores: list[float]) -> tuple[int, int]:
    """Indices of the highest and lowest score; the first one wins a tie, so reruns agree."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    return best, worst


def build_sets(rows: list[dict]) -> tuple[list[dict], list[dict], dict]:
    """Best-of-n SFT rows, on-policy pairs (best vs worst), and counts of prompts that gave no
    pair."""
    best_rows, pair_rows = [], []
    skipped = {"tied_scores": 0, "identical_text": 0}
    for row in rows:
        completions, scores = row["completions"], row["scores"]
        best, worst = best_and_worst(scores)
        extra = {key: row[key] for key in CARRIED if row.get(key) is not None}
        reply = {"role": "assistant", "content": completions[best]}
        best_rows.append(
            {
                "prompt_id": row["prompt_id"],
                "prompt": row["prompt"],
                "messages": row["messages"] + [reply],
                "score": scores[best],
                **extra,
            }
        )
        if scores[best] == scores[worst]:
            skipped["tied_scores"] += 1
            continue
        if completions[best].strip() == completions[worst].strip():
            skipped["identical_text"] += 1
            continue
        pair_rows.append(
            {
                "prompt_id": row["prompt_id"],
                "prompt": row["prompt"],
                "chosen": row["messages"] + [reply],
                "rejected": row["messages"]
                + [{"role": "assistant", "content": completions[worst]}],
                "score_chosen": scores[best],
                "score_rejected": scores[worst],
                **extra,
            }
        )
    return best_rows, pair_rows, skipped


def quality(rows: list[dict]) -> dict | None:
    """Correct and preferred-style rates of the best, the worst and all completions (demo world)."""
    rows = [r for r in rows if r.get("answer") is not None]
    if not rows:
        return None
    picks: dict[str, list[tuple[str, str]]] = {"best": [], "worst": [], "all": []}
    for row in rows:
        best, worst = best_and_worst(row["scores"])
        picks["best"].append((row["completions"][best], row["answer"]))
        picks["worst"].append((row["completions"][worst], row["answer"]))
        picks["all"] += [(c, row["answer"]) for c in row["completions"]]
    return {
        name: {
            "correct_rate": statistics.fmean(is_correct(extract_answer(c), a) for c, a in pairs),
            "preferred_rate": statistics.fmean(style_of(c) == "preferred" for c, _ in pairs),
            "n": len(pairs),
        }
        for name, pairs in picks.items()
    }


def check_scored(rows: list[dict], path: str) -> None:
    for i, row in enumerate(rows):
        scores = row.get("scores")
        if not isinstance(scores, list) or len(scores) != len(row["completions"]) or not scores:
            raise DataError(
                f"{path}: row {i}: needs 'scores', one per completion (from score_samples.py)"
            )
        if "prompt_id" not in row or "prompt" not in row:
            raise DataError(f"{path}: row {i}: needs 'prompt_id' and 'prompt'")
