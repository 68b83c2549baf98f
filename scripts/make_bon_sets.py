"""Rejection sampling, step 3: best-of-n SFT data and on-policy preference pairs from scored
samples.

    python scripts/make_bon_sets.py --scored results/samples/sft/tiny/scored.jsonl \
        --output_dir results/samples/sft/tiny/sets --test_fraction 0.1

Writes two folders, each with train.jsonl and test.jsonl (no test.jsonl with --test_fraction 0),
usable as `dataset_name: <folder>` with `dataset_test_split: test`:
  best_of_n/        {prompt_id, prompt, messages: prompt + best completion, score}
  on_policy_pairs/  {prompt_id, prompt, chosen: best, rejected: worst, score_chosen, score_rejected}
and summary.json (written last) with counts, mean scores and, when rows carry `answer`, how often
the best, worst and all completions are correct and in the preferred style.
A prompt gives no pair when its best and worst completions tie in score or are the same text.
The test split is chosen by a hash of prompt_id, so it is stable across reruns and sample sizes.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

from handbook.data import DataError
from handbook.jsonl import write_jsonl
from handbook.provenance import write_json
from handbook.rejection_sampling import build_sets, check_scored, quality, read_samples, split_rows
from handbook.training import RecipeError, run_main

logger = logging.getLogger("handbook.bon")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scored", required=True, help="JSONL from score_samples.py")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--test_fraction", type=float, default=0.1)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))
    if not 0 <= args.test_fraction < 1:
        raise RecipeError(f"--test_fraction {args.test_fraction} must be in [0, 1)")

    rows = read_samples(args.scored)
    check_scored(rows, args.scored)
    best_rows, pair_rows, skipped = build_sets(rows)
    if not pair_rows:
        raise DataError(
            f"{args.scored}: no pairs: every prompt's best and worst completions tie ({skipped})"
        )
    if args.test_fraction and len(pair_rows) < 2:
        raise DataError(
            f"{args.scored}: 1 pair (the other {len(rows) - 1} prompts' best and worst tie: "
            f"{skipped}), too few to hold one out; sample more prompts or completions"
        )
    out = Path(args.output_dir)
    counts = {}
    for name, built in (("best_of_n", best_rows), ("on_policy_pairs", pair_rows)):
        train, test = split_rows(built, args.test_fraction)
        write_jsonl(out / name / "train.jsonl", train)
        if test:
            write_jsonl(out / name / "test.jsonl", test)
        else:  # no test split asked for: a stale file from an earlier run must not stand in for one
            (out / name / "test.jsonl").unlink(missing_ok=True)
        counts[name] = {"train": len(train), "test": len(test)}
    best_scores = [r["score"] for r in best_rows]
    summary = {
        "scored": args.scored,
        "n_prompts": len(rows),
        "completions_per_prompt": statistics.fmean(len(r["completions"]) for r in rows),
        "counts": counts,
        "skipped_pairs": skipped,
        "mean_best_score": statistics.fmean(best_scores),
        "mean_worst_score": statistics.fmean(min(r["scores"]) for r in rows),
        "mean_score": statistics.fmean(s for r in rows for s in r["scores"]),
        "quality": quality(rows),
        "test_fraction": args.test_fraction,
    }
    write_json(out / "summary.json", summary)
    logger.info("summary: %s", summary)


if __name__ == "__main__":
    run_main(main)
