"""Training to checkpoints that outlive a failed job, and saving the final model.

Trainer checkpoints carry a fingerprint of the run's arguments: a rebuilt target resumes from
checkpoints of the same configuration and discards those of another. The final folder loads with
plain transformers (a LoRA adapter merged in, kept beside it in adapter/) and carries the metrics,
the log history, a model card and the provenance of the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from handbook.model_card import write_model_card
from handbook.modeling import from_pretrained
from handbook.provenance import to_jsonable, write_json, write_provenance

logger = logging.getLogger("handbook")

# Fault injection for the resume tests: SIGKILL this process right after it saves the checkpoint
# of this step, as a crash, preemption or OOM kill would at that point.
KILL_AFTER_CHECKPOINT = "HANDBOOK_KILL_AFTER_CHECKPOINT"

# Arguments that name where things go, not what is trained: they do not change a checkpoint's
# meaning.
PLACEMENT_KEYS = {
    "output_dir",
    "logging_dir",
    "checkpoint_dir",
    "run_name",
    "hub_model_id",
    "stage",
    "gpus",
}


def fingerprint(*parsed) -> str:
    """Hash of everything that determines a run, to tell if old checkpoints belong to it."""
    content = {}
    for args in parsed:
        values = to_jsonable(args)
        content[type(args).__name__] = {k: v for k, v in values.items() if k not in PLACEMENT_KEYS}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def prepare_checkpoint_dir(checkpoint_dir: str, run_fingerprint: str, is_main: bool) -> str | None:
    """Return the checkpoint to resume from, discarding checkpoints of a different configuration."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(checkpoint_dir)
    stamp = folder / "fingerprint.txt"
    if folder.exists() and (not stamp.exists() or stamp.read_text().strip() != run_fingerprint):
        if is_main:
            logger.warning(
                "Checkpoints in %s are from another configuration: starting afresh", folder
            )
            shutil.rmtree(folder)
    if is_main:
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(run_fingerprint + "\n")
    if is_main:
        # A job killed while saving leaves a checkpoint without trainer_state.json: never resume
        # from it.
        for partial in folder.glob("checkpoint-*"):
            if not (partial / "trainer_state.json").exists():
                logger.warning("Removing incomplete checkpoint %s", partial)
                shutil.rmtree(partial)
    last = get_last_checkpoint(str(folder)) if folder.exists() else None
    if last:
        logger.info("Resuming from %s", last)
    return last


def save_final(trainer, final_dir: str) -> None:
    """A folder that loads with plain transformers: LoRA adapters are merged (and kept in
    adapter/)."""
    from peft import PeftModel

    if trainer.is_fsdp_enabled:
        # A sharded state dict saves no weights through save_model; gather a full one for the
        # final model.
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    model = trainer.accelerator.unwrap_model(trainer.model)
    if not isinstance(model, PeftModel):
        trainer.save_model(final_dir)
        return
    if trainer.accelerator.is_main_process:
        model.save_pretrained(f"{final_dir}/adapter")
        base = model.get_base_model()
        if getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False):
            # QLoRA: the adapter goes into a bf16 copy of the base, so the next stage (and plain
            # transformers) loads a full model rather than an adapter over 4-bit weights.
            model = merge_into_full_precision(
                type(base), base.config._name_or_path, f"{final_dir}/adapter"
            )
        else:
            model = model.merge_and_unload()
        model.save_pretrained(final_dir)
        logger.info(
            "Merged the LoRA adapter into %s (adapter kept in %s/adapter)", final_dir, final_dir
        )


def merge_into_full_precision(model_cls, base_path: str, adapter_dir: str):
    import torch
    from peft import PeftModel

    logger.info("QLoRA: merging the adapter into %s loaded in bf16", base_path)
    base = from_pretrained(model_cls, base_path, dtype=torch.bfloat16, use_safetensors=True)
    return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()


def train_and_save(trainer, workflow_args, final_dir: str, parsed: tuple) -> dict[str, Any]:
    """Train (resuming if possible), evaluate, and save a checkpoint that loads with plain
    transformers."""
    is_main = trainer.accelerator.is_main_process
    resume = prepare_checkpoint_dir(workflow_args.checkpoint_dir, fingerprint(*parsed), is_main)
    trainer.accelerator.wait_for_everyone()
    if os.environ.get(KILL_AFTER_CHECKPOINT):
        trainer.add_callback(kill_after_checkpoint(int(os.environ[KILL_AFTER_CHECKPOINT])))
    result = trainer.train(resume_from_checkpoint=resume)
    metrics = {
        f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()
    }
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    metrics["world_size"] = trainer.accelerator.num_processes
    save_final(trainer, final_dir)
    if is_main:
        trainer.processing_class.save_pretrained(final_dir)
        write_json(Path(final_dir) / "metrics.json", metrics)
        write_json(Path(final_dir) / "log_history.json", trainer.state.log_history)
        write_model_card(final_dir, parsed, trainer, metrics)
        write_provenance(
            final_dir,
            config={type(a).__name__: a for a in parsed},
            inputs={
                "model": parsed[2].model_name_or_path,
                "dataset": workflow_args.dataset_path,
                "resumed_from": resume,
            },
        )
        logger.info("Saved %s: %s", final_dir, json.dumps(to_jsonable(metrics)))
    trainer.accelerator.wait_for_everyone()
    return metrics


def kill_after_checkpoint(step: int):
    from transformers import TrainerCallback

    class KillAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step >= step:
                logger.warning(
                    "%s=%d: killing this process after its checkpoint", KILL_AFTER_CHECKPOINT, step
                )
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)

    return KillAfterCheckpoint()
