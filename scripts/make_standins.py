"""Build tiny stand-ins of every hub model and dataset the plan reads, lm-eval's task data
included, in local caches under the real ids, so the full-scale plan rehearses offline
(handbook/standins.py says what they copy).

    python scripts/make_standins.py --out results/standins [--rows 300] [--table zephyr-7b-beta ...]
        [--configfile my.yaml ...]

then run with HF_HUB_CACHE=results/standins/hub HF_DATASETS_CACHE=results/standins/datasets
NLTK_DATA=results/standins/nltk_data HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1. <out>/manifest.json,
written last, lists what was built.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from handbook.config import ConfigError, load_config
from handbook.offline import hub_needs, selected_columns
from handbook.plan import build_plan
from handbook.standins import StandinError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", required=True, help="folder of the stand-ins (hub/, datasets/, manifest.json)"
    )
    parser.add_argument(
        "--rows", type=int, default=300, help="rows per split (a fifth of it in test splits)"
    )
    parser.add_argument("--table", action="extend", nargs="+", help="only what these tables need")
    parser.add_argument(
        "--configfile",
        action="extend",
        nargs="+",
        default=[],
        help="config files extending config/config.yaml",
    )
    args = parser.parse_args(argv)
    print(f"arguments: {vars(args)}", flush=True)
    started = time.monotonic()
    try:
        plan = build_plan(load_config(args.configfile), args.configfile)
        manifest = build(hub_needs(plan, args.table), args.out, args.rows, selected_columns(plan))
    except (ConfigError, StandinError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    print(
        f"built {len(manifest['models'])} models, {len(manifest['datasets'])} datasets and "
        f"{len(manifest['nltk'])} NLTK data packages in "
        f"{time.monotonic() - started:.1f} s under {out}"
    )
    print(
        f"use them with: HF_HUB_CACHE={out / 'hub'} HF_DATASETS_CACHE={out / 'datasets'} "
        f"NLTK_DATA={out / 'nltk_data'} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
