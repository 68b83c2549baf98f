"""Tokenizing prepared data for continued pretraining and SFT: a conversation through the
tokenizer's chat template (with the assistant mask TRL's assistant-only loss reads), a
prompt-completion row with a completion mask, text with EOS. The chat template is checked once,
before any row, so a broken one is one line naming it. Every problem is a DataError naming the
dataset, split and row, as handbook.data's checks are.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from handbook.data import FORMAT_COLUMNS, DataError, check_format

# The data pipeline's logger: its warnings read the same from preparing and tokenizing.
logger = logging.getLogger("handbook.data")


def tokenize_example(
    example: dict[str, Any], tokenizer, where: str, assistant_masks: bool = True
) -> dict[str, list[int]]:
    """Conversations get the tokenizer's chat template, and an assistant mask when the template
    marks assistant tokens (`assistant_masks`); prompt-completion rows a completion mask (the loss
    is on the completion, as TRL does); text gets EOS."""
    if "messages" in example:
        out = tokenizer.apply_chat_template(
            example["messages"],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=assistant_masks,
        )
        if not assistant_masks:
            return {"input_ids": list(out["input_ids"])}
        if 1 not in out["assistant_masks"]:
            raise DataError(
                f"{where}: the chat template marks no assistant tokens in this conversation "
                "(is its last turn the user's?)"
            )
        return {
            "input_ids": list(out["input_ids"]),
            "assistant_masks": list(out["assistant_masks"]),
        }
    if "prompt" in example and "completion" in example:
        prompt, completion = example["prompt"], example["completion"]
        if isinstance(prompt, list):
            prompt_ids = tokenizer.apply_chat_template(
                prompt, tokenize=True, add_generation_prompt=True, return_dict=True
            )
            full = tokenizer.apply_chat_template(
                prompt + completion, tokenize=True, return_dict=True
            )["input_ids"]
            prompt_ids = list(prompt_ids["input_ids"])
            if list(full[: len(prompt_ids)]) != prompt_ids:
                raise DataError(
                    f"{where}: the chat template renders the prompt differently with the "
                    "completion after it"
                )
            completion_ids = list(full[len(prompt_ids) :])
        else:
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [
                tokenizer.eos_token_id
            ]
        return {
            "input_ids": list(prompt_ids) + completion_ids,
            "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
        }
    if "text" in example:
        ids = tokenizer(example["text"], add_special_tokens=False)["input_ids"]
        return {"input_ids": ids + [tokenizer.eos_token_id]}
    raise DataError(
        f"{where}: columns {sorted(example)} cannot be tokenized for cpt or sft, which take "
        f"language modelling ({FORMAT_COLUMNS['language modelling']}) or prompt-completion "
        f"({FORMAT_COLUMNS['prompt-completion']}) data"
    )


def check_chat_template(tokenizer, source: str) -> bool:
    """The template parses and renders a short conversation, else one line naming the template,
    before any row is tokenized. Returns whether it marks the assistant's tokens ({% generation %}
    markers), which assistant-only loss needs; without them a run trains on every token."""
    import jinja2

    if not tokenizer.chat_template:
        raise DataError(
            f"{source}: the tokenizer has no chat template (give the base model a chat_template)"
        )
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        if re.search(rf"\b{name}\b", tokenizer.chat_template) and getattr(tokenizer, name) is None:
            raise DataError(
                f"{source}: the chat template uses {name}, which the tokenizer does not have"
            )
    probe = [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4"}]
    try:
        out = tokenizer.apply_chat_template(
            probe, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
    except (jinja2.TemplateError, ValueError, KeyError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise DataError(
            f"{source}: the chat template does not render ({type(err).__name__}: {first})"
        ) from None
    return 1 in out["assistant_masks"]


def tokenize_splits(dsd, tokenizer, name: str, template_source: str = "tokenizer"):
    import datasets

    for split, ds in dsd.items():
        check_format(
            ds.column_names,
            ("language modelling", "prompt-completion"),
            "cpt or sft",
            f"dataset '{name}' ({split})",
        )
    conversational = any(
        "messages" in ds.column_names
        or ("prompt" in ds.column_names and len(ds) and isinstance(ds[0]["prompt"], list))
        for ds in dsd.values()
    )
    masks = check_chat_template(tokenizer, template_source) if conversational else False
    if conversational and not masks:
        logger.warning(
            "%s: the chat template has no {%% generation %%} markers: no assistant masks, so runs "
            "on this data train on every token (assistant_only_loss needs the markers)",
            template_source,
        )
    out = {}
    for split, ds in dsd.items():
        out[split] = ds.map(
            # The split is bound now: a lambda reads loop variables when called, not when made.
            lambda ex, idx, split=split: tokenize_example(
                ex, tokenizer, f"dataset '{name}' ({split}) row {idx}", masks
            ),
            with_indices=True,
            remove_columns=ds.column_names,
            desc=f"Tokenizing {name}/{split}",
        )
    return datasets.DatasetDict(out)
