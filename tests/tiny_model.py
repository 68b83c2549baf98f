"""A small demo world and an untrained tiny Llama, built in seconds, for trainer-path tests."""

from __future__ import annotations

import json
from pathlib import Path

from handbook.demo_world import generate
from handbook.modeling import init_llama, train_tokenizer

SMALL_WORLD = {
    "seed": 1,
    "n_towns": 12,
    "corpus_chars": 20000,
    "n_sft": 64,
    "n_sft_test": 16,
    "n_pref": 64,
    "n_pref_test": 16,
    "n_generation": 12,
    "n_eval": 24,
}
SMALL_ARCH = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "intermediate_size": 64,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,
}


def build_world(folder: Path) -> Path:
    if not (folder / "manifest.json").exists():
        generate(dict(SMALL_WORLD), folder)
    return folder


def build_model(folder: Path, world: Path, vocab_size: int = 400) -> Path:
    """Tokenizer trained on the world's corpus and a random-init model, saved like
    results/models/base."""
    if not (folder / "config.json").exists():
        texts = [
            json.loads(line)["text"] for line in (world / "corpus.jsonl").read_text().splitlines()
        ]
        tokenizer = train_tokenizer(texts, vocab_size)
        init_llama(tokenizer, SMALL_ARCH, seed=0).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder
