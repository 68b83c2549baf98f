"""What a table reads from a judge's verdicts: each model's score and parse failures, who judged
and when (the notes under the table), published numbers checked against their tolerance, and
the anchors' distance from their published scores (the judge's drift).

The verdict summaries are scripts/judge.py's (results/judges/<judge>/verdicts/<table>.json);
verdict files made elsewhere (FastChat's model_judgment, alpaca_eval's leaderboard.csv) give the
score alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# The headline each benchmark's summary gives a model, and the counts shown beside it.
HEADLINE = {"mt_bench": "score", "alpaca_eval": "length_controlled_winrate"}
EXTRA = {
    "mt_bench": {"parse_failures": "n_parse_failures", "judged": "n_judged"},
    "alpaca_eval": {
        "win_rate": "win_rate",
        "parse_failures": "n_parse_failures",
        "judged": "n_total",
    },
}


def read_summary(path: str | None) -> dict[str, Any] | None:
    """A verdict summary of scripts/judge.py, or None (not built yet, or another tool's file)."""
    if not path or not path.endswith(".json") or not Path(path).is_file():
        return None
    summary = json.loads(Path(path).read_text())
    return summary if "models" in summary else None


def summary_metrics(name: str, fmt: str, summary: dict, model_id: str) -> dict[str, float]:
    """A model's columns from a verdict summary: `<judge>` (the headline; empty when no verdict
    parsed) and `<judge>/parse_failures`, `<judge>/judged` (and AlpacaEval's raw win rate)."""
    scores = summary["models"].get(model_id)
    if scores is None:
        return {name: math.nan}
    row = {name: number(scores.get(HEADLINE[fmt]))}
    row.update({f"{name}/{col}": number(scores.get(key)) for col, key in EXTRA[fmt].items()})
    return row


def number(value) -> float:
    return math.nan if value is None else float(value)


def judge_note(name: str, summary: dict) -> str:
    """Who judged, when, with what, and how many verdicts failed to parse, in words."""
    judge = summary.get("judge") or {}
    reported = summary.get("judge_model_reported") or "not reported"
    judged = sum(m.get("n_judged", m.get("n_total", 0)) or 0 for m in summary["models"].values())
    failed = sum(m.get("n_parse_failures") or 0 for m in summary["models"].values())
    cached = summary.get("cache_hits", 0)
    return (
        f"- `{name}` judged by endpoint `{judge.get('name', '?')}`, model `{reported}` as its "
        f"server reported it, on {str(summary.get('date', '?'))[:10]} at temperature "
        f"{summary.get('temperature', judge.get('temperature', '?'))}, judge prompts "
        f"{str(summary.get('prompt_hash', '?'))[:19]}: {judged} verdicts, {failed} failed to "
        f"parse (left out of the scores, counted in `{name}/parse_failures`); "
        f"{summary.get('requests_made', 0)} requests made, {cached} answered from the cache."
    )


# --- published numbers and anchors


def allowed_distance(tolerance, std: float) -> float:
    """An absolute tolerance, or {std: k}: k standard deviations of our runs (NaN for one run)."""
    if isinstance(tolerance, dict):
        return tolerance["std"] * std if not math.isnan(std) else math.nan
    return float(tolerance)


def describe_tolerance(tolerance) -> str:
    return f"{tolerance['std']} std of our runs" if isinstance(tolerance, dict) else f"±{tolerance}"


def reproduction_checks(table, published: list[dict], scale: str) -> list[dict[str, Any]]:
    """Each published value with a tolerance against the row that reproduces it: ours, theirs,
    the allowed distance, and whether it held (None: not checkable, or not at full scale)."""
    checks = []
    for entry in published:
        row_label = entry.get("reproduced_by")
        for metric, tolerance in (entry.get("tolerance") or {}).items():
            rows = table[table["model"] == row_label]
            ours = float(rows[metric].iloc[0]) if len(rows) and metric in rows else math.nan
            std_column = f"{metric}_std"
            std = float(rows[std_column].iloc[0]) if len(rows) and std_column in rows else math.nan
            allowed = allowed_distance(tolerance, std)
            theirs = float(entry["values"][metric])
            held = None
            if scale == "full" and not (math.isnan(ours) or math.isnan(allowed)):
                held = abs(ours - theirs) <= allowed
            checks.append(
                {
                    "label": entry["label"],
                    "row": row_label,
                    "metric": metric,
                    "ours": ours,
                    "std": std,
                    "published": theirs,
                    "tolerance": describe_tolerance(tolerance),
                    "reproduced": held,
                }
            )
    return checks


def mark_reproduced(table, checks: list[dict[str, Any]]):
    """The published rows' `reproduced` column: each checked metric, yes / no / unchecked."""
    table = table.copy()
    table["reproduced"] = ""
    for check in checks:
        word = {True: "yes", False: "no", None: "unchecked"}[check["reproduced"]]
        where = table["model"] == check["label"]
        before = table.loc[where, "reproduced"].astype(str)
        table.loc[where, "reproduced"] = (before + f" {check['metric']}: {word};").str.strip()
    return table


def reproduction_line(check: dict[str, Any], scale: str) -> str:
    ours = "no score" if math.isnan(check["ours"]) else f"{check['ours']:.3g}"
    if not math.isnan(check["std"]):
        ours += f" ± {check['std']:.2g}"
    head = (
        f"- {check['metric']} of {check['row']}: {ours} against {check['published']} published "
        f"({check['label']}, tolerance {check['tolerance']}): "
    )
    if scale != "full":
        return head + f"not checked at scale {scale} (the paper's numbers need the paper's models)"
    if check["reproduced"] is None:
        return head + "not checked (no score, or one run for a tolerance in std)"
    return head + ("reproduced" if check["reproduced"] else "NOT reproduced")


def anchor_lines(table, anchors: dict[str, dict]) -> list[str]:
    """Each anchor's score here against its published one: the judge's drift, in words."""
    lines = []
    for label, anchor in anchors.items():
        rows = table[table["model"] == label]
        for metric, theirs in anchor["published"].items():
            ours = float(rows[metric].iloc[0]) if len(rows) and metric in rows else math.nan
            if math.isnan(ours):
                lines.append(f"- anchor {label}: no {metric} score yet ({theirs} published)")
                continue
            drift = ours - float(theirs)
            lines.append(
                f"- anchor {label}: {metric} {ours:.3g} here against {theirs} published "
                f"({anchor.get('source') or 'its published score'}): this judge scores it "
                f"{abs(drift):.3g} {'higher' if drift > 0 else 'lower'}; read the rows above "
                "beside it"
            )
    return lines
