"""python -m handbook.plan: print the resolved plan as JSON, or with --costs what each job costs
(see handbook.plan and handbook.costs)."""

from __future__ import annotations

import argparse
import json
import sys

from handbook.config import ConfigError, load_config
from handbook.plan.export import to_dict
from handbook.plan.resolve import build_plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handbook.plan", description="Print the resolved plan as JSON."
    )
    parser.add_argument(
        "--configfile", nargs="+", default=[], help="config files extending config/config.yaml"
    )
    parser.add_argument(
        "--scale", choices=("full", "rehearsal", "tiny"), help="override the config's scale"
    )
    parser.add_argument("--table", help="only what this table needs")
    parser.add_argument(
        "--costs",
        action="store_true",
        help="print each job's tokens, steps, FLOPs, GPU-hours, wall time and memory per GPU, "
        "with totals per table, instead of the plan (docs/costs.md)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configfile, {"scale": args.scale} if args.scale else None)
        plan = build_plan(config, args.configfile)
        if args.costs:
            print(costs_text(plan, args.table))
        else:
            print(json.dumps(to_dict(plan, args.table), indent=1, default=str))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def costs_text(plan, table: str | None) -> str:
    # Imported here: printing the plan as JSON needs none of the cost plan.
    from handbook.costs import as_text, plan_costs

    return as_text(*plan_costs(plan, table))


if __name__ == "__main__":
    sys.exit(main())
