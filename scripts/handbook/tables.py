"""Comparison tables from eval results: one row per label, mean and std over its runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

# Stages that know no chat format: their headline accuracy is in the plain Q/A format.
PLAIN_STAGES = {"base", "cpt"}


def flatten_eval(result: dict[str, Any], stage: str) -> dict[str, float]:
    """One eval JSON -> flat metrics; `task_accuracy` uses the model's own prompt format."""
    fmt = "plain" if stage in PLAIN_STAGES else "chat"
    own = result.get(fmt) or {}
    row = {
        "task_accuracy": own.get("task_accuracy"),
        "task_accuracy_chat": (result.get("chat") or {}).get("task_accuracy"),
        "task_accuracy_plain": (result.get("plain") or {}).get("task_accuracy"),
    }
    for task, acc in sorted((own.get("accuracy_by_task") or {}).items()):
        row[f"accuracy_{task}"] = acc
    if "chat" in result:
        row["preference_rate_greedy"] = result["chat"].get("preferred_rate")
    if "chat_sampled" in result:
        row["preference_rate"] = result["chat_sampled"].get("preferred_rate")
        row["task_accuracy_sampled"] = result["chat_sampled"].get("task_accuracy")
    row["heldout_loss"] = result.get("heldout_loss")
    return row


def stage_of(path: str) -> str:
    # results/eval/<stage>/<run>/demo.json
    return Path(path).parts[-3]


def build_table(rows: dict[str, list[str]]) -> pd.DataFrame:
    """rows: label -> eval JSON paths (one per seed). Mean and sample std over seeds."""
    records = []
    for label, paths in rows.items():
        stages = {stage_of(p) for p in paths}
        metrics = pd.DataFrame([flatten_eval(json.loads(Path(p).read_text()), stage_of(p)) for p in paths])
        metrics = metrics.apply(pd.to_numeric, errors="coerce")
        record = {"model": label, "stage": "/".join(sorted(stages)), "n_runs": len(paths)}
        record["prompt_format"] = "plain" if stages <= PLAIN_STAGES else "chat"
        for column in metrics.columns:
            record[column] = metrics[column].mean()
            record[f"{column}_std"] = metrics[column].std(ddof=1) if len(paths) > 1 else float("nan")
        records.append(record)
    return pd.DataFrame.from_records(records)


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table; metrics shown as mean ± std where a std exists."""
    metric_columns = [c for c in table.columns if not c.endswith("_std") and c not in ("model", "stage", "n_runs", "prompt_format")]
    header = ["model", "stage", "n_runs", "prompt_format", *metric_columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["model"]), str(row["stage"]), str(row["n_runs"]), str(row["prompt_format"])]
        for column in metric_columns:
            mean, std = row[column], row.get(f"{column}_std")
            if pd.isna(mean):
                cells.append("")
            elif std is not None and not pd.isna(std):
                cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
            else:
                cells.append(f"{mean:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
