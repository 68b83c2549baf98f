"""Merge two models linearly: weight x the run's model + (1 - weight) x the other one.

    python scripts/merge_models.py --config config/recipes/smollm3/merge/linear.yaml \
        --model_name_or_path results/models/dpo/smollm3-apo \
        --dataset_path results/models/sft/smollm3-mid \
        --checkpoint_dir results/checkpoints/merge/smollm3 --output_dir results/models/merge/smollm3

A merge run (stage `merge`) names its model as every run does and the model it is merged with as
`merge_with`; the workflow passes that one where other stages get their data (--dataset_path). The
merged folder keeps the run's model's tokenizer and chat template, and loads with plain
transformers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from handbook import model_folder
from handbook.merging import MergeConfig, MergeError, linear_merge
from handbook.model_card import render_model_card
from handbook.modeling import from_pretrained
from handbook.provenance import write_json, write_provenance, write_text_atomic
from handbook.trainers import load_model_and_tokenizer
from handbook.training import RecipeError, WorkflowArguments, log_arguments, parse_recipe, run_main

logger = logging.getLogger("handbook.merge")


def main() -> None:
    from transformers import AutoModelForCausalLM
    from trl import ModelConfig

    parsed = parse_recipe((WorkflowArguments, MergeConfig, ModelConfig))
    log_arguments(*parsed)
    workflow_args, merge_args, model_args = parsed
    other_path = workflow_args.dataset_path
    if not other_path:
        raise RecipeError("--dataset_path (the model merged with) is required")
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    other = from_pretrained(
        AutoModelForCausalLM, other_path, dtype=model.dtype, use_safetensors=True
    )
    names = (model_args.model_name_or_path, other_path)
    try:
        merged = linear_merge(model.state_dict(), other.state_dict(), merge_args.weight, names)
    except MergeError as err:
        raise RecipeError(str(err)) from None
    model.load_state_dict(merged)
    final = Path(merge_args.output_dir)
    staging = model_folder.start(final)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    metrics = {
        "weight": merge_args.weight,
        "merged_with": other_path,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    write_json(staging / "metrics.json", metrics)
    write_text_atomic(
        staging / "README.md",
        render_model_card(
            title="/".join(final.parts[-2:]),
            method="merge",
            trainer=(
                f"linear merge ({merge_args.weight:g} x this, "
                f"{1 - merge_args.weight:g} x the other)"
            ),
            parent=model_args.model_name_or_path,
            dataset_path=other_path,
            dataset_name=f"merged with {other_path}",
            sources=[],
            arguments={"merge_method": merge_args.merge_method, "weight": merge_args.weight},
            metrics=metrics,
        ),
    )
    write_provenance(
        staging,
        config={type(a).__name__: a for a in parsed},
        inputs={"model": names[0], "merged_with": other_path},
    )
    model_folder.publish(staging, final)
    logger.info(
        "Merged %s (%g) with %s (%g) into %s",
        names[0],
        merge_args.weight,
        other_path,
        1 - merge_args.weight,
        final,
    )


if __name__ == "__main__":
    run_main(main)
