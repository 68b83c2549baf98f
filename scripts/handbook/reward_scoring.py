"""Scoring conversations with a reward model (a sequence classifier with one label), and pairwise
accuracy on preference pairs."""

from __future__ import annotations

import statistics

from handbook.data import DataError
from handbook.modeling import from_pretrained, load_tokenizer


def load_reward_model(path: str, device: str | None = None):
    """The reward model in fp32 (moved to `device` if given) and its tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = from_pretrained(
        AutoModelForSequenceClassification, path, dtype=torch.float32, use_safetensors=True
    )
    if device is not None:
        model = model.to(device)
    return model.eval(), load_tokenizer(path)


def score_conversations(
    model, tokenizer, conversations: list[list[dict]], batch_size: int = 32
) -> list[float]:
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
    ids = [
        list(tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"])
        for c in conversations
    ]
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
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
            ).logits
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


def evaluate_pairs(
    model, tokenizer, rows: list[dict], batch_size: int, where: str = "pairs"
) -> dict:
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
