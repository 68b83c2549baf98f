"""Write the offline demo world: CPT corpus, SFT, preference, generation and eval splits.

    python scripts/make_demo_world.py --spec '{"seed": 0, "n_towns": 40}' \
        --outdir results/demo_world

Spec keys (all optional) are those of the `demo_world` section of the config; defaults in
`handbook.demo_world.DEFAULTS`. Output is byte-identical for the same spec, and
`manifest.json` (spec, rows and sha256 per file) is written last, so a directory without
it is an interrupted run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from handbook import demo_world
from handbook.provenance import write_provenance

log = logging.getLogger("make_demo_world")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--spec", default="{}", help="JSON object of demo_world spec keys (default: {})"
    )
    parser.add_argument(
        "--outdir", type=Path, default=Path("results/demo_world"), help="output directory"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    args = parse_args(argv)
    spec = json.loads(args.spec)
    if not isinstance(spec, dict):
        raise SystemExit(f"--spec must be a JSON object, got {args.spec!r}")
    resolved = demo_world.resolve_spec(spec)
    log.info("outdir: %s", args.outdir)
    log.info("spec: %s", json.dumps(resolved, sort_keys=True))
    start = time.perf_counter()
    counts = demo_world.generate(resolved, args.outdir)
    write_provenance(args.outdir, config=resolved)
    log.info(
        "demo world: %d rows in %d files in %.2f s",
        sum(counts.values()),
        len(counts),
        time.perf_counter() - start,
    )


if __name__ == "__main__":
    main()
