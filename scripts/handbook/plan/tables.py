"""Jobs of workflow/rules/tables.smk: a comparison table (make_table) and its models' training
curves (plot_curves), the demo judge's verdicts on a table's answers (demo_judge, eval.smk), and
the default target. A table's entries are resolved once, when the plan is built."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from handbook import artifacts
from handbook.config import ConfigError, setting_value
from handbook.methods import BASE, METHODS, PLAIN_STAGES
from handbook.plan import judges
from handbook.plan.checks import check_table
from handbook.plan.core import Plan, model_id
from handbook.plan.eval import suite_at_scale
from handbook.plan.expand import round_number
from handbook.plan.jobs import Job
from handbook.plan.judges import (
    answers_file,
    judge_description,
    judge_models,
    judge_prompts,
    judged_by_endpoint,
    judged_by_reward_model,
    judgment_file,
)
from handbook.secrets import redact
from handbook.tables import table_kind


@dataclass(frozen=True)
class TableEntry:
    """One model of a table: its row label (None in a grid), settings and result files."""

    label: str | None
    ref: str
    params: dict = field(default_factory=dict)  # the settings a grid groups by
    files: dict = field(default_factory=dict)  # what each result file holds -> its path

    @property
    def stage(self) -> str:
        return self.ref.split("/", 1)[0]

    @property
    def prompt_format(self) -> str:
        """The format its headline accuracy is scored in: plain for models that know no chat."""
        return "plain" if self.stage in PLAIN_STAGES else "chat"

    def as_dict(self) -> dict:
        """As scripts/make_table.py reads it."""
        return {
            "label": self.label,
            "ref": self.ref,
            "params": self.params,
            "files": self.files,
            "model_id": model_id(self.ref),
        }


# --- resolving a table's rows (handbook.plan.resolve runs this once per table)


def row_models(plan: Plan, row, where: str) -> list[str]:
    """A row is a list of models, or a sweep selection {sweep: name, where: {arg: value}}."""
    if isinstance(row, list):
        return row
    if "rounds" in row:
        raise plan.error(
            where,
            "rounds of iterative DPO are rows of their own (a row by label, not a grid entry)",
        )
    if row["sweep"] not in plan.sweeps:
        raise plan.error(f"{where}.sweep", f"unknown sweep '{row['sweep']}'")
    stage = plan.config["sweeps"][row["sweep"]]["stage"]
    selected = [
        f"{stage}/{name}"
        for name in plan.sweeps[row["sweep"]]
        if all(
            plan.runs[f"{stage}/{name}"].args.get(k) == v for k, v in row.get("where", {}).items()
        )
    ]
    if not selected:
        raise plan.error(f"{where}.where", f"selects no run of sweep '{row['sweep']}'")
    return selected


def run_params(plan: Plan, ref: str) -> dict:
    """A run's settings a grid table can group by: recipe values with the run's args on top."""
    if ref.startswith(f"{BASE}/"):
        return {}
    settings = plan.recipe_settings(plan.runs[ref])
    return redact({k: setting_value(v) for k, v in settings.items()})


def label_rows(plan: Plan, table: str) -> list[tuple[str, str, dict]]:
    """Rows by label: each label's models (seeds), or one row per round of iterative DPO."""
    spec, where = plan.config["tables"][table], f"tables.{table}"
    if "runs" in spec or "columns" in spec or not isinstance(spec["rows"], dict):
        raise plan.error(where, "rows by label take no 'runs' or 'columns'")
    entries = []
    for label, row in plan.config["tables"][table]["rows"].items():
        if isinstance(row, dict) and "rounds" in row:
            if row["rounds"] not in plan.rounds:
                raise plan.error(
                    f"{where}.rows.{label}.rounds",
                    f"unknown iterative_dpo '{row['rounds']}' (defined: {sorted(plan.rounds)})",
                )
            # A chain per seed: each round's row holds that round of every chain.
            refs = sorted(plan.rounds[row["rounds"]], key=round_number)
            entries += [(f"{label}_r{round_number(ref)}", ref, {}) for ref in refs]
            continue
        for ref in row_models(plan, row, f"{where}.rows.{label}"):
            plan.check_model(ref, f"{where}.rows.{label}")
            entries.append((label, ref, {}))
    return entries


