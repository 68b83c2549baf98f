"""Evaluate a reward model on held-out preference pairs: pairwise accuracy and reward margins.

    python scripts/eval_reward.py --model results/models/rm/tiny \
        --pairs results/demo_world/preference/test.jsonl --output results/eval/rm/tiny/pairs.json

Pairs are JSONL rows in ultrafeedback_binarized form (`chosen` and `rejected` conversations, a
`prompt` string or message list). A pair counts as correct when the chosen reply scores strictly
higher; ties count as wrong, so a constant model scores 0. With a `kind` column the metrics are also
given per kind (in the demo world: `style` and `correctness`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from handbook.data import DataError
from handbook.jsonl import read_jsonl
from handbook.provenance import write_json
from handbook.reward_scoring import evaluate_pairs, load_reward_model
from handbook.training import run_main

logger = logging.getLogger("handbook.eval_reward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="reward model folder (sequence classifier, num_labels=1)"
    )
    parser.add_argument(
        "--pairs", required=True, help="JSONL of preference pairs (ultrafeedback format)"
    )
    parser.add_argument("--batch_size", type=int, default=64, help="conversations per forward pass")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    path = Path(args.pairs)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = read_jsonl(path)
    model, tokenizer = load_reward_model(args.model)
    results = evaluate_pairs(model, tokenizer, rows, args.batch_size, where=str(path))
    results.update(model=args.model, pairs=args.pairs)
    logger.info("results: %s", json.dumps(results))
    write_json(args.output, results)


if __name__ == "__main__":
    run_main(main)
