"""Linear merges: the weighted mean of two models' weights, and the mistakes that stop one."""

from __future__ import annotations

import pytest
import torch

from handbook.merging import MergeConfig, MergeError, linear_merge


def test_linear_merge_is_the_weighted_mean_in_the_first_models_dtype():
    a = {"w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16), "b": torch.tensor([0.0])}
    b = {"w": torch.tensor([11.0, 12.0], dtype=torch.bfloat16), "b": torch.tensor([10.0])}
    merged = linear_merge(a, b, 0.9, ("a", "b"))
    assert merged["w"].dtype == torch.bfloat16
    assert torch.allclose(merged["w"].float(), torch.tensor([2.0, 3.0])) and torch.allclose(
        merged["b"], torch.tensor([1.0])
    )
    assert torch.equal(linear_merge(a, b, 1.0, ("a", "b"))["b"], a["b"])


def test_models_that_differ_cannot_be_merged():
    a = {"w": torch.zeros(2), "extra": torch.zeros(1)}
    with pytest.raises(MergeError, match=r"^a and b differ: parameter 'extra' is only in a$"):
        linear_merge(a, {"w": torch.zeros(2)}, 0.5, ("a", "b"))
    with pytest.raises(MergeError, match=r"'w' has shapes \(2,\) and \(3,\)"):
        linear_merge({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, 0.5, ("a", "b"))


def test_merge_recipe_values_are_checked():
    assert MergeConfig(weight=0.9).merge_method == "linear"
    with pytest.raises(ValueError, match="weight: 1.5 must be in"):
        MergeConfig(weight=1.5)
    with pytest.raises(ValueError, match="merge_method: 'ties' is not known"):
        MergeConfig(merge_method="ties")
