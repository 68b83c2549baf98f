"""Comparison tables from eval results: one row per label, mean and std over its runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from handbook import judge_results
from handbook.methods import PLAIN_STAGES

logger = logging.getLogger("handbook.tables")


def flatten_eval(result: dict[str, Any], stage: str) -> dict[str, float]:
    """One eval JSON -> flat metrics; `task_accuracy` uses the model's own prompt format. The
    same-knowledge prompt set's metrics are named the same under `same_knowledge/`."""
    fmt = "plain" if stage in PLAIN_STAGES else "chat"
    row = flatten_prompt_set(result, fmt)
    row["heldout_loss"] = result.get("heldout_loss")
    row["kl_to_ref"] = result.get("kl_to_reference")
    if "same_knowledge" in result:
        same = flatten_prompt_set(result["same_knowledge"], fmt)
        row.update({f"same_knowledge/{key}": value for key, value in same.items()})
    return row


def flatten_prompt_set(result: dict[str, Any], fmt: str) -> dict[str, float]:
    """One prompt set's scores: greedy accuracy (own format, each format, per task), style rates,
    sampled accuracy and pass@k."""
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
        for k, value in (result["chat_sampled"].get("pass_at_k") or {}).items():
            row[f"pass@{k}"] = value
        by_task = result["chat_sampled"].get("pass_at_k_by_task") or {}
        for task, scores in sorted(by_task.items()):
            for k, value in scores.items():
                row[f"pass@{k}_{task}"] = value
    return row


# Trainer eval metrics (held-out pairs) that tables report, by the column they go to.
TRAINER_METRICS = {
    "eval_rewards/accuracies": "reward_accuracy",
    "eval_rewards/margins": "reward_margin",
}


def table_kind(spec: dict[str, Any]) -> str:
    """A table's kind: its own `kind`, else rows by label (`rows` a mapping) or a grid (`rows` a
    run setting). The plan resolves each kind's rows (handbook.plan.tables.ROWS_OF_KIND) and
    scripts/make_table.py writes it (WRITERS)."""
    return spec.get("kind") or ("label" if isinstance(spec["rows"], dict) else "grid")


def read_json(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def suite_metrics(result: dict[str, Any]) -> dict[str, float]:
    """An lm-eval result (scripts/eval_lm_harness.py) -> '<suite>/<task>' and '<suite>/average'."""
    return {f"{result['suite']}/{task}": value for task, value in result["headline"].items()}


def judge_score(kind: str, judgments: str, model_id: str) -> float | None:
    """The external judge's score of one model, when its judgments file exists."""
    from handbook import judge_formats

    if not judgments or not Path(judgments).is_file():
        return None
    try:
        if kind == "mt_bench":
            return judge_formats.mt_bench_score(judgments, model_id)
        return judge_formats.alpaca_eval_win_rate(judgments, model_id)
    except judge_formats.FormatError as err:
        logger.warning("%s: left empty (%s)", model_id, err)
        return None


def flatten_run(
    files: dict[str, str],
    ref: str,
    judges: dict[str, dict] | None = None,
    model_id: str = "",
) -> tuple[str, dict[str, float]]:
    """All result files of one model -> (stage, flat metrics). The stage is its ref's
    (<stage>/<run>), never read out of a path: a base row may have no result file at all (a
    table whose suites and judges skip base models)."""
    stage = ref.split("/", 1)[0]
    row: dict[str, float] = {}
    if "demo" in files:
        row.update(flatten_eval(read_json(files["demo"]), stage))
    if "winrate" in files:
        row["win_rate"] = read_json(files["winrate"])["win_rate"]
    if "model" in files and (Path(files["model"]) / "metrics.json").exists():
        metrics = read_json(str(Path(files["model"]) / "metrics.json"))
        row.update(
            {column: metrics[key] for key, column in TRAINER_METRICS.items() if key in metrics}
        )
    if "reward" in files:
        reward = read_json(files["reward"])
        row["reward_accuracy"] = reward["pairwise_accuracy"]
        row["reward_margin"] = reward["margin_mean"]
        for kind, scores in sorted((reward.get("by_kind") or {}).items()):
            row[f"reward_accuracy_{kind}"] = scores["pairwise_accuracy"]
    for key, path in files.items():
        if key.startswith("suite:"):
            row.update(suite_metrics(read_json(path)))
    for name, judge in (judges or {}).items():
        if f"answers:{name}" in files:
            verdicts = files.get(f"judgment:{name}")
            row.update(judge_columns(name, judge["format"], verdicts, model_id))
    return stage, row


def judge_columns(name: str, fmt: str, judgments: str | None, model_id: str) -> dict[str, float]:
    """A judge's columns for one model: from a verdict summary of scripts/judge.py (score,
    parse failures, verdicts), or the score alone from another tool's verdict file."""
    summary = judge_results.read_summary(judgments)
    if summary is not None:
        return judge_results.summary_metrics(name, fmt, summary, model_id)
    score = judge_score(fmt, judgments or "", model_id)
    return {name: float("nan") if score is None else score}


def aggregate(values: pd.Series, how: str) -> float:
    return float(getattr(values, how)()) if values.notna().any() else float("nan")


def build_table(flat_rows: dict[str, list], how: str = "mean") -> pd.DataFrame:
    """label -> one (stage, metrics) per run (seed), from flatten_run: a row per label."""
    records = []
    for label, flat in flat_rows.items():
        stages = {stage for stage, _ in flat}
        metrics = pd.DataFrame([m for _, m in flat]).apply(pd.to_numeric, errors="coerce")
        record = {"model": label, "stage": "/".join(sorted(stages)), "n_runs": len(flat)}
        record["prompt_format"] = "plain" if stages <= PLAIN_STAGES else "chat"
        for column in metrics.columns:
            record[column] = aggregate(metrics[column], how)
            record[f"{column}_std"] = metrics[column].std(ddof=1) if len(flat) > 1 else float("nan")
        records.append(record)
    return pd.DataFrame.from_records(records)


class TableError(ValueError):
    """A table definition that its results cannot fill."""


def select_metrics(
    table: pd.DataFrame,
    wanted: list[str] | None,
    suites: list[str],
    published: tuple[str, ...] = (),
) -> list[str]:
    """The metric columns to show: all, or those asked for (a suite name stands for its columns).
    A metric that no result and no published number has is a typo, not an empty column."""
    present = present_metrics(table)
    if not wanted:
        return present
    missing = [n for n in wanted if n not in suites and n not in present and n not in published]
    if missing:
        raise TableError(f"metrics {missing}: in no result of this table (its metrics: {present})")
    chosen = []
    for name in wanted:
        if name in suites:
            chosen += [c for c in present if c.startswith(f"{name}/")]
        else:
            chosen.append(name)
    return list(dict.fromkeys(chosen))


def published_metrics(spec: dict[str, Any]) -> tuple[str, ...]:
    anchors = [a["published"] for a in (spec.get("anchors") or {}).values()]
    return tuple(k for p in spec.get("published") or [] for k in p["values"]) + tuple(
        k for values in anchors for k in values
    )


def add_published(table: pd.DataFrame, published: list[dict[str, Any]]) -> pd.DataFrame:
    """Published numbers as extra rows (stage 'published'), each with its source."""
    if not published:
        return table
    rows = [
        {
            "model": p["label"],
            "stage": "published",
            "prompt_format": "",
            "source": p["source"],
            **p["values"],
        }
        for p in published
    ]
    table = table.assign(source="")
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True)


