"""Group relative policy optimisation (GRPO) with verifiable rewards, through TRL's GRPOTrainer.

    python scripts/grpo.py \
        --config config/recipes/demo/grpo/tiny.yaml \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_prompts/prepared \
        --checkpoint_dir results/checkpoints/grpo/seed1 --output_dir results/models/grpo/seed1

The policy samples `num_generations` replies per prompt; the recipe's `reward_funcs` (verifiers
from handbook.verifiers: demo_answer, demo_format, final_number) score them against the prompt's
`answer`, and each reply is pushed towards the better ones of its group. With `use_vllm: true` at
full scale TRL generates with vLLM when it is installed. The final model's rollouts.jsonl keeps
a few generations per step with their rewards.
"""

from __future__ import annotations

import sys
from pathlib import Path

from handbook.checkpoints import train_and_save
from handbook.rl import (
    CompletionsFolder,
    GRPORunConfig,
    RolloutLog,
    check_columns,
    check_vllm,
    conversational_prompts,
)
from handbook.trainers import (
    check_training_data,
    load_model_and_tokenizer,
    load_tokenized,
    make_trainer,
)
from handbook.training import RecipeError, recipe_path, run_main, start_run
from handbook.verifiers import VerifierError


def main() -> None:
    from trl import GRPOTrainer

    parsed, final_dir = start_run(GRPORunConfig)
    workflow_args, training_args, model_args = parsed
    check_vllm(workflow_args, training_args)
    rollouts = RolloutLog(list(training_args.reward_funcs))
    try:
        reward_funcs = rollouts.functions()
    except VerifierError as err:
        raise RecipeError(f"{recipe_path(sys.argv[1:]) or 'command line'}: {err}") from None
    train_dataset, eval_dataset = load_tokenized(workflow_args.dataset_path)
    check_training_data(train_dataset, "grpo", workflow_args.dataset_path)
    check_columns(train_dataset, rollouts.names, workflow_args.dataset_path)
    if training_args.eval_strategy == "no":
        eval_dataset = None
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    train_dataset = conversational_prompts(train_dataset, tokenizer, workflow_args.dataset_path)
    if eval_dataset is not None:
        eval_dataset = conversational_prompts(eval_dataset, tokenizer, workflow_args.dataset_path)
    trainer = make_trainer(
        GRPOTrainer,
        parsed,
        model,
        tokenizer,
        train_dataset,
        eval_dataset,
        reward_funcs=reward_funcs,
    )
    if training_args.log_completions:
        trainer.add_callback(CompletionsFolder())
    train_and_save(trainer, workflow_args, final_dir, parsed)
    if trainer.accelerator.is_main_process:
        rollouts.write(Path(final_dir) / "rollouts.jsonl")


if __name__ == "__main__":
    run_main(main)
