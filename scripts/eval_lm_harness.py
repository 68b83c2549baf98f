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

from handbook.lm_harness import (
    SuiteRun,
    evaluate,
    load_lm,
    missing_chat_template,
    prepare,
    write_not_evaluated,
    write_result,
)
from handbook.suites import SuiteError
from handbook.training import run_main

logger = logging.getLogger("handbook.lm_eval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint folder or hub id")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--suites_json", required=True, help="the suites config as JSON")
    parser.add_argument("--include_path", default=None, help="folder of extra task YAMLs")
    parser.add_argument(
        "--task_folders",
        default=None,
        help="the suite's lm-eval task folders (JSON): index only those",
    )
    parser.add_argument(
        "--limit", type=float, default=None, help="documents per task (a fraction if < 1)"
    )
    parser.add_argument(
        "--max_gen_toks", type=int, default=None, help="cap on the tokens generating tasks generate"
    )
    parser.add_argument("--batch_size", default="8", help="an integer or 'auto'")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument(
        "--parallelize", action="store_true", help="spread the model over the visible GPUs"
    )
    parser.add_argument(
        "--bootstrap_iters", type=int, default=100000, help="0 skips bootstrap stderrs"
    )
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
    run = SuiteRun(
        suite=args.suite,
        suites=suites,
        include_path=args.include_path,
        task_folders=args.task_folders,
        limit=args.limit,
        max_gen_toks=args.max_gen_toks,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        bootstrap_iters=args.bootstrap_iters,
        parallelize=args.parallelize and args.device == "cuda",
    )
    try:
        specs, task_manager, loaded = prepare(run)
        lm = load_lm(args.model, run)
        why = missing_chat_template(lm, specs)
        if why:
            write_not_evaluated(args.output, run, args.model, why, config=vars(args))
            return
        raw = evaluate(lm, run, specs, task_manager, loaded)
        write_result(args.output, run, args.model, specs, raw, config=vars(args))
    except SuiteError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run_main(main)
