"""KL(policy || reference) on a policy's replies: the log-probabilities it sums (batched with
padding as one by one), and the estimate itself."""

from __future__ import annotations

import pytest

from handbook.kl import kl_estimate, kl_to_reference, reply_logprobs, reply_token_ids


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tiny_model import SMALL_ARCH, build_model, build_world
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from handbook.modeling import init_llama

    root = tmp_path_factory.mktemp("kl")
    folder = build_model(root / "model", build_world(root / "world"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    policy = AutoModelForCausalLM.from_pretrained(folder).eval()
    other = init_llama(tokenizer, SMALL_ARCH, seed=1).eval()
    return policy, other, tokenizer


PROMPTS = ["Question: What is 2 plus 3?\nAnswer:", "Question: Reverse 'cat'.\nAnswer:"]
REPLIES = [" 5", " The answer is tac, as the word read backwards."]


def test_batched_log_probs_equal_one_sequence_at_a_time(models):
    import torch

    policy, _, tokenizer = models
    pairs = reply_token_ids(tokenizer, PROMPTS, REPLIES)
    batched = reply_logprobs(policy, pairs, batch_size=2, pad_id=0)
    for (ids, n_prompt), got in zip(pairs, batched):
        with torch.no_grad():
            logps = torch.log_softmax(policy(torch.tensor([ids])).logits[0], dim=-1)
        expected = sum(float(logps[t - 1, ids[t]]) for t in range(n_prompt, len(ids)))
        assert got == pytest.approx(expected, abs=1e-4)
    assert batched[1] < batched[0] < 0  # the longer reply is the less likely


def test_a_model_is_at_zero_kl_from_itself_and_above_it_from_another(models):
    policy, other, tokenizer = models
    assert kl_to_reference(policy, policy, tokenizer, PROMPTS, REPLIES, 4) == pytest.approx(0.0)
    assert kl_to_reference(policy, other, tokenizer, PROMPTS, REPLIES, 4) != pytest.approx(0.0)


def test_the_estimate_is_the_mean_log_ratio():
    assert kl_estimate([-1.0, -2.0], [-3.0, -2.5]) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="no replies"):
        kl_estimate([], [])
