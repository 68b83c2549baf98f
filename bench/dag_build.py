"""How long Snakemake takes before any job runs: building the DAG, and a rebuild with nothing to do.

    .venv/bin/python bench/dag_build.py [--repeat 5]

Times, over `--repeat` runs each (median, min, max, in wall seconds):
- `snakemake -n` of the default target (the demo DAG), and whether torch was imported (it must not
  be: building the DAG only reads configs);
- `snakemake -n results/tables/pref_align_scan.md` at full scale: the scan's 40 DPO/IPO and 20
  KTO runs on 8 GPUs each, their reference pass, MT-Bench answers and the table;
- `snakemake` of the default target when everything is built (a no-op rebuild), if the demo is.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import REPO, RESULTS, env

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "all"]


def timings(cmd: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[2:])} failed:\n{proc.stderr[-2000:]}")
    return times


def show(label: str, times: list[float], extra: str = "") -> None:
    print(
        f"{label:<48} median {statistics.median(times):.2f} s (min {min(times):.2f}, max "
        f"{max(times):.2f}, n={len(times)}){extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    dry = [*SNAKEMAKE, "-n"]
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", *dry[1:]],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
    )
    torch = any(line.rstrip().endswith("| torch") for line in imports.stderr.splitlines())
    show("snakemake -n (demo DAG)", timings(dry, args.repeat), f"; torch imported: {torch}")
    show(
        "snakemake -n results/tables/pref_align_scan.md",
        timings([*dry, "results/tables/pref_align_scan.md"], args.repeat),
    )
    done = subprocess.run([*dry], cwd=REPO, env=env(), capture_output=True, text=True)
    if (RESULTS / "tables/demo.md").exists() and "Nothing to be done" in done.stdout + done.stderr:
        show("snakemake (demo built: nothing to do)", timings(SNAKEMAKE, args.repeat))
    else:
        print(
            "snakemake (demo built: nothing to do): skipped, the demo is not built or not up to "
            "date (make demo)"
        )


if __name__ == "__main__":
    main()
