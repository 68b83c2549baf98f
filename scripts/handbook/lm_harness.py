"""Running an lm-eval suite on a model: tasks found and checked, lm_eval.simple_evaluate once per
shot count, and the result written as one JSON at a stable path.

scripts/eval_lm_harness.py runs one suite on a checkpoint folder; scripts/eval_demo.py runs the
demo world's local suites on the model it has already loaded for its own metrics, so a tiny model
is loaded (and torch and lm-eval imported) once for all of them. Both write the same JSON.

lm-eval indexes every task YAML it ships (some 15,000, tens of seconds) before it can load one.
A hub suite's task folders (scripts/lm_eval_task_folders.py, once per suite) let each evaluation
index only the folders its tasks live in, under a second; the folders are checked against the
installed lm-eval, and any mismatch falls back to the whole index.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from handbook.provenance import log_startup, package_versions, provenance, write_json
from handbook.suites import (
    TASKS_MANIFEST,
    SuiteError,
    by_fewshot,
    check_known,
    check_metrics,
    headline,
    resolve_suite,
)

logger = logging.getLogger("handbook.lm_eval")

PER_TASK_SECTIONS = (
    "results",
    "groups",
    "group_subtasks",
    "configs",
    "versions",
    "n-shot",
    "higher_is_better",
    "n-samples",
)
LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow"}


@dataclass
class SuiteRun:
    """One suite to evaluate and how (the eval_lm_harness.py arguments)."""

    suite: str
    suites: dict  # the suites config, {name: spec}
    include_path: str | None = None
    task_folders: str | None = None  # a scripts/lm_eval_task_folders.py file: index only those
    limit: float | None = None
    max_gen_toks: int | None = None  # a cap on generating tasks' max_gen_toks
    batch_size: str = "8"
    device: str = "cpu"
    dtype: str = "float32"
    bootstrap_iters: int = 100000
    parallelize: bool = False  # spread the model over the visible GPUs (accelerate's device map)


def check_task_format(include_path: str | None, specs, suite: str) -> None:
    """Tasks written for the chat template must be run with it, and plain ones without."""
    manifest_path = Path(include_path or "") / TASKS_MANIFEST
    if not include_path or not manifest_path.exists():
        return
    manifest = json.loads(manifest_path.read_text())
    for spec in specs:
        if (
            spec.task in manifest.get("tasks", [])
            and manifest["apply_chat_template"] != spec.apply_chat_template
        ):
            raise SuiteError(
                f"suite {suite!r} sets apply_chat_template: "
                f"{str(spec.apply_chat_template).lower()}, but the tasks in {include_path} were "
                f"written with --format {manifest['format']}; rebuild them with --format "
                f"{'chat' if spec.apply_chat_template else 'plain'}"
            )


def make_task_manager(
    include_path: str | None, local: bool, suite: str, task_folders: str | None = None
):
    from lm_eval.tasks import TaskManager

    if local and not include_path:
        raise SuiteError(f"suite {suite!r} is local: pass --include_path with its task YAMLs")
    if include_path and not Path(include_path).is_dir():
        raise SuiteError(f"--include_path {include_path} is not a folder")
    folders = None if local or not task_folders else usable_task_folders(task_folders)
    if folders is None:
        return TaskManager(include_path=include_path, include_defaults=not local)
    return TaskManager(
        include_path=[*folders, *([include_path] if include_path else [])], include_defaults=False
    )


def lm_eval_tasks_root() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def suite_task_folders(index, root: Path, names: list[str]) -> list[str]:
    """The folders under lm-eval's task root (`root`) holding the YAMLs of `names` and of every
    group member and tagged task they run."""
    folders, seen, todo = set(), set(), list(names)
    while todo:
        name = todo.pop()
        entry = index.get(name) if isinstance(name, str) else None
        if entry is None or name in seen:
            continue
        seen.add(name)
        if entry.yaml_path is not None and Path(entry.yaml_path).is_relative_to(root):
            folders.add(Path(entry.yaml_path).relative_to(root).parts[0])
        if entry.kind.name == "TAG":
            todo += sorted(entry.tags)
        if entry.kind.name == "GROUP":
            members = (entry.cfg or {}).get("task") or []
            for member in members if isinstance(members, list) else [members]:
                todo.append(
                    member if isinstance(member, str) else member.get("group") or member.get("task")
                )
    return sorted(folders)


def write_task_folders(output: str | Path, suite: str, suites: dict) -> dict:
    """The task folders of one hub suite, with the lm-eval version they were read from."""
    from importlib.metadata import version

    from lm_eval.tasks import TaskManager

    specs = resolve_suite(suite, suites)
    index = TaskManager().task_index
    check_known(suite, specs, list(index))
    folders = suite_task_folders(index, lm_eval_tasks_root(), [spec.task for spec in specs])
    found = {"suite": suite, "lm_eval": version("lm_eval"), "folders": folders}
    write_json(output, found)
    return found


def usable_task_folders(path: str) -> list[str] | None:
    """The absolute task folders a --task_folders file names, or None (with the reason logged) when
    they do not fit the installed lm-eval: then the whole index is built."""
    from importlib.metadata import version

    found = json.loads(Path(path).read_text())
    root, installed = lm_eval_tasks_root(), version("lm_eval")
    folders = [root / folder for folder in found["folders"]]
    if found["lm_eval"] != installed or not all(folder.is_dir() for folder in folders):
        logger.info(
            "%s was written for lm-eval %s (installed: %s): indexing every task",
            path,
            found["lm_eval"],
            installed,
        )
        return None
    logger.info("indexing the task folders %s only (%s)", found["folders"], path)
    return [str(folder) for folder in folders]


def dataset_of(task_manager, name: str) -> str | None:
    entry = task_manager.task_index.get(name)
    return (entry.cfg or {}).get("dataset_path") if entry is not None else None


def load_task(task_manager, name: str) -> list:
    """The lm-eval Task or Group objects for one suite task, loading its dataset now so that a
    missing one is reported with the task's name."""
    from datasets.exceptions import DatasetsError

    try:
        loaded = task_manager.load([name])
    except (OSError, DatasetsError) as err:
        logger.debug("loading %s failed", name, exc_info=True)
        dataset = dataset_of(task_manager, name)
        reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        if dataset in LOCAL_BUILDERS:
            raise SuiteError(
                f"task {name!r}: its data files could not be read ({reason})"
            ) from None
        what = f"its dataset {dataset!r} is" if dataset else "a dataset it uses is"
        raise SuiteError(
            f"task {name!r} needs Hugging Face Hub access: {what} not in the local cache and could "
            f"not be downloaded ({reason}); run once with network access, or point "
            "HF_DATASETS_CACHE at a cache that holds it"
        ) from None
    groups = loaded.get("groups", {})
    return [groups[name]] if name in groups else list(loaded["tasks"].values())


def merge(into: dict, out: dict) -> None:
    for section in PER_TASK_SECTIONS:
        into.setdefault(section, {}).update(out.get(section) or {})
    into["lm_eval_config"] = out.get("config", {})


def prepare(run: SuiteRun):
    """The suite's task specs, task manager and loaded tasks, every check done before any model
    is loaded (a bad suite fails in seconds)."""
    specs = resolve_suite(run.suite, run.suites)
    check_task_format(run.include_path, specs, run.suite)
    task_manager = make_task_manager(run.include_path, specs[0].local, run.suite, run.task_folders)
    check_known(run.suite, specs, task_manager.all_tasks)
    check_metrics(run.suite, specs, {s.task: task_manager.task_index[s.task].cfg for s in specs})
    loaded = {spec.task: load_task(task_manager, spec.task) for spec in specs}
    return specs, task_manager, loaded


def load_lm(model: str, run: SuiteRun):
    """lm-eval's Hugging Face backend for a checkpoint folder or hub id."""
    from lm_eval.models.huggingface import HFLM

    from handbook.modeling import ModelError, model_source

    try:
        source, revision = model_source(model)
    except ModelError as err:
        raise SuiteError(str(err)) from None
    try:
        # Weights from safetensors only: a pickled checkpoint can run code when loaded.
        lm = HFLM(
            pretrained=source,
            revision=revision or "main",
            dtype=run.dtype,
            batch_size=batch_size(run),
            use_safetensors=True,
            **({"parallelize": True} if run.parallelize else {"device": run.device}),
        )
    except OSError as err:
        raise SuiteError(
            f"model {model!r} could not be loaded: {str(err).splitlines()[0]}"
        ) from None
    log_startup("model loaded")
    return lm


