"""Kahneman-Tversky optimisation with TRL's KTOTrainer, on unpaired and shuffled preferences.

    python scripts/kto.py \
        --config config/recipes/demo/kto/tiny.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --checkpoint_dir results/checkpoints/kto/seed1 \
        --output_dir results/models/kto/seed1 --seed 1

Paired data (chosen/rejected) is unpaired into (prompt, completion, label) rows and shuffled with
the run's seed before training: KTOTrainer samples sequentially and would otherwise see all
desirable rows, then all undesirable ones.
"""

from __future__ import annotations

import logging

from trl import KTOConfig, KTOTrainer

from handbook.checkpoints import train_and_save
from handbook.preference import label_balance, unpair_and_shuffle
from handbook.trainers import check_training_data, load_model_and_tokenizer, make_trainer
from handbook.training import run_main, start_run

logger = logging.getLogger("handbook.kto")


def main() -> None:
    from datasets import load_from_disk

    parsed, final_dir = start_run(KTOConfig)
    workflow_args, training_args, model_args = parsed

    dsd = load_from_disk(workflow_args.dataset_path, keep_in_memory=True)
    check_training_data(dsd["train"], "kto", workflow_args.dataset_path)
    train_dataset = unpair_and_shuffle(dsd["train"], training_args.seed)
    logger.info(
        "unpaired %d rows; desirable share in the first batches: %.2f",
        len(train_dataset),
        label_balance(train_dataset),
    )
    eval_dataset = None
    if "test" in dsd and training_args.eval_strategy != "no":
        eval_dataset = unpair_and_shuffle(dsd["test"], training_args.seed)
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    trainer = make_trainer(KTOTrainer, parsed, model, tokenizer, train_dataset, eval_dataset)
    train_and_save(trainer, workflow_args, final_dir, parsed)


if __name__ == "__main__":
    run_main(main)