def grid_rows(plan: Plan, table: str) -> list[tuple[None, str, dict]]:
    """A grid (rows: <setting>, columns: <setting>): each run with the settings it is placed by."""
    spec, where = plan.config["tables"][table], f"tables.{table}"
    if "runs" not in spec or "columns" not in spec or isinstance(spec["rows"], dict):
        raise plan.error(where, "a grid table (rows: <setting>) needs 'runs' and 'columns'")
    entries = []
    for i, entry in enumerate(spec["runs"]):
        if isinstance(entry, str):
            refs, extra = [entry], {}
        else:
            refs, extra = row_models(plan, entry, f"{where}.runs.{i}"), entry.get("params", {})
        for ref in refs:
            plan.check_model(ref, f"{where}.runs.{i}")
            params = {**run_params(plan, ref), **extra}
            for key in (spec["rows"], spec["columns"]):
                if key not in params:
                    raise plan.error(
                        f"{where}.runs.{i}",
                        f"run {ref} has no setting '{key}' (add it under params)",
                    )
            entries.append((None, ref, params))
    return entries


# How each table kind's rows resolve into (label, model ref, settings); scripts/make_table.py
# has a writer for each (a unit test keeps the two in step).
ROWS_OF_KIND = {"label": label_rows, "grid": grid_rows}


def resolve_table(plan: Plan, table: str) -> tuple[TableEntry, ...]:
    """Each row's or grid entry's model with its settings and result files; fails naming the key."""
    kind = table_kind(plan.config["tables"][table])
    if kind not in ROWS_OF_KIND:
        raise plan.error(
            f"tables.{table}.kind", f"unknown table kind '{kind}' (known: {sorted(ROWS_OF_KIND)})"
        )
    rows = ROWS_OF_KIND[kind](plan, table)
    check_table(plan, table)  # before its result files name its suites and judges
    entries = [
        TableEntry(label, ref, params, result_files(plan, ref, table))
        for label, ref, params in rows
    ]
    return tuple(entries + anchor_entries(plan, table))


def anchor_entries(plan: Plan, table: str) -> list[TableEntry]:
    """A table's anchors: published chat models answered and judged beside its own, read for
    their judge scores only."""
    entries = []
    for label, anchor in (plan.config["tables"][table].get("anchors") or {}).items():
        ref = anchor["model"]
        plan.check_model(ref, f"tables.{table}.anchors.{label}.model")
        files = judge_files(plan, ref, table)
        entries.append(TableEntry(label, ref, {"anchor": True}, files))
    return entries


def result_files(plan: Plan, ref: str, table: str) -> dict[str, str]:
    """Result files a table reads for one model; `judgment:` entries are read if they exist."""
    spec = plan.config["tables"][table]
    stage = ref.split("/", 1)[0]
    method = METHODS.get(stage)
    files = {}
    if stage != BASE:
        files["model"] = artifacts.model_dir(ref)  # metrics.json, log_history.json
    if spec.get("demo", True):
        if method and method.reward_model:
            files["reward"] = artifacts.for_model(artifacts.REWARD_EVAL, ref)
        else:
            files["demo"] = artifacts.for_model(artifacts.DEMO_EVAL, ref)
            if method and method.answers_chat and plan.demo_eval.get("judge"):
                files["winrate"] = artifacts.for_model(artifacts.WINRATE, ref)
    if not (method and method.reward_model):
        for suite in spec.get("suites", []):
            files[f"suite:{suite}"] = artifacts.for_model(
                artifacts.SUITE_RESULT, ref, suite=suite_at_scale(plan, suite)
            )
    if method and method.answers_chat:
        files.update(judge_files(plan, ref, table))
    return files


def judge_files(plan: Plan, ref: str, table: str) -> dict[str, str]:
    """A chat model's answers to each of the table's judges, and where their verdicts are."""
    files = {}
    for judge in plan.config["tables"][table].get("judges", []):
        files[f"answers:{judge}"] = answers_file(plan, judge, ref)
        if judgment_file(plan, judge, table):
            files[f"judgment:{judge}"] = judgment_file(plan, judge, table)
    return files


def judged_here(plan: Plan, judge: str) -> bool:
    return judged_by_endpoint(plan, judge) or judged_by_reward_model(plan, judge)


# --- jobs


