"""Contrastive preference optimisation (CPO) and SimPO, from trl.experimental.cpo.

    accelerate launch --config_file config/accelerate/cpu.yaml scripts/cpo.py \
        --config config/recipes/demo/cpo/simpo.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --checkpoint_dir results/checkpoints/cpo/simpo --output_dir results/models/cpo/simpo

Same code path as scripts/orpo.py with CPOConfig/CPOTrainer; SimPO is loss_type simpo, cpo_alpha 0.
"""

from __future__ import annotations

from orpo import main

from handbook.training import run_main

if __name__ == "__main__":
    run_main(lambda: main("cpo"))
