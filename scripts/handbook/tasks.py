"""Task formats of the demo world: reply templates, answer extraction, scoring.

Pure functions shared by the data generator and the eval scripts, so that what the
generator writes and what the scorer reads can never drift apart.

Every answer in the demo world is a single word (``\\w+``): a number, a word, a letter.
Every reply template ends with ``{answer}.``, so the answer is the last thing before the
final period and can be read back without ambiguity.
"""

from __future__ import annotations

import re

TASKS = ("arithmetic", "string", "fact")
STYLES = ("preferred", "dispreferred")

PREFERRED_TEMPLATES: list[str] = [
    "The answer is {answer}.",
    "Happy to help: the answer is {answer}.",
]
DISPREFERRED_TEMPLATE: str = "Ugh, fine. It is {answer}."

# A sampled reply may run on past the answer (an end-of-sequence marker such as "</s>",
# a newline and a new turn, or nothing when generation stopped right after the answer);
# a space followed by more words means the reply is not one of the templates.
_END = r"(?=\.|\s*$|\s*\n|<)"


def _template_regex(template: str) -> re.Pattern[str]:
    prefix, suffix = template.split("{answer}")
    if suffix != ".":
        raise ValueError(f"template must end with '{{answer}}.': {template!r}")
    return re.compile(r"\s*" + re.escape(prefix) + r"(\w+)" + _END)


_PREFERRED_RES = [_template_regex(t) for t in PREFERRED_TEMPLATES]
_DISPREFERRED_RE = _template_regex(DISPREFERRED_TEMPLATE)


def render_reply(answer: str, style: str, variant: int = 0) -> str:
    """The assistant reply giving `answer` in `style`; `variant` picks the preferred template."""
    if style == "preferred":
        return PREFERRED_TEMPLATES[variant].format(answer=answer)
    if style == "dispreferred":
        return DISPREFERRED_TEMPLATE.format(answer=answer)
    raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


def _match_template(completion: str) -> tuple[str, str] | None:
    for regex in _PREFERRED_RES:
        match = regex.match(completion)
        if match:
            return "preferred", match.group(1)
    match = _DISPREFERRED_RE.match(completion)
    if match:
        return "dispreferred", match.group(1)
    return None


def extract_answer(completion: str) -> str | None:
    """The answer in a chat reply; for a reply in none of the templates, the last word
    of its first line (models that drift from the templates mostly still end on the answer)."""
    matched = _match_template(completion)
    if matched:
        return matched[1]
    first_line = completion.strip().split("\n", 1)[0].split("<", 1)[0]
    words = re.findall(r"\w+", first_line)
    return words[-1] if words else None


def style_of(completion: str) -> str:
    """'preferred', 'dispreferred', or 'other' for a reply in none of the templates."""
    matched = _match_template(completion)
    return matched[0] if matched else "other"


def plain_prompt(question: str) -> str:
    """The prompt for a base model, which knows no chat format; the gold continuation is
    f" {answer}\\n"."""
    return f"Question: {question}\nAnswer:"


def extract_plain_answer(continuation: str) -> str | None:
    """The first word of the first line of a continuation of `plain_prompt`."""
    match = re.search(r"\w+", continuation.split("\n", 1)[0])
    return match.group(0) if match else None


def is_correct(predicted: str | None, answer: str) -> bool:
    """Exact, case-sensitive match: "PLANT" and "plant" are different answers to an
    uppercase question, and numbers compare as written ("07" is not "7")."""
    return predicted is not None and predicted.strip() == answer.strip()


def score_completions(rows: list[dict], completions: list[str], fmt: str) -> dict:
    """Task accuracy (overall and per task) of `completions` for `rows` (each with "task"
    and "answer"); for fmt "chat" also the share of replies in each style."""
    if fmt not in ("chat", "plain"):
        raise ValueError(f"unknown format {fmt!r}; expected 'chat' or 'plain'")
    if len(rows) != len(completions):
        raise ValueError(f"{len(rows)} rows but {len(completions)} completions")
    if not rows:
        raise ValueError("no rows to score")
    extract = extract_answer if fmt == "chat" else extract_plain_answer
    hits = [is_correct(extract(c), row["answer"]) for row, c in zip(rows, completions)]
    by_task: dict[str, list[bool]] = {}
    for row, hit in zip(rows, hits):
        by_task.setdefault(row["task"], []).append(hit)
    scores = {
        "task_accuracy": sum(hits) / len(hits),
        "n": len(hits),
        "accuracy_by_task": {t: sum(h) / len(h) for t, h in sorted(by_task.items())},
    }
    if fmt == "chat":
        styles = [style_of(c) for c in completions]
        scores["preferred_rate"] = styles.count("preferred") / len(styles)
        scores["dispreferred_rate"] = styles.count("dispreferred") / len(styles)
    return scores
