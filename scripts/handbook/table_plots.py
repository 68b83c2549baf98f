"""A label table's pass@k curves: pass@k against k, one line per row with its seeds' spread, one
panel per prompt set (the held-out prompts, and the same-knowledge ones where the table has them).

RL with verifiable rewards is reported to lift pass@1 toward the starting model's pass@k while
pass@k at large k stays where it was (Yue et al. 2025): on these axes that is a curve that rises at
k=1 and meets the others at the right.
"""

from __future__ import annotations

import math
import re

import pandas as pd

# Prompt sets by the prefix of their columns, and the panel title each gets.
PROMPT_SETS = (("", "held-out prompts"), ("same_knowledge/", "same-knowledge prompts"))


def pass_at_k_columns(table: pd.DataFrame, prefix: str) -> list[tuple[int, str]]:
    """(k, column) of the overall pass@k columns of one prompt set, by k."""
    pattern = re.compile(re.escape(prefix) + r"pass@(\d+)$")
    found = [(int(m.group(1)), c) for c in table.columns if (m := pattern.match(c))]
    return sorted(found)


def plot_pass_at_k(table: pd.DataFrame, title: str, path: str) -> None:
    import matplotlib.figure

    panels = [(p, name) for p, name in PROMPT_SETS if pass_at_k_columns(table, p)]
    fig = matplotlib.figure.Figure(figsize=(5.2 * max(1, len(panels)), 4.0))
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (prefix, name) in zip(axes, panels):
        columns = pass_at_k_columns(table, prefix)
        ks = [k for k, _ in columns]
        for _, row in table.iterrows():
            values = [float(row[c]) for _, c in columns]
            if all(math.isnan(v) for v in values):
                continue  # a reward model, or a row without sampled replies
            errors = [float(row.get(f"{c}_std", math.nan)) for _, c in columns]
            ax.errorbar(
                ks,
                values,
                yerr=[0.0 if math.isnan(e) else e for e in errors],
                marker="o",
                capsize=2,
                label=str(row["model"]),
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("k (replies sampled at T=1)")
        ax.set_ylabel("pass@k")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    if panels:
        axes[-1].legend(fontsize=7, loc="best")
    else:
        axes[0].text(0.5, 0.5, "no pass@k columns", ha="center", va="center")
        axes[0].set_axis_off()
    fig.suptitle(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
