"""The real datasets' schemas, as their stand-ins copy them: each hub id's configurations, their
splits and their columns, each column with the kind of value (handbook.standin_rows.KINDS) its
stand-in holds. handbook.standins refuses an item the plan reads that DATASETS does not serve.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schema:
    columns: dict  # column -> kind of value (handbook.standin_rows.KINDS)
    splits: tuple | None  # the real splits; None: the splits the plan names (a set with very many)


# Where the layouts come from. The dataset cards' features: ultrachat_200k and
# ultrafeedback_binarized (H4's SFT and preference layouts), cai-conversation-harmless,
# distilabel-capybara-dpo-7k-binarized, smoltalk. The code that reads them: judge_formats
# (mt_bench_prompts' prompt turns and prompt_id, alpaca_eval's instruction and dataset), the
# final_number verifier (gsm8k's "#### <n>"). The family files: orca_dpo_pairs' system turns,
# smoltalk2's string prompt and chat_template_kwargs. Not confirmed, so kept to what the plan
# selects: the H4 SFT copies (messages only), the keys inside smoltalk2's chat_template_kwargs
# (those SmolLM3's chat template reads), dpo-mix-7k's rating types.
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
# cais/mmlu's subject configurations (its 'all' and 'auxiliary_train' are not read by lm-eval's
# mmlu).
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
        # the eval set, and AlpacaEval 2's reference outputs (GPT-4 Turbo's) in the same columns
        config: Schema(
            {"instruction": "question", "output": "reply", "generator": "name", "dataset": "name"},
            ("eval",),
        )
        for config in ("alpaca_eval", "alpaca_eval_gpt4_baseline")
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
