"""Prompt and answer files of the external judges: FastChat's MT-Bench and AlpacaEval.

Pure functions (no model, no torch), so the formats can be tested on fixed inputs.

MT-Bench (FastChat ``fastchat/llm_judge``): questions are JSONL rows ``{question_id, category,
turns: [user turn, ...], reference?}``; the Hugging Face copy (HuggingFaceH4/mt_bench_prompts)
names them ``prompt_id`` and ``prompt``. Answers go to ``model_answer/<model_id>.jsonl``, one
row per question, ``{question_id, answer_id, model_id, choices: [{index: 0, turns: [answer,
...]}], tstamp}``; FastChat takes the model name from the file name and keys answers by
question_id.

AlpacaEval: prompts are rows with ``instruction`` (and ``dataset``); model outputs are one
JSON list of ``{instruction, output, generator, dataset}``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from handbook.jsonl import read_jsonl, write_jsonl
from handbook.tasks import render_reply

FORMATS = ("mt_bench", "alpaca_eval")
POLITE_FOLLOW_UP = "Now say it politely."
DEMO_CATEGORIES = {"arithmetic": "math"}  # demo task -> MT-Bench category


class FormatError(ValueError):
    """A prompt or answer row that does not have the judge's fields."""


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a JSONL file, or of a JSON file holding a list."""
    path = Path(path)
    if path.suffix == ".json":
        rows = json.loads(path.read_text())
        if not isinstance(rows, list):
            raise FormatError(f"{path}: expected a JSON list of rows")
        return rows
    return read_jsonl(path)


def mt_bench_question(row: dict[str, Any], where: str = "row") -> dict[str, Any]:
    """A question in FastChat's field names, from FastChat's or the Hugging Face copy's."""
    question_id = row.get("question_id", row.get("prompt_id"))
    turns = row.get("turns", row.get("prompt"))
    if question_id is None:
        raise FormatError(f"{where}: MT-Bench question without question_id (or prompt_id)")
    if (
        isinstance(turns, str)
        or not isinstance(turns, list)
        or not turns
        or not all(isinstance(t, str) for t in turns)
    ):
        raise FormatError(
            f"{where}: MT-Bench question {question_id!r} needs 'turns', a non-empty list of strings"
        )
    question = {
        "question_id": question_id,
        "category": row.get("category", ""),
        "turns": list(turns),
    }
    if row.get("reference") is not None:
        question["reference"] = row["reference"]
    return question


def alpaca_eval_prompt(row: dict[str, Any], where: str = "row") -> dict[str, Any]:
    if not isinstance(row.get("instruction"), str) or not row["instruction"]:
        raise FormatError(f"{where}: AlpacaEval prompt needs a non-empty 'instruction'")
    return {"instruction": row["instruction"], "dataset": row.get("dataset") or ""}


def normalise_prompts(
    rows: Iterable[dict[str, Any]], fmt: str, source: str = "prompts"
) -> list[dict[str, Any]]:
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    parse = mt_bench_question if fmt == "mt_bench" else alpaca_eval_prompt
    prompts = [parse(dict(row), f"{source} row {i}") for i, row in enumerate(rows)]
    if not prompts:
        raise FormatError(f"{source}: no prompts")
    if fmt == "mt_bench":
        ids = [q["question_id"] for q in prompts]
        if len(set(ids)) != len(ids):
            raise FormatError(f"{source}: duplicate question_id values")
    return prompts


def load_prompts(
    source: str, fmt: str, config: str | None = None, split: str = "train"
) -> list[dict[str, Any]]:
    """A judge's prompts from a local .jsonl/.json file or a hub dataset (offline from its cache
    when the hub is switched off), in its format's field names."""
    return normalise_prompts(load_rows(source, config, split), fmt, source)


def load_rows(
    source: str, config: str | None = None, split: str = "train", what: str = "prompts"
) -> list[dict[str, Any]]:
    """Rows of a local .jsonl/.json file, or of a hub dataset (offline from its cache when the hub
    is switched off); neither is one line naming `what` was asked for."""
    if Path(source).exists():
        return read_rows(source)
    import datasets

    try:
        return list(datasets.load_dataset(source, config, split=split))
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise FormatError(
            f"{what} {source!r} are neither a local file nor a loadable hub dataset "
            f"({type(err).__name__}: {first})"
        ) from None


def answer_id(model_id: str, question_id: Any, answers: list[str]) -> str:
    """FastChat draws a random id; a content hash keeps reruns identical."""
    payload = json.dumps([model_id, question_id, answers], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:22]


