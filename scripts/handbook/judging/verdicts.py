"""What a verdict file records beside the verdicts, and what judging will cost before it starts.

A judge's numbers are only comparable with numbers from the same judge, prompts and harness, so
each summary names them: the endpoint as described (never its key), the model id the server
reported, a hash of the judge prompt templates, the date, and the versions of the client and
evaluation packages with the checkout's revision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from handbook.judging.endpoint import Endpoint
from handbook.provenance import git_revision, package_versions

HARNESS_PACKAGES = ("openai", "alpaca-eval", "transformers", "vllm")
CHARS_PER_TOKEN = 4


def estimate_cost(requests: list[Any], max_tokens: int) -> dict[str, Any]:
    """Calls and tokens, roughly: prompts at 4 characters per token, replies at their limit."""
    chars = sum(len(m["content"]) for r in requests for m in r.messages)
    return {
        "calls": len(requests),
        "prompt_tokens": round(chars / CHARS_PER_TOKEN),
        "completion_tokens_max": len(requests) * max_tokens,
        "estimate": f"prompt tokens at {CHARS_PER_TOKEN} characters per token",
    }


def prompt_hash(texts: list[str]) -> str:
    """One hash of the judge prompt templates used, in order."""
    payload = json.dumps(list(texts), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def record(
    endpoint: Endpoint, reported_model_id: str | None, prompt_hash: str, counts: dict[str, int]
) -> dict[str, Any]:
    return {
        "judge": endpoint.describe(),
        "judge_model_reported": reported_model_id,
        "prompt_hash": prompt_hash,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "temperature": endpoint.temperature,
        "harness": {"packages": package_versions(HARNESS_PACKAGES), "git": git_revision()},
        **counts,
    }