def table_job(plan: Plan, table: str) -> Job:
    """The table's result files (external judgments only when built here), and everything
    scripts/make_table.py needs: the table at this scale and its runs."""
    entries = plan.tables[table]
    inputs = sorted(
        {
            path
            for entry in entries
            for key, path in entry.files.items()
            if not key.startswith("judgment:") or judged_here(plan, key.split(":", 1)[1])
        }
    )
    return Job(inputs={"results": inputs}, args=shlex.quote(json.dumps(table_spec(plan, table))))


def table_spec(plan: Plan, table: str) -> dict:
    spec = dict(plan.config["tables"][table])
    spec.pop("runs", None)
    spec["name"] = table
    spec["scale"] = plan.scale
    spec["suites"] = [suite_at_scale(plan, s) for s in spec.get("suites", [])]
    if plan.scale == "tiny" and "metrics" in spec:
        spec["metrics"] = [
            suite_at_scale(plan, m) if m in plan.config["suites"] else m for m in spec["metrics"]
        ]
    spec["judges"] = {
        j: {
            "format": plan.config["judges"][j]["format"],
            "prompts": judge_prompts(plan, j),
            "judge": judge_description(plan, j),
        }
        for j in spec.get("judges", [])
    }
    return {"table": spec, "runs": [e.as_dict() for e in plan.tables[table]]}


def trained(plan: Plan, table: str) -> list[TableEntry]:
    return [e for e in plan.tables[table] if e.stage != BASE]


def curves_job(plan: Plan, table: str) -> Job:
    """The trained models of a table, whose training curves the report shows: label ->
    log_history.json of each, and label -> its group (the table row, so seeds share a colour)."""
    rows_key = plan.config["tables"][table]["rows"]
    histories, groups = {}, {}
    for entry in trained(plan, table):
        histories[entry.ref] = f"{artifacts.model_dir(entry.ref)}/log_history.json"
        groups[entry.ref] = (
            entry.label if entry.label is not None else f"{rows_key}={entry.params[rows_key]}"
        )
    models = sorted({artifacts.model_dir(e.ref) for e in trained(plan, table)})
    args = f"--histories {shlex.quote(json.dumps(histories))} "
    return Job(inputs={"models": models}, args=args + f"--groups {shlex.quote(json.dumps(groups))}")


def demo_judge_job(plan: Plan, judge: str, table: str, ext: str) -> Job:
    """The demo reward model judges the table's answers as the judge's format would: MT-Bench
    scores per prompt, AlpacaEval preferences over the baseline's answers."""
    fmt = plan.config["judges"][judge]["format"]
    expected = artifacts.DEMO_JUDGMENTS[fmt].rsplit(".", 1)[1]
    if ext != expected:
        raise ConfigError(f"{judge} judgments are .{expected} files")
    key = f"answers:{judge}"
    answers = sorted({e.files[key] for e in plan.tables[table] if key in e.files})
    reward_model = judge_models(plan, judge)[0]
    inputs = {"answers": answers, "reward_model": plan.model_inputs(reward_model)}
    if fmt == "mt_bench":
        inputs["prompts"] = judge_prompts(plan, judge)
    else:
        inputs["baseline"] = answers_file(plan, judge, plan.demo_eval["judge"]["baseline"])
    args = [f"--format {fmt}", f"--reward_model {plan.model_location(reward_model)}"]
    args += [f"--{key} {inputs[key]}" for key in ("prompts", "baseline") if key in inputs]
    return Job(inputs=inputs, args=" ".join(args))


def verdicts_job(plan: Plan, judge: str, table: str) -> Job:
    """A judge endpoint's verdicts on every answer file of the table (anchors' included)."""
    if not judged_by_endpoint(plan, judge):
        raise ConfigError(f"judge {judge} is not judged by a chat endpoint at this scale")
    key = f"answers:{judge}"
    answers = sorted({e.files[key] for e in plan.tables[table] if key in e.files})
    return judges.verdicts_job(plan, judge, table, answers)


# --- targets


def table_targets(plan: Plan, table: str) -> list[str]:
    targets = [artifacts.TABLE.format(table=table, ext=ext) for ext in artifacts.TABLE_EXTENSIONS]
    return targets + ([artifacts.CURVES.format(table=table)] if trained(plan, table) else [])


def final_targets(plan: Plan) -> list[str]:
    """The default target: every table not marked `default: false`."""
    return [
        target
        for name, spec in plan.config["tables"].items()
        if spec.get("default", True)
        for target in table_targets(plan, name)
    ]
