"""pass@k: the chance that at least one of k replies sampled for a prompt is correct, estimated
without bias from n >= k samples of which c are correct (Chen et al. 2021, "Evaluating Large
Language Models Trained on Code", the Codex paper): 1 - C(n-c, k) / C(n, k), averaged over
prompts. Sampling k replies only and checking them would give the same mean with more variance.

RL with verifiable rewards is reported to raise pass@1 toward the starting model's pass@k while
pass@k at large k does not grow (Yue et al. 2025); the demo's held-out prompts measure both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from handbook.tasks import extract_answer, is_correct

KS = (1, 4, 16)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one prompt: n samples, c of them correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c})")
    if n - c < k:
        return 1.0
    # The product form of 1 - C(n-c, k) / C(n, k), which stays exact for large n.
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_ks(hits: Sequence[Sequence[bool]], ks: Sequence[int] = KS) -> dict[str, float]:
    """Mean pass@k over prompts, for every k their sample count allows: {"1": ..., "4": ...}.
    `hits` holds each prompt's sampled replies, correct or not (the same count per prompt)."""
    if not hits:
        raise ValueError("no prompts")
    n = len(hits[0])
    if any(len(h) != n for h in hits):
        raise ValueError("every prompt needs the same number of samples")
    return {str(k): sum(pass_at_k(n, sum(h), k) for h in hits) / len(hits) for k in ks if k <= n}


def group_hits(rows: Sequence[dict], correct: Sequence[bool]) -> dict[str, list[list[bool]]]:
    """Sampled replies in prompt order (each prompt's samples together, as the evaluation draws
    them) -> task -> one list of hits per prompt; "all" holds every prompt."""
    by_prompt: dict[str, list[bool]] = {}
    task_of: dict[str, str] = {}
    for row, hit in zip(rows, correct, strict=True):
        key = row.get("prompt_id") or row["prompt"]
        by_prompt.setdefault(key, []).append(hit)
        task_of[key] = row["task"]
    grouped: dict[str, list[list[bool]]] = {"all": list(by_prompt.values())}
    for key, hits in by_prompt.items():
        grouped.setdefault(task_of[key], []).append(hits)
    return grouped


def sampled_pass_at_k(rows: Sequence[dict], completions: Sequence[str]) -> dict:
    """pass@k of sampled chat replies (each prompt's samples together), overall and by task."""
    correct = [is_correct(extract_answer(c), row["answer"]) for row, c in zip(rows, completions)]
    grouped = group_hits(rows, correct)
    overall = pass_at_ks(grouped.pop("all"))
    return {
        "pass_at_k": overall,
        "pass_at_k_by_task": {t: pass_at_ks(h) for t, h in grouped.items()},
    }
