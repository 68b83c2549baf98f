"""Published facts the cost plan falls back on before anything is downloaded or built: the shapes
of the hub models the shipped recipes train (their config.json values), and the rows and mean
tokens per row of the hub datasets they train on. A model or dataset that is in neither the local
Hugging Face cache, a built artifact nor these tables is reported as unknown, never guessed.

Each entry names its source; docs/costs.md says how the tokens-per-row figures were derived.
"""

from __future__ import annotations

MISTRAL_7B = {
    "model_type": "mistral",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "tie_word_embeddings": False,
}
SMOLLM_360M = {
    "model_type": "llama",
    "hidden_size": 960,
    "num_hidden_layers": 32,
    "intermediate_size": 2560,
    "num_attention_heads": 15,
    "num_key_value_heads": 5,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}

# hub id -> (config.json values, source). Sizes only: what ModelShape reads.
MODELS: dict[str, tuple[dict, str]] = {
    "mistralai/Mistral-7B-v0.1": (MISTRAL_7B, "config.json of mistralai/Mistral-7B-v0.1"),
    "alignment-handbook/zephyr-7b-sft-full": (
        MISTRAL_7B,
        "config.json of alignment-handbook/zephyr-7b-sft-full (Mistral-7B-v0.1 fine-tuned)",
    ),
    "teknium/OpenHermes-2.5-Mistral-7B": (
        {**MISTRAL_7B, "vocab_size": 32002},
        "config.json of teknium/OpenHermes-2.5-Mistral-7B (two ChatML tokens added)",
    ),
    "mistral-community/Mixtral-8x22B-v0.1": (
        {
            "model_type": "mixtral",
            "hidden_size": 6144,
            "num_hidden_layers": 56,
            "intermediate_size": 16384,
            "num_attention_heads": 48,
            "num_key_value_heads": 8,
            "vocab_size": 32000,
            "num_local_experts": 8,
            "num_experts_per_tok": 2,
            "tie_word_embeddings": False,
        },
        "config.json of mistral-community/Mixtral-8x22B-v0.1",
    ),
    "google/gemma-7b": (
        {
            "model_type": "gemma",
            "hidden_size": 3072,
            "num_hidden_layers": 28,
            "intermediate_size": 24576,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "head_dim": 256,
            "vocab_size": 256000,
            "tie_word_embeddings": True,
        },
        "config.json of google/gemma-7b",
    ),
    "bigcode/starcoder2-15b": (
        {
            "model_type": "starcoder2",
            "hidden_size": 6144,
            "num_hidden_layers": 40,
            "intermediate_size": 24576,
            "num_attention_heads": 48,
            "num_key_value_heads": 4,
            "vocab_size": 49152,
            "use_bias": True,
            # Not confirmed offline; tied would lower N by 0.3B (2 %).
            "tie_word_embeddings": False,
        },
        "config.json of bigcode/starcoder2-15b",
    ),
    "Qwen/Qwen2.5-1.5B-Instruct": (
        {
            "model_type": "qwen2",
            "hidden_size": 1536,
            "num_hidden_layers": 28,
            "intermediate_size": 8960,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "tie_word_embeddings": True,
        },
        "config.json of Qwen/Qwen2.5-1.5B-Instruct",
    ),
    "HuggingFaceTB/SmolLM3-3B-Base": (
        {
            "model_type": "smollm3",
            "hidden_size": 2048,
            "num_hidden_layers": 36,
            "intermediate_size": 11008,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "vocab_size": 128256,
            "tie_word_embeddings": True,
        },
        "config.json of HuggingFaceTB/SmolLM3-3B-Base",
    ),
    "HuggingFaceTB/SmolLM2-1.7B": (
        {
            "model_type": "llama",
            "hidden_size": 2048,
            "num_hidden_layers": 24,
            "intermediate_size": 8192,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 49152,
            "tie_word_embeddings": True,
        },
        "config.json of HuggingFaceTB/SmolLM2-1.7B",
    ),
    "HuggingFaceTB/SmolLM2-360M": (SMOLLM_360M, "config.json of HuggingFaceTB/SmolLM2-360M"),
    "HuggingFaceTB/SmolLM-360M": (SMOLLM_360M, "config.json of HuggingFaceTB/SmolLM-360M"),
    "HuggingFaceTB/SmolLM2-135M": (
        {
            "model_type": "llama",
            "hidden_size": 576,
            "num_hidden_layers": 30,
            "intermediate_size": 1536,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "vocab_size": 49152,
            "tie_word_embeddings": True,
        },
        "config.json of HuggingFaceTB/SmolLM2-135M",
    ),
    "gpt2": (
        {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257},
        "config.json of openai-community/gpt2",
    ),
}


# (hub id, split) -> rows of the split, from the dataset card's dataset_info.
ROWS: dict[tuple[str, str], int] = {
    ("HuggingFaceH4/ultrachat_200k", "train_sft"): 207_865,
    ("HuggingFaceH4/ultrachat_200k", "test_sft"): 23_110,
    ("HuggingFaceH4/ultrafeedback_binarized", "train_prefs"): 61_135,
    ("HuggingFaceH4/ultrafeedback_binarized", "test_prefs"): 2_000,
    ("openai/gsm8k", "train"): 7_473,
    ("openai/gsm8k", "test"): 1_319,
    ("argilla/distilabel-capybara-dpo-7k-binarized", "train"): 7_563,
    ("argilla/dpo-mix-7k", "train"): 6_750,
    ("argilla/dpo-mix-7k", "test"): 750,
}

# hub id -> mean tokens per training row as the trainer sees it (a conversation with its chat
# template; a preference pair's prompt + chosen and prompt + rejected; a prompt-only row's
# prompt), with a Llama/Mistral-style tokenizer. Estimates from the cards' bytes per row (derived
# in docs/costs.md); a tokenized dataset's summary.json replaces them once it is built.
TOKENS_PER_ROW: dict[str, int] = {
    "HuggingFaceH4/ultrachat_200k": 1_400,
    "HuggingFaceH4/ultrafeedback_binarized": 900,
    "openai/gsm8k": 120,
    "argilla/dpo-mix-7k": 1_450,
}
