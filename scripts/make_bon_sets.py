"""Rejection sampling, step 3: best-of-n SFT data and on-policy preference pairs from scored samples.

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
import hashlib
import logging
import statistics
from pathlib import Path

from handbook.data import DataError
from handbook.provenance import write_json
from handbook.tasks import extract_answer, is_correct, style_of
from handbook.training import RecipeError, run_main
from sample_completions import write_jsonl
from score_samples import read_samples

logger = logging.getLogger("handbook.bon")

CARRIED = ("task", "answer")


def hash_fraction(prompt_id: str) -> float:
    return int(hashlib.sha256(str(prompt_id).encode()).hexdigest()[:12], 16) / 16**12


def split_rows(rows: list[dict], test_fraction: float) -> tuple[list[dict], list[dict]]:
    """Rows whose prompt hash falls below the fraction go to test; a non-empty set keeps at least
    one test row (when it has two or more), so the test split always loads."""
    test = [r for r in rows if hash_fraction(r["prompt_id"]) < test_fraction]
    if test_fraction > 0 and not test and len(rows) > 1:
        test = [min(rows, key=lambda r: hash_fraction(r["prompt_id"]))]
    test_ids = {r["prompt_id"] for r in test}
    return [r for r in rows if r["prompt_id"] not in test_ids], test


def best_and_worst(scores: list[float]) -> tuple[int, int]:
    """Indices of the highest and lowest score; the first one wins a tie, so reruns agree."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    return best, worst


def build_sets(rows: list[dict]) -> tuple[list[dict], list[dict], dict]:
    best_rows, pair_rows = [], []
    skipped = {"tied_scores": 0, "identical_text": 0}
    for row in rows:
        completions, scores = row["completions"], row["scores"]
        best, worst = best_and_worst(scores)
        extra = {key: row[key] for key in CARRIED if row.get(key) is not None}
        reply = {"role": "assistant", "content": completions[best]}
        best_rows.append(
            {
                "prompt_id": row["prompt_id"],
                "prompt": row["prompt"],
                "messages": row["messages"] + [reply],
                "score": scores[best],
                **extra,
            }
        )
        if scores[best] == scores[worst]:
            skipped["tied_scores"] += 1
            continue
        if completions[best].strip() == completions[worst].strip():
            skipped["identical_text"] += 1
            continue
        pair_rows.append(
            {
                "prompt_id": row["prompt_id"],
                "prompt": row["prompt"],
                "chosen": row["messages"] + [reply],
                "rejected": row["messages"] + [{"role": "assistant", "content": completions[worst]}],
                "score_chosen": scores[best],
                "score_rejected": scores[worst],
                **extra,
            }
        )
    return best_rows, pair_rows, skipped


def quality(rows: list[dict]) -> dict | None:
    """Correct and preferred-style rates of the best, the worst and all completions (demo world)."""
    rows = [r for r in rows if r.get("answer") is not None]
    if not rows:
        return None
    picks: dict[str, list[tuple[str, str]]] = {"best": [], "worst": [], "all": []}
    for row in rows:
        best, worst = best_and_worst(row["scores"])
        picks["best"].append((row["completions"][best], row["answer"]))
        picks["worst"].append((row["completions"][worst], row["answer"]))
        picks["all"] += [(c, row["answer"]) for c in row["completions"]]
    return {
        name: {
            "correct_rate": statistics.fmean(is_correct(extract_answer(c), a) for c, a in pairs),
            "preferred_rate": statistics.fmean(style_of(c) == "preferred" for c, _ in pairs),
            "n": len(pairs),
        }
        for name, pairs in picks.items()
    }


def check_scored(rows: list[dict], path: str) -> None:
    for i, row in enumerate(rows):
        scores = row.get("scores")
        if not isinstance(scores, list) or len(scores) != len(row["completions"]) or not scores:
            raise DataError(f"{path}: row {i}: needs 'scores', one per completion (from score_samples.py)")
        if "prompt_id" not in row or "prompt" not in row:
            raise DataError(f"{path}: row {i}: needs 'prompt_id' and 'prompt'")


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
        raise DataError(f"{args.scored}: no pairs: every prompt's best and worst completions tie ({skipped})")
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
