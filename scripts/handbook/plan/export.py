"""The plan as data: what `python -m handbook.plan` prints and the workflow writes to
results/plan.json, whole or for one table (the runs it needs, transitively)."""

from __future__ import annotations

import json
from pathlib import Path

from handbook import artifacts
from handbook.config import dataset_entries
from handbook.plan.core import Plan, Run
from handbook.plan.eval import suite_at_scale
from handbook.plan.judges import judge_models, judge_prompts
from handbook.plan.sampling import sampling_writing
from handbook.plan.tables import final_targets, table_spec, table_targets
from handbook.plan.train import (
    batch,
    reference_groups,
    reference_logps_job,
    reference_settings,
    train_job,
)
from handbook.provenance import write_text_atomic
from handbook.secrets import redact


def to_dict(plan: Plan, table: str | None = None) -> dict:
    """The resolved plan as JSON-ready data; with `table`, only what that table needs."""
    if table is not None and table not in plan.config["tables"]:
        raise plan.error(
            "--table", f"unknown table '{table}' (defined: {sorted(plan.config['tables'])})"
        )
    tables = [table] if table else list(plan.config["tables"])
    needed = models_needed(plan, tables) if table else set(plan.runs)
    runs = {ref: run_dict(plan, run) for ref, run in plan.runs.items() if ref in needed}
    groups = [
        {
            "dataset": dataset,
            "reference_model": ref,
            "path": artifacts.for_model(artifacts.REF_LOGPS, ref, dataset=dataset),
            "runs": [r.ref for r in members],
            "gpus": reference_logps_job(plan, dataset, *ref.split("/", 1)).gpus,
            **reference_settings(plan, dataset, ref),
        }
        for (dataset, ref), members in reference_groups(plan).items()
        if any(r.ref in needed for r in members)
    ]
    judges = {
        n: {**spec, "prompts": judge_prompts(plan, n)} for n, spec in plan.config["judges"].items()
    }
    return {
        "scale": plan.scale,
        "workdir": plan.workdir,
        "config_files": plan.config_name.split(" + "),
        "family_files": sorted(set(plan.sources.values())),
        "from_recipes": list(plan.from_recipes),
        "tiny_scale_replacements": list(plan.replacements),
        "runs": runs,
        "reference_logps": groups,
        "rejection_sampling": plan.config["rejection_sampling"],
        "suites": {name: suite_at_scale(plan, name) for name in plan.config["suites"]},
        "judges": redact(judges),
        "tables": {name: table_spec(plan, name) for name in tables},
        "targets": final_targets(plan) if table is None else table_targets(plan, table),
    }


def run_dict(plan: Plan, run: Run) -> dict:
    job = train_job(plan, run.stage, run.name)
    return {
        "stage": run.stage,
        "method": {
            "script": f"scripts/{run.method.script}",
            "config_class": run.method.config_class,
        },
        "model": run.model,
        "model_location": job.model,
        "dataset": run.dataset,
        "data": job.inputs["data"],
        "recipe": run.recipe,
        "args": redact(run.args),
        "sweep": run.sweep,
        "threads": run.threads,
        "resources": {
            "gpu": job.gpus,
            "nodes": run.nodes,
            "mem_mb": run.mem_mb,
            "runtime": run.runtime,
            "cpus_per_task": run.threads,
        },
        "batch": batch(plan, run),
        "launcher": job.launcher_for(job.gpus, run.nodes, run.threads),
        "conda_env": job.env,
    }


def models_needed(plan: Plan, tables: list[str]) -> set[str]:
    """Runs the tables need, with everything they are trained from (transitively)."""
    todo = [entry.ref for t in tables for entry in plan.tables[t]]
    judge = plan.demo_eval.get("judge")
    for spec in (plan.config["tables"][t] for t in tables):
        if judge and spec.get("demo", True):
            todo += [judge["reward_model"], judge["baseline"]]
        todo += [ref for j in spec.get("judges", []) for ref in judge_models(plan, j)]
    needed: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in needed or ref not in plan.runs:
            continue
        needed.add(ref)
        run = plan.runs[ref]
        todo += [run.model] + [r for r in (run.reference_model, run.merge_with) if r]
        sources = dataset_entries(plan.config["datasets"][run.dataset]) if run.dataset else ()
        for source, _ in sources:
            for spec in sampling_writing(plan, source):
                todo += [spec["policy"]] + (
                    [spec["reward_model"]] if "reward_model" in spec else []
                )
    return needed


def write_plan(plan: Plan, path: str | Path) -> None:
    """Write the plan as JSON, atomically, and only when it changed (parallel jobs re-read it)."""
    path = Path(path)
    text = json.dumps(to_dict(plan), indent=1, default=str) + "\n"
    if not path.exists() or path.read_text() != text:
        write_text_atomic(path, text)
