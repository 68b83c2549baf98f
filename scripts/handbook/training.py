"""What every training entry point shares: recipe parsing, precision, resume, saving, provenance."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handbook.model_card import write_model_card
from handbook.modeling import from_pretrained
from handbook.provenance import log_startup, to_jsonable, write_json, write_provenance
from handbook.recipes import RecipeFileError, chat_template_from, known_keys, read_recipe, resolve
from handbook.secrets import redact, take_secrets

logger = logging.getLogger("handbook")

# Fault injection for the resume tests: SIGKILL this process right after it saves the checkpoint
# of this step, as a crash, preemption or OOM kill would at that point.
KILL_AFTER_CHECKPOINT = "HANDBOOK_KILL_AFTER_CHECKPOINT"

# Arguments that name where things go, not what is trained: they do not change a checkpoint's meaning.
PLACEMENT_KEYS = {
    "output_dir",
    "logging_dir",
    "checkpoint_dir",
    "run_name",
    "hub_model_id",
    "stage",
    "gpus",
}


@dataclass
class WorkflowArguments:
    """Paths the workflow passes on the command line; the recipe sets the rest."""

    dataset_path: str = field(
        default=None, metadata={"help": "Tokenized dataset folder (DatasetDict)."}
    )
    checkpoint_dir: str = field(
        default=None,
        metadata={
            "help": "Where Trainer checkpoints go; kept across failures so a rebuilt target resumes."
        },
    )
    stage: str = field(
        default=None, metadata={"help": "The training method's name (for the model card)."}
    )
    gpus: int = field(
        default=0,
        metadata={"help": "GPUs the job was given; training without CUDA then is an error."},
    )
    tiny_scale: bool = field(
        default=False,
        metadata={
            "help": "Tiny-scale run on a machine without CUDA: QLoRA (4/8-bit) is run as plain LoRA."
        },
    )
    chat_template: str = field(
        default=None,
        metadata={
            "help": "Chat template (Jinja text, or a .jinja file) the tokenizer and the saved model get."
        },
    )
    global_batch: int = field(
        default=None,
        metadata={
            "help": "Sequences per optimizer step over all processes, as planned; another is an error."
        },
    )
    rehearsal: bool = field(
        default=False,
        metadata={
            "help": "A full-scale recipe on CPU stand-ins: QLoRA runs as LoRA, 8-bit optimizers as AdamW."
        },
    )


class RecipeError(ValueError):
    pass


def setup_logging() -> None:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO,
        stream=sys.stdout,
        force=True,
    )


def recipe_path(argv: list[str]) -> str | None:
    return argv[argv.index("--config") + 1] if "--config" in argv else None


def parse_recipe(dataclass_types, argv: list[str] | None = None):
    """Dataclass defaults < recipe YAML < command line, with CPU-appropriate precision.

    The recipe may be in the alignment handbook's format: its keys are mapped as handbook.recipes
    says, one logged line each. On a machine without CUDA, bf16/fp16 and gradient checkpointing are
    switched off: TRL's bf16 default is emulated and much slower on CPU, and checkpointing only
    trades speed for memory.
    """
    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    source = recipe_path(argv) or "command line"
    parser = TrlParser(dataclass_types)

    def fail(message: str):
        # argparse would print the usage of every trainer argument (~150 lines) before its message.
        raise RecipeError(f"{source}: {message}")

    parser.error = fail
    if "--config" in argv:
        at = argv.index("--config")
        argv = argv[:at] + argv[at + 2 :]
        try:
            resolved = resolve(read_recipe(source), known_keys(*dataclass_types), source)
        except RecipeFileError as err:
            raise RecipeError(str(err)) from None
        for note in resolved.notes:
            logger.warning("%s: %s", source, note)
        for key, value in (resolved.args.pop("env", None) or {}).items():
            os.environ[key] = str(value)
        parser.set_defaults_with_config(**resolved.args)
    known = known_keys(*dataclass_types)
    overrides = [
        a
        for flag, value in zip(*[iter(cpu_overrides())] * 2)
        if flag[2:] in known
        for a in (flag, value)
    ]
    if overrides:
        logger.info(
            "No CUDA device: training in fp32 without gradient checkpointing (%s)",
            " ".join(overrides),
        )
    try:
        parsed = parser.parse_args_into_dataclasses(args=argv + overrides)
    except ValueError as err:
        message = str(err).splitlines()[0]
        if "not used by the HfArgumentParser" in message:
            unused = message.split(":", 1)[1].strip()
            raise RecipeError(
                f"command line (the run's args): unknown argument(s) {unused}"
            ) from err
        raise RecipeError(f"{source}: {message}") from err
    except SystemExit as err:  # argparse exits on a bad type/value; say where it came from
        raise RecipeError(f"{source}: invalid arguments (see the message above)") from err
    take_secrets(*parsed)
    return parsed


def cpu_overrides() -> list[str]:
    import torch

    if torch.cuda.is_available():
        return []
    return ["--bf16", "False", "--fp16", "False", "--gradient_checkpointing", "False"]


def log_arguments(*parsed) -> None:
    for args in parsed:
        for key, value in sorted(redact(to_jsonable(args)).items()):
            logger.info("%s.%s = %r", type(args).__name__, key, value)


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
        # A job killed while saving leaves a checkpoint without trainer_state.json: never resume from it.
        for partial in folder.glob("checkpoint-*"):
            if not (partial / "trainer_state.json").exists():
                logger.warning("Removing incomplete checkpoint %s", partial)
                shutil.rmtree(partial)
    last = get_last_checkpoint(str(folder)) if folder.exists() else None
    if last:
        logger.info("Resuming from %s", last)
    return last


def load_tokenized(path: str):
    from datasets import load_from_disk

    # In memory: trainers that map the data must not write cache files into another target's folder.
    dsd = load_from_disk(path, keep_in_memory=True)
    return dsd["train"], dsd["test"] if "test" in dsd else None


def check_training_data(dataset, stage: str, where: str) -> None:
    """Data in a format the stage cannot train on stops here, in one line naming the formats it takes."""
    from handbook.data import check_format
    from handbook.methods import METHODS

    check_format(dataset.column_names, METHODS[stage].formats, f"a {stage} run", where)


def bitsandbytes_missing() -> list[str]:
    """What 4/8-bit weights and optimizers need that this machine lacks: CUDA, bitsandbytes."""
    import importlib.util

    import torch

    have = {
        "CUDA": torch.cuda.is_available(),
        "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None,
    }
    return [name for name, ok in have.items() if not ok]


def quantization_config(model_args, workflow_args=None):
    """bitsandbytes settings for QLoRA; refused without CUDA unless a tiny-scale run maps it to LoRA."""
    from trl import get_quantization_config

    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return None
    missing = bitsandbytes_missing()
    if not missing:
        return get_quantization_config(model_args)
    if workflow_args is not None and (workflow_args.tiny_scale or workflow_args.rehearsal):
        logger.warning(
            "QLoRA needs %s: %s runs it as LoRA in fp32 instead",
            " and ".join(missing),
            scale_name(workflow_args),
        )
        model_args.load_in_4bit = model_args.load_in_8bit = False
        return None
    raise RecipeError(
        f"QLoRA (load_in_4bit/load_in_8bit) needs {' and '.join(missing)}, missing on this machine "
        "(run on a CUDA node with the gpu extra, or set use_peft without quantization)"
    )


def load_model_and_tokenizer(model_args, model_cls=None, workflow_args=None, **kwargs):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_cls = model_cls or AutoModelForCausalLM
    quantization = quantization_config(model_args, workflow_args)
    dtype = model_args.dtype if torch.cuda.is_available() else "float32"
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    remote_code = bool(getattr(model_args, "trust_remote_code", False))
    if remote_code:
        logger.warning(
            "trust_remote_code: the recipe asks to run code shipped with %s",
            model_args.model_name_or_path,
        )
    # Weights load from safetensors only: a pickled checkpoint can run arbitrary code when loaded.
    model = from_pretrained(
        model_cls,
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=dtype if dtype in (None, "auto") else getattr(torch, dtype),
        attn_implementation=model_args.attn_implementation,
        trust_remote_code=remote_code,
        use_safetensors=True,
        **kwargs,
    )
    tokenizer = from_pretrained(
        AutoTokenizer,
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=remote_code,
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = getattr(workflow_args, "chat_template", None)
    if template and getattr(workflow_args, "tiny_scale", False):
        logger.warning(
            "tiny scale: the recipe's chat_template is not used; the demo model keeps its own"
        )
    elif template:
        try:
            tokenizer.chat_template = chat_template_from(template)
        except RecipeFileError as err:
            raise RecipeError(str(err)) from None
    return model, tokenizer


def save_final(trainer, final_dir: str) -> None:
    """A folder that loads with plain transformers: LoRA adapters are merged (and kept in adapter/)."""
    from peft import PeftModel

    if trainer.is_fsdp_enabled:
        # A sharded state dict saves no weights through save_model; gather a full one for the final model.
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


def train_and_save(
    trainer, workflow_args, training_args, final_dir: str, parsed: tuple
) -> dict[str, Any]:
    """Train (resuming if possible), evaluate, and save a checkpoint that loads with plain transformers."""
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


def start_run(config_cls):
    """Parse recipe and command line into (workflow, training, model) arguments and log them.

    Trainer checkpoints go to --checkpoint_dir, outside the job's declared output (Snakemake
    deletes a failed job's outputs, and a rebuilt target resumes from them); the final model goes
    to the --output_dir returned beside the arguments.
    """
    from trl import ModelConfig

    parsed = parse_recipe((WorkflowArguments, config_cls, ModelConfig))
    log_arguments(*parsed)
    workflow_args, training_args, model_args = parsed
    check_device(workflow_args)
    check_global_batch(workflow_args, training_args)
    check_optimizer(workflow_args, training_args)
    check_attention(model_args)
    # TRL 1.16 keeps trust_remote_code on the trainer's config, not on ModelConfig, which loads the model.
    if getattr(training_args, "trust_remote_code", False):
        model_args.trust_remote_code = True
    final_dir = training_args.output_dir
    training_args.output_dir = workflow_args.checkpoint_dir
    return parsed, final_dir


def check_attention(model_args) -> None:
    """flash-attention kernels exist only on CUDA: without it a recipe's flash_attention_2 runs as
    sdpa (the same attention, computed by torch), said in the log like the fp32 switch."""
    import torch

    wanted = model_args.attn_implementation or ""
    if wanted.startswith("flash") and not torch.cuda.is_available():
        logger.warning("No CUDA device: attn_implementation %s -> sdpa", wanted)
        model_args.attn_implementation = "sdpa"


def check_optimizer(workflow_args, training_args) -> None:
    """bitsandbytes optimizers (8-bit, paged) need CUDA and bitsandbytes: a tiny-scale run uses
    AdamW instead, as it runs QLoRA as LoRA; a full-scale run without them stops before loading."""
    optim = getattr(training_args.optim, "value", training_args.optim)
    if "bnb" not in optim and "paged" not in optim and "8bit" not in optim:
        return
    missing = bitsandbytes_missing()
    if not missing:
        return
    if workflow_args.tiny_scale or workflow_args.rehearsal:
        logger.warning(
            "optim %s needs %s: %s trains with adamw_torch instead",
            optim,
            " and ".join(missing),
            scale_name(workflow_args),
        )
        training_args.optim = "adamw_torch"
        return
    raise RecipeError(
        f"optim {optim} needs {' and '.join(missing)}, missing on this machine (use adamw_torch on a CPU)"
    )


def scale_name(workflow_args) -> str:
    return "rehearsal" if workflow_args.rehearsal else "tiny scale"


def check_device(workflow_args) -> None:
    """A run given GPUs on a machine without CUDA would train a full-size recipe on the CPU. On a
    GPU node the likely cause is the job's Python: the submit host's CPU-only torch instead of the
    rule's conda env."""
    import torch

    if workflow_args.gpus and not torch.cuda.is_available():
        raise RecipeError(
            f"the run asks for {workflow_args.gpus} GPU(s) but torch {torch.__version__} sees no CUDA device: on a "
            "GPU node, run Snakemake with --sdm conda so the job uses envs/gpu.yaml (a CPU-only torch sees no GPU); "
            "on a CPU machine set the run's gpus: 0, or build it at scale: rehearsal or tiny"
        )


