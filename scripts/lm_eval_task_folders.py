"""Write the lm-eval task folders one hub suite's tasks live in, so that its evaluations index only
those (handbook.lm_harness says why).

    python scripts/lm_eval_task_folders.py --suite openllm --suites_json '{"openllm": {...}}' \
        --output results/eval/lm_eval_task_folders/openllm.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from handbook.lm_harness import write_task_folders
from handbook.suites import SuiteError
from handbook.training import run_main

logger = logging.getLogger("handbook.lm_eval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--suites_json", required=True, help="the suites config as JSON")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    try:
        found = write_task_folders(args.output, args.suite, json.loads(args.suites_json))
    except (SuiteError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    logger.info(
        "suite %s: task folders %s (lm-eval %s)", args.suite, found["folders"], found["lm_eval"]
    )


if __name__ == "__main__":
    run_main(main)
