"""Direct preference optimisation and its loss family (IPO, hinge, robust, APO, ...) with TRL.

    python scripts/dpo.py \
        --config config/recipes/demo/dpo/tiny.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/ref_logps/demo_pref/sft/tiny \
        --checkpoint_dir results/checkpoints/dpo/sigmoid --output_dir results/models/dpo/sigmoid \
        --loss_type sigmoid --beta 0.1

`loss_type` takes any of TRL's DPO losses, or a list with `loss_weights`. The dataset comes with
reference log-probs computed once for the whole sweep (scripts/ref_logps.py); the policy is never
copied into a reference model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from trl import DPOConfig

from handbook.checkpoints import train_and_save
from handbook.preference import PrecomputedDPOTrainer
from handbook.trainers import load_model_and_tokenizer, load_tokenized, make_trainer
from handbook.training import RecipeError, recipe_path, run_main, start_run

logger = logging.getLogger("handbook.dpo")


def check_reference(summary_path: Path, args, source: str) -> None:
    """Shared log-probs are only valid for the truncation they were computed with."""
    summary = json.loads(summary_path.read_text())
    for key in ("max_length", "truncation_mode"):
        if summary[key] != getattr(args, key):
            raise RecipeError(
                f"{source}: {key}={getattr(args, key)!r} but the reference log-probs in "
                f"{summary_path.parent} were computed with {key}={summary[key]!r}"
            )


def main() -> None:
    import sys

    parsed, final_dir = start_run(DPOConfig)
    workflow_args, training_args, model_args = parsed
    training_args.precompute_ref_log_probs = True
    summary = Path(workflow_args.dataset_path) / "summary.json"
    check_reference(summary, training_args, recipe_path(sys.argv[1:]) or "command line")

    train_dataset, eval_dataset = load_tokenized(workflow_args.dataset_path)
    if training_args.eval_strategy == "no":
        eval_dataset = None
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    trainer = make_trainer(
        PrecomputedDPOTrainer, parsed, model, tokenizer, train_dataset, eval_dataset, ref_model=None
    )
    train_and_save(trainer, workflow_args, final_dir, parsed)


if __name__ == "__main__":
    run_main(main)
