"""Tokenize preference pairs and score them once with the reference model, for every DPO run.

    python scripts/ref_logps.py \
        --model_name_or_path results/models/sft/tiny \
        --dataset_path results/data/demo_pref/prepared \
        --max_length 128 --output_dir results/ref_logps/demo_pref/sft/tiny

Writes a DatasetDict with prompt_ids, chosen_ids, rejected_ids, ref_chosen_logps and
ref_rejected_logps, plus summary.json (the settings the log-probs depend on: runs that use them
must train with the same max_length and truncation_mode).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from trl import DPOConfig, DPOTrainer, ModelConfig

from handbook.data import summarise
from handbook.preference import REF_COLUMNS, check_prompt_room, prompt_lengths
from handbook.provenance import write_json, write_provenance
from handbook.trainers import check_training_data, load_model_and_tokenizer
from handbook.training import WorkflowArguments, log_arguments, parse_recipe, run_main

logger = logging.getLogger("handbook.ref_logps")


def main() -> None:
    from datasets import DatasetDict, load_from_disk

    parsed = parse_recipe((WorkflowArguments, DPOConfig, ModelConfig))
    workflow_args, args, model_args = parsed
    log_arguments(*parsed)
    final_dir = args.output_dir
    args.output_dir = tempfile.mkdtemp(prefix="ref_logps_")
    args.precompute_ref_log_probs = True
    # In memory, so TRL's caches go to a temporary folder, not into the prepared dataset's folder.
    dsd = load_from_disk(workflow_args.dataset_path, keep_in_memory=True)
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    for split, dataset in dsd.items():
        where = f"{workflow_args.dataset_path} ({split})"
        check_training_data(dataset, "dpo", where)
        check_prompt_room(
            prompt_lengths(dataset, tokenizer), args.max_length, args.truncation_mode, where
        )
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dsd["train"],
        eval_dataset=dsd["test"] if "test" in dsd else None,
        processing_class=tokenizer,
    )
    splits = {"train": trainer.train_dataset}
    if trainer.eval_dataset is not None:
        splits["test"] = trainer.eval_dataset
    keep = ["prompt_ids", "chosen_ids", "rejected_ids", *REF_COLUMNS]
    out = DatasetDict({k: v.select_columns(keep) for k, v in splits.items()})
    if trainer.accelerator.is_main_process:
        out.save_to_disk(final_dir)
        summary = {
            "splits": summarise(out),
            "reference_model": model_args.model_name_or_path,
            "max_length": args.max_length,
            "truncation_mode": args.truncation_mode,
            "mean_ref_margin": float(
                sum(
                    c - r
                    for c, r in zip(
                        out["train"]["ref_chosen_logps"], out["train"]["ref_rejected_logps"]
                    )
                )
                / len(out["train"])
            ),
        }
        write_json(Path(final_dir) / "summary.json", summary)
        write_provenance(
            final_dir,
            config={type(a).__name__: a for a in parsed},
            inputs={"dataset": workflow_args.dataset_path},
        )
        logger.info("reference log-probs: %s", summary)


if __name__ == "__main__":
    run_main(main)
