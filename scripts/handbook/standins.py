"""Stand-ins for what a plan reads from the Hugging Face hub, for the rehearsal scale: the full-scale
plan runs unchanged, offline, on tiny copies placed in local caches under the real ids.

    python scripts/make_standins.py --out results/standins
    HF_HUB_CACHE=results/standins/hub HF_DATASETS_CACHE=results/standins/datasets NLTK_DATA=results/standins/nltk_data \
        HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 snakemake ...

A model's stand-in is a random init of the real architecture class (2 layers, width 64) with a
small byte-level BPE tokenizer that carries the real tokenizer's special tokens under their real
names, its bos/eos/pad/unk roles, whether it starts texts with bos, and its chat template. A
dataset's stand-in has the real configuration, split and column names and types, with a few
hundred synthetic question-answer rows per split. The datasets lm-eval's hub tasks read (ARC,
HellaSwag, TruthfulQA, the 57 MMLU subjects, Winogrande, GSM8K, IFEval) get the columns and value
types their task configs and process_docs functions read, with TASK_ROWS rows in every split
(enough for the suites' few-shot counts) whose answers are valid for the task: a right choice
among the choices, a label that indexes them, instructions IFEval's checks know. MODELS and
DATASETS hold these facts, one entry per hub id; the builder refuses an id the plan reads that has
no entry, a split or configuration the real dataset lacks, and a column the plan selects that the
real dataset does not have. NLTK data a task reads (IFEval's sentence counts read punkt_tab) is
made too: Punkt parameters trained by NLTK's own trainer on the stand-ins' text.

The layouts are the libraries' own caches: a model in <out>/hub/models--<org>--<name>/snapshots/
<sha>/ with refs/main naming <sha> (from_pretrained("<org>/<name>") then loads it offline), a
dataset as datasets' prepared cache, <out>/datasets/<org>___<name>/<config>/0.0.0/<hash>/ with
dataset_info.json and <name>-<split>.arrow (load_dataset falls back to it offline; it does not
read a hub-cache snapshot of a dataset), NLTK data as nltk.download leaves it, <out>/nltk_data/
tokenizers/punkt_tab/english/. Builds are byte-identical: fixed seeds, no timestamps.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from handbook.offline import HubDataset, HubModel, Needs, NltkData, TaskData, default_config
from handbook.provenance import content_hash, package_versions, write_text_atomic
from handbook.tasks import render_reply

SEED = 0
VOCAB_SIZE = 512  # the BPE target; special tokens come on top
MODEL_MAX_LENGTH = 1024
DIMS = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 1024,
}
DIMS_OF = {
    "GPT2Config": {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 128, "n_positions": 1024}
}
# Rows in every split of an lm-eval task's dataset: ARC's 25 shots drawn from train, and room
# to spare; a suite asking for more shots gets one row more than it draws.
TASK_ROWS = 30
PARTS = ("hub", "datasets", "nltk_data")  # the caches under the stand-in folder, one per library
MARKER = ".standins"  # written first: a folder without it is not the builder's to replace
MANIFEST = "manifest.json"  # written last: a folder without it is not finished


class StandinError(ValueError):
    """A hub item with no stand-in, or one the stand-in's facts say the real item cannot serve."""


# --- The real models' facts -------------------------------------------------------------------

# Chat templates written from the real tokenizers' layouts (tool calls left out).
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Qwen2.5-Instruct: ChatML with a system prompt of its own when the conversation brings none.
QWEN_CHATML = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}" + CHATML
)
# zephyr-7b-sft-full: role tags as plain text, eos after every turn.
ZEPHYR = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
# Gemma's turns: bos first, 'model' for the assistant, no system role.
GEMMA_TURNS = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@dataclass(frozen=True)
class ModelFacts:
    """What a stand-in copies from the real model and its tokenizer."""

    config_class: str  # transformers config class of the real model
    roles: dict  # bos/eos/pad/unk -> token; a role left out is one the real tokenizer does not set
    specials: tuple = ()  # special tokens at the start of the real vocabulary, in its order
    added: tuple = ()  # special tokens appended after it (ChatML added by a fine-tune, Qwen's)
    chat_template: str | None = None
    tie_word_embeddings: bool = False
    adds_bos: bool = False  # the real tokenizer starts every text with its bos token
    arch: dict = field(default_factory=dict)  # structural quirks on top of DIMS


