"""The demo evaluation of one prompt set (scripts/eval_demo.py): greedy replies in the chat and the
plain format, then replies sampled at T=1 whose styles and answers give the preferred-style rate
and pass@k. Every reply is returned too, for the win rate and the KL that reuse them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from handbook import generation
from handbook.pass_at_k import sampled_pass_at_k
from handbook.tasks import plain_prompt, score_completions

logger = logging.getLogger("handbook.eval")


def generate(
    model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int, sample: bool = False
):
    """Greedy completions, or samples at T=1 with sample=True.

    Not stripped: a plain-format answer counts only on the continuation's first line, and
    stripping leading newlines would move a later line up.
    """
    return generation.generate(
        model,
        tokenizer,
        prompts,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        do_sample=sample,
        temperature=1.0 if sample else None,
        top_p=None,
        strip=False,
    )


def record(fmt: str, row: dict, completion: str) -> dict:
    return {
        "format": fmt,
        "prompt_id": row.get("prompt_id"),
        "prompt": row["prompt"],
        "completion": completion,
    }


def chat_prompts(tokenizer, rows: Sequence[dict]) -> list[str]:
    return generation.chat_texts(
        tokenizer, [[{"role": "user", "content": r["prompt"]}] for r in rows]
    )


def evaluate_set(
    model,
    tokenizer,
    rows: list[dict],
    formats: Sequence[str],
    num_samples: int,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[dict, list[dict]]:
    """One prompt set: greedy accuracy per format and, with num_samples, sampled chat replies
    (style rates, pass@k). Returns the scores and every reply."""
    results, samples = {"n_prompts": len(rows)}, []
    for fmt in formats:
        prompts = (
            chat_prompts(tokenizer, rows)
            if fmt == "chat"
            else [plain_prompt(r["prompt"]) for r in rows]
        )
        completions = generate(model, tokenizer, prompts, max_new_tokens, batch_size)
        results[fmt] = score_completions(rows, completions, fmt)
        samples += [record(fmt, r, c) for r, c in zip(rows, completions)]
        logger.info("%s greedy: %s", fmt, results[fmt])
    if num_samples and "chat" in formats:
        prompts = [p for p in chat_prompts(tokenizer, rows) for _ in range(num_samples)]
        repeated = [r for r in rows for _ in range(num_samples)]
        completions = generate(model, tokenizer, prompts, max_new_tokens, batch_size, sample=True)
        results["chat_sampled"] = score_completions(repeated, completions, "chat")
        results["chat_sampled"].update(sampled_pass_at_k(repeated, completions))
        samples += [record("chat_sampled", r, c) for r, c in zip(repeated, completions)]
        logger.info("chat sampled: %s", results["chat_sampled"])
    return results, samples


def first_per_prompt(samples: Sequence[dict], n: int) -> list[dict]:
    """The first `n` replies of each prompt, in order (0: all): the win rate and the KL need
    fewer replies than pass@16 does."""
    if not n:
        return list(samples)
    seen: dict[str, int] = {}
    kept = []
    for s in samples:
        seen[s["prompt_id"]] = seen.get(s["prompt_id"], 0) + 1
        if seen[s["prompt_id"]] <= n:
            kept.append(s)
    return kept
