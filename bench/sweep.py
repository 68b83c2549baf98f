"""A sweep of 8 DPO runs (loss type x beta) built by the workflow, against the same runs each
doing their own tokenization and reference pass, as the handbook's launch script runs them.

    .venv/bin/python bench/sweep.py [--repeat 2] [--steps 63]

Needs a finished demo (`make demo`: the demo SFT model and the demo world). Both ways train the
same 8 runs from the demo SFT model on the demo pairs with config/recipes/demo/dpo/tiny.yaml,
`--steps` steps each, two jobs at a time with one thread each (this machine's cores):

- workflow: `snakemake` builds the sweep: the pairs prepared once, the reference log-probs
  computed once, 8 training jobs reading them (its own dataset name, so the demo's artifacts are
  left alone; they are deleted between repetitions).
- one job per run: 8 `trl dpo` processes, each tokenizing the pairs and running the reference
  model itself.

Prints the wall time of each, medians and the ratio (target <= 0.75).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from common import REPO, RESULTS, env, export_jsonl

LOSSES = ["sigmoid", "ipo", "hinge", "robust"]
BETAS = [0.1, 0.5]
RECIPE = "config/recipes/demo/dpo/tiny.yaml"


def sweep_config(folder: Path, steps: int) -> Path:
    config = {
        "datasets": {
            "bench_pref": {
                "dataset_name": "results/demo_world/preference",
                "dataset_train_split": "train",
                "dataset_test_split": "test",
                "columns": ["chosen", "rejected"],
            }
        },
        "sweeps": {
            "bench_sweep": {
                "stage": "dpo",
                "model": "sft/tiny",
                "dataset": "bench_pref",
                "recipe": RECIPE,
                "threads": 1,
                "args": {"max_steps": steps, "save_strategy": "no"},
                "grid": {"loss_type": LOSSES, "beta": BETAS},
            }
        },
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # grid order names the runs
    return path


def clean_workflow_outputs() -> None:
    """Remove the sweep's artifacts, logs and timings (the demo's stay as they are)."""
    for kind in ("", "logs/", "benchmarks/"):
        for path in [
            RESULTS / f"{kind}data/bench_pref",
            RESULTS / f"{kind}ref_logps/bench_pref",
            *RESULTS.glob(f"{kind}models/dpo/bench_sweep-*"),
            *RESULTS.glob(f"{kind}dpo/bench_sweep-*"),
            *RESULTS.glob("checkpoints/dpo/bench_sweep-*"),
        ]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def by_workflow(config: Path) -> float:
    clean_workflow_outputs()
    targets = [
        f"results/models/dpo/bench_sweep-{loss}-beta{beta}" for loss in LOSSES for beta in BETAS
    ]
    # Targets first: --quiet and --configfile take every word that follows them.
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--cores",
        "2",
        "--quiet",
        "all",
        "--configfile",
        str(config),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"the workflow's sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    clean_workflow_outputs()
    return wall


def one_run(loss: str, beta: float, data: Path, out: Path, steps: int) -> None:
    cmd = [
        "trl",
        "dpo",
        "--config",
        RECIPE,
        "--model_name_or_path",
        str(RESULTS / "models/sft/tiny"),
        "--dataset_name",
        str(data),
        "--output_dir",
        str(out / f"{loss}-{beta}"),
        "--loss_type",
        loss,
        "--beta",
        str(beta),
        "--max_steps",
        str(steps),
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--bf16",
        "False",
        "--gradient_checkpointing",
        "False",
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env={**env(), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"trl dpo ({loss}, beta {beta}) failed:\n{proc.stderr[-3000:]}")


def one_job_per_run(data: Path, scratch: Path, steps: int) -> float:
    out = scratch / "runs"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(
            pool.map(
                lambda args: one_run(*args, data, out, steps),
                [(loss, beta) for loss in LOSSES for beta in BETAS],
            )
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--steps",
        type=int,
        default=63,
        help="per run; 63 is one epoch of the demo pairs, as the demo trains",
    )
    args = parser.parse_args()
    if not (RESULTS / "models/sft/tiny").exists():
        raise SystemExit("results/models/sft/tiny is missing: build the demo first (make demo)")
    scratch = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    config = sweep_config(scratch, args.steps)
    data = export_jsonl(RESULTS / "data/demo_pref/prepared", scratch / "pairs")
    ours, theirs = [], []
    for _ in range(args.repeat):
        ours.append(by_workflow(config))
        theirs.append(one_job_per_run(data, scratch, args.steps))
    shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"\nSweep of {len(LOSSES) * len(BETAS)} DPO runs ({args.steps} steps each, 2 jobs at a "
        "time), wall seconds:"
    )
    print(
        f"  workflow (shared data and reference pass): median {statistics.median(ours):.1f}  runs "
        f"{[round(t, 1) for t in ours]}"
    )
    print(
        f"  one job per run (trl dpo, own reference):  median {statistics.median(theirs):.1f}  "
        f"runs {[round(t, 1) for t in theirs]}"
    )
    print(
        "  ratio workflow / one job per run: "
        f"{statistics.median(ours) / statistics.median(theirs):.2f} (target <= 0.75)"
    )


if __name__ == "__main__":
    main()
