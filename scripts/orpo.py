"""Odds-ratio preference optimisation (ORPO), from trl.experimental.orpo: no reference model.

    python scripts/orpo.py \
        --config config/recipes/demo/orpo/tiny.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --checkpoint_dir results/checkpoints/orpo/seed1 --output_dir results/models/orpo/seed1

Training goes through handbook.trainers.train_reference_free, as CPO and SimPO do (scripts/cpo.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from handbook.trainers import train_reference_free  # noqa: E402
from handbook.training import run_main  # noqa: E402


def main() -> None:
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    train_reference_free(ORPOConfig, ORPOTrainer)


if __name__ == "__main__":
    run_main(main)
