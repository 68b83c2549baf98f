"""Evaluate a checkpoint on an lm-eval suite and write one JSON at a stable path.

    python scripts/eval_lm_harness.py --model results/models/sft/tiny --suite demo \
        --suites_json '{"demo": {"tasks": ["demo_mc", "demo_gen"], "num_fewshot": 0,
                                 "apply_chat_template": true, "local": true}}' \
        --include_path results/lm_eval_tasks/demo --output results/eval/sft/tiny/lm_eval_demo.json

Runs `lm_eval.simple_evaluate` with the Hugging Face backend, once per shot count (lm-eval takes
one num_fewshot per call) on one loaded model. The JSON holds lm-eval's raw results per task,
the suite's `headline` metrics and their average (handbook.suites), the settings, and package
versions. A suite with `local: true` reads only --include_path and skips lm-eval's own task
index. Offline, a task whose hub dataset is not cached fails with one line naming it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from handbook.provenance import log_startup, package_versions, provenance, write_json
from handbook.suites import TASKS_MANIFEST, SuiteError, by_fewshot, check_known, check_metrics, headline, resolve_suite
from handbook.training import run_main

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


def check_task_format(include_path: str | None, specs, suite: str) -> None:
    """Tasks written for the chat template must be run with it, and plain ones without."""
    manifest_path = Path(include_path or "") / TASKS_MANIFEST
    if not include_path or not manifest_path.exists():
        return
    manifest = json.loads(manifest_path.read_text())
    for spec in specs:
        if spec.task in manifest.get("tasks", []) and manifest["apply_chat_template"] != spec.apply_chat_template:
            raise SuiteError(
                f"suite {suite!r} sets apply_chat_template: {str(spec.apply_chat_template).lower()}, but the "
                f"tasks in {include_path} were written with --format {manifest['format']}; rebuild them with "
                f"--format {'chat' if spec.apply_chat_template else 'plain'}"
            )


def make_task_manager(include_path: str | None, local: bool, suite: str):
    from lm_eval.tasks import TaskManager

    if local and not include_path:
        raise SuiteError(f"suite {suite!r} is local: pass --include_path with its task YAMLs")
    if include_path and not Path(include_path).is_dir():
        raise SuiteError(f"--include_path {include_path} is not a folder")
    return TaskManager(include_path=include_path, include_defaults=not local)


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
            raise SuiteError(f"task {name!r}: its data files could not be read ({reason})") from None
        what = f"its dataset {dataset!r} is" if dataset else "a dataset it uses is"
        raise SuiteError(
            f"task {name!r} needs Hugging Face Hub access: {what} not in the local cache and could not be "
            f"downloaded ({reason}); run once with network access, or point HF_DATASETS_CACHE at a cache that holds it"
        ) from None
    groups = loaded.get("groups", {})
    return [groups[name]] if name in groups else list(loaded["tasks"].values())


def merge(into: dict, out: dict) -> None:
    for section in PER_TASK_SECTIONS:
        into.setdefault(section, {}).update(out.get(section) or {})
    into["lm_eval_config"] = out.get("config", {})


def evaluate(args, specs, task_manager, loaded) -> dict:
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    batch_size = int(args.batch_size) if args.batch_size.isdigit() else args.batch_size
    try:
        # Weights from safetensors only: a pickled checkpoint can run code when loaded.
        lm = HFLM(pretrained=args.model, dtype=args.dtype, device=args.device, batch_size=batch_size, use_safetensors=True)
        log_startup("model loaded")
    except OSError as err:
        raise SuiteError(f"model {args.model!r} could not be loaded: {str(err).splitlines()[0]}") from None
    raw: dict = {}
    for num_fewshot, group in by_fewshot(specs).items():
        logger.info("evaluating %s with num_fewshot=%s", [s.task for s in group], num_fewshot)
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=[obj for spec in group for obj in loaded[spec.task]],
            num_fewshot=num_fewshot,
            limit=args.limit,
            apply_chat_template=specs[0].apply_chat_template,
            task_manager=task_manager,
            log_samples=False,
            bootstrap_iters=args.bootstrap_iters,
        )
        merge(raw, out)
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint folder or hub id")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--suites_json", required=True, help="the suites config as JSON")
    parser.add_argument("--include_path", default=None, help="folder of extra task YAMLs")
    parser.add_argument("--limit", type=float, default=None, help="documents per task (a fraction if < 1)")
    parser.add_argument("--batch_size", default="8", help="an integer or 'auto'")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--bootstrap_iters", type=int, default=100000, help="0 skips bootstrap stderrs")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.limit is not None and args.limit >= 1:
        args.limit = int(args.limit)
    logger.info("arguments: %s", vars(args))

    try:
        suites = json.loads(args.suites_json)
    except json.JSONDecodeError as err:
        print(f"error: --suites_json is not valid JSON: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        specs = resolve_suite(args.suite, suites)
        check_task_format(args.include_path, specs, args.suite)
        task_manager = make_task_manager(args.include_path, specs[0].local, args.suite)
        check_known(args.suite, specs, task_manager.all_tasks)
        check_metrics(args.suite, specs, {s.task: task_manager.task_index[s.task].cfg for s in specs})
        loaded = {spec.task: load_task(task_manager, spec.task) for spec in specs}
        raw = evaluate(args, specs, task_manager, loaded)
        scores = headline(raw, specs)
    except SuiteError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    logger.info("headline: %s", scores)
    settings = {
        "suite": args.suite,
        "model": args.model,
        "tasks": [{"task": s.task, "num_fewshot": s.num_fewshot, "metric": s.metric} for s in specs],
        "apply_chat_template": specs[0].apply_chat_template,
        "limit": args.limit,
        "batch_size": args.batch_size,
        "device": args.device,
        "dtype": args.dtype,
        "include_path": str(Path(args.include_path).resolve()) if args.include_path else None,
        "bootstrap_iters": args.bootstrap_iters,
        "packages": package_versions(),
    }
    write_json(
        args.output,
        {
            "suite": args.suite,
            "headline": scores,
            "settings": settings,
            # lm-eval's own per-task sections; its "versions" are task versions
            **{("task_versions" if k == "versions" else k): raw.get(k, {}) for k in PER_TASK_SECTIONS},
            "lm_eval_config": raw.get("lm_eval_config", {}),
            "provenance": provenance(config=vars(args), inputs={"model": args.model}),
        },
    )


if __name__ == "__main__":
    run_main(main)