ID_COLUMNS = ("model", "stage", "n_runs", "prompt_format", "source", "reproduced")


# A table's Markdown is read at a glance: model, stage, runs and at most this many of the metrics
# its definition names; its CSV keeps every column.
MARKDOWN_METRICS = 7


def present_metrics(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ID_COLUMNS and not c.endswith("_std")]


def label_table(spec: dict[str, Any], runs: list[dict[str, Any]]) -> tuple[pd.DataFrame, list[str]]:
    """One row per label (mean over its runs) with every metric, the named ones first, published
    rows below; and the metrics the Markdown shows."""
    flat: dict[str, list] = {}
    for run in runs:
        flat.setdefault(run["label"], []).append(
            flatten_run(run["files"], run["ref"], spec.get("judges"), run.get("model_id", ""))
        )
    table = build_table(flat, spec.get("aggregate", "mean"))
    for name in spec.get("judges") or {}:
        if name not in table:
            table[name] = float("nan")
    named = select_metrics(
        table, spec.get("metrics"), spec.get("suites", []), published_metrics(spec)
    )
    for column in named:
        if column not in table:
            table[column] = float("nan")
    anchors = spec.get("anchors") or {}
    # An anchor is a published chat model: its rows are its answers to the judges.
    table.loc[table["model"].isin(list(anchors)), ["stage", "prompt_format"]] = ["anchor", "chat"]
    every = list(dict.fromkeys([*named, *present_metrics(table)]))
    keep = ["model", "stage", "n_runs", "prompt_format"]
    keep += [c for m in every for c in (m, f"{m}_std") if c in table]
    table = add_published(table[keep], [*(spec.get("published") or []), *anchor_published(anchors)])
    shown = [c for m in named for c in (m, f"{m}/parse_failures") if c == m or c in table]
    return table, fit_to_screen(shown, spec.get("suites", []))


def anchor_published(anchors: dict[str, dict]) -> list[dict[str, Any]]:
    """An anchor's published scores, as a published row under it."""
    return [
        {
            "label": f"{label} (published)",
            "source": anchor.get("source") or "the anchor's published scores",
            "values": anchor["published"],
        }
        for label, anchor in anchors.items()
    ]


