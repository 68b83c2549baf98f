"""Write lm-eval tasks for the demo world's held-out prompts, so lm-eval runs offline.

    python scripts/make_lm_eval_tasks.py --eval_prompts results/demo_world/eval/test.jsonl \
        --output_dir results/lm_eval_tasks/demo --format chat --seed 0

Two tasks, each a YAML file with `dataset_path: json` and its JSONL data beside it (absolute
paths, so `--include_path <output_dir>` works from any working directory):

- demo_mc: multiple choice by log-likelihood, the gold answer against 3 distractors drawn from
  answers of the same task type (and, where there are enough, the same shape: digits, capitals,
  a name, one letter), shuffled; both are deterministic in --seed and the prompt id.
- demo_gen: greedy generation scored by exact match of the extracted answer, read back the way
  handbook.tasks reads it: the first word of a plain continuation, the last word of the first
  line of a chat reply.

--format picks the prompt: "plain" is "Question: ...\\nAnswer:" (base models) and the choices
are the bare answers; "chat" gives the question alone for lm-eval's --apply_chat_template and
the choices as the reply "The answer is X.". A suite must evaluate these tasks with the matching
apply_chat_template; tasks_manifest.json records the format so eval_lm_harness.py can check.
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

import yaml

from handbook.jsonl import read_jsonl, write_jsonl
from handbook.provenance import write_json
from handbook.suites import TASKS_MANIFEST
from handbook.tasks import render_reply
from handbook.training import run_main

logger = logging.getLogger("handbook.lm_eval_tasks")

FORMATS = ("chat", "plain")
N_CHOICES = 4
MAX_GEN_TOKS = 24
# Answer extraction as handbook.tasks does it: plain, first word of the first line; chat, the
# last word before the first line ends or a special token ("<|...") starts.
ANSWER_REGEX = {"plain": r"^[^\w\n]*(\w+)", "chat": r"^\s*[^<\n]*\b(\w+)"}


def read_rows(path: Path) -> list[dict]:
    rows = read_jsonl(path)
    missing = [
        i for i, r in enumerate(rows) if not all(k in r for k in ("prompt", "answer", "task"))
    ]
    if not rows or missing:
        raise SystemExit(
            f"error: {path}: need rows with prompt, answer, task (bad rows: {missing[:5]})"
        )
    return rows


def shape(answer: str) -> tuple[bool, ...]:
    """Digits, capitals, capitalised (a name), one letter: a distractor of another shape is
    too easy to rule out."""
    return answer.isdigit(), answer.isupper(), answer[:1].isupper(), len(answer) == 1


def distractors(row: dict, answers_by_task: dict[str, list[str]], rng: random.Random) -> list[str]:
    """N_CHOICES - 1 answers of the same task type other than the gold one, same shape first."""
    pool = [a for a in answers_by_task[row["task"]] if a != row["answer"]]
    same = [a for a in pool if shape(a) == shape(row["answer"])]
    other = [a for a in pool if shape(a) != shape(row["answer"])]
    rng.shuffle(same)
    rng.shuffle(other)
    picked = (same + other)[: N_CHOICES - 1]
    if len(picked) < N_CHOICES - 1:
        raise SystemExit(
            f"error: task type {row['task']!r} has too few distinct answers for {N_CHOICES} choices"
        )
    return picked


def mc_rows(rows: list[dict], seed: int, fmt: str) -> list[dict]:
    answers_by_task: dict[str, list[str]] = {}
    for row in rows:
        answers = answers_by_task.setdefault(row["task"], [])
        if row["answer"] not in answers:
            answers.append(row["answer"])
    out = []
    for i, row in enumerate(rows):
        # one generator per prompt: a row's choices do not change when other rows do
        rng = random.Random(f"{seed}:{row.get('prompt_id', i)}")
        answers = [row["answer"], *distractors(row, answers_by_task, rng)]
        rng.shuffle(answers)
        choices = [render_reply(a, "preferred") for a in answers] if fmt == "chat" else answers
        out.append(
            {
                "prompt_id": row.get("prompt_id", str(i)),
                "task": row["task"],
                "question": row["prompt"],
                "answer": row["answer"],
                "choice_answers": answers,
                "choices": choices,
                "gold": answers.index(row["answer"]),
            }
        )
    return out


def gen_rows(rows: list[dict]) -> list[dict]:
    return [
        {
            "prompt_id": r.get("prompt_id", str(i)),
            "task": r["task"],
            "question": r["prompt"],
            "answer": r["answer"],
        }
        for i, r in enumerate(rows)
    ]


def doc_to_text(fmt: str) -> str:
    return "{{question}}" if fmt == "chat" else "Question: {{question}}\nAnswer:"


def mc_config(data_file: Path, fmt: str) -> dict:
    return {
        "task": "demo_mc",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": doc_to_text(fmt),
        "doc_to_choice": "choices",
        "doc_to_target": "gold",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0, "format": fmt},
    }


def gen_config(data_file: Path, fmt: str) -> dict:
    return {
        "task": "demo_gen",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": doc_to_text(fmt),
        "doc_to_target": "answer",
        # the gold plain continuation is " {answer}\n"; a chat reply ends with the EOS token,
        # which lm-eval always adds to the stop sequences
        "generation_kwargs": {
            "until": ["\n"] if fmt == "plain" else [],
            "do_sample": False,
            "max_gen_toks": MAX_GEN_TOKS,
        },
        "filter_list": [
            {
                "name": "get-answer",
                "filter": [
                    {"function": "regex", "regex_pattern": ANSWER_REGEX[fmt]},
                    {"function": "take_first"},
                ],
            }
        ],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0, "format": fmt},
    }


def write_tasks(eval_prompts: Path, output_dir: Path, seed: int, fmt: str) -> dict:
    if fmt not in FORMATS:
        raise SystemExit(f"error: unknown format {fmt!r}; expected one of {FORMATS}")
    rows = read_rows(eval_prompts)
    output_dir = output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, data, make_config in (
        ("demo_mc", mc_rows(rows, seed, fmt), mc_config),
        ("demo_gen", gen_rows(rows), gen_config),
    ):
        # Sorted keys and ASCII-only lines (non-ASCII escaped): a task file's bytes depend on its
        # rows alone.
        write_jsonl(output_dir / f"{name}.jsonl", data, sort_keys=True, ensure_ascii=True)
        config = make_config(output_dir / f"{name}.jsonl", fmt)
        (output_dir / f"{name}.yaml").write_text(
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        )
    manifest = {
        "tasks": ["demo_mc", "demo_gen"],
        "format": fmt,
        "apply_chat_template": fmt == "chat",
        "seed": seed,
        "n_docs": len(rows),
        "eval_prompts": str(eval_prompts.resolve()),
    }
    write_json(output_dir / TASKS_MANIFEST, manifest)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--eval_prompts", required=True, help="JSONL with prompt, task, answer (prompt_id)"
    )
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--format", choices=FORMATS, default="chat")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))
    manifest = write_tasks(Path(args.eval_prompts), Path(args.output_dir), args.seed, args.format)
    logger.info("wrote %s", manifest)


if __name__ == "__main__":
    run_main(main)
