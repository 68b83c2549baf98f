"""Verifiable rewards: functions that score a completion by checking it, not by a learned model.

Each verifier takes TRL's reward-function arguments (the batch's prompts and completions, and the
dataset's other columns as lists by keyword) and returns one float per completion, so the same
function serves GRPOTrainer during training and the scoring of iterative DPO's samples. A
completion is a string (TRL's standard format) or a list of messages (conversational: the reply is
the last message's content).

- demo_answer: 1 when the demo world's answer extracted from the reply matches the row's `answer`.
- demo_format: 1 when the reply is in one of the preferred templates (the style the preference
  data rewards), whatever its answer.
- final_number: GSM8K-style; the last number in the reply equals the number the row's `answer`
  ends with ("... #### 72" in GSM8K, or just "72"), compared as numbers ("1,000" == "1000.0").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from handbook.tasks import extract_answer, is_correct, style_of

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


class VerifierError(ValueError):
    """An unknown verifier, or data without the column a verifier checks against."""


def reply_text(completion) -> str:
    """The text of a completion in either of TRL's forms."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return ""


def _answers(kwargs: dict, n: int, verifier: str) -> list:
    answers = kwargs.get("answer")
    if answers is None:
        raise VerifierError(f"verifier '{verifier}' needs an 'answer' column in the prompts")
    if len(answers) != n:
        raise VerifierError(f"verifier '{verifier}': {n} completions but {len(answers)} answers")
    return list(answers)


def demo_answer(completions, **kwargs) -> list[float]:
    answers = _answers(kwargs, len(completions), "demo_answer")
    return [
        float(is_correct(extract_answer(reply_text(c)), str(a)))
        for c, a in zip(completions, answers)
    ]


def demo_format(completions, **_) -> list[float]:
    return [float(style_of(reply_text(c)) == "preferred") for c in completions]


def last_number(text: str) -> float | None:
    """The last number written in `text` (thousands separators dropped), or None."""
    found = _NUMBER.findall(text or "")
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def gold_number(answer) -> float | None:
    """The number a GSM8K answer ends with: after '####' when present, else the last number."""
    text = str(answer)
    return last_number(text.rsplit("####", 1)[-1])


def final_number(completions, **kwargs) -> list[float]:
    answers = _answers(kwargs, len(completions), "final_number")
    scores = []
    for completion, answer in zip(completions, answers):
        predicted, gold = last_number(reply_text(completion)), gold_number(answer)
        scores.append(
            float(predicted is not None and gold is not None and abs(predicted - gold) < 1e-6)
        )
    return scores


VERIFIERS: dict[str, Callable[..., list[float]]] = {
    "demo_answer": demo_answer,
    "demo_format": demo_format,
    "final_number": final_number,
}


# Verifiers that compare with the row's `answer` column (the data must have one).
NEEDS_ANSWER = frozenset({"demo_answer", "final_number"})


def get(names: list[str], where: str = "reward_funcs") -> list[Callable[..., list[float]]]:
    """The verifiers a recipe or config names, each a function TRL can call; an unknown name is an
    error listing the known ones."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise VerifierError(f"{where}: names no verifier (known: {sorted(VERIFIERS)})")
    unknown = [n for n in names if n not in VERIFIERS]
    if unknown:
        raise VerifierError(
            f"{where}: unknown verifier '{unknown[0]}' (known: {sorted(VERIFIERS)})"
        )
    return [VERIFIERS[n] for n in names]


def score(
    names: list[str], weights: list[float] | None, rows: list[dict], completions: list[str]
) -> list[float]:
    """The weighted sum of the named verifiers for each (row, completion): rows carry the columns
    (answer, task, ...) the verifiers check against."""
    functions = get(names)
    weights = list(weights) if weights else [1.0] * len(functions)
    if len(weights) != len(functions):
        raise VerifierError(f"{len(functions)} verifiers but {len(weights)} weights")
    columns = {key: [row.get(key) for row in rows] for key in {k for row in rows for k in row}}
    total = [0.0] * len(completions)
    for function, weight in zip(functions, weights):
        for i, value in enumerate(function(completions, **columns)):
            total[i] += weight * value
    return total
