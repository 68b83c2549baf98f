"""How long building the DAG takes (`snakemake -n` on the default config), and what it imports.

    .venv/bin/python bench/dag_build.py [--repeat 5]

Prints the median and range of wall-clock seconds over the runs, and whether torch was imported
(it must not be: the Snakefile only reads configs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "1"]
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    imports = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], cwd=REPO, env=env, capture_output=True, text=True)
    torch = any(line.rstrip().endswith("| torch") for line in imports.stderr.splitlines())
    print(f"snakemake -n: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})")
    print(f"torch imported while building the DAG: {torch}")


if __name__ == "__main__":
    main()
