"""Training curves from the Trainer's `log_history.json`: loss and reward panels (and GRPO's reward,
reward spread, completion length and KL), one colour per model."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

logger = logging.getLogger("handbook.plots")

# (title, y-label, train keys, eval keys). The first key with a finite value in an entry wins: the
# preference trainers log `rewards/accuracies`, the reward-model trainer `accuracy`.
PANELS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Loss", "loss", ("loss",), ("eval_loss",)),
    (
        "Reward margin",
        "reward(chosen) - reward(rejected)",
        ("rewards/margins",),
        ("eval_rewards/margins",),
    ),
    (
        "Reward accuracy",
        "accuracy",
        ("rewards/accuracies", "accuracy"),
        ("eval_rewards/accuracies", "eval_accuracy"),
    ),
    # GRPO: the verifiers' summed reward of each step's generations, its spread within the groups,
    # how long the replies are, and the distance from the starting policy (logged when beta > 0).
    ("Mean reward (GRPO)", "reward", ("reward",), ()),
    ("Reward std (GRPO)", "std of reward", ("reward_std",), ()),
    ("Completion length (GRPO)", "tokens", ("completions/mean_length",), ()),
    ("KL to reference (GRPO)", "KL", ("kl",), ()),
)

Curves = dict[str, dict[str, list[tuple[int, float]]]]
# A panel whose positive values span more than this factor gets a log y axis.
LOG_SCALE_SPREAD = 100


def _value(entry: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = entry.get(key)
        # NaN may arrive as NaN, as null (to_jsonable) or not at all; bools are not metrics.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def curves(history: list[dict[str, Any]]) -> Curves:
    """Panel title -> {"train": [(step, value)], "eval": [...]}, ordered by step; empty panels left
    out."""
    out: Curves = {}
    for title, _, train_keys, eval_keys in PANELS:
        panel = {"train": [], "eval": []}
        for entry in history:
            if not isinstance(entry, dict) or not isinstance(entry.get("step"), (int, float)):
                continue
            for split, keys in (("train", train_keys), ("eval", eval_keys)):
                value = _value(entry, keys)
                if value is not None:
                    panel[split].append((int(entry["step"]), value))
        if panel["train"] or panel["eval"]:
            # A resumed run may log out of order; the sort is stable, so equal steps keep log order.
            out[title] = {
                split: sorted(points, key=lambda p: p[0]) for split, points in panel.items()
            }
    return out


def wants_log_scale(values: list[float]) -> bool:
    """Positive values spanning more than LOG_SCALE_SPREAD: a linear axis would flatten the small
    ones."""
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SCALE_SPREAD


def plot_training_curves(
    histories: dict[str, list[dict[str, Any]]],
    path,
    title: str | None = None,
    groups: dict[str, str] | None = None,
) -> list[str]:
    """Draw every panel that some model has data for, side by side, into one PNG; return the titles
    drawn.

    `groups` maps a model label to its group (e.g. the table row its seeds share): one colour and
    one legend entry per group. Without it every model is its own group."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg renders the PNG
    from matplotlib.lines import Line2D

    per_model = {label: curves(history) for label, history in histories.items()}
    titles = [panel[0] for panel in PANELS if any(panel[0] in c for c in per_model.values())]
    if not titles:
        raise ValueError(
            f"no training curve points in the log history of: {', '.join(histories) or '(none)'}"
        )
    for label, model_curves in per_model.items():
        if not model_curves:
            logger.warning("%s: no training curve points, left out of the plot", label)

    ylabels = {panel[0]: panel[1] for panel in PANELS}
    group_of = {label: (groups or {}).get(label, label) for label in histories}
    palette = {group: f"C{i % 10}" for i, group in enumerate(dict.fromkeys(group_of.values()))}
    colours = {label: palette[group_of[label]] for label in histories}
    fig = Figure(figsize=(4.6 * len(titles), 3.6))
    axes = fig.subplots(1, len(titles), squeeze=False)[0]
    for ax, panel in zip(axes, titles):
        for label, model_curves in per_model.items():
            train = model_curves.get(panel, {}).get("train", [])
            evals = model_curves.get(panel, {}).get("eval", [])
            if train:
                # A lone point draws no line; a marker keeps it visible.
                ax.plot(*zip(*train), color=colours[label], marker="." if len(train) == 1 else None)
            if evals:
                ax.plot(
                    *zip(*evals), color=colours[label], linestyle="--", marker="o", markersize=4
                )
        ax.set(title=panel, xlabel="optimizer step", ylabel=ylabels[panel])
        values = [
            v for c in per_model.values() for points in c.get(panel, {}).values() for _, v in points
        ]
        if wants_log_scale(values):
            ax.set_yscale("log")  # e.g. IPO's loss at small beta next to DPO's
        ax.grid(alpha=0.3)

    drawn = dict.fromkeys(group_of[label] for label, c in per_model.items() if c)
    handles = [Line2D([], [], color=palette[group], label=group) for group in drawn]
    handles += [
        Line2D([], [], color="black", label="train"),
        Line2D([], [], color="black", linestyle="--", marker="o", markersize=4, label="eval"),
    ]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return titles
