"""How far a policy has moved from the model it was trained from: KL(policy || reference) on the
policy's own sampled replies.

KL(pi || ref) = E_{y ~ pi(.|x)} [log pi(y|x) - log ref(y|x)], estimated by the mean over replies
sampled from the policy (at T=1, no top-k or top-p, so they are its distribution's samples) of the
summed per-token log-ratio. The replies are scored as their text re-tokenized after the prompt,
without the end-of-sequence token (the decoded text leaves it out), under both models alike.
Preference losses trade reward against exactly this quantity (beta weighs it), which makes it the
axis a beta scan moves along.
"""

from __future__ import annotations

from collections.abc import Sequence


def reply_token_ids(tokenizer, prompts: Sequence[str], replies: Sequence[str]):
    """(prompt ids + reply ids, number of prompt ids) per pair, tokenized apart so that the
    prompt's tokens are the ones generation saw."""
    pairs = []
    for prompt, reply in zip(prompts, replies, strict=True):
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tail = tokenizer(reply, add_special_tokens=False)["input_ids"]
        pairs.append((head + tail, len(head)))
    return pairs


def reply_logprobs(model, pairs, batch_size: int, pad_id: int) -> list[float]:
    """Summed log-probability of each pair's reply tokens given its prompt tokens."""
    import torch

    sums = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (seq, _) in enumerate(batch):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logps = torch.log_softmax(logits[:, :-1], dim=-1)
        token_logps = logps.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        for i, (seq, n_prompt) in enumerate(batch):
            # Position t predicts token t+1: the reply's tokens are n_prompt .. len(seq)-1.
            sums.append(float(token_logps[i, n_prompt - 1 : len(seq) - 1].sum()))
    return sums


def kl_estimate(policy_logps: Sequence[float], reference_logps: Sequence[float]) -> float:
    """Mean summed log-ratio over the policy's replies: the Monte Carlo KL(policy || reference)."""
    if not policy_logps:
        raise ValueError("no replies to estimate a KL on")
    ratios = [p - r for p, r in zip(policy_logps, reference_logps, strict=True)]
    return sum(ratios) / len(ratios)


def kl_to_reference(policy, reference, tokenizer, prompts, replies, batch_size: int) -> float:
    """KL(policy || reference) on `replies` sampled from the policy for `prompts`. The two models
    share a tokenizer (a policy is trained from its reference)."""
    pairs = reply_token_ids(tokenizer, prompts, replies)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return kl_estimate(
        reply_logprobs(policy, pairs, batch_size, pad),
        reply_logprobs(reference, pairs, batch_size, pad),
    )
