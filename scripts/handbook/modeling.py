"""The tiny base model (a byte-level BPE tokenizer with a Zephyr-style chat template, a Llama init),
and what loading any model for inference needs: a device and a tokenizer that can pad."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from handbook.provenance import log_startup

SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>"]

# Zephyr's layout (<|role|>\n content </s>\n). The {% generation %} markers let transformers
# return an assistant-token mask, which TRL's assistant-only loss needs.
ZEPHYR_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' }}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int, model_max_length: int = 512):
    """Train a byte-level BPE tokenizer and wrap it so it saves and loads with AutoTokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        model_max_length=model_max_length,
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.chat_template = ZEPHYR_CHAT_TEMPLATE
    return fast


def init_llama(tokenizer, arch: dict[str, Any], seed: int):
    """A randomly initialised Llama-style causal LM sized by `arch` (hidden_size, layers, ...)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **arch,
    )
    return LlamaForCausalLM(config)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def best_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class ModelError(ValueError):
    """A model or tokenizer that cannot be loaded, said in one line naming it."""


def model_source(path: str) -> tuple[str, str | None]:
    """The folder or hub id a model reference names, and the revision an 'org/name@rev' id
    pins. A folder is checked against its manifest (handbook.model_folder); a path that can only
    be local and does not exist stops here rather than as a hub error."""
    from handbook.hub import is_hub_id, split_revision
    from handbook.model_folder import DamagedModel, check

    source, revision = split_revision(str(path))
    folder = Path(source).expanduser()
    if folder.is_dir():
        try:
            check(str(folder))
        except DamagedModel as err:
            raise ModelError(str(err)) from None
    elif not is_hub_id(source):
        raise ModelError(f"{path}: no such model folder (a hub id is 'org/name')")
    return source, revision


def adapter_base(folder: str) -> str | None:
    """The base model of a folder holding only a PEFT adapter (adapter_config.json, no
    config.json), else None."""
    config = Path(folder) / "adapter_config.json"
    if not config.is_file() or (Path(folder) / "config.json").is_file():
        return None
    return json.loads(config.read_text()).get("base_model_name_or_path")


def from_pretrained(cls, path: str, **kwargs):
    """cls.from_pretrained(path, ...) with every loading failure (missing or corrupt files, a
    hub id while offline, an unknown architecture) turned into one line naming the model. A
    LoRA adapter folder loads onto its base, merged (a tokenizer without files of its own comes
    from the base), as a chain of adapters expects."""
    source, revision = model_source(path)
    if revision:
        if kwargs.get("revision") not in (None, "main", revision):
            raise ModelError(
                f"{path}: pins revision {revision!r} but model_revision is {kwargs['revision']!r}"
            )
        kwargs["revision"] = revision
    base = adapter_base(source)
    is_tokenizer = cls.__name__.endswith("Tokenizer")
    if base and is_tokenizer and not (Path(source) / "tokenizer_config.json").is_file():
        return from_pretrained(cls, base, **kwargs)
    try:
        if base and not is_tokenizer:
            loaded = merged_adapter(cls, source, base, **kwargs)
        else:
            loaded = cls.from_pretrained(source, **kwargs)
    except Exception as err:  # transformers, safetensors and the hub client raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ModelError(
            f"{path}: cannot load {cls.__name__} ({type(err).__name__}: {first})"
        ) from None
    if not is_tokenizer:
        log_startup("model loaded")
    return loaded


def merged_adapter(cls, folder: str, base: str, **kwargs):
    import logging

    from peft import PeftModel

    logging.getLogger("handbook").info(
        "%s is a LoRA adapter: loading it onto its base %s, merged", folder, base
    )
    base_model = from_pretrained(cls, base, **kwargs)
    return PeftModel.from_pretrained(base_model, folder).merge_and_unload()


def load_tokenizer(path: str):
    """A tokenizer that can pad batches; one without a pad token pads with its eos token (masked
    out)."""
    from transformers import AutoTokenizer

    tokenizer = from_pretrained(AutoTokenizer, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
