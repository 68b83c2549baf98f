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
import logging
import statistics

from handbook.jsonl import write_jsonl
from handbook.modeling import best_device
from handbook.rejection_sampling import read_samples, score_rows
from handbook.reward_scoring import load_reward_model
from handbook.training import run_main

logger = logging.getLogger("handbook.score")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reward_model", required=True, help="reward model folder (from reward.py)")
    parser.add_argument("--samples", required=True, help="JSONL from sample_completions.py")
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch_size", type=int, default=64, help="conversations per forward pass")
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    rows = read_samples(args.samples)
    model, tokenizer = load_reward_model(args.reward_model, device=best_device())
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
