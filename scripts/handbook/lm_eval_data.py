"""The hub data lm-eval's tasks read, and the NLTK data their scoring reads.

lm-eval's hub tasks read their data with datasets.load_dataset(dataset_path, dataset_name): which
datasets, configurations and splits is read from the installed lm-eval's own task configs (its
task index, groups such as mmlu followed to their subtasks), so another lm-eval version is
followed without a change here. lm-eval (seconds to import, seconds more to index its tasks) is
imported only for a plan that uses a hub suite. handbook.offline lists and fetches these items
beside the plan's own models and datasets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from handbook.data import default_config
from handbook.plan.eval import suite_at_scale
from handbook.suites import SuiteError, resolve_suite

# The task config keys naming the splits lm-eval reads (evaluation documents and few-shot examples).
SPLIT_KEYS = ("test_split", "validation_split", "training_split", "fewshot_split")
# NLTK data lm-eval tasks read when scoring, which their configs do not name: ifeval's sentence
# counts load the punkt_tab sentence tokenizer (lm_eval/tasks/ifeval/instructions_util.py).
NLTK_DATA_OF_TASK = {"ifeval": ("punkt_tab",)}
# datasets' packaged builders: a task whose dataset_path is one reads local files, not the hub.
LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder"}


@dataclass(frozen=True, order=True)
class TaskData:
    """A dataset configuration lm-eval tasks read, with the splits their configs name. `tasks` and
    `fewshot` describe the reading (which suite tasks, the most few-shot examples one draws), not
    the item: two items are the same when the dataset, configuration and splits are."""

    id: str
    config: str | None = None  # None: the dataset's default configuration
    splits: tuple[str, ...] = ()
    tasks: tuple[str, ...] = field(default=(), compare=False)
    fewshot: int = field(default=0, compare=False)

    def line(self) -> str:
        return f"lmeval {self.id} ({self.config or 'default'}) {','.join(self.splits)}"


@dataclass(frozen=True, order=True)
class NltkData:
    """An NLTK data package a task's scoring reads (nltk.download's name for it)."""

    name: str
    tasks: tuple[str, ...] = field(default=(), compare=False)

    def line(self) -> str:
        return f"nltk {self.name} (read by {', '.join(self.tasks)})"


def hub_suites(plan, tables: list[str] | None = None) -> list[str]:
    """The suites, as evaluated at the plan's scale, whose tasks come from lm-eval's own index
    (not `local`): every configured one, or those the tables show."""
    config = plan.config
    named = (
        config["suites"]
        if tables is None
        else [s for t in tables for s in config["tables"][t].get("suites", [])]
    )
    return sorted(
        s for s in {suite_at_scale(plan, n) for n in named} if not config["suites"][s].get("local")
    )


@functools.lru_cache(maxsize=1)
def lm_eval_index():
    """lm-eval's index of its built-in tasks, groups and tags (name -> Entry, each with its YAML
    config read and includes resolved, functions left unresolved); built once per process."""
    from lm_eval.tasks import TaskManager

    return TaskManager().task_index


@functools.lru_cache(maxsize=1)
def group_fields() -> frozenset[str]:
    """Keys of a group config that belong to the group; lm-eval passes the others on to its
    tasks."""
    from dataclasses import fields

    from lm_eval.config.group import GroupConfig

    return frozenset(f.name for f in fields(GroupConfig))


def leaf_configs(index, name: str, overrides: dict | None = None) -> list[dict]:
    """The configs of the tasks `name` runs, as lm-eval's TaskFactory builds them: a tag is its
    tasks, a group its members (a name, or a mapping that overrides a named task's keys or defines
    a task or group inline) with the group's own non-group keys passed down; overrides win."""
    entry = index.get(name)
    if entry is None:
        raise KeyError(name)
    kind = entry.kind.name
    if kind == "TAG":
        return [cfg for task in sorted(entry.tags) for cfg in leaf_configs(index, task, overrides)]
    if kind == "GROUP":
        return group_members(index, entry.cfg or {}, overrides)
    return [{**(entry.cfg or {}), **(overrides or {})}]


