"""Build a comparison table (CSV, Markdown and a PNG plot) from eval results, as config defines it.

    python scripts/make_table.py --spec "$(cat spec.json)" \
        --csv results/tables/demo.csv --md results/tables/demo.md --png results/tables/demo.png

The spec (the workflow writes it from config.yaml's `tables` entry) is a JSON object:
`{"table": {...}, "runs": [...]}`. The table has `name`, `rows` and either row labels (a
mapping) or a run setting (`rows: loss_type`, with `columns: beta`), `metrics`, `aggregate`,
`published`, `suites`, `judges`, `scale`. Each run has `label`, `ref`, `params`, `files` (result
files by kind) and `model_id` (the name external judges know it by).

Label tables get one row per label: the aggregate (mean by default) of each metric over the
label's runs, its std over them in `<metric>_std`, and published numbers below with their
source. Grid tables get one row per (metric, row setting) and one column per column setting.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import pandas as pd

from handbook import findings, judge_results
from handbook.table_plots import plot_pass_at_k
from handbook.tables import (
    TableError,
    grid_markdown,
    grid_table,
    label_table,
    pivot,
    table_kind,
    to_markdown,
)
from handbook.training import RecipeError, run_main

logger = logging.getLogger("handbook.tables")
MAX_PLOTTED = 6


def header(spec: dict) -> str:
    lines = [f"# {spec.get('title') or 'Table: ' + spec['name']}", ""]
    if spec.get("description"):
        lines += [spec["description"].strip(), ""]
    if spec.get("scale") == "tiny":
        lines += [
            "Built at tiny scale: demo base model and data, few steps, hub-only suites and prompt "
            "sets replaced by their demo counterparts. The numbers check the pipeline, not the "
            "paper.",
            "",
        ]
    if spec.get("scale") == "rehearsal":
        lines += [
            "Built at rehearsal scale: the full-scale plan on tiny random stand-ins of the hub "
            "models and data, a few steps per run and documents per lm-eval task, judged by the "
            "judge endpoints' stand-ins (below). The numbers check the pipeline, not the paper.",
            "",
        ]
    return "\n".join(lines) + "\n"


def footer(spec: dict, runs: list[dict]) -> str:
    lines = []
    for published in spec.get("published") or []:
        shown = ", ".join(f"{k} {v}" for k, v in published["values"].items())
        lines.append(f"- {published['label']} ({shown}): {published['source']}")
    if lines:
        lines = ["Published numbers:", "", *lines, ""]
    for run in runs:
        for key, path in run["files"].items():
            if key.startswith("suite:") and Path(path).is_file():
                why = json.loads(Path(path).read_text()).get("not_evaluated")
                if why:
                    suite, row = key.split(":", 1)[1], run["label"] or run["ref"]
                    lines.append(f"- `{suite}` not evaluated on {row}: {why}")
    for name, judge in (spec.get("judges") or {}).items():
        answers = sorted(
            {r["files"][f"answers:{name}"] for r in runs if f"answers:{name}" in r["files"]}
        )
        folders = sorted({str(Path(a).parent) for a in answers})
        judged = any(
            f"judgment:{name}" in r["files"] and Path(r["files"][f"judgment:{name}"]).is_file()
            for r in runs
        )
        summaries = {
            r["files"][f"judgment:{name}"]
            for r in runs
            if judge_results.read_summary(r["files"].get(f"judgment:{name}"))
        }
        if summaries:
            lines += [
                judge_results.judge_note(name, judge_results.read_summary(path))
                for path in sorted(summaries)
            ]
            continue
        if judge.get("judge", "external").startswith("reward-model:"):
            scale = {
                "mt_bench": "the mean reward of the answer turns, on the reward model's scale, "
                "not 1-10",
                "alpaca_eval": "the win rate in percent against the baseline model's answers",
            }[judge["format"]]
            how = (
                f"judged by the demo reward model {judge['judge'].split(':', 1)[1]} standing in "
                f"for the external judge ({scale})"
            )
        elif judged:
            how = "scores from the judgments file"
        else:
            how = (
                "no judgments yet: name a judge endpoint (judges.<name>.endpoint), or judge the "
                "answers with the judge's own tool, set judges.<name>.judgments, rebuild"
            )
        lines.append(
            f"- `{name}` ({judge['format']} answers to {judge['prompts']}: {len(answers)} files in "
            f"{', '.join(folders)}): {how}"
        )
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def plot_labels(table: pd.DataFrame, metrics: list[str], title: str, path: str) -> None:
    import matplotlib.figure

    metrics = [m for m in metrics if m in table and table[m].notna().any()][:MAX_PLOTTED]
    if not metrics:
        metrics = []
    fig = matplotlib.figure.Figure(figsize=(3.2 * max(1, len(metrics)), 0.45 * len(table) + 1.6))
    axes = fig.subplots(1, max(1, len(metrics)), squeeze=False)[0]
    labels = list(table["model"])
    for ax, metric in zip(axes, metrics):
        values = table[metric].astype(float)
        errors = (
            table.get(f"{metric}_std", pd.Series([math.nan] * len(table))).astype(float).fillna(0.0)
        )
        colors = ["0.6" if stage == "published" else "C0" for stage in table["stage"]]
        ax.barh(range(len(labels)), values.fillna(0.0), xerr=errors, color=colors, capsize=2)
        ax.set_yticks(range(len(labels)), labels if ax is axes[0] else [""] * len(labels))
        ax.invert_yaxis()
        ax.set_title(metric, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    if not metrics:
        axes[0].text(0.5, 0.5, "no metric with values", ha="center", va="center")
        axes[0].set_axis_off()
    fig.suptitle(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def plot_grid(long: pd.DataFrame, rows_key: str, cols_key: str, title: str, path: str) -> None:
    import matplotlib.figure

    means, stds = pivot(long, rows_key, cols_key), pivot(long, rows_key, cols_key, "std")
    metrics = [m for m in dict.fromkeys(long["metric"]) if means.loc[m].notna().any().any()][
        :MAX_PLOTTED
    ]
    fig = matplotlib.figure.Figure(figsize=(4.2 * max(1, len(metrics)), 3.4))
    axes = fig.subplots(1, max(1, len(metrics)), squeeze=False)[0]
    cols = list(means.columns)
    numeric = all(isinstance(c, (int, float)) for c in cols)
    x = cols if numeric else list(range(len(cols)))
    for ax, metric in zip(axes, metrics):
        for row in means.loc[metric].index:
            ax.errorbar(
                x,
                means.loc[(metric, row)].astype(float),
                yerr=stds.loc[(metric, row)].astype(float).fillna(0.0),
                marker="o",
                capsize=2,
                label=str(row),
            )
        ax.set_xlabel(cols_key)
        ax.set_title(metric, fontsize=9)
        if not numeric:
            ax.set_xticks(x, [str(c) for c in cols])
        ax.grid(alpha=0.3)
    if metrics:
        axes[0].legend(title=rows_key, fontsize=8)
    else:
        axes[0].text(0.5, 0.5, "no metric with values", ha="center", va="center")
        axes[0].set_axis_off()
    fig.suptitle(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help='JSON: {"table": {...}, "runs": [...]}')
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    parser.add_argument("--png", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    table_spec, runs = spec["table"], spec["runs"]
    try:
        build(table_spec, runs, args)
    except TableError as err:
        raise RecipeError(f"tables.{table_spec['name']}: {err}") from None


def write_label(table_spec: dict, runs: list[dict], title: str, args) -> str:
    """Rows by label: the CSV and plot of the table; returns its Markdown body, with the
    published numbers checked against their tolerance and the anchors' drift."""
    table, metrics = label_table(table_spec, runs)
    scale = table_spec.get("scale", "full")
    checks = judge_results.reproduction_checks(table, table_spec.get("published") or [], scale)
    table = judge_results.mark_reproduced(table, checks)
    table.to_csv(args.csv, index=False, float_format="%.6g")
    if table_spec.get("plot") == "pass_at_k":
        plot_pass_at_k(table, title, args.png)
    else:
        plot_labels(table, table_spec.get("plot") or metrics, title, args.png)
    failed = [f"{c['metric']} of {c['row']}" for c in checks if c["reproduced"] is False]
    if failed and table_spec.get("strict_reproduction"):
        raise SystemExit(f"error: table {table_spec['name']}: not reproduced: {', '.join(failed)}")
    notes = [judge_results.reproduction_line(c, scale) for c in checks]
    notes += judge_results.anchor_lines(table, table_spec.get("anchors") or {})
    return to_markdown(table, metrics) + ("\n" + "\n".join(notes) + "\n" if notes else "")


