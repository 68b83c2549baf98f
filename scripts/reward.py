"""Reward modelling with TRL's RewardTrainer: a scalar score head on top of an SFT (or base) model.

The recipe YAML holds the hyperparameters; the workflow passes paths on the command line:

    python scripts/reward.py \
        --config config/recipes/demo/rm/tiny.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --checkpoint_dir results/checkpoints/rm/tiny \
        --output_dir results/models/rm/tiny

The dataset is a prepared preference DatasetDict (train, optionally test) with `chosen` and
`rejected` conversations, as in ultrafeedback_binarized. RewardTrainer applies the chat template and
tokenizes it itself: preference data is read once per RM, so a shared tokenized copy would not pay.
The saved folder loads with `AutoModelForSequenceClassification.from_pretrained` (num_labels=1).
"""

from __future__ import annotations

import logging

from trl import RewardConfig, RewardTrainer

from handbook.checkpoints import train_and_save
from handbook.data import DataError
from handbook.trainers import check_training_data, load_model_and_tokenizer, make_trainer
from handbook.training import RecipeError, run_main, start_run

logger = logging.getLogger("handbook.reward")

# Columns RewardTrainer reads; anything else (task labels, hub scores) is dropped before tokenizing.
USED_COLUMNS = ("prompt", "chosen", "rejected", "margin")


def load_preferences(path: str):
    """Train and test splits of a prepared preference dataset, in the form RewardTrainer expects."""
    from datasets import load_from_disk

    try:
        dsd = load_from_disk(path, keep_in_memory=True)
    except FileNotFoundError as err:
        raise DataError(f"{path}: not a prepared dataset folder ({err})") from err
    if "train" not in dsd:
        raise DataError(f"{path}: no 'train' split (has {sorted(dsd)})")
    splits = {
        name: fit_columns(dsd[name], f"{path} ({name})")
        for name in ("train", "test")
        if name in dsd
    }
    return splits["train"], splits.get("test")


def fit_columns(ds, where: str):
    check_training_data(ds, "rm", where)
    ds = ds.select_columns([c for c in USED_COLUMNS if c in ds.column_names])
    # ultrafeedback_binarized repeats the prompt as a string beside conversations that already start
    # with it; RewardTrainer would prepend it a second time, so a string prompt beside message lists
    # goes (with string replies, TRL's standard format, the prompt is kept).
    if (
        "prompt" in ds.column_names
        and len(ds)
        and isinstance(ds[0]["prompt"], str)
        and isinstance(ds[0]["chosen"], list)
    ):
        ds = ds.remove_columns("prompt")
    return ds


def main() -> None:
    from transformers import AutoModelForSequenceClassification, set_seed

    parsed, final_dir = start_run(RewardConfig)
    workflow_args, training_args, model_args = parsed
    if not workflow_args.dataset_path:
        raise RecipeError("--dataset_path is required (a prepared preference dataset folder)")

    train_dataset, eval_dataset = load_preferences(workflow_args.dataset_path)
    if eval_dataset is None or training_args.eval_strategy == "no":
        eval_dataset = None
    logger.info(
        "train pairs: %d, eval pairs: %s",
        len(train_dataset),
        len(eval_dataset) if eval_dataset else 0,
    )

    # The score head is initialised at load time, so the seed must be set first for reruns to match.
    set_seed(training_args.seed)
    model, tokenizer = load_model_and_tokenizer(
        model_args, AutoModelForSequenceClassification, workflow_args=workflow_args, num_labels=1
    )
    logger.info(
        "score head: a causal-LM checkpoint has none, so it starts from seed %d", training_args.seed
    )
    # The classifier pools the last token that is not padding; without a pad id it refuses batches.
    model.config.pad_token_id = tokenizer.pad_token_id
    if tokenizer.chat_template is None and training_args.chat_template_path is None:
        raise RecipeError(
            f"{model_args.model_name_or_path}: the tokenizer has no chat template; set "
            "chat_template_path in the recipe"
        )
    trainer = make_trainer(RewardTrainer, parsed, model, tokenizer, train_dataset, eval_dataset)
    train_and_save(trainer, workflow_args, final_dir, parsed)


if __name__ == "__main__":
    run_main(main)
