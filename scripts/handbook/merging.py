"""Linear merges of two models of one architecture: the weighted mean of their weights.

SmolLM3's released model is its APO model merged 0.9/0.1 with a mid-training checkpoint; a merge
run (stage `merge`) makes such a model a target like any trained one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MergeConfig:
    """A merge recipe: the weight of the run's model; the other model gets the rest."""

    output_dir: str = field(default=None, metadata={"help": "Where the merged model goes."})
    merge_method: str = field(
        default="linear", metadata={"help": "Only 'linear' (a weighted mean) for now."}
    )
    weight: float = field(
        default=0.5,
        metadata={"help": "Weight of the run's model, in [0, 1]; the other gets 1 - weight."},
    )

    def __post_init__(self):
        if self.merge_method != "linear":
            raise ValueError(f"merge_method: {self.merge_method!r} is not known (use 'linear')")
        if not 0 <= self.weight <= 1:
            raise ValueError(f"weight: {self.weight} must be in [0, 1]")


class MergeError(ValueError):
    """Two models that cannot be merged, naming the first parameter that differs."""


def linear_merge(first: dict, second: dict, weight: float, names: tuple[str, str]) -> dict:
    """weight * first + (1 - weight) * second, parameter by parameter, computed in float32 and
    stored in the first model's dtype."""
    only = sorted(set(first) ^ set(second))
    if only:
        owner = names[0] if only[0] in first else names[1]
        raise MergeError(
            f"{names[0]} and {names[1]} differ: parameter {only[0]!r} is only in {owner}"
        )
    merged = {}
    for key, a in first.items():
        b = second[key]
        if a.shape != b.shape:
            raise MergeError(
                f"{names[0]} and {names[1]} differ: {key!r} has shapes {tuple(a.shape)} and "
                f"{tuple(b.shape)}"
            )
        merged[key] = (a.float() * weight + b.float() * (1 - weight)).to(a.dtype)
    return merged
