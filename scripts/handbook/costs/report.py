"""The cost plan as text (python -m handbook.plan --costs), Markdown and CSV
(results/plan_costs.md and .csv): one table of jobs per plan table, its totals, its warnings and
where each figure came from."""

from __future__ import annotations

import csv
import io

from handbook.costs.collect import TableCosts
from handbook.costs.estimate import JobCost, Rates
from handbook.costs.memory import GIB

COLUMNS = ("job", "GPUs", "tokens", "steps", "FLOPs", "GPU-h", "wall h / limit", "GiB/GPU")
LEGEND = (
    "~ marks tokens estimated from rows x tokens per row (replaced by the tokenized data's "
    "summary.json once built); ? an unknown figure (see the notes)"
)
CSV_FIELDS = (
    "table",
    "job",
    "kind",
    "gpus",
    "params",
    "tokens",
    "tokens_estimated",
    "steps",
    "flops",
    "gpu_hours",
    "wall_hours",
    "limit_hours",
    "weights_gib",
    "gradients_gib",
    "optimizer_gib",
    "activations_gib",
    "other_gib",
    "memory_gib",
    "gpu_memory_gib",
    "layout",
)


def count(value: float | None, estimated: bool = False) -> str:
    if value is None:
        return "?"
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{'~' if estimated else ''}{value / size:.1f}{unit}"
    return f"{'~' if estimated else ''}{value:.0f}"


def cells(job: JobCost, rates: Rates) -> list[str]:
    """One job's row, as text."""
    gpu_job = bool(job.gpus)
    wall = job.wall_hours
    limit = f"{job.limit_hours:.3g}" if job.limit_hours else "-"
    return [
        job.job,
        str(job.gpus) if gpu_job else "cpu",
        count(job.tokens, not job.measured and job.tokens is not None and job.kind != "merge"),
        f"{job.steps:,}" if job.steps is not None else "-",
        f"{job.flops:.2e}" if job.flops else ("0" if job.flops == 0 else "?"),
        f"{job.gpu_hours:,.1f}" if job.gpu_hours is not None else ("-" if not gpu_job else "?"),
        f"{wall:,.1f} / {limit}" if wall is not None else "-",
        f"{job.memory.total / GIB:.1f} / {rates.gpu_bytes / GIB:g}" if job.memory else "-",
    ]


def total_cells(costs: TableCosts) -> list[str]:
    estimated = any(not j.measured and j.tokens for j in costs.jobs)
    unknown = costs.unknown()
    label = f"total ({len(costs.jobs)} jobs" + (f", {len(unknown)} unknown)" if unknown else ")")
    if len(unknown) == len(costs.jobs):
        return [label, "", "?", "", "?", "?", "", ""]
    return [
        label,
        "",
        count(costs.total("tokens"), estimated),
        "",
        f"{costs.total('flops'):.2e}",
        f"{costs.total('gpu_hours'):,.1f}" if any(j.gpu_hours for j in costs.jobs) else "-",
        "",
        "",
    ]


def header(costs: TableCosts, rates: Rates) -> str:
    what = "every job of the plan" if costs.table == "all" else f"table {costs.table}"
    return (
        f"{what}: peak {rates.peak_flops / 1e12:g} TFLOP/s per GPU (costs.peak_tflops) x MFU "
        f"{rates.mfu:.2f} ({rates.mfu_source}), generation MFU {rates.generation_mfu:.2f}; "
        f"{rates.gpu_bytes / GIB:g} GiB per GPU"
    )


def memory_note(job: JobCost) -> str:
    m = job.memory
    parts = {
        "weights": m.weights,
        "gradients": m.gradients,
        "optimizer": m.optimizer,
        "activations": m.activations,
        "other": m.other,
    }
    terms = " + ".join(f"{name} {value / GIB:.1f}" for name, value in parts.items())
    return f"memory/GPU ({job.layout}): {terms} = {m.total / GIB:.1f} GiB"


def notes_of(job: JobCost) -> list[str]:
    return job.notes + ([memory_note(job)] if job.memory else [])


def as_text(tables: list[TableCosts], rates: Rates) -> str:
    out = []
    for costs in tables:
        rows = [list(COLUMNS), *(cells(j, rates) for j in costs.jobs), total_cells(costs)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
        out.append(header(costs, rates))
        for row in rows:
            first = row[0].ljust(widths[0])
            out.append("  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:]))]))
        out.append(LEGEND)
        out += costs.warnings
        out += [f"note: {job.job}: {note}" for job in costs.jobs for note in notes_of(job)]
        out += costs.judging
        out.append("")
    return "\n".join(out)


def as_markdown(tables: list[TableCosts], rates: Rates, scale: str) -> str:
    out = [f"# Cost plan ({scale} scale)", "", "Formulas and defaults: docs/costs.md.", ""]
    for costs in tables:
        out += [f"## {costs.table}", "", header(costs, rates) + ".", ""]
        out.append("| " + " | ".join(COLUMNS) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|")
        for row in [*(cells(j, rates) for j in costs.jobs), total_cells(costs)]:
            out.append("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
        out += ["", LEGEND + ".", ""]
        out += [f"- **{w}**" for w in costs.warnings] + ([""] if costs.warnings else [])
        out += [f"- {job.job}: {note}" for job in costs.jobs for note in notes_of(job)]
        out += [f"- {line}" for line in costs.judging]
        out.append("")
    return "\n".join(out)


def as_csv(tables: list[TableCosts], rates: Rates) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for costs in tables:
        for job in costs.jobs:
            writer.writerow(csv_row(costs.table, job, rates))
    return buffer.getvalue()


def csv_row(table: str, job: JobCost, rates: Rates) -> dict:
    m = job.memory
    gib = (lambda v: round(v / GIB, 2)) if m else (lambda v: "")
    return {
        "table": table,
        "job": job.job,
        "kind": job.kind,
        "gpus": job.gpus,
        "params": job.params if job.params is not None else "",
        "tokens": round(job.tokens) if job.tokens is not None else "",
        "tokens_estimated": "" if job.tokens is None else not job.measured,
        "steps": job.steps if job.steps is not None else "",
        "flops": f"{job.flops:.4e}" if job.flops is not None else "",
        "gpu_hours": round(job.gpu_hours, 3) if job.gpu_hours is not None else "",
        "wall_hours": round(job.wall_hours, 3) if job.wall_hours is not None else "",
        "limit_hours": job.limit_hours if job.limit_hours is not None else "",
        "weights_gib": gib(m.weights) if m else "",
        "gradients_gib": gib(m.gradients) if m else "",
        "optimizer_gib": gib(m.optimizer) if m else "",
        "activations_gib": gib(m.activations) if m else "",
        "other_gib": gib(m.other) if m else "",
        "memory_gib": gib(m.total) if m else "",
        "gpu_memory_gib": round(rates.gpu_bytes / GIB, 2),
        "layout": job.layout,
    }
