"""lm-eval suites: which tasks, with how many shots, scored by which metric.

A suite is a config entry (``config.yaml`` -> ``suites``)::

    openllm:
      tasks:
        - {task: arc_challenge, num_fewshot: 25, metric: acc_norm}
        - task: gsm8k
          num_fewshot: 5
          metric: exact_match,strict-match
      apply_chat_template: false

A task is a name or a mapping with ``task``, ``num_fewshot`` and ``metric``. Missing values
come from the suite (``num_fewshot``) or from the defaults below (``metric``). A metric is an
lm-eval results key, ``<metric>,<filter>``; a bare ``<metric>`` means the ``none`` filter.
(In YAML flow style, ``{metric: exact_match,strict-match}`` splits at the comma: quote it or
use block style.) ``local: true`` marks a suite whose tasks all come from ``--include_path``,
so lm-eval's own task index (seconds to build) is not needed.

Pure Python: the Snakefile and the tests import this without torch or lm-eval.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# "tiny" (the suite run instead at tiny scale), "limit" and "max_gen_toks" are the workflow's: how
# much of the suite runs, not what it is.
RUN_KEYS = ("tiny", "limit", "max_gen_toks")
SUITE_KEYS = {"tasks", "num_fewshot", "apply_chat_template", "local", "description", *RUN_KEYS}
TASK_KEYS = {"task", "num_fewshot", "metric"}
AVERAGE = "average"
TASKS_MANIFEST = "tasks_manifest.json"  # beside task YAMLs from make_lm_eval_tasks.py: their format

# Headline metric of a task named without one. The Open LLM Leaderboard (v1) choices for its
# tasks, as lm-eval 0.4.13 names them; the demo tasks as make_lm_eval_tasks.py writes them.
DEFAULT_METRICS = {
    "demo_mc": "acc,none",
    "demo_gen": "exact_match,get-answer",
    "arc_challenge": "acc_norm,none",
    "hellaswag": "acc_norm,none",
    "truthfulqa_mc2": "acc,none",
    "mmlu": "acc,none",
    "winogrande": "acc,none",
    "gsm8k": "exact_match,strict-match",
    "ifeval": "prompt_level_strict_acc,none",
}

# The suites this project ships; tests/test_suites.py checks config/config.yaml against them.
# openllm is the Open LLM Leaderboard v1: 25-shot ARC-Challenge, 10-shot HellaSwag, 0-shot
# TruthfulQA (MC2), 5-shot MMLU, Winogrande and GSM8K, averaged without weights.
REFERENCE_SUITES: dict[str, dict[str, Any]] = {
    "demo": {
        "tasks": ["demo_mc", "demo_gen"],
        "num_fewshot": 0,
        "apply_chat_template": True,
        "local": True,
    },
    "openllm": {
        "tasks": [
            {"task": "arc_challenge", "num_fewshot": 25, "metric": "acc_norm"},
            {"task": "hellaswag", "num_fewshot": 10, "metric": "acc_norm"},
            {"task": "truthfulqa_mc2", "num_fewshot": 0, "metric": "acc"},
            {"task": "mmlu", "num_fewshot": 5, "metric": "acc"},
            {"task": "winogrande", "num_fewshot": 5, "metric": "acc"},
            {"task": "gsm8k", "num_fewshot": 5, "metric": "exact_match,strict-match"},
        ],
        "apply_chat_template": False,
    },
    "ifeval": {
        "tasks": [{"task": "ifeval", "num_fewshot": 0, "metric": "prompt_level_strict_acc"}],
        "apply_chat_template": True,
    },
}


class SuiteError(ValueError):
    """A suite definition or a suite's results that cannot be used; the message names both."""


@dataclass(frozen=True)
class TaskSpec:
    task: str
    num_fewshot: int | None  # None: the task's own default
    metric: str  # lm-eval results key, "<metric>,<filter>"
    apply_chat_template: bool = False
    local: bool = False


def metric_key(metric: str) -> str:
    """'acc' -> 'acc,none'; 'exact_match,strict-match' unchanged."""
    name, _, filter_name = (part.strip() for part in metric.partition(","))
    if not name:
        raise ValueError(f"empty metric name in {metric!r}")
    return f"{name},{filter_name or 'none'}"


def config_metrics(cfg: Mapping[str, Any]) -> set[str]:
    """The results keys an lm-eval task or group config declares: each metric under each filter
    for a task, each aggregate metric for a group. Empty when the config leaves them to
    lm-eval's defaults (then nothing can be checked before the run)."""
    if "group" in cfg:
        keys = set()
        for entry in cfg.get("aggregate_metric_list") or []:
            filters = entry.get("filter_list") or "none"
            for filter_name in [filters] if isinstance(filters, str) else filters:
                keys.add(f"{entry['metric']},{filter_name}")
        return keys
    names = [m["metric"] for m in cfg.get("metric_list") or [] if isinstance(m.get("metric"), str)]
    filters = [
        f["name"] for f in cfg.get("filter_list") or [] if isinstance(f, Mapping) and "name" in f
    ] or ["none"]
    return {f"{name},{filter_name}" for name in names for filter_name in filters}


def check_metrics(
    suite_name: str, specs: list[TaskSpec], configs: Mapping[str, Mapping[str, Any] | None]
) -> None:
    """A headline metric the task never produces would otherwise show up only after the run."""
    for spec in specs:
        keys = config_metrics(configs.get(spec.task) or {})
        if keys and spec.metric not in keys:
            raise SuiteError(
                f"suite {suite_name!r}, task {spec.task!r}: metric {spec.metric!r} is not "
                f"produced; it gives {sorted(keys)}"
            )


