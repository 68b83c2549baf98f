"""A grid table's words: which settings moved a metric beyond the seeds' spread, and whether a
qualitative finding held."""

from __future__ import annotations

import pandas as pd

from handbook.findings import effect_lines, finding_lines


def long_table(cells):
    """cells: {(loss, beta): (mean, std)} of one metric 'm', as grid_table writes them."""
    return pd.DataFrame.from_records(
        [
            {"metric": "m", "loss": loss, "beta": beta, "value": v, "std": s, "n_runs": 3}
            for (loss, beta), (v, s) in cells.items()
        ]
    )


CELLS = {
    ("dpo", 0.01): (0.70, 0.01),
    ("dpo", 0.5): (0.60, 0.02),  # 0.10 apart, beyond 2 x 0.02
    ("ipo", 0.01): (0.62, 0.05),
    ("ipo", 0.5): (0.60, 0.05),  # 0.02 apart, within
    ("kto", 0.01): (0.50, 0.01),
    ("kto", 0.5): (0.80, 0.01),  # best at the high end
}


def test_effects_beyond_two_std_are_named_and_the_others_not():
    (line,) = effect_lines(long_table(CELLS), "loss", "beta")
    assert line == (
        "- `m`: beta moves it by more than 2 std of the seeds for dpo, kto; within them for ipo"
    )


def test_without_seeds_no_effect_is_called_shown():
    one_seed = {k: (v, float("nan")) for k, (v, _) in CELLS.items()}
    (line,) = effect_lines(long_table(one_seed), "loss", "beta")
    assert line == "- `m`: within 2 std of the seeds across beta for dpo, ipo, kto"


def test_a_finding_held_beyond_within_or_not_per_row():
    finding = {"text": "best at the lowest beta", "metric": "m", "best": "lowest"}
    lines = finding_lines(long_table(CELLS), "loss", "beta", finding)
    assert lines[0].startswith("Finding checked: best at the lowest beta (on `m`")
    assert lines[1:] == [
        "- dpo: best beta 0.01 (0.700 against 0.600 at 0.5): held, beyond the seeds' spread",
        "- ipo: best beta 0.01 (0.620 against 0.600 at 0.5): held in the means, within the "
        "seeds' spread",
        "- kto: best beta 0.5 (0.800 against 0.500 at 0.01): did not hold, beyond the seeds' "
        "spread",
    ]


def test_a_finding_that_failed_within_the_spread_says_so():
    close = {**CELLS, ("kto", 0.01): (0.79, 0.02)}
    finding = {"text": "t", "metric": "m", "best": "lowest"}
    assert finding_lines(long_table(close), "loss", "beta", finding)[3] == (
        "- kto: best beta 0.5 (0.800 against 0.790 at 0.01): did not hold in the means, within "
        "the seeds' spread"
    )


def test_a_finding_on_a_metric_without_values_is_not_checked():
    empty = {k: (float("nan"), float("nan")) for k in CELLS}
    finding = {"text": "t", "metric": "m", "best": "highest"}
    assert finding_lines(long_table(empty), "loss", "beta", finding)[1] == (
        "- no row has `m` in two beta cells: not checked"
    )
