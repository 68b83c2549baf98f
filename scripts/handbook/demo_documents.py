"""What the demo world's files hold: the rows of its SFT, preference, generation and eval splits
(a chat reply in the preferred or dispreferred style, a pair that differs in correctness or in
style), and the corpus documents continued pretraining reads. handbook.demo_world draws the
questions and writes the files.
"""

from __future__ import annotations

import hashlib
import random
import string

from handbook import tasks
from handbook.demo_questions import (
    ARITHMETIC_STATEMENTS,
    ATTRIBUTES,
    STRING_STATEMENTS,
    WORDS,
    Question,
    fact_statements,
    string_answer,
)

# Scores on the 1-10 scale of ultrafeedback: a right answer matters more than manners.
_SCORES = {("right", "preferred"): 9.0, ("right", "dispreferred"): 7.0, ("wrong", "preferred"): 4.0}


def _prompt_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def sft_rows(questions: list[Question], fraction: float, rng: random.Random) -> list[dict]:
    n = len(questions)
    n_preferred = int(n * fraction + 0.5)
    styles = [("preferred", 0)] * ((n_preferred + 1) // 2) + [("preferred", 1)] * (n_preferred // 2)
    styles += [("dispreferred", 0)] * (n - n_preferred)
    rng.shuffle(styles)
    return [
        {
            "prompt_id": _prompt_id(q.prompt),
            "prompt": q.prompt,
            "messages": [
                _message("user", q.prompt),
                _message("assistant", tasks.render_reply(q.answer, style, variant)),
            ],
            "task": q.task,
            "answer": q.answer,
            "style": style,
        }
        for q, (style, variant) in zip(questions, styles)
    ]


def wrong_answer(q: Question, rng: random.Random) -> str:
    """A plausible mistake: off by a little, a half-done transform, another town's value."""
    op = q.key[0]
    if q.task == "arithmetic":
        right = int(q.answer)
        candidates = [str(right + d) for d in (-10, -2, -1, 1, 2, 10) if right + d >= 0]
    elif q.task == "string":
        word = q.key[1]
        swapped = [
            q.answer[:i] + q.answer[i + 1] + q.answer[i] + q.answer[i + 2 :]
            for i in range(len(q.answer) - 1)
        ]
        if op == "reverse":
            candidates = [word] + swapped
        elif op == "upper":
            candidates = [word, word.capitalize()] + swapped
        else:
            candidates = list(word[1:])
    else:
        candidates = ATTRIBUTES[op]
    candidates = sorted(set(candidates) - {q.answer})
    if not candidates:  # a word of one repeated letter offers no other letter to mistake
        candidates = sorted(set(string.ascii_lowercase) - {q.answer})
    return rng.choice(candidates)


def preference_rows(questions: list[Question], rng: random.Random) -> list[dict]:
    kinds = ["correctness"] * (len(questions) // 2) + ["style"] * (
        len(questions) - len(questions) // 2
    )
    rng.shuffle(kinds)
    rows = []
    for q, kind in zip(questions, kinds):
        variant = rng.randrange(len(tasks.PREFERRED_TEMPLATES))
        chosen = tasks.render_reply(q.answer, "preferred", variant)
        if kind == "correctness":
            rejected = tasks.render_reply(wrong_answer(q, rng), "preferred", variant)
            score_rejected = _SCORES["wrong", "preferred"]
        else:
            rejected = tasks.render_reply(q.answer, "dispreferred")
            score_rejected = _SCORES["right", "dispreferred"]
        user = _message("user", q.prompt)
        rows.append(
            {
                "prompt_id": _prompt_id(q.prompt),
                "prompt": q.prompt,
                "chosen": [user, _message("assistant", chosen)],
                "rejected": [user, _message("assistant", rejected)],
                "score_chosen": _SCORES["right", "preferred"],
                "score_rejected": score_rejected,
                "task": q.task,
                "answer": q.answer,
                "kind": kind,
            }
        )
    return rows


def generation_rows(questions: list[Question]) -> list[dict]:
    return [
        {
            "prompt_id": _prompt_id(q.prompt),
            "prompt": q.prompt,
            "messages": [_message("user", q.prompt)],
            "task": q.task,
            "answer": q.answer,
        }
        for q in questions
    ]


def eval_rows(questions: list[Question], sft_keys: set) -> list[dict]:
    return [
        {
            "prompt_id": _prompt_id(q.prompt),
            "prompt": q.prompt,
            "task": q.task,
            "answer": q.answer,
            "in_sft": q.key in sft_keys,
        }
        for q in questions
    ]


# --------------------------------------------------------------------------- corpus


def _fact_doc(world: dict, rng: random.Random, town: str | None = None) -> str:
    if town is not None:
        attrs = list(ATTRIBUTES)
        rng.shuffle(attrs)
        return " ".join(
            [f"{town} is a town."]
            + [rng.choice(fact_statements(town, a, world[town][a])) for a in attrs]
        )
    towns = sorted(world)
    sentences = []
    for _ in range(rng.randint(4, 6)):
        t, a = rng.choice(towns), rng.choice(list(ATTRIBUTES))
        sentences.append(rng.choice(fact_statements(t, a, world[t][a])))
    return " ".join(sentences)


def _arithmetic_doc(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(4, 6)):
        a, b = rng.randrange(100), rng.randrange(100)
        if rng.random() < 0.5:
            sentences.append(rng.choice(ARITHMETIC_STATEMENTS["plus"]).format(a=a, b=b, c=a + b))
        else:
            a, b = max(a, b), min(a, b)
            sentences.append(rng.choice(ARITHMETIC_STATEMENTS["minus"]).format(a=a, b=b, c=a - b))
    return " ".join(sentences)


def _string_doc(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(4, 6)):
        op, w = rng.choice(sorted(STRING_STATEMENTS)), rng.choice(WORDS)
        sentences.append(rng.choice(STRING_STATEMENTS[op]).format(w=w, a=string_answer(op, w)))
    return " ".join(sentences)


def _qa_doc(
    leftovers: dict[str, list[Question]], weights: dict[str, float], rng: random.Random
) -> str:
    available = [t for t in tasks.TASKS if leftovers[t] and weights[t] > 0]
    lines = []
    for _ in range(rng.randint(3, 6)):
        task = rng.choices(available, [weights[t] for t in available])[0]
        q = rng.choice(leftovers[task])
        lines.append(tasks.plain_prompt(q.prompt) + f" {q.answer}\n")
    return "".join(lines)


def corpus(world: dict, leftovers: dict, spec: dict, rng: random.Random) -> list[dict]:
    """Every town's facts once, then random documents up to `corpus_chars`: facts in
    several phrasings (each fact recurs many times), sums, word transforms, and plain-format
    Q/A on questions that no split asks, so a base model learns the plain format."""
    docs = [_fact_doc(world, rng, town) for town in sorted(world)]
    makers = {
        "fact": lambda: _fact_doc(
            world, rng, rng.choice(sorted(world)) if rng.random() < 0.5 else None
        ),
        "arithmetic": lambda: _arithmetic_doc(rng),
        "string": lambda: _string_doc(rng),
        "qa": lambda: _qa_doc(leftovers, spec["task_mix"], rng),
    }
    kinds, weights = zip(*{"fact": 0.35, "arithmetic": 0.15, "string": 0.15, "qa": 0.35}.items())
    if not any(leftovers[t] and spec["task_mix"][t] > 0 for t in tasks.TASKS):
        kinds, weights = kinds[:3], weights[:3]
    total = sum(len(d) for d in docs)
    while total < spec["corpus_chars"]:
        doc = makers[rng.choices(kinds, weights)[0]]()
        docs.append(doc)
        total += len(doc)
    rng.shuffle(docs)
    return [{"text": d} for d in docs]
