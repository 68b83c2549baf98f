"""python -m handbook.device_check [--gpus N] [...]: stop a GPU job before its launcher starts.

A training entry point checks CUDA itself, but under accelerate's launcher its one-line error is
followed by the launcher's own traceback; the training rule runs this check first, importing torch
only when the job has GPUs. It reads the same --gpus the entry point gets (the rest of the job's
arguments are ignored), so a rehearsal's CPU processes pass.
"""

from __future__ import annotations

import sys


def missing_cuda(gpus: int) -> str | None:
    """Why a job given `gpus` GPUs cannot use them here, or None. On a GPU node the likely cause
    is the job's Python: the submit host's CPU-only torch instead of the rule's conda env."""
    if not gpus:
        return None
    import torch

    if torch.cuda.is_available():
        return None
    return (
        f"the run asks for {gpus} GPU(s) but torch {torch.__version__} sees no CUDA device: on a "
        "GPU node, run Snakemake with --sdm conda so the job uses envs/gpu.yaml (a CPU-only torch "
        "sees no GPU); on a CPU machine set the run's gpus: 0, or build it at scale: rehearsal or "
        "tiny"
    )


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m handbook.device_check")
    parser.add_argument("--gpus", type=int, default=0)
    problem = missing_cuda(parser.parse_known_args(argv)[0].gpus)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
