"""Rejection sampling, step 2: a reward model scores every sampled completion.

    python scripts/score_samples.py --reward_model results/models/rm/tiny \
        --samples results/samples/sft/tiny/completions.jsonl \
        --output results/samples/sft/tiny/scored.jsonl

Each completion is scored as the conversation "prompt messages + assistant completion", through the
same chat template the reward model was trained with. Rows are written back unchanged, plus
`scores` (one float per completion, in the same order) and `reward_model`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path

from eval_reward import score_conversations
from handbook.data import DataError
from handbook.training import run_main
from sample_completions import write_jsonl

logger = logging.getLogger("handbook.score")


def read_samples(path: str) -> list[dict]:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: no such file")
    rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    for i, row in enumerate(rows):
        if not row.get("messages") or not isinstance(row.get("completions"), list):
            raise DataError(f"{path}: row {i}: needs 'messages' and a 'completions' list (from sample_completions.py)")
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def score_rows(model, tokenizer, rows: list[dict], batch_size: int) -> list[dict]:
    conversations = [
        row["messages"] + [{"role": "assistant", "content": completion}]
        for row in rows
        for completion in row["completions"]
    ]
    flat = score_conversations(model, tokenizer, conversations, batch_size)
    scored, start = [], 0
    for row in rows:
        k = len(row["completions"])
        scored.append(dict(row, scores=flat[start : start + k]))
        start += k
    return scored


def main() -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reward_model", required=True, help="reward model folder (from reward.py)")
    parser.add_argument("--samples", required=True, help="JSONL from sample_completions.py")
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch_size", type=int, default=64, help="conversations per forward pass")
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    rows = read_samples(args.samples)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForSequenceClassification.from_pretrained(args.reward_model, dtype=torch.float32).to(device)
    tokenizer = AutoTokenizer.from_pretrained(args.reward_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    scored = [dict(row, reward_model=args.reward_model) for row in score_rows(model, tokenizer, rows, args.batch_size)]
    write_jsonl(args.output, scored)
    every = [s for row in scored for s in row["scores"]]
    logger.info(
        "scored %d completions of %d prompts: mean %.3f, std %.3f",
        len(every),
        len(scored),
        statistics.fmean(every),
        statistics.pstdev(every),
    )


if __name__ == "__main__":
    run_main(main)