def group_members(index, cfg: dict, overrides: dict | None) -> list[dict]:
    inherited = {**{k: v for k, v in cfg.items() if k not in group_fields()}, **(overrides or {})}
    members = cfg.get("task") or []
    found = []
    for member in members if isinstance(members, list) else [members]:
        if isinstance(member, str):
            found += leaf_configs(index, member, inherited)
        elif "group" in member:
            rest = {k: v for k, v in member.items() if k != "group"}
            if member["group"] in index:
                found += leaf_configs(index, member["group"], {**inherited, **rest})
            else:  # an inline group
                found += group_members(index, member, inherited)
        elif member["task"] in index:
            found += leaf_configs(index, member["task"], {**inherited, **member})
        else:  # an inline task
            found.append({**inherited, **member})
    return found


def task_splits(cfg: dict) -> tuple[str, ...]:
    splits = {cfg.get(key) for key in SPLIT_KEYS} | {(cfg.get("fewshot_config") or {}).get("split")}
    return tuple(sorted(s for s in splits if isinstance(s, str)))


def reads_hub(plan, cfg: dict) -> bool:
    """A task reads the hub unless its dataset is a packaged builder over data files, a local
    folder or file, or a function of its own."""
    path = cfg["dataset_path"]
    kwargs = cfg.get("dataset_kwargs") or {}
    return not (
        path in LOCAL_BUILDERS
        or "data_files" in kwargs
        or "data_dir" in kwargs
        or cfg.get("custom_dataset")
        or not plan.is_hub(path)
    )


def lm_eval_needs(plan, suites: list[str], index=None) -> tuple[TaskData, ...]:
    """The hub data each suite's tasks read, from the configs in `index` (lm-eval's own task index
    by default). Imports lm-eval only when there is a suite to look up."""
    if not suites:
        return ()
    index = lm_eval_index() if index is None else index
    found = []
    for suite in suites:
        try:
            specs = resolve_suite(suite, plan.config["suites"])
        except SuiteError as err:
            raise plan.error(f"suites.{suite}", str(err)) from None
        for spec in specs:
            try:
                configs = leaf_configs(index, spec.task)
            except KeyError:
                message = f"unknown task '{spec.task}', not in lm-eval's task index"
                raise plan.error(f"suites.{suite}", message) from None
            for cfg in configs:
                if not cfg.get("dataset_path"):
                    raise plan.error(
                        f"suites.{suite}",
                        f"lm-eval task '{cfg.get('task')}' (of '{spec.task}') names no "
                        "dataset_path, so what it reads cannot be listed (a task defined in "
                        "Python?)",
                    )
                if not reads_hub(plan, cfg):
                    continue
                shots = (
                    spec.num_fewshot
                    if spec.num_fewshot is not None
                    else cfg.get("num_fewshot") or 0
                )
                found.append(
                    TaskData(
                        cfg["dataset_path"],
                        default_config(cfg.get("dataset_name")),
                        task_splits(cfg),
                        (spec.task,),
                        int(shots),
                    )
                )
    return merge_task_data(found)


def merge_task_data(found: list[TaskData]) -> tuple[TaskData, ...]:
    """One item per (id, config): the splits of all its readers, their tasks, the most shots."""
    merged: dict[tuple[str, str | None], TaskData] = {}
    for item in found:
        seen = merged.get((item.id, item.config))
        if seen is not None:
            tasks = seen.tasks + tuple(t for t in item.tasks if t not in seen.tasks)
            item = TaskData(
                item.id,
                item.config,
                tuple(sorted({*seen.splits, *item.splits})),
                tasks,
                max(seen.fewshot, item.fewshot),
            )
        merged[(item.id, item.config)] = item
    return tuple(sorted(merged.values()))


def nltk_needs(task_data: tuple[TaskData, ...]) -> tuple[NltkData, ...]:
    """The NLTK data packages the suites' tasks read (NLTK_DATA_OF_TASK), each with its readers."""
    readers: dict[str, list[str]] = {}
    for item in task_data:
        for task in item.tasks:
            for name in NLTK_DATA_OF_TASK.get(task, ()):
                readers.setdefault(name, [])
                if task not in readers[name]:
                    readers[name].append(task)
    return tuple(NltkData(name, tuple(tasks)) for name, tasks in sorted(readers.items()))