def fit_to_screen(metrics: list[str], suites: list[str]) -> list[str]:
    """At most MARKDOWN_METRICS of `metrics`: where there are more, a suite's task columns give
    way to its average first, then the last ones go (they stay in the CSV)."""
    if len(metrics) > MARKDOWN_METRICS:
        averaged = {m.split("/", 1)[0] for m in metrics if m.endswith("/average")} & set(suites)
        metrics = [
            m for m in metrics if m.split("/", 1)[0] not in averaged or m.endswith("/average")
        ]
    return metrics[:MARKDOWN_METRICS]


def grid_table(spec: dict[str, Any], runs: list[dict[str, Any]]) -> tuple[pd.DataFrame, list[str]]:
    """Long form: one row per (metric, row setting, column setting): the aggregate over the runs
    that share them (seeds), their std and count."""
    rows_key, cols_key = spec["rows"], spec["columns"]
    records = []
    for run in runs:
        _, metrics = flatten_run(
            run["files"], run["ref"], spec.get("judges"), run.get("model_id", "")
        )
        records.append(
            {rows_key: run["params"][rows_key], cols_key: run["params"][cols_key], **metrics}
        )
    frame = pd.DataFrame.from_records(records)
    metric_names = select_metrics(
        frame.drop(columns=[rows_key, cols_key]),
        spec.get("metrics"),
        spec.get("suites", []),
        published_metrics(spec),
    )
    long = []
    for (row, col), group in frame.groupby([rows_key, cols_key], sort=False):
        for metric in metric_names:
            values = (
                pd.to_numeric(group[metric], errors="coerce")
                if metric in group
                else pd.Series([float("nan")])
            )
            long.append(
                {
                    "metric": metric,
                    rows_key: row,
                    cols_key: col,
                    "value": aggregate(values, spec.get("aggregate", "mean")),
                    "std": values.std(ddof=1) if len(group) > 1 else float("nan"),
                    "n_runs": len(group),
                }
            )
    return pd.DataFrame.from_records(long), metric_names


def pivot(long: pd.DataFrame, rows_key: str, cols_key: str, column: str = "value") -> pd.DataFrame:
    """Grid form: one row per (metric, row setting), one column per column setting, in the order
    settings first appear (numbers sorted)."""
    cols = sorted_settings(long[cols_key])
    rows = sorted_settings(long[rows_key])
    wide = long.pivot_table(
        index=["metric", rows_key], columns=cols_key, values=column, sort=False, dropna=False
    )
    metrics = list(dict.fromkeys(long["metric"]))
    index = pd.MultiIndex.from_product([metrics, rows], names=["metric", rows_key])
    return wide.reindex(index=index, columns=cols)


def sorted_settings(values: pd.Series) -> list:
    """Settings in the order they first appear, numbers sorted."""
    seen = list(dict.fromkeys(values))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
        return sorted(seen)
    return seen


def is_count(column: str) -> bool:
    """A judge's verdict counts, shown as counts (the mean of seeds' counts keeps one decimal)."""
    return column.endswith(("/parse_failures", "/judged"))


def fmt(mean: Any, std: Any = None, digits: int = 3) -> str:
    if mean is None or pd.isna(mean):
        return ""
    if std is not None and not pd.isna(std):
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def grid_markdown(long: pd.DataFrame, rows_key: str, cols_key: str, digits: int = 3) -> str:
    """One Markdown table per metric: rows x columns, mean ± std where seeds give one."""
    means, stds = pivot(long, rows_key, cols_key), pivot(long, rows_key, cols_key, "std")
    out = []
    for metric in dict.fromkeys(long["metric"]):
        cols = list(means.columns)
        out.append(f"### {metric}\n")
        out.append("| " + " | ".join([f"{rows_key} \\ {cols_key}", *map(str, cols)]) + " |")
        out.append("|" + "---|" * (len(cols) + 1))
        for row in means.loc[metric].index:
            cells = [
                fmt(means.loc[(metric, row), c], stds.loc[(metric, row), c], digits) for c in cols
            ]
            out.append("| " + " | ".join([str(row), *cells]) + " |")
        out.append("")
    return "\n".join(out)


def to_markdown(table: pd.DataFrame, metrics: list[str] | None = None, digits: int = 3) -> str:
    """A GitHub Markdown table of `metrics` (default: every one), mean ± std where a std exists;
    a row whose prompts are plain text says so beside its stage."""
    metrics = present_metrics(table) if metrics is None else metrics
    header = ["model", "stage", "runs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        runs = "" if pd.isna(row["n_runs"]) else str(int(row["n_runs"]))
        stage = str(row["stage"]) + (" (plain)" if row["prompt_format"] == "plain" else "")
        cells = [str(row["model"]), stage, runs]
        cells += [
            fmt(row[column], row.get(f"{column}_std"), 1 if is_count(column) else digits)
            for column in metrics
        ]
        lines.append("| " + " | ".join(cells) + " |")
    left_out = [m for m in present_metrics(table) if m not in metrics]
    if left_out:
        lines += ["", f"{len(left_out)} more metrics in the CSV: {', '.join(left_out)}."]
    return "\n".join(lines) + "\n"
