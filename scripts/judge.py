"""Judge model answers with an external judge: MT-Bench grading or AlpacaEval 2 pairwise.

    python scripts/judge.py --benchmark mt_bench --endpoint '<json>' \
        --questions question.jsonl --judge_prompts judge_prompts.jsonl \
        [--reference_answers reference_answer/gpt-4.jsonl] \
        --answers results/judges/mt_bench/model_answer/sft-tiny.jsonl ... \
        --cache results/judges/cache \
        --output results/judges/mt_bench/verdicts/<table>.jsonl \
        --summary results/judges/mt_bench/verdicts/<table>.json

    python scripts/judge.py --benchmark alpaca_eval --endpoint '<json>' \
        --references <file or hub dataset with instruction and output: the reference outputs> \
        [--references_config C] [--references_split S] \
        [--annotator weighted_alpaca_eval_gpt4_turbo] \
        --answers results/judges/alpaca_eval/model_outputs/sft-tiny.json ... \
        --cache ... --output ....jsonl --summary ....json

The endpoint is JSON (handbook/judging/endpoint.py): an API judge names its base_url and the
environment variable holding its key; a local judge names `serve` and is started here. With
--dry_run the requests are built and their cost printed, and nothing is asked.
"""

from __future__ import annotations

import argparse
import logging
import sys

from handbook.judging.endpoint import Endpoint, JudgeError
from handbook.judging.run import (
    BENCHMARKS,
    alpaca_eval_job,
    describe_cost,
    log_parse_failures,
    mt_bench_job,
    run_job,
    write_outputs,
)
from handbook.training import run_main

logger = logging.getLogger("handbook.judging")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    parser.add_argument("--endpoint", required=True, help="the judge endpoint as JSON")
    parser.add_argument("--answers", required=True, nargs="+", help="model answer files")
    parser.add_argument("--cache", required=True, help="folder of cached verdicts")
    parser.add_argument("--output", required=True, help="verdict rows (JSONL)")
    parser.add_argument("--summary", required=True, help="scores and judge record (JSON)")
    parser.add_argument("--server_log", help="where a served judge's output goes")
    parser.add_argument(
        "--dry_run", action="store_true", help="print the cost estimate, ask nothing"
    )
    mt = parser.add_argument_group("mt_bench")
    mt.add_argument("--questions", help="MT-Bench questions (file or hub dataset)")
    mt.add_argument("--questions_config", default=None, help="the hub dataset's configuration")
    mt.add_argument("--questions_split", default="train", help="the hub dataset's split")
    mt.add_argument("--judge_prompts", help="FastChat's judge_prompts.jsonl")
    mt.add_argument("--reference_answers", help="FastChat reference answers (model_answer format)")
    ae = parser.add_argument_group("alpaca_eval")
    ae.add_argument("--references", help="reference outputs (file or hub dataset)")
    ae.add_argument("--references_config")
    ae.add_argument("--references_split", default="eval")
    ae.add_argument("--annotator", default="weighted_alpaca_eval_gpt4_turbo")
    return parser.parse_args(argv)


def build_job(args: argparse.Namespace):
    if args.benchmark == "mt_bench":
        if not args.questions or not args.judge_prompts:
            raise ValueError("--benchmark mt_bench needs --questions and --judge_prompts")
        return mt_bench_job(
            args.questions,
            args.judge_prompts,
            args.reference_answers,
            args.answers,
            questions_config=args.questions_config,
            questions_split=args.questions_split,
        )
    if not args.references:
        raise ValueError("--benchmark alpaca_eval needs --references (the reference outputs)")
    return alpaca_eval_job(
        args.references, args.references_config, args.references_split, args.annotator, args.answers
    )


def judge(args: argparse.Namespace) -> None:
    endpoint = Endpoint.from_json(args.endpoint)
    job = build_job(args)
    cost = describe_cost(job, endpoint)
    logger.info("judge %s, %s: cost estimate %s", endpoint.name, args.benchmark, cost)
    if args.dry_run:
        print(cost)
        return
    server_log = args.server_log or f"{args.output}.server.log"
    rows, summary = run_job(job, endpoint, args.cache, server_log if endpoint.serve else None)
    log_parse_failures(summary)
    write_outputs(rows, summary, args.output, args.summary)
    logger.info(
        "wrote %d verdicts to %s (%d asked, %d from cache)",
        len(rows),
        args.output,
        summary["requests_made"],
        summary["cache_hits"],
    )


def main() -> None:
    args = parse_args()
    try:
        judge(args)
    except (ValueError, JudgeError, FileNotFoundError) as err:
        # Bad inputs and an unreachable judge are one line, not a traceback.
        logger.debug("judge failed", exc_info=True)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run_main(main)
