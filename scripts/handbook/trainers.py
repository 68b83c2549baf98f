"""What a training entry point builds its trainer from: the tokenized or prepared data, checked
for a format the stage trains on; the model and tokenizer (QLoRA's 4/8-bit weights where this
machine can, the run's chat template); and a TRL trainer with the run's arguments and LoRA settings.
train_reference_free is the whole entry point of the reference-free preference methods.
"""

from __future__ import annotations

import logging

from handbook.checkpoints import train_and_save
from handbook.modeling import from_pretrained
from handbook.recipes import RecipeFileError, chat_template_from
from handbook.training import RecipeError, bitsandbytes_missing, scale_name, start_run

logger = logging.getLogger("handbook")


def load_tokenized(path: str):
    from datasets import load_from_disk

    # In memory: trainers that map the data must not write cache files into another target's folder.
    dsd = load_from_disk(path, keep_in_memory=True)
    return dsd["train"], dsd["test"] if "test" in dsd else None


def check_training_data(dataset, stage: str, where: str) -> None:
    """Data in a format the stage cannot train on stops here, in one line naming the formats it
    takes."""
    from handbook.data import check_format
    from handbook.methods import METHODS

    check_format(dataset.column_names, METHODS[stage].formats, f"a {stage} run", where)


def quantization_config(model_args, workflow_args=None):
    """bitsandbytes settings for QLoRA; refused without CUDA unless a tiny-scale run maps it to
    LoRA."""
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
    train_and_save(trainer, workflow_args, final_dir, parsed)
