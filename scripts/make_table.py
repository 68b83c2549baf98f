"""Build a comparison table (CSV and Markdown) from eval results.

    python scripts/make_table.py --table demo \
        --rows '{"sft": ["results/eval/sft/tiny/demo.json"]}' \
        --csv results/tables/demo.csv --md results/tables/demo.md
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from handbook.tables import build_table, to_markdown
from handbook.training import run_main

logger = logging.getLogger("handbook.tables")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--rows", required=True, help="JSON object: row label -> list of eval JSON paths")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    table = build_table(json.loads(args.rows))
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False, float_format="%.6g")
    Path(args.md).write_text(f"# Table: {args.table}\n\n" + to_markdown(table))
    logger.info("table %s:\n%s", args.table, to_markdown(table))


if __name__ == "__main__":
    run_main(main)
