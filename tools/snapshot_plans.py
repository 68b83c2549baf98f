"""Snapshot what the workflow would build, for every table at every scale, to compare two versions.

    python tools/snapshot_plans.py OUT_DIR [--tables demo smollm3] [--scales full tiny]

writes OUT_DIR/<scale>/<table>.plan.json (`python -m handbook.plan --table T --scale S`) and
OUT_DIR/<scale>/<table>.jobs.txt (`snakemake -n -p` of the table's Markdown file from a clean
checkout: each job's rule, wildcards, resources and shell command, sorted, and the job count per
rule). Run it from a clean checkout (no results/) at the same path before and after a change, then
`diff -r BEFORE AFTER`: a refactoring that keeps the plans keeps both files byte for byte.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCALES = ("full", "tiny", "rehearsal")
# Lines of a dry run that change between two builds of the same DAG.
VOLATILE = re.compile(r"^(\s*(jobid|reason): |\[\w{3} \w{3} .*\d{4}\]$)")


def tables(scale: str) -> list[str]:
    """The configured tables (with the families' files merged), read through the plan."""
    code = (
        "import json, sys; from handbook.config import load_config; from handbook.plan import "
        "build_plan;"
        f"print(json.dumps(sorted(build_plan(load_config([], {{'scale': "
        f"'{scale}'}})).config['tables'])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env(),
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return __import__("json").loads(out.stdout)


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "scripts")}


def jobs(text: str) -> str:
    """A dry run's jobs as sorted blocks (rule, wildcards, shell command), then the counts."""
    blocks, block = [], []
    for line in text.splitlines():
        if re.match(r"^(local)?(rule|checkpoint) \S+:$", line):
            if block:
                blocks.append(block)
            block = [line]
        elif line.startswith("Job stats:") or line.startswith("This was a dry-run"):
            if block:
                blocks.append(block)
            block = []
        elif block and line.strip() and not VOLATILE.match(line):
            block.append(line.rstrip())
    if block:
        blocks.append(block)
    counts: dict[str, int] = {}
    for b in blocks:
        counts[b[0]] = counts.get(b[0], 0) + 1
    summary = [f"{n} {rule}" for rule, n in sorted(counts.items())] + [f"{len(blocks)} jobs"]
    return "\n\n".join(sorted("\n".join(b) for b in blocks)) + "\n\n" + "\n".join(summary) + "\n"


def snapshot(out: Path, scale: str, table: str) -> None:
    folder = out / scale
    folder.mkdir(parents=True, exist_ok=True)
    plan = subprocess.run(
        [sys.executable, "-m", "handbook.plan", "--table", table, "--scale", scale],
        env=env(),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    (folder / f"{table}.plan.json").write_text(plan.stdout + plan.stderr)
    dry = subprocess.run(
        [
            "snakemake",
            "-n",
            "-p",
            "--cores",
            "2",
            f"results/tables/{table}.md",
            "--config",
            f"scale={scale}",
        ],
        env=env(),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    (folder / f"{table}.jobs.txt").write_text(
        jobs(dry.stdout + dry.stderr) if dry.returncode == 0 else dry.stderr
    )
    print(f"{scale} {table}: rc {dry.returncode}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--tables", nargs="+")
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=SCALES)
    args = parser.parse_args()
    if (REPO / "results").exists():
        print(f"{REPO}/results exists: snapshot from a clean checkout", file=sys.stderr)
        return 2
    for scale in args.scales:
        for table in args.tables or tables(scale):
            snapshot(args.out, scale, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
