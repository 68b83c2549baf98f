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

from handbook import model_folder
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
    "run_dir",
    "run_group",
    "report_to",
    "project",
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


def clean_checkpoint_dir(checkpoint_dir: str, run_fingerprint: str) -> None:
    """Make the folder hold only checkpoints this run can resume from (main process only):
    checkpoints of another configuration, incomplete ones and unreadable ones are removed, each
    said in one warning line."""
    folder = Path(checkpoint_dir)
    stamp = folder / "fingerprint.txt"
    if folder.exists() and (not stamp.exists() or stamp.read_text().strip() != run_fingerprint):
        logger.warning("Checkpoints in %s are from another configuration: starting afresh", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(run_fingerprint + "\n")
    # A job killed while saving leaves a checkpoint without trainer_state.json: never resume from
    # it. One with a damaged file (a save cut short, a disk fault) would fail to load after the
    # model did, on every rebuild: the one before it is used instead.
    for checkpoint in sorted(folder.glob("checkpoint-*"), key=checkpoint_step, reverse=True):
        if not (checkpoint / "trainer_state.json").exists():
            logger.warning("Removing incomplete checkpoint %s", checkpoint)
            shutil.rmtree(checkpoint)
            continue
        damage = unreadable_file(checkpoint)
        if damage:
            logger.warning(
                "Checkpoint %s cannot be read (%s): removed, resuming from the one before it",
                checkpoint,
                damage,
            )
            shutil.rmtree(checkpoint)


def last_checkpoint(checkpoint_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(checkpoint_dir) if Path(checkpoint_dir).exists() else None
    if last:
        logger.info("Resuming from %s", last)
    return last


def checkpoint_step(folder: Path) -> int:
    suffix = folder.name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else -1


def unreadable_file(checkpoint: Path) -> str | None:
    """'<file>: <why>' for the first file of a checkpoint that cannot be read, else None. Checks
    what a cut-short write breaks, without loading tensors: a torch file's zip directory (written
    last), a safetensors header against the file's size, JSON."""
    import zipfile

    from safetensors import safe_open

    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        try:
            if path.suffix in (".pt", ".pth", ".bin"):
                zipfile.ZipFile(path).close()
            elif path.suffix == ".safetensors":
                with safe_open(str(path), "np"):
                    pass
            elif path.suffix == ".json":
                json.loads(path.read_text())
        except Exception as err:  # zipfile, safetensors and json each raise their own
            return f"{path.relative_to(checkpoint)}: {type(err).__name__}: {str(err)[:120]}"
    return None


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
    if is_main:
        clean_checkpoint_dir(workflow_args.checkpoint_dir, fingerprint(*parsed))
    trainer.accelerator.wait_for_everyone()
    resume = last_checkpoint(workflow_args.checkpoint_dir)
    if os.environ.get(KILL_AFTER_CHECKPOINT):
        trainer.add_callback(kill_after_checkpoint(int(os.environ[KILL_AFTER_CHECKPOINT])))
    result = trainer.train(resume_from_checkpoint=resume)
    metrics = {
        f"train_{k}" if not k.startswith("train") else k: v for k, v in result.metrics.items()
    }
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    metrics["world_size"] = trainer.accelerator.num_processes
    # Every process saves into the same staging folder (FSDP gathers through all of them); the
    # main one publishes it under the final name once the manifest is written.
    staging = model_folder.staging(final_dir)
    if is_main:
        model_folder.start(final_dir)
    trainer.accelerator.wait_for_everyone()
    save_final(trainer, str(staging))
    if is_main:
        trainer.processing_class.save_pretrained(staging)
        write_json(staging / "metrics.json", metrics)
        write_json(staging / "log_history.json", trainer.state.log_history)
        write_model_card(final_dir, parsed, trainer, metrics, into=staging)
        write_provenance(
            staging,
            config={type(a).__name__: a for a in parsed},
            inputs={
                "model": parsed[2].model_name_or_path,
                "dataset": workflow_args.dataset_path,
                "resumed_from": resume,
            },
        )
    trainer.accelerator.wait_for_everyone()
    if is_main:
        model_folder.publish(staging, final_dir)
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
