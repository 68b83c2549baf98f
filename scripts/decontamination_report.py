"""A table's decontamination report: its training datasets' checks (scripts/decontaminate.py) in
one Markdown page, for the prompt sets the table evaluates on.

    python scripts/decontamination_report.py \
        --spec '{"table": "demo", "eval_sets": ["demo_eval"]}' \
        --checks results/decontamination/datasets/*.json --output results/decontamination/demo.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handbook.decontamination import report_markdown
from handbook.provenance import write_text_atomic
from handbook.training import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help='JSON: {"table": ..., "eval_sets": [...]}')
    parser.add_argument("--checks", nargs="*", default=[], help="the datasets' check files")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    checks = [json.loads(Path(path).read_text()) for path in args.checks]
    write_text_atomic(args.output, report_markdown(spec["table"], spec["eval_sets"], checks))


if __name__ == "__main__":
    run_main(main)