def check_global_batch(workflow_args, training_args) -> None:
    """The planned global batch is what this job trains with, whatever processes it was given."""
    if not workflow_args.global_batch:
        return
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_device, accumulation = (
        training_args.per_device_train_batch_size,
        training_args.gradient_accumulation_steps,
    )
    if per_device * accumulation * world != workflow_args.global_batch:
        raise RecipeError(
            f"global batch {per_device} per device x {accumulation} accumulation x {world} processes = "
            f"{per_device * accumulation * world}, but the plan keeps {workflow_args.global_batch} (the job's processes "
            "differ from the plan's: give the GPUs through the run's gpus, not the launcher)"
        )
    logger.info(
        "global batch: %d per device x %d accumulation x %d processes = %d",
        per_device,
        accumulation,
        world,
        workflow_args.global_batch,
    )


def make_trainer(trainer_cls, parsed, model, tokenizer, train_dataset, eval_dataset, **kwargs):
    """A TRL trainer of any method, with the run's arguments and LoRA settings."""
    from trl import get_peft_config

    _, training_args, model_args = parsed
    return trainer_cls(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        **kwargs,
    )


def train_reference_free(config_cls, trainer_cls) -> None:
    """Train a reference-free preference optimiser (ORPO, CPO/SimPO) on prepared pairs, as the
    command line and recipe say: `config_cls` parses the recipe, `trainer_cls` trains."""
    parsed, final_dir = start_run(config_cls)
    workflow_args, training_args, model_args = parsed
    train_dataset, eval_dataset = load_tokenized(workflow_args.dataset_path)
    check_training_data(train_dataset, workflow_args.stage or "orpo", workflow_args.dataset_path)
    if training_args.eval_strategy == "no":
        eval_dataset = None
    model, tokenizer = load_model_and_tokenizer(model_args, workflow_args=workflow_args)
    trainer = make_trainer(trainer_cls, parsed, model, tokenizer, train_dataset, eval_dataset)
    train_and_save(trainer, workflow_args, training_args, final_dir, parsed)


def run_main(main) -> None:
    """Run an entry point; a recipe or data problem becomes one clear line and exit status 2."""
    from handbook.data import DataError
    from handbook.modeling import ModelError

    setup_logging()
    log_startup("main")
    try:
        main()
    except (RecipeError, DataError, ModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    log_startup("end")
