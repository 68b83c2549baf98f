"""What a grid table's cells say in words: where a column setting moved a metric by more than its
seeds' spread, and whether a published qualitative finding ("the best beta is the lowest") held.

A difference counts as shown when the two cells' means are further apart than twice the larger of
their standard deviations over seeds; without seeds nothing is called shown.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from handbook.tables import sorted_settings

SPREADS = 2.0  # a difference is shown beyond this many standard deviations


def _cells(long: pd.DataFrame, metric: str, rows_key: str, cols_key: str) -> dict:
    """row setting -> [(column setting, mean, std)] of one metric, columns in table order."""
    part = long[long["metric"] == metric]
    out: dict = {}
    for row in sorted_settings(part[rows_key]):
        cells = part[part[rows_key] == row]
        out[row] = [
            (col, float(c["value"].iloc[0]), float(c["std"].iloc[0]))
            for col in sorted_settings(part[cols_key])
            if not (c := cells[cells[cols_key] == col]).empty and not math.isnan(c["value"].iloc[0])
        ]
    return out


def shown(a: tuple, b: tuple) -> bool:
    """Two cells (setting, mean, std) differ by more than SPREADS of their larger std."""
    spread = max(a[2], b[2])
    return not math.isnan(spread) and abs(a[1] - b[1]) > SPREADS * spread


def effect_lines(long: pd.DataFrame, rows_key: str, cols_key: str) -> list[str]:
    """Per metric, the rows whose extreme cells differ beyond the seeds' spread."""
    lines = []
    for metric in dict.fromkeys(long["metric"]):
        moved, flat = [], []
        for row, cells in _cells(long, metric, rows_key, cols_key).items():
            if len(cells) < 2:
                continue
            low, high = min(cells, key=lambda c: c[1]), max(cells, key=lambda c: c[1])
            (moved if shown(low, high) else flat).append(str(row))
        if moved or flat:
            beyond = f"{cols_key} moves it by more than {SPREADS:g} std of the seeds for "
            beyond += ", ".join(moved)
            within = f"within {SPREADS:g} std of the seeds across {cols_key} for " + ", ".join(flat)
            if not moved:
                text = within
            else:
                text = beyond + (f"; within them for {', '.join(flat)}" if flat else "")
            lines.append(f"- `{metric}`: {text}")
    return lines


def finding_lines(
    long: pd.DataFrame, rows_key: str, cols_key: str, finding: dict[str, Any]
) -> list[str]:
    """Whether `finding` (metric, best: lowest | highest column setting, text) held per row: the
    best cell is at that end, and beats the next best beyond the seeds' spread or not."""
    metric, end = finding["metric"], finding["best"]
    lines = [f"Finding checked: {finding['text']} (on `{metric}`, higher is better)."]
    cells_by_row = _cells(long, metric, rows_key, cols_key)
    if not any(len(c) >= 2 for c in cells_by_row.values()):
        return lines + [f"- no row has `{metric}` in two {cols_key} cells: not checked"]
    for row, cells in cells_by_row.items():
        if len(cells) < 2:
            lines.append(f"- {row}: fewer than two cells with `{metric}`: not checked")
            continue
        target = cells[0] if end == "lowest" else cells[-1]
        ranked = sorted(cells, key=lambda c: -c[1])
        best = ranked[0]
        other = ranked[1] if best[0] == target[0] else target
        where = f"best {cols_key} {best[0]} ({best[1]:.3f} against {other[1]:.3f} at {other[0]})"
        held = "held" if best[0] == target[0] else "did not hold"
        if shown(best, other):
            verdict = f"{held}, beyond the seeds' spread"
        else:
            verdict = f"{held} in the means, within the seeds' spread"
        lines.append(f"- {row}: {where}: {verdict}")
    return lines