def write_grid(table_spec: dict, runs: list[dict], title: str, args) -> str:
    """A grid: the CSV (one row per metric and row setting) and plot; returns its Markdown body."""
    rows_key, cols_key = table_spec["rows"], table_spec["columns"]
    long, metrics = grid_table(table_spec, runs)
    pivot(long, rows_key, cols_key).to_csv(args.csv, float_format="%.6g")
    plotted = long[long["metric"].isin(table_spec["plot"])] if table_spec.get("plot") else long
    plot_grid(plotted, rows_key, cols_key, title, args.png)
    lines = findings.effect_lines(long, rows_key, cols_key)
    if table_spec.get("finding"):
        lines += ["", *findings.finding_lines(long, rows_key, cols_key, table_spec["finding"])]
    words = "\n".join(lines) + "\n" if lines else ""
    return grid_markdown(long, rows_key, cols_key) + ("\n" + words if words else "")


# One writer per table kind (handbook.tables.table_kind; the plan resolves each kind's rows).
WRITERS = {"label": write_label, "grid": write_grid}


def build(table_spec: dict, runs: list[dict], args) -> None:
    logger.info("table %s: %d runs", table_spec["name"], len(runs))
    if not runs:
        raise SystemExit(f"error: table {table_spec['name']!r} has no runs")
    for path in (args.csv, args.md, args.png):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    title = table_spec.get("title") or table_spec["name"]
    body = WRITERS[table_kind(table_spec)](table_spec, runs, title, args)
    Path(args.md).write_text(header(table_spec) + body + footer(table_spec, runs))
    logger.info("table %s:\n%s", table_spec["name"], body)


if __name__ == "__main__":
    run_main(main)