MISTRAL_ROLES = {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}
MISTRAL_SPECIALS = ("<unk>", "<s>", "</s>")
# GPT-2's convention, kept by StarCoder2 and SmolLM: one <|endoftext|> for bos, eos and unk, no pad.
ENDOFTEXT_ROLES = {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": "<|endoftext|>"}
# SmolLM and SmolLM2 share a tokenizer: <|endoftext|>, then the ChatML tokens (ids 0, 1, 2).
SMOLLM = ModelFacts(
    "LlamaConfig",
    ENDOFTEXT_ROLES,
    ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    tie_word_embeddings=True,
)

MODELS = {
    "mistralai/Mistral-7B-v0.1": ModelFacts(
        "MistralConfig", MISTRAL_ROLES, MISTRAL_SPECIALS, adds_bos=True
    ),
    "alignment-handbook/zephyr-7b-sft-full": ModelFacts(
        "MistralConfig",
        {**MISTRAL_ROLES, "pad": "</s>"},
        MISTRAL_SPECIALS,
        chat_template=ZEPHYR,
        adds_bos=True,
    ),
    "teknium/OpenHermes-2.5-Mistral-7B": ModelFacts(
        "MistralConfig",
        {**MISTRAL_ROLES, "eos": "<|im_end|>"},
        MISTRAL_SPECIALS,
        added=("<|im_end|>", "<|im_start|>"),
        chat_template=CHATML,
        adds_bos=True,
    ),
    "mistral-community/Mixtral-8x22B-v0.1": ModelFacts(
        "MixtralConfig",
        MISTRAL_ROLES,
        MISTRAL_SPECIALS,
        adds_bos=True,
        arch={"num_local_experts": 4, "num_experts_per_tok": 2},
    ),
    # Gemma's heads are wider than hidden/heads (256 x 16 against 3072 in the 7B): kept as 4 x 32 against 64.
    "google/gemma-7b": ModelFacts(
        "GemmaConfig",
        {"bos": "<bos>", "eos": "<eos>", "pad": "<pad>", "unk": "<unk>"},
        ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
        chat_template=GEMMA_TURNS,
        tie_word_embeddings=True,
        adds_bos=True,
        arch={"head_dim": 32},
    ),
    # <|endoftext|> and the fill-in-the-middle tokens (its repository-metadata tokens left out).
    "bigcode/starcoder2-15b": ModelFacts(
        "Starcoder2Config",
        ENDOFTEXT_ROLES,
        ("<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"),
    ),
    "HuggingFaceTB/SmolLM-360M": SMOLLM,
    "HuggingFaceTB/SmolLM2-1.7B": SMOLLM,
    "HuggingFaceTB/SmolLM2-360M": SMOLLM,
    "HuggingFaceTB/SmolLM2-135M": SMOLLM,
    # A Llama-3-style vocabulary: bos 128000 and eos 128001 in its generation config, pad 128004 in
    # transformers' SmolLM3Config defaults.
    "HuggingFaceTB/SmolLM3-3B-Base": ModelFacts(
        "SmolLM3Config",
        {"bos": "<|begin_of_text|>", "eos": "<|end_of_text|>", "pad": "<|finetune_right_pad_id|>"},
        (
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|finetune_right_pad_id|>",
            "<|im_start|>",
            "<|im_end|>",
        ),
        tie_word_embeddings=True,
    ),
    "Qwen/Qwen2.5-1.5B-Instruct": ModelFacts(
        "Qwen2Config",
        {"eos": "<|im_end|>", "pad": "<|endoftext|>"},
        added=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        chat_template=QWEN_CHATML,
        tie_word_embeddings=True,
    ),
    "gpt2": ModelFacts(
        "GPT2Config", ENDOFTEXT_ROLES, added=("<|endoftext|>",), tie_word_embeddings=True
    ),
}


# --- The real datasets' schemas ---------------------------------------------------------------

OPS = (("plus", operator.add), ("minus", operator.sub), ("times", operator.mul))


def example(i: int) -> dict:
    """One synthetic question with its answer and a wrong one, fixed by its index."""
    a, b = 2 + i * 7 % 31, 1 + i * 3 % 17
    word, op = OPS[i % 3]
    answer = op(a, b)
    question = f"What is {a} {word} {b}?"
    return {
        "i": i,
        "a": a,
        "b": b,
        "word": word,
        "answer": answer,
        "question": question,
        "sentence": f"{a} {word} {b} is {answer}.",
        "reply": render_reply(str(answer), "preferred", variant=i % 2),
        "wrong_reply": render_reply(str(answer + 1 + i % 4), "dispreferred"),
    }


def options(ex: dict, n: int = 4) -> tuple[list[str], int]:
    """n distinct answers to the example's question and the index of the right one, which moves
    with the example so that no position is always right."""
    gold = ex["i"] % n
    wrong = [ex["answer"] + k for k in (1, 2, -1)][: n - 1]
    return [str(v) for v in (*wrong[:gold], ex["answer"], *wrong[gold:])], gold


def statements(ex: dict, true: int) -> dict:
    """TruthfulQA's targets: the true statements first, then false ones, labelled 1 and 0."""
    right = [f"It is {ex['answer']}.", ex["sentence"]][:true]
    false = [f"It is {ex['answer'] + k}." for k in (1, 2, -1)][: 4 - true]
    return {"choices": [*right, *false], "labels": [1] * len(right) + [0] * len(false)}


def ctx_a(ex: dict) -> str:
    return f"A student works out {ex['a']} {ex['word']} {ex['b']} on the board."


def chat(ex: dict, reply: str, system: bool = False) -> list[dict]:
    turns = [{"content": ex["question"], "role": "user"}, {"content": reply, "role": "assistant"}]
    return (
        [{"content": "You are a careful assistant.", "role": "system"}, *turns] if system else turns
    )


# IFEval's instruction arguments, each None in a row that does not use it (the dataset's kwargs
# struct), with the type the dataset card gives.
IFEVAL_ARG_TYPES = {
    "num_highlights": "int64",
    "relation": "string",
    "num_words": "int64",
    "num_placeholders": "int64",
    "prompt_to_repeat": "string",
    "num_paragraphs": "int64",
    "first_word": "string",
    "postscript_marker": "string",
    "keywords": "strings",
    "end_phrase": "string",
    "num_bullets": "int64",
    "section_spliter": "string",
    "num_sections": "int64",
    "capital_relation": "string",
    "capital_frequency": "int64",
    "nth_paragraph": "int64",
    "forbidden_words": "strings",
    "let_frequency": "int64",
    "letter": "string",
    "let_relation": "string",
    "language": "string",
    "num_sentences": "int64",
}
IFEVAL_ARGS = dict.fromkeys(IFEVAL_ARG_TYPES)


def ifeval_instructions(ex: dict) -> list[tuple[str, str, dict]]:
    """(instruction id, how the prompt says it, its arguments): among them the checks that read
    NLTK's sentence tokenizer and langdetect."""
    return [
        (
            "length_constraints:number_sentences",
            "Answer in less than 3 sentences.",
            {"relation": "less than", "num_sentences": 3},
        ),
        ("language:response_language", "Answer in English.", {"language": "en"}),
        ("keywords:existence", f"Include the word {ex['word']}.", {"keywords": [ex["word"]]}),
        ("change_case:english_lowercase", "Use lowercase letters only.", {}),
        ("punctuation:no_comma", "Do not use any commas.", {}),
        ("detectable_format:number_bullet_lists", "Give 2 bullet points.", {"num_bullets": 2}),
    ]


def ifeval_pair(ex: dict) -> list[tuple[str, str, dict]]:
    """Two instructions per prompt, moving with the example so that each is used."""
    instructions = ifeval_instructions(ex)
    first = ex["i"] % len(instructions)
    return [instructions[first], instructions[(first + 1) % len(instructions)]]


# Kinds of column value: (feature, value of one example). Features are named here and made by
# `feature`, so this table needs no import of datasets.
KINDS = {
    "question": ("string", lambda ex: ex["question"]),
    "prompt_id": (
        "string",
        lambda ex: hashlib.sha256(f"{ex['i']}:{ex['question']}".encode()).hexdigest(),
    ),
    "index": ("int64", lambda ex: ex["i"]),
    "reply": ("string", lambda ex: ex["reply"]),
    "conversation": ("messages", lambda ex: chat(ex, ex["reply"])),
    "chosen": ("messages", lambda ex: chat(ex, ex["reply"])),
    "rejected": ("messages", lambda ex: chat(ex, ex["wrong_reply"])),
    "chosen_with_system": ("messages", lambda ex: chat(ex, ex["reply"], system=True)),
    "rejected_with_system": ("messages", lambda ex: chat(ex, ex["wrong_reply"], system=True)),
    "high_score": ("float64", lambda ex: 8.0 + ex["i"] % 2),
    "low_score": ("float64", lambda ex: 3.0 + ex["i"] % 2),
    "high_rating": ("int64", lambda ex: 5),
    "low_rating": ("int64", lambda ex: 2),
    "name": ("string", lambda ex: f"standin-{ex['i'] % 3}"),
    "text": ("string", lambda ex: f"{ex['question']} {ex['sentence']} {ex['reply']}"),
    "timestamp": ("string", lambda ex: f"2020-01-{1 + ex['i'] % 28:02d}T00:00:00Z"),
    "url": ("string", lambda ex: f"https://example.org/{ex['i']}"),
    "word_problem": (
        "string",
        lambda ex: f"Sam has {ex['a']} apples and buys {ex['b']} more. How many apples now?",
    ),
    "worked_answer": (
        "string",
        lambda ex: (
            f"Sam has {ex['a']} + {ex['b']} = {ex['a'] + ex['b']} apples.\n#### {ex['a'] + ex['b']}"
        ),
    ),
    "turns": ("strings", lambda ex: [ex["question"], "Now say it in one sentence."]),
    "references": ("strings", lambda ex: [ex["reply"], ex["sentence"]]),
    "category": ("string", lambda ex: ("math", "reasoning", "writing")[ex["i"] % 3]),
    "exchanges": ("exchanges", lambda ex: [{"input": ex["question"], "output": ex["reply"]}]),
    "template_kwargs": (
        "template_kwargs",
        lambda ex: {
            "custom_instructions": "",
            "enable_thinking": ex["i"] % 2 == 0,
            "python_tools": [],
            "xml_tools": [],
        },
    ),
    # ARC: choices {text, label} with answerKey one of the labels (doc_to_target indexes by it).
    "arc_id": ("string", lambda ex: f"standin_{ex['i']}"),
    "arc_choices": (
        "labelled_choices",
        lambda ex: {"text": options(ex)[0], "label": ["A", "B", "C", "D"]},
    ),
    "arc_answer_key": ("string", lambda ex: "ABCD"[options(ex)[1]]),
    # HellaSwag: process_docs reads activity_label, ctx_a, ctx_b, endings and int(label).
    "hs_ind": ("int32", lambda ex: ex["i"]),
    "hs_activity": ("string", lambda ex: "Doing arithmetic"),
    "hs_ctx_a": ("string", ctx_a),
    "hs_ctx_b": ("string", lambda ex: "the student"),
    "hs_ctx": ("string", lambda ex: f"{ctx_a(ex)} the student"),
    "hs_endings": ("strings", lambda ex: [f"writes {v} as the answer." for v in options(ex)[0]]),
    "hs_source_id": ("string", lambda ex: f"standin~{ex['i']}"),
    "hs_split": ("string", lambda ex: {"validation": "val"}.get(ex["split"], ex["split"])),
    "hs_split_type": ("string", lambda ex: ("indomain", "zeroshot")[ex["i"] % 2]),
    "hs_label": ("string", lambda ex: str(options(ex)[1])),
    # TruthfulQA multiple_choice: mc1 has one true statement, mc2 two.
    "mc1_targets": ("mc_targets", lambda ex: statements(ex, 1)),
    "mc2_targets": ("mc_targets", lambda ex: statements(ex, 2)),
    # MMLU: four choices, answer a class label A-D, subject the configuration's name.
    "mmlu_subject": ("string", lambda ex: ex["config"]),
    "mmlu_choices": ("strings", lambda ex: options(ex)[0]),
    "mmlu_answer": ("abcd", lambda ex: options(ex)[1]),
    # Winogrande: the blank '_' is filled with option1 or option2; answer "1" or "2".
    "wino_sentence": (
        "string",
        lambda ex: f"{ex['a']} {ex['word']} {ex['b']} gives _ when worked out.",
    ),
    "wino_option1": ("string", lambda ex: options(ex, 2)[0][0]),
    "wino_option2": ("string", lambda ex: options(ex, 2)[0][1]),
    "wino_answer": ("string", lambda ex: str(options(ex, 2)[1] + 1)),
    # IFEval: the prompt names its instructions; kwargs holds each one's arguments (None where unused).
    "ifeval_key": ("int64", lambda ex: 1000 + ex["i"]),
    "ifeval_prompt": (
        "string",
        lambda ex: f"{ex['question']} " + " ".join(i[1] for i in ifeval_pair(ex)),
    ),
    "ifeval_ids": ("strings", lambda ex: [i[0] for i in ifeval_pair(ex)]),
    "ifeval_kwargs": (
        "ifeval_kwargs",
        lambda ex: [{**IFEVAL_ARGS, **i[2]} for i in ifeval_pair(ex)],
    ),
}


def feature(name: str):
    import datasets

    text, texts = datasets.Value("string"), datasets.List(datasets.Value("string"))
    nested = {
        "messages": datasets.List({"content": text, "role": text}),
        "strings": texts,
        "exchanges": datasets.List({"input": text, "output": text}),
        "template_kwargs": {
            "custom_instructions": text,
            "enable_thinking": datasets.Value("bool"),
            "python_tools": texts,
            "xml_tools": texts,
        },
        "labelled_choices": {"text": texts, "label": texts},
        "mc_targets": {"choices": texts, "labels": datasets.List(datasets.Value("int32"))},
        "abcd": datasets.ClassLabel(names=["A", "B", "C", "D"]),
        "ifeval_kwargs": datasets.List(
            {
                arg: texts if kind == "strings" else datasets.Value(kind)
                for arg, kind in IFEVAL_ARG_TYPES.items()
            }
        ),
    }
    return nested.get(name) or datasets.Value(name)


@dataclass(frozen=True)
class Schema:
    columns: dict  # column -> kind of value (KINDS)
    splits: tuple | None  # the real splits; None: the splits the plan names (a set with very many)


# Where the layouts come from. The dataset cards' features: ultrachat_200k and ultrafeedback_binarized
# (H4's SFT and preference layouts), cai-conversation-harmless, distilabel-capybara-dpo-7k-binarized,
# smoltalk. The code that reads them: judge_formats (mt_bench_prompts' prompt turns and prompt_id,
# alpaca_eval's instruction and dataset), the final_number verifier (gsm8k's "#### <n>"). The family
# files: orca_dpo_pairs' system turns, smoltalk2's string prompt and chat_template_kwargs. Not
# confirmed, so kept to what the plan selects: the H4 SFT copies (messages only), the keys inside
# smoltalk2's chat_template_kwargs (those SmolLM3's chat template reads), dpo-mix-7k's rating types.
SFT = {"prompt": "question", "prompt_id": "prompt_id", "messages": "conversation"}
PREFS = {
    "prompt": "question",
    "prompt_id": "prompt_id",
    "chosen": "chosen",
    "rejected": "rejected",
    "messages": "conversation",
    "score_chosen": "high_score",
    "score_rejected": "low_score",
}
CAI = {"prompt": "question", "messages": "conversation", "chosen": "chosen", "rejected": "rejected"}
MESSAGES = {"messages": "conversation"}
SMOLTALK = {"messages": "conversation", "source": "name"}
SMOLTALK2 = {"messages": "conversation", "chat_template_kwargs": "template_kwargs"}
SMOLTALK2_PREFS = {"prompt": "question", "chosen": "chosen", "rejected": "rejected"}
# lm-eval's tasks: the columns their YAMLs and utils.py read, as the dataset cards type them.
ARC = {
    "id": "arc_id",
    "question": "question",
    "choices": "arc_choices",
    "answerKey": "arc_answer_key",
}
HELLASWAG = {
    "ind": "hs_ind",
    "activity_label": "hs_activity",
    "ctx_a": "hs_ctx_a",
    "ctx_b": "hs_ctx_b",
    "ctx": "hs_ctx",
    "endings": "hs_endings",
    "source_id": "hs_source_id",
    "split": "hs_split",
    "split_type": "hs_split_type",
    "label": "hs_label",
}
TRUTHFULQA_MC = {"question": "question", "mc1_targets": "mc1_targets", "mc2_targets": "mc2_targets"}
MMLU = {
    "question": "question",
    "subject": "mmlu_subject",
    "choices": "mmlu_choices",
    "answer": "mmlu_answer",
}
WINOGRANDE = {
    "sentence": "wino_sentence",
    "option1": "wino_option1",
    "option2": "wino_option2",
    "answer": "wino_answer",
}
IFEVAL = {
    "key": "ifeval_key",
    "prompt": "ifeval_prompt",
    "instruction_id_list": "ifeval_ids",
    "kwargs": "ifeval_kwargs",
}
# cais/mmlu's subject configurations (its 'all' and 'auxiliary_train' are not read by lm-eval's mmlu).
MMLU_SUBJECTS = (
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
)
H4_SFT = ("train_sft", "test_sft")
H4_ALL = ("train_prefs", "test_prefs", "train_sft", "test_sft", "train_gen", "test_gen")
CAI_SPLITS = ("train_sft", "test_sft", "train_prefs", "test_prefs")


def only_default(columns: dict, splits: tuple | None) -> dict[str, Schema]:
    return {"default": Schema(columns, splits)}


DATASETS = {
    "HuggingFaceH4/ultrachat_200k": only_default(
        SFT, ("train_sft", "test_sft", "train_gen", "test_gen")
    ),
    "HuggingFaceH4/ultrafeedback_binarized": only_default(PREFS, H4_ALL),
    "HuggingFaceH4/cai-conversation-harmless": only_default(CAI, CAI_SPLITS),
    "HuggingFaceH4/grok-conversation-harmless": only_default(CAI, CAI_SPLITS),
    # Intel's pairs as H4 split them: chosen and rejected open with the system turn.
    "HuggingFaceH4/orca_dpo_pairs": only_default(
        {"prompt": "question", "chosen": "chosen_with_system", "rejected": "rejected_with_system"},
        ("train_prefs", "test_prefs"),
    ),
    "HuggingFaceH4/deita-10k-v0-sft": only_default(SFT, H4_SFT),
    "argilla/dpo-mix-7k": only_default(
        {
            "dataset": "name",
            "chosen": "chosen",
            "rejected": "rejected",
            "chosen_rating": "high_score",
            "rejected_rating": "low_score",
        },
        ("train", "test"),
    ),
    "argilla/distilabel-capybara-dpo-7k-binarized": only_default(
        {
            "source": "name",
            "conversation": "exchanges",
            "original_response": "reply",
            "generation_model": "name",
            "prompt": "question",
            "chosen": "chosen",
            "rejected": "rejected",
            "rating_chosen": "high_rating",
            "rating_rejected": "low_rating",
            "chosen_model": "name",
            "rejected_model": "name",
        },
        ("train",),
    ),
    "openai/gsm8k": {
        "main": Schema({"question": "word_problem", "answer": "worked_answer"}, ("train", "test"))
    },
    "HuggingFaceTB/Magpie-Pro-300K-Filtered-H4": only_default(MESSAGES, H4_SFT),
    "HuggingFaceTB/self-oss-instruct-sc2-H4": only_default(MESSAGES, H4_SFT),
    "HuggingFaceTB/OpenHermes-2.5-H4": only_default(MESSAGES, H4_SFT),
    "HuggingFaceTB/everyday-conversations-llama3.1-2k": only_default(MESSAGES, H4_SFT),
    "HuggingFaceTB/instruct-data-basics-smollm-H4": only_default(MESSAGES, H4_SFT),
    "HuggingFaceH4/airoboros-3.2": only_default(MESSAGES, H4_SFT),
    "HuggingFaceH4/Code-Feedback": only_default(MESSAGES, H4_SFT),
    "HuggingFaceH4/orca-math-word-problems-200k": only_default(MESSAGES, H4_SFT),
    "HuggingFaceH4/SystemChat": only_default(MESSAGES, H4_SFT),
    "HuggingFaceH4/capybara": only_default(MESSAGES, H4_SFT),
    "HuggingFaceTB/smoltalk": {"all": Schema(SMOLTALK, ("train", "test"))},
    "HuggingFaceTB/smol-smoltalk": only_default(SMOLTALK, ("train", "test")),
    # One split per source set, dozens per configuration: the splits the plan names are made.
    "HuggingFaceTB/smoltalk2": {
        "Mid": Schema(SMOLTALK2, None),
        "SFT": Schema(SMOLTALK2, None),
        "Preference": Schema({**SMOLTALK2_PREFS, "chat_template_kwargs": "template_kwargs"}, None),
    },
    "BramVanroy/ultrachat_200k_dutch": only_default(
        SFT, ("train_sft", "test_sft", "train_gen", "test_gen")
    ),
    "BramVanroy/ultra_feedback_dutch": only_default(PREFS, H4_ALL),
    "yhavinga/mc4_nl_cleaned": {
        "tiny": Schema(
            {"text": "text", "timestamp": "timestamp", "url": "url"}, ("train", "validation")
        ),
    },
    "HuggingFaceH4/mt_bench_prompts": only_default(
        {
            "prompt": "turns",
            "prompt_id": "index",
            "category": "category",
            "reference": "references",
        },
        ("train",),
    ),
    "tatsu-lab/alpaca_eval": {
        "alpaca_eval": Schema(
            {"instruction": "question", "output": "reply", "generator": "name", "dataset": "name"},
            ("eval",),
        ),
    },
    "allenai/ai2_arc": {
        c: Schema(ARC, ("train", "validation", "test")) for c in ("ARC-Challenge", "ARC-Easy")
    },
    "Rowan/hellaswag": only_default(HELLASWAG, ("train", "validation", "test")),
    "truthfulqa/truthful_qa": {"multiple_choice": Schema(TRUTHFULQA_MC, ("validation",))},
    "cais/mmlu": {
        subject: Schema(MMLU, ("test", "validation", "dev")) for subject in MMLU_SUBJECTS
    },
    "allenai/winogrande": {"winogrande_xl": Schema(WINOGRANDE, ("train", "validation", "test"))},
    "google/IFEval": only_default(IFEVAL, ("train",)),
}

# --- Checks: every item has a stand-in that can serve what the plan reads -----------------------


def schema_of(item: HubDataset) -> Schema:
    configs = DATASETS.get(item.id)
    if configs is None:
        raise StandinError(
            f"dataset {item.id}: no stand-in schema; add an entry to handbook.standins.DATASETS"
        )
    config = item.config or "default"
    if config not in configs:
        raise StandinError(
            f"dataset {item.id}: no configuration '{config}' (the stand-in knows {sorted(configs)})"
        )
    return configs[config]


def served(needs: Needs) -> list:
    """Every dataset and task data item the build makes a stand-in for."""
    return [*needs.datasets, *needs.lm_eval]


def check(needs: Needs, columns: dict | None = None) -> None:
    """Fail on the first item without a stand-in, or that reads what the real item lacks."""
    for model in needs.models:
        if model.id not in MODELS:
            raise StandinError(
                f"model {model.id}: no stand-in facts; add an entry to handbook.standins.MODELS"
            )
    for item in needs.nltk:
        if item.name not in NLTK_BUILDERS:
            raise StandinError(
                f"{item.line()}: no stand-in builder; add one to handbook.standins.NLTK_BUILDERS"
            )
    for item in served(needs):
        schema = schema_of(item)
        unknown = [s for s in item.splits if s not in (schema.splits or item.splits)]
        if unknown:
            raise StandinError(
                f"dataset {item.id}: no split '{unknown[0]}' (it has {', '.join(schema.splits)})"
            )
        missing = sorted(
            (columns or {}).get((item.id, default_config(item.config)), set()) - set(schema.columns)
        )
        if missing:
            raise StandinError(
                f"dataset {item.id}: no column '{missing[0]}' (it has {', '.join(schema.columns)})"
            )


# --- Models and tokenizers ----------------------------------------------------------------------


def tokenizer_texts() -> list[str]:
    """A few KB of the text the stand-in datasets are made of."""
    texts = []
    for i in range(120):
        ex = example(i)
        texts.append(
            f"user: {ex['question']}\nassistant: {ex['reply']} {ex['wrong_reply']}\n{ex['sentence']}"
        )
    return texts


def train_tokenizer(facts: ModelFacts):
    """A byte-level BPE with the real special tokens, roles, bos habit and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(facts.specials),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(tokenizer_texts(), trainer=trainer)
    tok.add_special_tokens(list(facts.added))
    if facts.adds_bos:
        bos = facts.roles["bos"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A",
            pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, tok.token_to_id(bos))],
        )
    roles = {f"{role}_token": token for role, token in facts.roles.items()}
    others = [t for t in (*facts.specials, *facts.added) if t not in facts.roles.values()]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=MODEL_MAX_LENGTH,
        additional_special_tokens=others,
        **roles,
    )
    fast.chat_template = facts.chat_template
    return fast


def init_model(facts: ModelFacts, tokenizer):
    """A random init of the real architecture, sized by DIMS, its special token ids the tokenizer's."""
    import torch
    import transformers

    ids = {f"{role}_token_id": None for role in ("bos", "eos", "pad")}
    ids.update(
        {
            f"{r}_token_id": tokenizer.convert_tokens_to_ids(t)
            for r, t in facts.roles.items()
            if r != "unk"
        }
    )
    config_class = getattr(transformers, facts.config_class)
    config = config_class(
        vocab_size=len(tokenizer),
        tie_word_embeddings=facts.tie_word_embeddings,
        **DIMS_OF.get(facts.config_class, DIMS),
        **facts.arch,
        **ids,
    )
    torch.manual_seed(SEED)
    return transformers.AutoModelForCausalLM.from_config(config)


def snapshot_sha(item: HubModel) -> str:
    """A commit sha the revision pins, else a fixed one made from the id."""
    if item.revision and re.fullmatch(r"[0-9a-f]{40}", item.revision):
        return item.revision
    return hashlib.sha1(item.id.encode()).hexdigest()


def build_model(item: HubModel, hub: Path) -> dict:
    """Save the stand-in as the hub client caches a download: a snapshot and the refs naming it."""
    facts = MODELS[item.id]
    repo = hub / f"models--{item.id.replace('/', '--')}"
    sha = snapshot_sha(item)
    snapshot = repo / "snapshots" / sha
    tokenizer = train_tokenizer(facts)
    model = init_model(facts, tokenizer)
    tokenizer.save_pretrained(snapshot)
    model.save_pretrained(snapshot)
    for ref in {"main", item.revision or "main"} - {sha}:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(sha)
    return {
        "revision": item.revision or "main",
        "snapshot": str(snapshot.relative_to(hub.parent)),
        "class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "hash": content_hash(snapshot),
    }


# --- Datasets -----------------------------------------------------------------------------------


def split_counts(needs: Needs, rows: int) -> dict[tuple[str, str | None], dict[str, int]]:
    """(id, config) -> rows of each split built: `rows` in a plan dataset's splits (a fifth in test
    splits), at least TASK_ROWS (or one more than the most shots drawn) where lm-eval reads it."""
    counts: dict[tuple[str, str | None], dict[str, int]] = {}
    for item in served(needs):
        schema = schema_of(item)
        split_count = counts.setdefault((item.id, item.config), {})
        for split in item.splits if schema.splits is None else schema.splits:
            if isinstance(item, TaskData):
                count = max(TASK_ROWS, item.fewshot + 1)
            elif split.startswith("test") or split in ("validation", "eval"):
                count = max(1, rows // 5)
            else:
                count = rows
            split_count[split] = max(split_count.get(split, 0), count)
    return counts


def split_rows(item: HubDataset | TaskData, schema: Schema, split: str, count: int) -> list[dict]:
    """The split's rows: its own run of examples (a fixed offset from its name)."""
    offset = int(hashlib.sha1(f"{item.id}/{item.config}/{split}".encode()).hexdigest()[:6], 16)
    rows = []
    for i in range(count):
        ex = {**example(offset + i), "split": split, "config": item.config}
        rows.append({col: KINDS[kind][1](ex) for col, kind in schema.columns.items()})
    return rows


def dataset_folder(datasets_cache: Path, item: HubDataset) -> Path:
    """Where load_dataset looks for a prepared copy of the dataset offline (datasets' own naming)."""
    from datasets.naming import camelcase_to_snakecase

    *namespace, name = item.id.split("/")
    digest = hashlib.sha1(f"{item.id}/{item.config}".encode()).hexdigest()[:16]
    dataset = "___".join([*namespace, camelcase_to_snakecase(name)])
    return datasets_cache / dataset / (item.config or "default") / "0.0.0" / digest


def build_dataset(
    item: HubDataset | TaskData, datasets_cache: Path, counts: dict[str, int]
) -> dict:
    """Write each split (`counts` rows) as datasets' Arrow files, then the dataset_info.json naming them."""
    import datasets
    from datasets.arrow_writer import ArrowWriter
    from datasets.naming import camelcase_to_snakecase, filename_prefix_for_split

    schema = schema_of(item)
    name = camelcase_to_snakecase(item.id.split("/")[-1])
    folder = dataset_folder(datasets_cache, item)
    folder.mkdir(parents=True, exist_ok=True)
    features = datasets.Features(
        {col: feature(KINDS[kind][0]) for col, kind in schema.columns.items()}
    )
    splits = datasets.SplitDict(dataset_name=name)
    for split, count in counts.items():
        writer = ArrowWriter(
            features=features, path=str(folder / f"{filename_prefix_for_split(name, split)}.arrow")
        )
        for row in split_rows(item, schema, split, count):
            writer.write(row)
        written, size = writer.finalize()
        writer.close()
        splits.add(
            datasets.SplitInfo(name=split, num_bytes=size, num_examples=written, dataset_name=name)
        )
    info = datasets.DatasetInfo(
        features=features,
        splits=splits,
        config_name=item.config or "default",
        dataset_name=name,
        version="0.0.0",
        builder_name="parquet",
    )
    info.write_to_directory(str(folder))
    return {
        "path": str(folder.relative_to(datasets_cache.parent)),
        "splits": {split: splits[split].num_examples for split in splits},
        "hash": content_hash(folder),
    }


# --- NLTK data ----------------------------------------------------------------------------------


def build_punkt_tab(nltk_data: Path) -> dict:
    """English Punkt parameters trained by NLTK's own trainer on the stand-ins' text, written in the
    punkt_tab layout nltk.download leaves (PunktTokenizer reads them back)."""
    from nltk.tabdata import TabEncoder
    from nltk.tokenize.punkt import PunktTrainer

    trainer = PunktTrainer()
    trainer.train(" ".join(tokenizer_texts()), finalize=True)
    params = trainer.get_params()
    folder = nltk_data / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True, exist_ok=True)
    encode = TabEncoder()
    files = {
        "collocations.tab": encode.tups2tab(sorted(params.collocations)),
        "sent_starters.txt": encode.set2txt(sorted(params.sent_starters)),
        "abbrev_types.txt": encode.set2txt(sorted(params.abbrev_types)),
        "ortho_context.tab": encode.ivdict2tab(dict(sorted(params.ortho_context.items()))),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return {"path": str(folder.relative_to(nltk_data.parent)), "hash": content_hash(folder)}


NLTK_BUILDERS = {"punkt_tab": build_punkt_tab}


# --- The whole set ------------------------------------------------------------------------------


def claim(out: Path) -> None:
    """Make `out` the builder's (marked) and unfinished (no manifest), emptying an earlier build."""
    # hub/, datasets/ and nltk_data/ may exist already: the libraries make their folders when the
    # jobs' environment points them there; the builder empties them below.
    foreign = [p for p in out.iterdir() if p.name not in PARTS] if out.exists() else []
    if foreign and not (out / MARKER).exists():
        raise StandinError(
            f"{out}: not empty and not a stand-in folder (no {MARKER}); choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "stand-ins of hub models and datasets, made by scripts/make_standins.py\n"
    )
    (out / MANIFEST).unlink(missing_ok=True)
    for part in PARTS:
        shutil.rmtree(out / part, ignore_errors=True)


def build(needs: Needs, out: str | Path, rows: int = 300, columns: dict | None = None) -> dict:
    """Every stand-in `needs` lists, under `out`; a dataset both the plan and lm-eval read is built
    once with the splits and rows of both. The manifest last, so a half-built folder never looks finished. Returns the manifest."""
    from transformers.utils import logging as transformers_logging

    check(needs, columns)
    transformers_logging.disable_progress_bar()  # one bar per saved model says nothing here
    out = Path(out)
    claim(out)
    counts = split_counts(needs, rows)
    items = {}
    for item in served(
        needs
    ):  # the first reader of an (id, config) names it; counts hold all splits
        items.setdefault((item.id, item.config), item)
    manifest = {
        "rows": rows,
        "task_rows": TASK_ROWS,
        "environment": {
            "HF_HUB_CACHE": "hub",
            "HF_DATASETS_CACHE": "datasets",
            "NLTK_DATA": "nltk_data",
        },
        "packages": package_versions(["transformers", "tokenizers", "datasets", "torch", "nltk"]),
        "models": {m.id: build_model(m, out / "hub") for m in needs.models},
        "datasets": {
            f"{item.id} ({item.config or 'default'})": build_dataset(
                item, out / "datasets", counts[key]
            )
            for key, item in items.items()
        },
        "nltk": {item.name: NLTK_BUILDERS[item.name](out / "nltk_data") for item in needs.nltk},
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
