"""Write the cost plan: per job the training tokens, optimizer steps, FLOPs, GPU-hours, wall time
against its time limit and memory per GPU, with totals per table (docs/costs.md).

    python scripts/plan_costs.py --md results/plan_costs.md --csv results/plan_costs.csv \
        [--table zephyr-7b-beta] [--scale full] [--configfile my.yaml ...]

The same figures as `python -m handbook.plan --costs`; its warnings (a job over its time limit or
its GPU's memory) are printed too.
"""

from __future__ import annotations

import argparse
import sys

from handbook.config import ConfigError, load_config
from handbook.costs import as_csv, as_markdown, plan_costs
from handbook.plan import build_plan
from handbook.provenance import write_text_atomic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--md", required=True, help="Markdown file to write")
    parser.add_argument("--csv", required=True, help="CSV file to write")
    parser.add_argument("--table", help="only the jobs this table needs")
    parser.add_argument("--scale", choices=("full", "rehearsal", "tiny"))
    parser.add_argument(
        "--configfile", nargs="+", default=[], help="config files extending config/config.yaml"
    )
    args = parser.parse_args()
    try:
        config = load_config(args.configfile, {"scale": args.scale} if args.scale else None)
        plan = build_plan(config, args.configfile)
        tables, rates = plan_costs(plan, args.table)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_text_atomic(args.md, as_markdown(tables, rates, plan.scale))
    write_text_atomic(args.csv, as_csv(tables, rates))
    for line in dict.fromkeys(w for costs in tables for w in costs.warnings):
        print(line)
    print(f"wrote {args.md} and {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
