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


# Trainer eval metrics (held-out pairs) that tables report, by the column they go to.
TRAINER_METRICS = {
    "eval_rewards/accuracies": "reward_accuracy",
    "eval_rewards/margins": "reward_margin",
}


def stage_of(path: str) -> str:
    # results/eval/<stage>/<run>/<file>.json or results/models/<stage>/<run>
    parts = Path(path).parts
    return parts[-3] if parts[-1].endswith(".json") else parts[-2]


def read_json(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def flatten_run(files: dict[str, str] | str) -> tuple[str, dict[str, float]]:
    """All result files of one model -> (stage, flat metrics)."""
    if isinstance(files, str):
        files = {"demo": files}
    stage = stage_of(next(iter(files.values())))
    row: dict[str, float] = {}
    if "demo" in files:
        row.update(flatten_eval(read_json(files["demo"]), stage))
    if "winrate" in files:
        row["win_rate"] = read_json(files["winrate"])["win_rate"]
    if "model" in files and (Path(files["model"]) / "metrics.json").exists():
        metrics = read_json(str(Path(files["model"]) / "metrics.json"))
        row.update({column: metrics[key] for key, column in TRAINER_METRICS.items() if key in metrics})
    if "reward" in files:
        reward = read_json(files["reward"])
        row["reward_accuracy"] = reward["pairwise_accuracy"]
        row["reward_margin"] = reward["margin_mean"]
        for kind, scores in sorted((reward.get("by_kind") or {}).items()):
            row[f"reward_accuracy_{kind}"] = scores["pairwise_accuracy"]
    return stage, row


def build_table(rows: dict[str, list]) -> pd.DataFrame:
    """rows: label -> one entry per run (seed): a dict of result files, or an eval JSON path."""
    records = []
    for label, runs in rows.items():
        flat = [flatten_run(files) for files in runs]
        stages = {stage for stage, _ in flat}
        metrics = pd.DataFrame([m for _, m in flat]).apply(pd.to_numeric, errors="coerce")
        record = {"model": label, "stage": "/".join(sorted(stages)), "n_runs": len(runs)}
        record["prompt_format"] = "plain" if stages <= PLAIN_STAGES else "chat"
        for column in metrics.columns:
            record[column] = metrics[column].mean()
            record[f"{column}_std"] = metrics[column].std(ddof=1) if len(runs) > 1 else float("nan")
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
