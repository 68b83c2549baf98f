"""MT-Bench single-answer grading, as FastChat's llm_judge does it, against any chat endpoint.

The judge prompts are FastChat's own file (data/judge_prompts.jsonl), read at run time, so the
verdicts are graded with the published wording. Per FastChat: each turn of each answer is graded
on its own, 1 to 10; turn 1 with the `single-v1` prompt, turn 2 with `single-v1-multi-turn`,
which shows the whole conversation and asks about the second answer. Questions in categories
that need a reference (math, reasoning, coding) use the `-math-` prompts, which show reference
answers (the question's own `reference`, else FastChat's reference answer file). The rating is
read from `[[n]]` (or `[n]`); a judgment without one scores -1, which the mean leaves out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from handbook.judge_formats import read_rows

# Prompt name -> the placeholders its template must fill (FastChat's names).
SINGLE_PROMPTS = {
    "single-v1": ("question", "answer"),
    "single-math-v1": ("question", "answer", "ref_answer_1"),
    "single-v1-multi-turn": ("question_1", "answer_1", "question_2", "answer_2"),
    "single-math-v1-multi-turn": (
        "question_1",
        "answer_1",
        "ref_answer_1",
        "question_2",
        "answer_2",
        "ref_answer_2",
    ),
}
NEED_REF_CATS = ("math", "reasoning", "coding", "arena-hard-200")
RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
FAILED = -1.0


@dataclass(frozen=True)
class Request:
    model_id: str
    question_id: Any
    turn: int
    prompt_name: str
    messages: list[dict[str, str]]


def load_judge_prompts(path: Path | str) -> dict[str, dict[str, Any]]:
    """FastChat's judge prompts by name, checked to hold the four single-answer prompts."""
    prompts = {row.get("name"): row for row in read_rows(path)}
    for name, placeholders in SINGLE_PROMPTS.items():
        row = prompts.get(name)
        if row is None:
            raise ValueError(f"{path}: judge prompt {name!r} is missing")
        if not isinstance(row.get("system_prompt"), str) or not isinstance(
            row.get("prompt_template"), str
        ):
            raise ValueError(
                f"{path}: judge prompt {name!r} needs system_prompt and prompt_template"
            )
        check_template(row["prompt_template"], placeholders, f"{path}: judge prompt {name!r}")
    return prompts


def check_template(template: str, placeholders: tuple[str, ...], where: str) -> None:
    missing = [p for p in placeholders if "{" + p + "}" not in template]
    if missing:
        raise ValueError(f"{where} has no placeholder {{{missing[0]}}}")
    try:
        template.format(**dict.fromkeys(placeholders, ""))
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"{where}: template does not fill ({type(err).__name__}: {err})") from None


def load_references(path: Path | str) -> dict[Any, list[str]]:
    """question_id -> reference answers per turn, from a file in FastChat's model_answer format."""
    return {row["question_id"]: list(row["choices"][0]["turns"]) for row in read_rows(path)}


def reference_turns(question: dict[str, Any], references: dict[Any, list[str]]) -> list[str]:
    refs = question.get("reference") or references.get(question["question_id"])
    if not refs or len(refs) < min(len(question["turns"]), 2):
        raise ValueError(
            f"question_id {question['question_id']!r} (category {question['category']!r}) is "
            "graded against a reference answer but has none for every turn: give it a "
            "'reference' list or pass the reference answers file"
        )
    return list(refs)


def answer_turns(
    question: dict[str, Any], answers: dict[Any, dict[str, Any]], model_id: str, source: str
) -> list[str]:
    row = answers.get(question["question_id"])
    if row is None:
        raise ValueError(
            f"{source}: model {model_id!r} has no answer to question_id {question['question_id']!r}"
        )
    turns = row["choices"][0]["turns"]
    if len(turns) < len(question["turns"]):
        raise ValueError(
            f"{source}: model {model_id!r} answered {len(turns)} of the "
            f"{len(question['turns'])} turns of question_id {question['question_id']!r}"
        )
    return list(turns)


def fill(prompt: dict[str, Any], **values: str) -> list[dict[str, str]]:
    """FastChat sends the judge's system prompt as a system message, the filled template after."""
    return [
        {"role": "system", "content": prompt["system_prompt"]},
        {"role": "user", "content": prompt["prompt_template"].format(**values)},
    ]


def turn_values(
    question: dict[str, Any], answers: list[str], refs: list[str] | None, turn: int
) -> dict[str, str]:
    asked = question["turns"]
    if turn == 1:
        values = {"question": asked[0], "answer": answers[0]}
        return values | ({"ref_answer_1": refs[0]} if refs else {})
    values = {
        "question_1": asked[0],
        "answer_1": answers[0],
        "question_2": asked[1],
        "answer_2": answers[1],
    }
    return values | ({"ref_answer_1": refs[0], "ref_answer_2": refs[1]} if refs else {})


def prompt_name(turn: int, needs_reference: bool) -> str:
    math = "single-math-v1" if needs_reference else "single-v1"
    return math if turn == 1 else f"{math}-multi-turn"


def grading_requests(
    questions: list[dict[str, Any]],
    answers_by_model: dict[str, dict[Any, dict[str, Any]]],
    prompts: dict[str, dict[str, Any]],
    references: dict[Any, list[str]],
    sources: dict[str, str] | None = None,
) -> list[Request]:
    """One request per model, question and turn (the first two turns, as FastChat grades).
    `sources` names each model's answers file in errors."""
    requests = []
    for model_id, answers in answers_by_model.items():
        source = (sources or {}).get(model_id, "answers")
        for question in questions:
            needs_reference = question["category"] in NEED_REF_CATS
            refs = reference_turns(question, references) if needs_reference else None
            replies = answer_turns(question, answers, model_id, source)
            for turn in range(1, min(len(question["turns"]), 2) + 1):
                name = prompt_name(turn, needs_reference)
                values = turn_values(question, replies, refs, turn)
                requests.append(
                    Request(
                        model_id, question["question_id"], turn, name, fill(prompts[name], **values)
                    )
                )
    return requests


def parse_rating(text: str) -> float:
    """The judge's rating, or -1 when it gave none in FastChat's [[n]] (or [n]) form."""
    match = RATING.search(text) or RATING_BACKUP.search(text)
    return float(match.group(1)) if match else FAILED


def judgment_row(
    request: Request, completion: Any, score: float, judge_model_id: str
) -> dict[str, Any]:
    """A row of FastChat's model_judgment single-answer file, and whether it came from cache."""
    return {
        "question_id": request.question_id,
        "model": request.model_id,
        "judge": [judge_model_id, request.prompt_name],
        "user_prompt": request.messages[-1]["content"],
        "judgment": completion.text,
        "score": score,
        "turn": request.turn,
        "tstamp": completion.created,
        "cached": completion.cached,
    }


def mean_or_none(scores: list[float]) -> float | None:
    return mean(scores) if scores else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model, the mean rating over judged turns as FastChat's show_result gives it (failed
    parses left out, and counted)."""
    out = {}
    for model_id in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == model_id]
        parsed = [row for row in mine if row["score"] != FAILED]
        out[model_id] = {
            "score": mean_or_none([row["score"] for row in parsed]),
            "score_turn_1": mean_or_none([r["score"] for r in parsed if r["turn"] == 1]),
            "score_turn_2": mean_or_none([r["score"] for r in parsed if r["turn"] == 2]),
            "n_judged": len(mine),
            "n_parse_failures": len(mine) - len(parsed),
        }
    return out
