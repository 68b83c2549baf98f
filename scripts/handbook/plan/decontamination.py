"""Jobs of workflow/rules/decontamination.smk: each training dataset against the prompts the tables
whose models train on it evaluate on (decontaminate), and a table's report over its datasets
(decontamination_report). With decontamination.max_fraction set, training waits for its
dataset's check (handbook.plan.train.decontamination_gate), so an overlap above it stops the
build before any training."""

from __future__ import annotations

import json
import shlex

from handbook import artifacts
from handbook.plan.core import Plan
from handbook.plan.data import dataset_sources, dataset_spec
from handbook.plan.export import models_needed
from handbook.plan.jobs import Job
from handbook.plan.judges import judge_prompts


def eval_sets_of_table(plan: Plan, table: str) -> dict[str, dict]:
    """The prompt sets a table evaluates its models on: the demo evaluation's (unless the table
    says demo: false) and each of its judges'. lm-eval's demo tasks are built from the demo
    evaluation's prompts; hub suites' documents are not read here."""
    spec = plan.config["tables"][table]
    sets = {}
    if spec.get("demo", True):
        sets["demo_eval"] = {"source": plan.demo_eval["prompts"], "format": "demo"}
        if plan.demo_eval.get("same_knowledge"):
            sets["demo_same_knowledge"] = {
                "source": plan.demo_eval["same_knowledge"],
                "format": "demo",
            }
    for name in spec.get("judges") or []:
        judge = plan.config["judges"][name]
        prompts = judge_prompts(plan, name)
        entry = {"source": prompts, "format": judge["format"]}
        if prompts == judge["prompts"]:
            entry.update({k: judge[k] for k in ("prompts_config", "prompts_split") if k in judge})
        sets[f"judge:{name}"] = entry
    return sets


def datasets_of_table(plan: Plan, table: str) -> list[str]:
    """Every dataset a table's models (and what they are trained from) train on."""
    refs = models_needed(plan, [table])
    return sorted({plan.runs[ref].dataset for ref in refs if plan.runs[ref].dataset})


def eval_sets_of_dataset(plan: Plan, dataset: str) -> dict[str, dict]:
    """The prompt sets of every table whose models train on `dataset`."""
    sets: dict[str, dict] = {}
    for table in plan.config["tables"]:
        if dataset in datasets_of_table(plan, table):
            sets.update(eval_sets_of_table(plan, table))
    return dict(sorted(sets.items()))


def local_files(plan: Plan, sets: dict[str, dict]) -> list[str]:
    return sorted({s["source"] for s in sets.values() if not plan.is_hub(s["source"])})


def decontaminate_job(plan: Plan, dataset: str) -> Job:
    sets = eval_sets_of_dataset(plan, dataset)
    settings = plan.config["decontamination"]
    return Job(
        inputs={"sources": dataset_sources(plan, dataset), "prompts": local_files(plan, sets)},
        args=shlex.quote(
            json.dumps(
                {
                    "dataset": dataset,
                    "spec": dataset_spec(plan, dataset),
                    "eval_sets": sets,
                    "ngram": settings["ngram"],
                    "max_fraction": settings["max_fraction"],
                }
            )
        ),
    )


def report_job(plan: Plan, table: str) -> Job:
    datasets = datasets_of_table(plan, table)
    return Job(
        inputs={
            "checks": [artifacts.DECONTAMINATION.format(dataset=d) for d in datasets],
        },
        args=shlex.quote(
            json.dumps({"table": table, "eval_sets": sorted(eval_sets_of_table(plan, table))})
        ),
    )
