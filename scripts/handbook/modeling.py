"""The tiny base model (a byte-level BPE tokenizer with a Zephyr-style chat template, a Llama init),
and what loading any model for inference needs: a device and a tokenizer that can pad."""

from __future__ import annotations

from collections.abc import Iterable
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


def from_pretrained(cls, path: str, **kwargs):
    """cls.from_pretrained(path, ...) with every loading failure (missing or corrupt files, a
    hub id while offline, an unknown architecture) turned into one line naming the model."""
    try:
        loaded = cls.from_pretrained(path, **kwargs)
    except Exception as err:  # transformers, safetensors and the hub client raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ModelError(
            f"{path}: cannot load {cls.__name__} ({type(err).__name__}: {first})"
        ) from None
    if not cls.__name__.endswith("Tokenizer"):
        log_startup("model loaded")
    return loaded


def load_tokenizer(path: str):
    """A tokenizer that can pad batches; one without a pad token pads with its eos token (masked
    out)."""
    from transformers import AutoTokenizer

    tokenizer = from_pretrained(AutoTokenizer, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
