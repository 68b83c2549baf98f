"""The unbiased pass@k estimator (handbook.pass_at_k) against its definition and known cases."""

from __future__ import annotations

import itertools
import math

import pytest

from handbook.pass_at_k import group_hits, pass_at_k, pass_at_ks


@pytest.mark.parametrize(
    "n,c,k", [(16, 0, 1), (16, 3, 1), (16, 3, 4), (16, 12, 4), (16, 1, 16), (5, 2, 3)]
)
def test_equals_the_combinatorial_definition(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


def test_equals_the_share_of_k_subsets_holding_a_correct_sample():
    samples = [True, False, False, True, False, False]
    subsets = list(itertools.combinations(samples, 3))
    assert pass_at_k(6, 2, 3) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_pass_at_1_is_the_accuracy_and_pass_at_n_whether_any_is_correct():
    assert pass_at_k(16, 5, 1) == pytest.approx(5 / 16)
    assert pass_at_k(16, 1, 16) == 1.0 and pass_at_k(16, 0, 16) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)


def test_means_over_prompts_for_the_ks_the_samples_allow_and_by_task():
    rows = [
        {"prompt_id": p, "prompt": p, "task": t}
        for p, t in [("a", "fact"), ("b", "string")]
        for _ in range(4)
    ]
    correct = [True, False, False, False] + [False] * 4
    grouped = group_hits(rows, correct)
    assert grouped["all"] == [[True, False, False, False], [False] * 4]
    scores = pass_at_ks(grouped["all"])
    assert scores == {"1": pytest.approx(0.125), "4": pytest.approx(0.5)}  # k=16 > n=4: left out
    assert pass_at_ks(grouped["fact"])["4"] == 1.0 and pass_at_ks(grouped["string"])["1"] == 0.0
