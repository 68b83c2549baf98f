"""Overlap between what a model trains on and the prompts it is evaluated on: word n-grams.

An evaluation prompt counts as contaminated by a training text when they share a run of 13 words
(lower-cased, punctuation dropped), the n-gram length the GPT-3 and Tülu 3 reports use. A prompt
shorter than that counts when its whole word sequence occurs in a training text; one shorter than
MIN_WORDS is too short to tell and is counted apart. The evaluation side is indexed (it is small:
hundreds of prompts) and every training text is scanned once, so memory stays small whatever the
training data's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NGRAM = 13
MIN_WORDS = 4
EXAMPLES = 3  # examples kept per (source, evaluation set)
WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def texts_of(value: Any) -> list[str]:
    """Every string in a row's value: plain text, a conversation's contents, nested lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if "content" in value:
            return texts_of(value["content"])
        return [t for v in value.values() for t in texts_of(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts_of(v)]
    return []


@dataclass
class EvalIndex:
    """The n-grams of every evaluation prompt, each pointing back at its (set, prompt)."""

    ngram: int = NGRAM
    prompts: dict[str, list[str]] = field(default_factory=dict)  # set -> its prompts
    short: dict[str, int] = field(default_factory=dict)  # set -> prompts too short to check
    grams: dict[int, dict[tuple, list[tuple[str, int]]]] = field(default_factory=dict)

    def add(self, name: str, prompts: list[str]) -> None:
        self.prompts[name] = prompts
        self.short[name] = 0
        for i, prompt in enumerate(prompts):
            tokens = words(prompt)
            if len(tokens) < MIN_WORDS:
                self.short[name] += 1
                continue
            n = min(self.ngram, len(tokens))
            by_gram = self.grams.setdefault(n, {})
            for start in range(len(tokens) - n + 1):
                by_gram.setdefault(tuple(tokens[start : start + n]), []).append((name, i))

    def matches(self, text: str) -> dict[tuple[str, int], str]:
        """(set, prompt) -> the shared words, for every prompt this training text contains."""
        tokens = words(text)
        found: dict[tuple[str, int], str] = {}
        for n, by_gram in self.grams.items():
            for start in range(len(tokens) - n + 1):
                for hit in by_gram.get(tuple(tokens[start : start + n]), ()):
                    found.setdefault(hit, " ".join(tokens[start : start + n]))
        return found


@dataclass
class Overlap:
    """One training source against one evaluation set."""

    contaminated: set[int] = field(default_factory=set)  # prompt indices
    examples: list[dict] = field(default_factory=list)

    def add(self, prompt_index: int, prompt: str, row: int, shared: str) -> None:
        if prompt_index in self.contaminated:
            return
        self.contaminated.add(prompt_index)
        if len(self.examples) < EXAMPLES:
            self.examples.append({"prompt": prompt, "training_row": row, "shared": shared})


def scan(index: EvalIndex, rows: Iterable[Any]) -> tuple[int, dict[str, Overlap]]:
    """(rows read, evaluation set -> its overlap with these training rows)."""
    overlaps = {name: Overlap() for name in index.prompts}
    count = 0
    for count, row in enumerate(rows, start=1):
        for text in texts_of(row):
            for (name, i), shared in index.matches(text).items():
                overlaps[name].add(i, index.prompts[name][i], count - 1, shared)
    return count, overlaps


def source_report(source: str, split: str, rows: int, index: EvalIndex, overlaps) -> dict:
    return {
        "source": source,
        "split": split,
        "rows": rows,
        "overlap": {
            name: {
                "contaminated": len(overlap.contaminated),
                "fraction": len(overlap.contaminated) / max(len(index.prompts[name]), 1),
                "examples": overlap.examples,
            }
            for name, overlap in overlaps.items()
        },
    }


def over_threshold(report: dict, max_fraction: float | None) -> list[str]:
    """One line per (source, evaluation set) whose contaminated share is above `max_fraction`."""
    if max_fraction is None:
        return []
    return [
        f"{report['dataset']}: {entry['source']} ({entry['split']}) contains "
        f"{found['contaminated']} of the {report['eval_sets'][name]['prompts']} prompts of "
        f"{name} ({found['fraction']:.1%} > decontamination.max_fraction {max_fraction:.1%}), "
        f'e.g. "{found["examples"][0]["prompt"]}"'
        for entry in report["sources"]
        for name, found in entry["overlap"].items()
        if found["fraction"] > max_fraction
    ]


def prompt_texts(rows: list[dict], fmt: str) -> list[str]:
    """The text of each evaluation prompt: a demo or task row's prompt, an MT-Bench question's
    turns, an AlpacaEval instruction."""
    if fmt == "mt_bench":
        return [" ".join(row["turns"]) for row in rows]
    if fmt == "alpaca_eval":
        return [row["instruction"] for row in rows]
    return [row["prompt"] for row in rows]


def report_markdown(table: str, eval_sets: list[str], checks: list[dict]) -> str:
    """One table's report: per training dataset and source, the prompts of each of the table's
    evaluation sets that a training row contains, with examples."""
    lines = [f"# Decontamination: {table}", ""]
    if not checks:
        return "\n".join([*lines, "The table's models train on no dataset of this workflow.", ""])
    ngram = checks[0]["ngram"]
    lines += [
        f"Evaluation prompts sharing a run of {ngram} words (a shorter prompt: all of its words; "
        f"fewer than {MIN_WORDS} words: not checked) with a training row, per training source.",
        "",
        "| dataset | source | rows | " + " | ".join(eval_sets) + " |",
        "|" + "---|" * (3 + len(eval_sets)),
    ]
    examples, unchecked, total = [], {}, 0
    for check in checks:
        for entry in check["sources"]:
            cells = []
            for name in eval_sets:
                described = check["eval_sets"].get(name, {})
                if not described.get("checked"):
                    unchecked[name] = described.get("why", "not an evaluation set of this data")
                    cells.append("not checked")
                    continue
                found = entry["overlap"][name]
                total += found["contaminated"]
                cells.append(f"{found['contaminated']} of {described['prompts']}")
                examples += [
                    (check["dataset"], entry["source"], name, e) for e in found["examples"]
                ]
            lines.append(
                f"| {check['dataset']} | {entry['source']} | {entry['rows']} | "
                + " | ".join(cells)
                + " |"
            )
    lines += ["", f"Contaminated prompts in all: {total}."]
    if unchecked:
        lines += ["", *(f"- {name} not checked: {why}" for name, why in unchecked.items())]
    if examples:
        lines += ["", "Examples:", ""]
        for dataset, source, name, example in examples:
            lines.append(
                f'- {name} prompt "{example["prompt"]}" in {dataset} ({source}) row '
                f'{example["training_row"]}: "{example["shared"]}"'
            )
    return "\n".join(lines) + "\n"
