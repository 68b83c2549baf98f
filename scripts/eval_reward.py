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
import statistics
from pathlib import Path

from handbook.data import DataError
from handbook.provenance import write_json
from handbook.training import run_main

logger = logging.getLogger("handbook.eval_reward")


def score_conversations(model, tokenizer, conversations: list[list[dict]], batch_size: int = 32) -> list[float]:
    """One reward per conversation, tokenized with the chat template exactly as RewardTrainer does.

    Batches are padded on the right whatever the tokenizer's padding side: the classifier pools the
    last non-pad token, and a decoder numbers positions from the first token, so left padding would
    shift positions away from those seen in training and change the scores. Conversations are
    grouped by length to keep padding short; scores come back in input order.
    """
    import torch

    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    pad_id = model.config.pad_token_id
    ids = [list(tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"]) for c in conversations]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    scores = [0.0] * len(ids)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            attention_mask[row, : len(ids[i])] = 1
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        for row, i in enumerate(batch):
            scores[i] = float(logits[row, 0])
    model.train(was_training)
    return scores


def pair_conversations(row: dict, where: str) -> tuple[list[dict], list[dict]]:
    """Full chosen and rejected conversations of one pair, whichever prompt form it uses."""
    try:
        chosen, rejected = row["chosen"], row["rejected"]
    except KeyError as err:
        raise DataError(f"{where}: no column {err.args[0]!r}") from err
    prompt = row.get("prompt")
    if isinstance(prompt, list):  # explicit prompt: the replies hold only the assistant turn(s)
        return prompt + chosen, prompt + rejected
    if isinstance(prompt, str) and chosen and chosen[0]["role"] == "assistant":
        user = [{"role": "user", "content": prompt}]
        return user + chosen, user + rejected
    return chosen, rejected


def pairwise_metrics(margins: list[float]) -> dict:
    return {
        "pairwise_accuracy": sum(m > 0 for m in margins) / len(margins),
        "margin_mean": statistics.fmean(margins),
        "margin_std": statistics.pstdev(margins),
        "n": len(margins),
    }


def evaluate_pairs(model, tokenizer, rows: list[dict], batch_size: int, where: str = "pairs") -> dict:
    if not rows:
        raise DataError(f"{where}: no pairs to evaluate")
    pairs = [pair_conversations(row, f"{where}: row {i}") for i, row in enumerate(rows)]
    scores = score_conversations(model, tokenizer, [c for pair in pairs for c in pair], batch_size)
    margins = [scores[2 * i] - scores[2 * i + 1] for i in range(len(pairs))]
    results = pairwise_metrics(margins)
    by_kind: dict[str, list[float]] = {}
    for row, margin in zip(rows, margins):
        if row.get("kind") is not None:
            by_kind.setdefault(str(row["kind"]), []).append(margin)
    results["by_kind"] = {kind: pairwise_metrics(m) for kind, m in sorted(by_kind.items())}
    return results


def main() -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="reward model folder (sequence classifier, num_labels=1)")
    parser.add_argument("--pairs", required=True, help="JSONL of preference pairs (ultrafeedback format)")
    parser.add_argument("--batch_size", type=int, default=64, help="conversations per forward pass")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    path = Path(args.pairs)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    model = AutoModelForSequenceClassification.from_pretrained(args.model, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    results = evaluate_pairs(model, tokenizer, rows, args.batch_size, where=str(path))
    results.update(model=args.model, pairs=args.pairs)
    logger.info("results: %s", json.dumps(results))
    write_json(args.output, results)


if __name__ == "__main__":
    run_main(main)
