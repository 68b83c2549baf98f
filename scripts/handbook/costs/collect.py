"""The cost plan of a whole plan or of one table: the jobs a table needs (its runs and what they
are trained from, the reference passes they share, the rejection sampling that writes their
data), each costed once, with totals per table and the warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from handbook.config import dataset_entries
from handbook.costs.estimate import (
    JobCost,
    Rates,
    reference_cost,
    sampling_cost,
    train_cost,
    warnings_of,
)
from handbook.costs.judging import judging_lines
from handbook.costs.lookup import measured_mfu
from handbook.costs.memory import GIB
from handbook.plan.core import Plan
from handbook.plan.export import models_needed
from handbook.plan.sampling import sampling_writing
from handbook.plan.train import reference_groups


@dataclass
class TableCosts:
    table: str  # a table's name, or "all" for every job of the plan
    jobs: list[JobCost]
    warnings: list[str] = field(default_factory=list)
    judging: list[str] = field(default_factory=list)  # the judge endpoints' calls

    def total(self, key: str) -> float:
        return sum(getattr(job, key) or 0.0 for job in self.jobs)

    def unknown(self) -> list[str]:
        """Jobs whose FLOPs are not known (their notes say why)."""
        return [job.job for job in self.jobs if job.flops is None]


def rates_of(plan: Plan) -> Rates:
    """The config's figures, with the MFU the GPU check measured in its place when it has run."""
    costs = plan.config["costs"]
    measured, path = measured_mfu(plan)
    mfu = measured or float(costs["mfu"])
    source = f"measured ({path})" if measured else "costs.mfu, not measured"
    return Rates(
        peak_flops=float(costs["peak_tflops"]) * 1e12,
        mfu=mfu,
        generation_mfu=float(costs["generation_mfu"]),
        gpu_bytes=float(costs["gpu_memory_gib"]) * GIB,
        tokens_per_row=float(costs["tokens_per_row"]),
        mfu_source=source,
    )


def plan_costs(plan: Plan, table: str | None = None) -> tuple[list[TableCosts], Rates]:
    """One TableCosts per table (or only `table`), plus "all" (every job once) without one."""
    if table is not None and table not in plan.config["tables"]:
        known = sorted(plan.config["tables"])
        raise plan.error("--table", f"unknown table '{table}' (defined: {known})")
    rates = rates_of(plan)
    cache: dict[str, JobCost] = {}
    names = [table] if table else list(plan.config["tables"])
    tables = [
        TableCosts(
            name,
            jobs_for(plan, set_of(plan, name), rates, cache),
            judging=judging_lines(plan, name),
        )
        for name in names
    ]
    if table is None:
        tables.append(TableCosts("all", jobs_for(plan, set(plan.runs), rates, cache)))
    for costs in tables:
        costs.warnings = [w for job in costs.jobs for w in warnings_of(job, rates)]
    return tables, rates


def set_of(plan: Plan, table: str) -> set[str]:
    return models_needed(plan, [table])


def jobs_for(plan: Plan, needed: set[str], rates: Rates, cache: dict) -> list[JobCost]:
    """Training runs in the plan's order, each run's reference pass after its group's first run,
    and the sampling that writes a run's data before it."""
    jobs: list[JobCost] = []
    groups = reference_groups(plan)
    for ref, run in plan.runs.items():
        if ref not in needed:
            continue
        for name in samplings_for(plan, run.dataset):
            jobs.append(
                cached(cache, f"sampling/{name}", lambda n=name: sampling_cost(plan, n, rates))
            )
        if run.method.data == "ref_logps":
            key = (run.dataset, run.reference_model or run.model)
            job = f"ref_logps/{key[0]}/{key[1]}"
            jobs.append(
                cached(cache, job, lambda k=key: reference_cost(plan, *k, groups[k], rates))
            )
        jobs.append(cached(cache, ref, lambda r=run: train_cost(plan, r, rates)))
    unique = {job.job: job for job in jobs}  # a shared reference pass or sampling counts once
    return list(unique.values())


def samplings_for(plan: Plan, dataset: str) -> list[str]:
    """Rejection-sampling setups that write one of a dataset's sources."""
    if not dataset:
        return []
    setups = plan.config["rejection_sampling"]
    sources = [source for source, _ in dataset_entries(plan.config["datasets"][dataset])]
    return [n for n, spec in setups.items() for s in sources if spec in sampling_writing(plan, s)]


def cached(cache: dict, key: str, compute) -> JobCost:
    if key not in cache:
        cache[key] = compute()
    return cache[key]
