"""Contrastive preference optimisation (CPO) and SimPO, from trl.experimental.cpo: no reference
model.

    python scripts/cpo.py \
        --config config/recipes/demo/cpo/simpo.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --checkpoint_dir results/checkpoints/cpo/simpo --output_dir results/models/cpo/simpo

CPOConfig's loss_type picks the loss: sigmoid, hinge, ipo, or simpo (SimPO with cpo_alpha 0).
Training goes through handbook.trainers.train_reference_free, as ORPO does (scripts/orpo.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from handbook.trainers import train_reference_free  # noqa: E402
from handbook.training import run_main  # noqa: E402


def main() -> None:
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    train_reference_free(CPOConfig, CPOTrainer)


if __name__ == "__main__":
    run_main(main)