def _fewshot(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SuiteError(
            f"{where}: num_fewshot must be a non-negative integer or null, got {value!r}"
        )
    return value


def _task_spec(entry: Any, suite_name: str, suite: Mapping[str, Any]) -> TaskSpec:
    if isinstance(entry, str):
        entry = {"task": entry}
    if (
        not isinstance(entry, Mapping)
        or not isinstance(entry.get("task"), str)
        or not entry["task"]
    ):
        raise SuiteError(
            f"suite {suite_name!r}: each task must be a name or a mapping with 'task', got "
            f"{entry!r}"
        )
    name = entry["task"]
    where = f"suite {suite_name!r}, task {name!r}"
    unknown = set(entry) - TASK_KEYS
    if unknown:
        hint = ""
        if "metric" in entry and all(entry[k] is None for k in unknown):
            hint = (
                " (quote a metric with a filter in YAML flow style: metric: "
                f'"{entry["metric"]},{min(unknown)}")'
            )
        raise SuiteError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(TASK_KEYS)}{hint}"
        )
    metric = entry.get("metric") or DEFAULT_METRICS.get(name)
    if not isinstance(metric, str):
        raise SuiteError(
            f"{where}: no metric given and none known for this task; "
            "add 'metric: <name>[,<filter>]'"
        )
    fewshot = entry["num_fewshot"] if "num_fewshot" in entry else suite.get("num_fewshot")
    return TaskSpec(
        task=name,
        num_fewshot=_fewshot(fewshot, where),
        metric=metric_key(metric),
        apply_chat_template=bool(suite.get("apply_chat_template", False)),
        local=bool(suite.get("local", False)),
    )


def resolve_suite(
    name: str, suites: Mapping[str, Any], known_tasks: Iterable[str] | None = None
) -> list[TaskSpec]:
    """The tasks of suite `name`; with `known_tasks` (e.g. lm-eval's TaskManager().all_tasks)
    every task name is also checked against it."""
    if not isinstance(suites, Mapping):
        raise SuiteError(
            f"suites must be a mapping of suite name to definition, got {type(suites).__name__}"
        )
    if name not in suites:
        raise SuiteError(
            f"unknown suite {name!r}; defined suites: {', '.join(sorted(suites)) or '(none)'}"
        )
    suite = suites[name]
    if not isinstance(suite, Mapping):
        raise SuiteError(f"suite {name!r} must be a mapping with 'tasks', got {suite!r}")
    unknown = set(suite) - SUITE_KEYS
    if unknown:
        raise SuiteError(
            f"suite {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(SUITE_KEYS)}"
        )
    for flag in ("apply_chat_template", "local"):
        if not isinstance(suite.get(flag, False), bool):
            raise SuiteError(f"suite {name!r}: {flag} must be true or false, got {suite[flag]!r}")
    tasks = suite.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise SuiteError(f"suite {name!r}: 'tasks' must be a non-empty list")
    specs = [_task_spec(entry, name, suite) for entry in tasks]
    seen: set[str] = set()
    for spec in specs:
        if spec.task in seen:
            raise SuiteError(f"suite {name!r}: task {spec.task!r} is listed twice")
        if spec.task == AVERAGE:
            raise SuiteError(f"suite {name!r}: {AVERAGE!r} is reserved for the suite average")
        seen.add(spec.task)
    if known_tasks is not None:
        check_known(name, specs, known_tasks)
    return specs


def check_known(suite_name: str, specs: list[TaskSpec], known_tasks: Iterable[str]) -> None:
    known = set(known_tasks)
    for spec in specs:
        if spec.task not in known:
            close = difflib.get_close_matches(spec.task, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            where = (
                "the tasks folder given by --include_path" if spec.local else "lm-eval's task index"
            )
            raise SuiteError(
                f"suite {suite_name!r}: unknown task {spec.task!r}, not in {where}{hint}"
            )


def by_fewshot(specs: list[TaskSpec]) -> dict[int | None, list[TaskSpec]]:
    """Specs grouped by shot count, in suite order (lm-eval takes one num_fewshot per call)."""
    groups: dict[int | None, list[TaskSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.num_fewshot, []).append(spec)
    return groups


def headline(results: Mapping[str, Any], suite: list[TaskSpec]) -> dict[str, float]:
    """Each task's headline metric and their unweighted mean under 'average'.

    `results` is what lm_eval.simple_evaluate returns (tasks under "results", groups such as
    mmlu under "groups" and "results") or a plain mapping of task name to its metrics."""
    table = dict(results.get("groups", {}))
    table.update(results["results"] if "results" in results else results)
    scores: dict[str, float] = {}
    for spec in suite:
        metrics = table.get(spec.task)
        if metrics is None:
            raise SuiteError(
                f"task {spec.task!r} has no results; tasks with results: {sorted(table)}"
            )
        value = metrics.get(spec.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            available = sorted(
                k for k, v in metrics.items() if isinstance(v, (int, float)) and "_stderr" not in k
            )
            raise SuiteError(
                f"task {spec.task!r}: no numeric metric {spec.metric!r}; available: {available}"
            )
        scores[spec.task] = float(value)
    scores[AVERAGE] = sum(scores.values()) / len(scores)
    return scores
