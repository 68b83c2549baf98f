"""What the stand-in datasets' rows hold: synthetic arithmetic questions fixed by their index
(`example`), and the kinds of column value made from one (KINDS), each with the datasets feature it
is stored as. lm-eval's task columns get values their task configs accept: a right choice among the
choices, a label that indexes them, instructions IFEval's checks know. The stand-in tokenizers and
Punkt parameters are trained on the same text (`tokenizer_texts`).
"""

from __future__ import annotations

import hashlib
import operator

from handbook.tasks import render_reply

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
    # IFEval: the prompt names its instructions; kwargs holds each one's arguments (None where
    # unused).
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


def tokenizer_texts() -> list[str]:
    """A few KB of the text the stand-in datasets are made of."""
    texts = []
    for i in range(120):
        ex = example(i)
        texts.append(
            f"user: {ex['question']}\nassistant: {ex['reply']} {ex['wrong_reply']}\n"
            f"{ex['sentence']}"
        )
    return texts