def mt_bench_answer(
    question_id: Any, model_id: str, answers: list[str], tstamp: float | None = None
) -> dict[str, Any]:
    """One model_answer row: the answers to a question's turns, in turn order."""
    return {
        "question_id": question_id,
        "answer_id": answer_id(model_id, question_id, answers),
        "model_id": model_id,
        "choices": [{"index": 0, "turns": list(answers)}],
        "tstamp": time.time() if tstamp is None else tstamp,
    }


def write_mt_bench_answers(path: Path | str, rows: list[dict[str, Any]]) -> None:
    """JSONL sorted by question_id, as FastChat's reorg_answer_file leaves it."""
    write_jsonl(
        path, sorted(rows, key=lambda r: (isinstance(r["question_id"], str), r["question_id"]))
    )


def read_mt_bench_answers(path: Path | str) -> dict[Any, dict[str, Any]]:
    """question_id -> answer row, as FastChat's load_model_answers reads a file."""
    return {row["question_id"]: row for row in read_rows(Path(path))}


def alpaca_eval_output(
    instruction: str, output: str, generator: str, dataset: str
) -> dict[str, Any]:
    return {
        "instruction": instruction,
        "output": output,
        "generator": generator,
        "dataset": dataset,
    }


def write_alpaca_eval_outputs(path: Path | str, rows: list[dict[str, Any]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


def read_alpaca_eval_outputs(path: Path | str) -> list[dict[str, Any]]:
    rows = read_rows(Path(path))
    for i, row in enumerate(rows):
        missing = {"instruction", "output", "generator", "dataset"} - set(row)
        if missing:
            raise FormatError(f"{path} row {i}: missing {sorted(missing)}")
    return rows


def demo_mt_bench_questions(
    eval_rows: list[dict[str, Any]], n: int, seed: int
) -> list[dict[str, Any]]:
    """Two-turn questions from demo eval prompts: a task, then either a request to restate the
    answer politely (the preferred style) or a second task. `reference` holds the expected
    replies, as FastChat's questions do for categories judged against a reference."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(eval_rows)), min(n, len(eval_rows)))
    questions = []
    for question_id, index in enumerate(sorted(picked), start=1):
        first = eval_rows[index]
        reference_1 = render_reply(first["answer"], "preferred")
        if question_id % 2:
            second_turn, reference_2 = (
                POLITE_FOLLOW_UP,
                render_reply(first["answer"], "preferred", variant=1),
            )
        else:
            second = eval_rows[rng.choice([i for i in range(len(eval_rows)) if i != index])]
            second_turn, reference_2 = second["prompt"], render_reply(second["answer"], "preferred")
        questions.append(
            {
                "question_id": question_id,
                # arithmetic is graded against its reference, as FastChat grades math
                "category": DEMO_CATEGORIES.get(first["task"], first["task"]),
                "turns": [first["prompt"], second_turn],
                "reference": [reference_1, reference_2],
            }
        )
    return questions


def demo_alpaca_eval_prompts(
    eval_rows: list[dict[str, Any]], n: int, seed: int
) -> list[dict[str, Any]]:
    """AlpacaEval-style rows from demo eval prompts; `output` is the reference reply, so the
    file also serves as alpaca_eval's reference outputs."""
    rng = random.Random(seed)
    picked = sorted(rng.sample(range(len(eval_rows)), min(n, len(eval_rows))))
    return [
        alpaca_eval_output(
            eval_rows[i]["prompt"],
            render_reply(eval_rows[i]["answer"], "preferred"),
            "demo_reference",
            f"demo_{eval_rows[i]['task']}",
        )
        for i in picked
    ]


# The demo world's MT-Bench judge prompts, in the fields and placeholders of FastChat's
# judge_prompts.jsonl (its single-answer grading prompts, whose own text is read from FastChat's
# file at full scale). The wording is this project's.
DEMO_RATING = "Give your rating as a number from 1 to 10 in double brackets, e.g. [[5]]."
DEMO_JUDGE_PROMPTS = (
    (
        "single-v1",
        "general",
        "Rate the assistant's answer to the user's question for correctness and politeness. "
        + DEMO_RATING,
        "Question: {question}\nAnswer: {answer}\nRating:",
    ),
    (
        "single-math-v1",
        "math",
        "Rate the assistant's answer against the reference answer: a wrong result rates low. "
        + DEMO_RATING,
        "Question: {question}\nReference: {ref_answer_1}\nAnswer: {answer}\nRating:",
    ),
    (
        "single-v1-multi-turn",
        "multi-turn",
        "Rate the assistant's second answer in this conversation. " + DEMO_RATING,
        "User: {question_1}\nAssistant: {answer_1}\nUser: {question_2}\n"
        "Assistant: {answer_2}\nRating of the second answer:",
    ),
    (
        "single-math-v1-multi-turn",
        "math",
        "Rate the assistant's second answer against the reference answers. " + DEMO_RATING,
        "User: {question_1}\nReference: {ref_answer_1}\nAssistant: {answer_1}\n"
        "User: {question_2}\nReference: {ref_answer_2}\nAssistant: {answer_2}\n"
        "Rating of the second answer:",
    ),
)


def demo_judge_prompts() -> list[dict[str, Any]]:
    """The demo judge prompts as judge_prompts.jsonl rows."""
    return [
        {
            "name": name,
            "type": "single",
            "system_prompt": system,
            "prompt_template": template,
            "description": f"demo world: {category} single-answer grading",
            "category": category,
            "output_format": "[[rating]]",
        }
        for name, category, system, template in DEMO_JUDGE_PROMPTS
    ]


def mt_bench_score(judgments: Path | str, model_id: str) -> float:
    """A model's MT-Bench score from FastChat's single-answer judgments (model_judgment/
    <judge>_single.jsonl: rows with model, question_id, turn, score): the mean over every judged
    turn, leaving out the -1 of judgments FastChat could not parse (as its show_result does)."""
    scores = [
        float(row["score"])
        for row in read_rows(judgments)
        if row.get("model") == model_id
        and row.get("score") is not None
        and float(row["score"]) != -1
    ]
    if not scores:
        raise FormatError(f"{judgments}: no MT-Bench judgments for model {model_id!r}")
    return sum(scores) / len(scores)


def alpaca_eval_win_rate(leaderboard: Path | str, model_id: str) -> float:
    """A model's AlpacaEval win rate (percent) from alpaca_eval's leaderboard.csv (one row per
    generator, the generator's name first)."""
    import csv

    with open(leaderboard, newline="") as handle:
        for row in csv.DictReader(handle):
            name = row.get("") if "" in row else next(iter(row.values()))
            if name == model_id:
                if "win_rate" not in row:
                    raise FormatError(f"{leaderboard}: no win_rate column")
                return float(row["win_rate"])
    raise FormatError(f"{leaderboard}: no row for generator {model_id!r}")


# A stand-in judge for tiny scale (scripts/demo_judge.py): the demo reward model scores answers,
# and its verdicts are written in the judges' own result formats, so tables read them as they
# read FastChat's and alpaca_eval's.


def mt_bench_turns(
    questions: list[dict[str, Any]], answers: dict[Any, dict[str, Any]]
) -> list[tuple[Any, int, list[dict]]]:
    """(question_id, turn number, conversation up to that turn's answer) for each answered turn."""
    out = []
    for question in questions:
        answer = answers.get(question["question_id"])
        if answer is None:
            continue
        replies = answer["choices"][0]["turns"]
        conversation: list[dict] = []
        for turn, (user, reply) in enumerate(zip(question["turns"], replies), start=1):
            conversation = conversation + [
                {"role": "user", "content": user},
                {"role": "assistant", "content": reply},
            ]
            out.append((question["question_id"], turn, conversation))
    return out


def mt_bench_judgment(
    question_id: Any, model_id: str, turn: int, score: float, judge: str
) -> dict[str, Any]:
    """A row of FastChat's single-answer judgment file."""
    return {
        "question_id": question_id,
        "model": model_id,
        "judge": [judge, "single-v1" if turn == 1 else "single-v1-multi-turn"],
        "user_prompt": "",
        "judgment": f"reward model score {score:.4f}",
        "score": score,
        "turn": turn,
        "tstamp": time.time(),
    }


def write_alpaca_eval_leaderboard(path: Path | str, rows: dict[str, dict[str, float]]) -> None:
    """alpaca_eval's leaderboard.csv layout: the generator first, then win_rate (percent) and the
    rest."""
    columns = ["win_rate", "standard_error", "n_wins", "n_draws", "n_total", "avg_length"]
    lines = ["," + ",".join(columns)]
    for generator, row in rows.items():
        lines.append(",".join([generator, *(f"{row[c]:.6g}" for c in columns)]))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")


def alpaca_eval_row(outcomes: list[float], lengths: list[int]) -> dict[str, float]:
    """Win rate in percent over pairwise outcomes (1 win, 0.5 draw, 0 loss), with its standard
    error."""
    n = len(outcomes)
    if not n:
        raise FormatError("no outputs to compare")
    rate = sum(outcomes) / n
    spread = (sum((o - rate) ** 2 for o in outcomes) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return {
        "win_rate": 100 * rate,
        "standard_error": 100 * spread / n**0.5,
        "n_wins": sum(1 for o in outcomes if o == 1.0),
        "n_draws": sum(1 for o in outcomes if o == 0.5),
        "n_total": n,
        "avg_length": sum(lengths) / n,
    }
