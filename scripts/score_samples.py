"""Rejection sampling, step 2: a reward model, or verifiers that check the answer, score every
sampled completion.

    python scripts/score_samples.py --reward_model results/models/rm/tiny \
        --samples results/rejection_sampling/demo/samples.jsonl \
        --output results/rejection_sampling/demo/scored.jsonl
    python scripts/score_samples.py --verifiers demo_answer,demo_format --verifier_weights 1,0.5 \
        --samples ... --output ...

A reward model scores the conversation "prompt messages + assistant completion", through the same
chat template it was trained with. Verifiers (scripts/handbook/verifiers.py) check each completion
against its prompt's `answer`; their weighted sum is the score. Rows are written back unchanged,
plus `scores` (one float per completion, in the same order) and `reward_model` or `verifiers`.
"""

from __future__ import annotations

import argparse
import logging
import statistics

from handbook.data import DataError
from handbook.jsonl import write_jsonl
from handbook.rejection_sampling import read_samples, score_rows, verify_rows
from handbook.training import run_main
from handbook.verifiers import VerifierError

logger = logging.getLogger("handbook.score")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scorer = parser.add_mutually_exclusive_group(required=True)
    scorer.add_argument("--reward_model", help="reward model folder (from reward.py)")
    scorer.add_argument("--verifiers", help="comma-separated verifier names (handbook.verifiers)")
    parser.add_argument(
        "--verifier_weights", help="comma-separated weights, one per verifier (default 1 each)"
    )
    parser.add_argument("--samples", required=True, help="JSONL from sample_completions.py")
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch_size", type=int, default=64, help="conversations per forward pass")
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    rows = read_samples(args.samples)
    if args.verifiers:
        names = args.verifiers.split(",")
        weights = (
            [float(w) for w in args.verifier_weights.split(",")] if args.verifier_weights else None
        )
        try:
            scored = [dict(row, verifiers=names) for row in verify_rows(rows, names, weights)]
        except VerifierError as err:
            raise DataError(f"{args.samples}: {err}") from None
    else:
        from handbook.modeling import best_device
        from handbook.reward_scoring import load_reward_model

        model, tokenizer = load_reward_model(args.reward_model, device=best_device())
        scored = [
            dict(row, reward_model=args.reward_model)
            for row in score_rows(model, tokenizer, rows, args.batch_size)
        ]
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