def wrap_lm(model, tokenizer, run: SuiteRun):
    """lm-eval's Hugging Face backend around a model already loaded (eval_demo.py's)."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(
        pretrained=model, tokenizer=tokenizer, device=run.device, batch_size=batch_size(run)
    )


def batch_size(run: SuiteRun):
    return int(run.batch_size) if str(run.batch_size).isdigit() else run.batch_size


def evaluate(lm, run: SuiteRun, specs, task_manager, loaded) -> dict:
    import lm_eval

    raw: dict = {}
    for num_fewshot, group in by_fewshot(specs).items():
        logger.info("evaluating %s with num_fewshot=%s", [s.task for s in group], num_fewshot)
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=[obj for spec in group for obj in loaded[spec.task]],
            num_fewshot=num_fewshot,
            limit=run.limit,
            gen_kwargs={"max_gen_toks": run.max_gen_toks} if run.max_gen_toks else None,
            apply_chat_template=specs[0].apply_chat_template,
            task_manager=task_manager,
            log_samples=False,
            bootstrap_iters=run.bootstrap_iters,
        )
        merge(raw, out)
    return raw


def missing_chat_template(lm, specs) -> str | None:
    """Why a suite prompting through the chat template cannot run on this model (a base model whose
    tokenizer has none, StarCoder2's for one), or None."""
    if specs[0].apply_chat_template and not getattr(lm.tokenizer, "chat_template", None):
        return "the suite prompts through the chat template and the model's tokenizer has none"
    return None


def write_not_evaluated(
    output: str | Path, run: SuiteRun, model: str, why: str, config: dict
) -> None:
    """The suite's JSON for a model it cannot run on: no scores, the reason (tables say it)."""
    logger.info("%s not evaluated on %s: %s", run.suite, model, why)
    write_json(
        output,
        {
            "suite": run.suite,
            "headline": {},
            "not_evaluated": why,
            "settings": {"suite": run.suite, "model": model, "packages": package_versions()},
            "provenance": provenance(config=config, inputs={"model": model}),
        },
    )


def write_result(
    output: str | Path, run: SuiteRun, model: str, specs, raw: dict, config: dict
) -> dict:
    """The suite's JSON: lm-eval's per-task sections, the headline metrics, settings, provenance."""
    scores = headline(raw, specs)
    logger.info("%s headline: %s", run.suite, scores)
    settings = {
        "suite": run.suite,
        "model": model,
        "tasks": [
            {"task": s.task, "num_fewshot": s.num_fewshot, "metric": s.metric} for s in specs
        ],
        "apply_chat_template": specs[0].apply_chat_template,
        "limit": run.limit,
        "max_gen_toks": run.max_gen_toks,
        "batch_size": run.batch_size,
        "device": run.device,
        "dtype": run.dtype,
        "include_path": str(Path(run.include_path).resolve()) if run.include_path else None,
        "bootstrap_iters": run.bootstrap_iters,
        "packages": package_versions(),
    }
    write_json(
        output,
        {
            "suite": run.suite,
            "headline": scores,
            "settings": settings,
            # lm-eval's own per-task sections; its "versions" are task versions
            **{
                ("task_versions" if k == "versions" else k): raw.get(k, {})
                for k in PER_TASK_SECTIONS
            },
            "lm_eval_config": raw.get("lm_eval_config", {}),
            "provenance": provenance(config=config, inputs={"model": model}),
        },
    )
    return scores
