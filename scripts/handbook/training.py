"""What every training entry point shares: the workflow's arguments, recipe parsing with the CPU's
precision, the checks made before any model loads, and the entry point's one-line errors.

The trainer is built by handbook.trainers and trained and saved by handbook.checkpoints.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

from handbook import dashboards
from handbook.lifetime import die_with_parent
from handbook.provenance import log_startup, to_jsonable
from handbook.recipes import CPU_OVERRIDES, RecipeFileError, known_keys, read_recipe, resolve
from handbook.secrets import redact, take_secrets

logger = logging.getLogger("handbook")


@dataclass
class WorkflowArguments:
    """Paths the workflow passes on the command line; the recipe sets the rest."""

    dataset_path: str = field(
        default=None, metadata={"help": "Tokenized dataset folder (DatasetDict)."}
    )
    checkpoint_dir: str = field(
        default=None,
        metadata={
            "help": "Where Trainer checkpoints go; kept across failures so a rebuilt target "
            "resumes."
        },
    )
    stage: str = field(
        default=None, metadata={"help": "The training method's name (for the model card)."}
    )
    gpus: int = field(
        default=0,
        metadata={
            "help": "GPUs the job was given, over all its nodes; training without CUDA then is "
            "an error."
        },
    )
    tiny_scale: bool = field(
        default=False,
        metadata={
            "help": "Tiny-scale run on a machine without CUDA: QLoRA (4/8-bit) is run as plain "
            "LoRA."
        },
    )
    chat_template: str = field(
        default=None,
        metadata={
            "help": "Chat template (Jinja text, or a .jinja file) the tokenizer and the saved "
            "model get."
        },
    )
    global_batch: int = field(
        default=None,
        metadata={
            "help": "Sequences per optimizer step over all processes, as planned; another is an "
            "error."
        },
    )
    rehearsal: bool = field(
        default=False,
        metadata={
            "help": "A full-scale recipe on CPU stand-ins: QLoRA runs as LoRA, 8-bit optimizers "
            "as AdamW."
        },
    )
    run_dir: str = field(
        default=None,
        metadata={"help": "The run's dashboard folder (report_to: tensorboard or trackio)."},
    )
    run_group: str = field(
        default=None,
        metadata={"help": "The dashboard project the run is shown in: its sweep, or its stage."},
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
        raise RecipeError(f"{blamed(message, argv, source)}: {message}")

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
    except RecipeError:
        raise
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


def blamed(message: str, argv: list[str], source: str) -> str:
    """Where a bad value came from: the command line (the run's args) when the argument argparse
    names was given there, else the recipe."""
    import re

    named = re.match(r"argument (--\S+?)(?:/\S+)?:", message)
    if named and any(a == named.group(1) or a.startswith(named.group(1) + "=") for a in argv):
        return "command line (the run's args)"
    return source


def cpu_overrides() -> list[str]:
    """CPU_OVERRIDES as command-line arguments (--bf16 False ...) on a machine without CUDA."""
    import torch

    if torch.cuda.is_available():
        return []
    return [arg for key, value in CPU_OVERRIDES.items() for arg in (f"--{key}", str(value))]


def log_arguments(*parsed) -> None:
    for args in parsed:
        for key, value in sorted(redact(to_jsonable(args)).items()):
            logger.info("%s.%s = %r", type(args).__name__, key, value)


def bitsandbytes_missing() -> list[str]:
    """What 4/8-bit weights and optimizers need that this machine lacks: CUDA, bitsandbytes."""
    import importlib.util

    import torch

    have = {
        "CUDA": torch.cuda.is_available(),
        "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None,
    }
    return [name for name, ok in have.items() if not ok]


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
    check_reporting(training_args)
    dashboards.set_up(workflow_args, training_args)
    check_max_length(training_args, model_args)
    check_global_batch(workflow_args, training_args)
    check_optimizer(workflow_args, training_args)
    check_attention(model_args)
    # TRL 1.16 keeps trust_remote_code on the trainer's config, not on ModelConfig, which loads the
    # model.
    if getattr(training_args, "trust_remote_code", False):
        model_args.trust_remote_code = True
    final_dir = training_args.output_dir
    training_args.output_dir = workflow_args.checkpoint_dir
    return parsed, final_dir


def where_set(key: str) -> str:
    """The file (or the command line) a training argument came from, for an error naming it."""
    argv = sys.argv[1:]
    recipe = recipe_path(argv)
    return blamed(f"argument --{key}:", argv, recipe or "command line")


def check_reporting(training_args) -> None:
    """report_to an integration whose package is missing would fail after the model loads."""
    from transformers.integrations import get_available_reporting_integrations

    wanted = [r for r in training_args.report_to or [] if r not in ("none", "all")]
    missing = [r for r in wanted if r not in get_available_reporting_integrations()]
    if missing:
        raise RecipeError(
            f"{where_set('report_to')}: report_to: {', '.join(missing)} is not installed here "
            "(install its package in the job's env, or set report_to: none)"
        )


# Config fields that give a model's longest sequence, by architecture family.
POSITION_LIMITS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def check_max_length(training_args, model_args) -> None:
    """A length above the model's position limit is said in the log before the weights load,
    naming the file (or command line) that set it."""
    from transformers import AutoConfig

    from handbook.modeling import model_source

    fields = type(training_args).__dataclass_fields__
    lengths = {
        key: getattr(training_args, key)
        for key in ("max_length", "max_prompt_length", "max_completion_length")
        if getattr(training_args, key, None)
    }
    if not model_args.model_name_or_path:
        return
    source, revision = model_source(model_args.model_name_or_path)  # a typo stops here
    if not lengths:
        return
    try:
        config = AutoConfig.from_pretrained(source, revision=revision or model_args.model_revision)
    except (OSError, ValueError):
        return  # said in one line when the model itself is loaded
    limit = next((getattr(config, f) for f in POSITION_LIMITS if getattr(config, f, None)), None)
    for key, value in lengths.items():
        if not limit or value <= limit:
            continue
        # Said loudly rather than refused: a stand-in (tiny scale, rehearsal, a test's local
        # model) has fewer positions than the model its recipe was written for.
        logger.warning(
            "%s: %s %d is above the position limit of %s (%d): sequences that long cannot train",
            where_set(key) if value != fields[key].default else "trainer default",
            key,
            value,
            model_args.model_name_or_path,
            limit,
        )


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
        f"optim {optim} needs {' and '.join(missing)}, missing on this machine "
        "(use adamw_torch on a CPU)"
    )


def scale_name(workflow_args) -> str:
    return "rehearsal" if workflow_args.rehearsal else "tiny scale"


def check_device(workflow_args) -> None:
    """A run given GPUs on a machine without CUDA would train a full-size recipe on the CPU."""
    from handbook.device_check import missing_cuda

    problem = missing_cuda(workflow_args.gpus)
    if problem:
        raise RecipeError(problem)


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
            f"global batch {per_device} per device x {accumulation} accumulation x {world} "
            f"processes = {per_device * accumulation * world}, but the plan keeps "
            f"{workflow_args.global_batch} (the job's processes differ from the plan's: give the "
            "GPUs through the run's gpus, not the launcher)"
        )
    logger.info(
        "global batch: %d per device x %d accumulation x %d processes = %d",
        per_device,
        accumulation,
        world,
        workflow_args.global_batch,
    )


def run_main(main) -> None:
    """Run an entry point; a recipe or data problem becomes one clear line and exit status 2."""
    from handbook.data import DataError
    from handbook.modeling import ModelError

    die_with_parent()
    setup_logging()
    log_startup("main")
    try:
        main()
    except (RecipeError, DataError, ModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    log_startup("end")
