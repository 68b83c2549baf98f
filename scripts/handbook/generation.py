"""Batched generation with a causal LM (transformers), for the scripts that decode or sample
replies."""

from __future__ import annotations

import logging

from handbook.modeling import from_pretrained


def load_causal_lm(path: str, *, dtype, device: str | None = None, device_map: str | None = None):
    """An inference-mode causal LM in `dtype` (a torch dtype or its name), moved to `device` if
    given, or spread over the visible GPUs by accelerate's `device_map` ("auto") when one GPU
    cannot hold it."""
    import torch
    from transformers import AutoModelForCausalLM

    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    extra = {"device_map": device_map} if device_map else {}
    model = from_pretrained(AutoModelForCausalLM, path, dtype=dtype, use_safetensors=True, **extra)
    if device is not None and not device_map:
        model = model.to(device)
    return model.eval()


def chat_texts(tokenizer, conversations: list[list[dict]]) -> list[str]:
    """Each conversation in the tokenizer's chat template, ending on the assistant's turn to
    speak."""
    return [
        tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
        for c in conversations
    ]


def generate(
    model,
    tokenizer,
    texts: list[str],
    *,
    batch_size: int,
    max_new_tokens: int,
    do_sample: bool,
    temperature: float | None,
    top_p: float | None,
    num_return_sequences: int | None = None,
    stop_at_tokenizer_eos: bool = True,
    seed: int | None = None,
    strip: bool = True,
    progress: logging.Logger | None = None,
) -> list[str]:
    """Completions of `texts`, batch_size prompts per generate() call, in prompt order.

    With num_return_sequences k, each prompt's k completions follow one another. Prompts are padded
    on the left, so every prompt's last token sits at the end of its row, and tokenized without
    special tokens: a chat template already holds them, and adding them again would double a BOS.
    `temperature` and `top_p` are handed to generate() as given (None switches them off).
    `stop_at_tokenizer_eos` False leaves the stop tokens to the model's generation config, which
    may list several. `seed` seeds torch once, before the first batch; without it the caller's RNG
    state carries on.
    """
    import torch

    tokenizer.padding_side = "left"
    settings = dict(
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        top_k=None,
        pad_token_id=tokenizer.pad_token_id,
    )
    # Only what the caller asks for: a value passed to generate() overrides the model's generation
    # config.
    if num_return_sequences is not None:
        settings["num_return_sequences"] = num_return_sequences
    if stop_at_tokenizer_eos:
        settings["eos_token_id"] = tokenizer.eos_token_id
    if seed is not None:
        torch.manual_seed(seed)
    completions = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        with torch.no_grad():
            out = model.generate(**batch.to(model.device), **settings)
        decoded = tokenizer.batch_decode(
            out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
        )
        completions += [text.strip() for text in decoded] if strip else decoded
        if progress is not None:
            done = min(start + batch_size, len(texts))
            progress.info(
                "%s %d/%d prompts", "sampled" if do_sample else "generated", done, len(texts)
            )
    return completions
