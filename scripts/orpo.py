"""Reference-free preference optimisation: ORPO, or CPO/SimPO, from trl.experimental.

    accelerate launch --config_file config/accelerate/cpu.yaml scripts/orpo.py \
        --config config/recipes/demo/orpo/tiny.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --checkpoint_dir results/checkpoints/orpo/seed1 --output_dir results/models/orpo/seed1

scripts/cpo.py runs CPO and SimPO through the same code (CPOConfig's loss_type: sigmoid, hinge,
ipo, simpo; loss_type simpo with cpo_alpha 0 gives SimPO).
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from trl import ModelConfig, get_peft_config  # noqa: E402

from handbook.training import (  # noqa: E402
    WorkflowArguments,
    load_model_and_tokenizer,
    load_tokenized,
    log_arguments,
    parse_recipe,
    run_main,
    train_and_save,
)

logger = logging.getLogger("handbook.orpo")


def trainer_classes(method: str):
    if method == "cpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        return CPOConfig, CPOTrainer
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer


def main(method: str = "orpo") -> None:
    config_cls, trainer_cls = trainer_classes(method)
    parsed = parse_recipe((WorkflowArguments, config_cls, ModelConfig))
    workflow_args, training_args, model_args = parsed
    log_arguments(*parsed)
    final_dir = training_args.output_dir
    training_args.output_dir = workflow_args.checkpoint_dir

    train_dataset, eval_dataset = load_tokenized(workflow_args.dataset_path)
    if training_args.eval_strategy == "no":
        eval_dataset = None
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    trainer = trainer_cls(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    train_and_save(trainer, workflow_args, training_args, final_dir, parsed)


if __name__ == "__main__":
    run_main(main)
