"""AlpacaEval 2's length-controlled win rate: the win rate a model would have at equal length.

alpaca_eval fits a logistic model of the preference on the (standardised, tanh-squashed) length
difference between the two outputs, and predicts it at zero difference. Which fit is used when:

- `length_controlled_v1` (alpaca_eval's published metric, through its own
  `get_length_controlled_winrate`): when the instructions are AlpacaEval's and its hub tables
  (tatsu-lab/alpaca_eval: instruction_difficulty.csv, df_gamed.csv) can be read, from the hub or
  offline from the local Hugging Face cache. That fit adds a per-instruction difficulty term and
  regularises towards the "gamed" baselines in df_gamed.csv, so it needs the AlpacaEval
  instruction index (the position in AlpacaEval's 805 instructions, taken here as the position in
  a reference set of exactly that many rows).
- `length_only`: otherwise (other instructions, such as the demo prompts, or no hub tables). The
  same formula less the difficulty term (`np.tanh(std_delta_len) +
  not_gamed_baseline.astype(float) - 1`) is fitted with alpaca_eval's own `make_dmatrix_for_model`
  and `fit_LogisticRegressionCV` (5-fold, L1, probabilities as soft labels), without the
  regularisation. Every prediction at zero length difference is then the same number, so there
  is no spread to report: its standard error is None.
- `not_fitted`: fewer than MIN_ANNOTATIONS parsed annotations, or the model always or never
  wins (the fit has nothing to separate); the rate is None.
"""

from __future__ import annotations

import logging
import math
import warnings
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("handbook.judging")
MIN_ANNOTATIONS = 10
FORMULA_LENGTH_ONLY = "np.tanh(std_delta_len) + not_gamed_baseline.astype(float) - 1"


@contextmanager
def quiet_fit():
    """Around alpaca_eval's fits: they warn about sklearn's coming API changes (the job log
    should carry the job's own warnings) and switch sklearn's metadata routing on globally
    (undone here)."""
    import sklearn

    with warnings.catch_warnings(), sklearn.config_context():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        yield


def glm_module():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        from alpaca_eval.metrics import glm_winrate
    return glm_winrate


def reference_index(instructions: list[str]) -> dict[str, int] | None:
    """instruction -> AlpacaEval index, when the references are AlpacaEval's instructions (as
    many as its difficulty table has rows) and that table can be read; else None."""
    # Offline without the table in the cache, or no hub at all: a fallback, not an error.
    try:
        difficulty = glm_module()._get_instructions_difficulty()
    except Exception as err:
        logger.info(
            "AlpacaEval difficulty table not available (%s): length-only LC fit", type(err).__name__
        )
        return None
    if len(difficulty) != len(instructions) or len(set(instructions)) != len(instructions):
        logger.info(
            "references are not AlpacaEval's %d instructions (%d given): length-only LC fit",
            len(difficulty),
            len(instructions),
        )
        return None
    return {instruction: i for i, instruction in enumerate(instructions)}


def fittable(parsed: list[dict[str, Any]]) -> bool:
    wins = sum(1 for r in parsed if r["preference"] > 1.5)
    losses = sum(1 for r in parsed if r["preference"] < 1.5)
    return len(parsed) >= MIN_ANNOTATIONS and wins > 0 and losses > 0


def finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def fit_v1(parsed: list[dict[str, Any]], glm_index: dict[str, int]) -> dict[str, Any] | None:
    """alpaca_eval's own metric; None when its hub tables cannot be read."""
    import pandas as pd

    columns = ["instruction", "output_1", "output_2", "generator_1", "generator_2", "preference"]
    frame = pd.DataFrame([{c: r[c] for c in columns} for r in parsed])
    # alpaca_eval reads the instruction index from the frame's row index (reset_index()).
    frame.index = [glm_index[r["instruction"]] for r in parsed]
    try:
        with quiet_fit():
            metrics = glm_module().get_length_controlled_winrate(
                frame, save_weights_dir=None, is_add_glm_preference_inplace=False
            )
    except OSError as err:
        logger.info("AlpacaEval gamed-baseline table not available (%s)", type(err).__name__)
        return None
    return {
        "length_controlled_winrate": finite(metrics["length_controlled_winrate"]),
        "lc_standard_error": finite(metrics["lc_standard_error"]),
        "lc_method": "length_controlled_v1",
    }


def length_features(parsed: list[dict[str, Any]]):
    """alpaca_eval's features: the length difference (reference minus model, over its spread)
    and the preference as a probability in [0, 1]."""
    import pandas as pd

    delta = pd.Series([len(r["output_1"]) - len(r["output_2"]) for r in parsed], dtype=float)
    spread = delta.std()
    # All differences equal: no length signal to remove (and no spread to divide by).
    std_delta = delta / spread if spread and math.isfinite(spread) else delta * 0.0
    return pd.DataFrame(
        {
            "preference": [float(r["preference"]) - 1.0 for r in parsed],
            "std_delta_len": std_delta,
            "not_gamed_baseline": True,
        }
    )


def fit_length_only(parsed: list[dict[str, Any]]) -> dict[str, Any]:
    glm = glm_module()
    train = length_features(parsed)
    at_equal_length = train[["not_gamed_baseline"]].iloc[:1].assign(std_delta_len=0.0)
    with quiet_fit():
        design, design_test = glm.make_dmatrix_for_model(
            train, at_equal_length, FORMULA_LENGTH_ONLY
        )
        model = glm.fit_LogisticRegressionCV(design, "preference", is_ytrue_proba=True, n_splits=5)
        rate = float(model.predict_proba(design_test)[0, 1])
    return {
        "length_controlled_winrate": finite(100 * rate),
        "lc_standard_error": None,
        "lc_method": "length_only",
    }


def length_controlled(
    parsed: list[dict[str, Any]], glm_index: dict[str, int] | None = None
) -> dict[str, Any]:
    """The length-controlled win rate (percent) of one model's parsed annotations."""
    if not fittable(parsed):
        return {
            "length_controlled_winrate": None,
            "lc_standard_error": None,
            "lc_method": "not_fitted",
        }
    if glm_index and all(r["instruction"] in glm_index for r in parsed):
        fitted = fit_v1(parsed, glm_index)
        if fitted is not None:
            return fitted
    return fit_length_only(parsed)
