"""Supervised fine-tuning (and continued pretraining) with TRL's SFTTrainer.

The recipe YAML holds the hyperparameters; the workflow passes paths on the command line:

    python scripts/sft.py \
        --config config/recipes/demo/sft/tiny.yaml \
        --model_name_or_path results/models/cpt/tiny \
        --dataset_path results/data/demo_sft/tokenized/tiny \
        --checkpoint_dir results/checkpoints/sft/tiny \
        --output_dir results/models/sft/tiny

The dataset is pre-tokenized by the workflow (`input_ids`, plus `assistant_masks` for chat data),
so SFTTrainer skips its own tokenization and every run on the same data shares one copy.
"""

from __future__ import annotations

import logging
import sys

from trl import SFTConfig, SFTTrainer

from handbook.checkpoints import train_and_save
from handbook.trainers import load_model_and_tokenizer, load_tokenized, make_trainer
from handbook.training import RecipeError, recipe_path, run_main, start_run

logger = logging.getLogger("handbook.sft")


def main() -> None:
    parsed, final_dir = start_run(SFTConfig)
    workflow_args, training_args, model_args = parsed

    train_dataset, eval_dataset = load_tokenized(workflow_args.dataset_path)
    if eval_dataset is None or training_args.eval_strategy == "no":
        eval_dataset = None
    logger.info(
        "train rows: %d, eval rows: %s",
        len(train_dataset),
        len(eval_dataset) if eval_dataset else 0,
    )
    wants_assistant_only = training_args.assistant_only_loss
    if wants_assistant_only and "assistant_masks" not in train_dataset.column_names:
        raise RecipeError(
            f"{recipe_path(sys.argv) or 'command line'}: assistant_only_loss: true needs assistant "
            f"masks, which {workflow_args.dataset_path} lacks: its chat template has no "
            "{% generation %} markers (give the base model a template with them, or set "
            "assistant_only_loss: false to train on every token)"
        )
    if "assistant_masks" in train_dataset.column_names:
        if wants_assistant_only:
            # The workflow's tokenizer step already made the masks; TRL turns them into labels. Its
            # own check for assistant-only loss expects raw conversations, so it is switched off
            # while the trainer is built and restored after (the provenance keeps the recipe's
            # value).
            training_args.assistant_only_loss = False
            logger.info("assistant-only loss: labels from the tokenized assistant_masks")
        else:
            train_dataset = train_dataset.remove_columns("assistant_masks")
            eval_dataset = eval_dataset.remove_columns("assistant_masks") if eval_dataset else None
            logger.info("loss on every token (assistant_only_loss is false)")
    else:
        logger.info(
            "loss on every token (assistant_only_loss is false; the data has no assistant masks)"
        )
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    trainer = make_trainer(SFTTrainer, parsed, model, tokenizer, train_dataset, eval_dataset)
    training_args.assistant_only_loss = wants_assistant_only
    train_and_save(trainer, workflow_args, final_dir, parsed)


if __name__ == "__main__":
    run_main(main)
