"""Dataset specs in the handbook's forms, local sources, checks, chat templates and tokenization."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from handbook.data import (
    DataError,
    check_format,
    check_rows,
    dataset_format,
    load_mixture,
)
from handbook.modeling import train_tokenizer
from handbook.tokenization import tokenize_example, tokenize_splits


def conversation(i: int, answer: str = "4") -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"What is {i} plus 2?"},
            {"role": "assistant", "content": f"The answer is {answer}."},
        ],
        "extra": i,
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tokenizer():
    texts = [f"What is {i} plus 2? The answer is {i + 2}." for i in range(200)]
    return train_tokenizer(texts, vocab_size=300)


def test_dataset_name_form_with_folder_splits(tmp_path):
    write_jsonl(tmp_path / "sft" / "train.jsonl", [conversation(i) for i in range(10)])
    write_jsonl(tmp_path / "sft" / "test.jsonl", [conversation(i) for i in range(100, 103)])
    dsd = load_mixture(
        "demo",
        {
            "dataset_name": str(tmp_path / "sft"),
            "dataset_test_split": "test",
            "columns": ["messages"],
        },
    )
    assert {k: len(v) for k, v in dsd.items()} == {"train": 10, "test": 3}
    assert dsd["train"].column_names == ["messages"]
    assert dsd["test"][0]["messages"][0]["content"] == "What is 100 plus 2?"


def test_columns_mapping_renames_gsm8k_style_columns_into_prompt_only_data(tmp_path):
    rows = [
        {"question": f"What is {i} plus 2?", "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}", "id": i}
        for i in range(6)
    ]
    write_jsonl(tmp_path / "gsm" / "train.jsonl", rows)
    write_jsonl(tmp_path / "gsm" / "test.jsonl", rows[:2])
    spec = {
        "dataset_name": str(tmp_path / "gsm"),
        "dataset_test_split": "test",
        "columns": {"question": "prompt", "answer": "answer"},
    }
    dsd = load_mixture("gsm8k", spec)
    assert dsd["train"].column_names == ["prompt", "answer"] and dsd["test"].column_names == [
        "prompt",
        "answer",
    ]
    assert dataset_format(dsd["train"].column_names) == "prompt-only"
    with pytest.raises(DataError, match="column 'problem' not found"):
        load_mixture("gsm8k", {**spec, "columns": {"problem": "prompt"}})


def test_mixture_weights_columns_and_test_split(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [conversation(i) for i in range(100)])
    datasets.Dataset.from_list([conversation(i) for i in range(1000, 1040)]).to_parquet(
        str(tmp_path / "b.parquet")
    )
    spec = {
        "dataset_mixture": {
            "datasets": [
                {"id": str(a), "columns": ["messages"], "weight": 0.5},
                {"id": str(tmp_path / "b.parquet"), "columns": ["messages"], "weight": 1.0},
            ],
            "seed": 3,
            "test_split_size": 0.1,
        }
    }
    dsd = load_mixture("mix", spec)
    assert len(dsd["train"]) + len(dsd["test"]) == 50 + 40
    assert len(dsd["test"]) == 9
    prompts = [m[0]["content"] for split in dsd.values() for m in split["messages"]]
    assert sum(int(p.split()[2]) >= 1000 for p in prompts) == 40, "weight 1.0 keeps every row of b"
    assert len(set(prompts)) == 90
    again = load_mixture("mix", spec)
    assert again["train"]["messages"] == dsd["train"]["messages"], "same seed, same mixture"


def test_saved_dataset_folder_and_json_file(tmp_path):
    datasets.DatasetDict(
        train=datasets.Dataset.from_list([{"text": "hello world"}] * 4)
    ).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "docs.json").write_text(json.dumps([{"text": "a b c"}, {"text": "d e"}]))
    assert len(load_mixture("s", {"dataset_name": str(tmp_path / "saved")})["train"]) == 4
    assert load_mixture("j", {"dataset_name": str(tmp_path / "docs.json")})[
        "train"
    ].column_names == ["text"]


def test_missing_column_is_named(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [conversation(i) for i in range(3)])
    with pytest.raises(DataError, match=r"a\.jsonl: column 'chosen' not found"):
        load_mixture("x", {"dataset_name": str(path), "columns": ["chosen"]})


def test_malformed_row_is_named(tmp_path):
    rows = [conversation(i) for i in range(5)]
    rows[3]["messages"][1]["role"] = "bot"
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(
        DataError, match=r"bad\.jsonl: row 3, column 'messages': message 1 has role 'bot'"
    ):
        load_mixture("x", {"dataset_name": str(path)})


def test_missing_split_and_path_errors(tmp_path):
    write_jsonl(tmp_path / "sft" / "train.jsonl", [conversation(0)])
    with pytest.raises(DataError, match="no file for split 'test'"):
        load_mixture("x", {"dataset_name": str(tmp_path / "sft"), "dataset_test_split": "test"})
    with pytest.raises(DataError, match="no such file or folder"):
        load_mixture("x", {"dataset_name": "./does/not/exist.jsonl"})
    with pytest.raises(DataError, match="weight"):
        load_mixture(
            "x", {"dataset_mixture": {"datasets": [{"id": str(tmp_path / "sft"), "weight": 1.5}]}}
        )


def test_a_missing_local_file_is_named_not_looked_up_on_the_hub(tmp_path):
    spec = {"dataset_name": str(tmp_path / "nope.parquet")}
    with pytest.raises(DataError, match=r"nope\.parquet: no such file or folder"):
        load_mixture("mine", spec)


def test_chat_template_assistant_mask_covers_reply_and_eos(tokenizer):
    out = tokenize_example(conversation(3, "5"), tokenizer, "row 0")
    masked = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    unmasked = tokenizer.decode(
        [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if not m]
    )
    assert masked == "The answer is 5.<|endoftext|>"
    assert (
        "What is 3 plus 2?" in unmasked
        and "<|assistant|>" in unmasked
        and "The answer" not in unmasked
    )
    rendered = tokenizer.apply_chat_template(
        conversation(3)["messages"][:1], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|user|>\nWhat is 3 plus 2?<|endoftext|>\n<|assistant|>\n"


def test_a_template_without_generation_markers_tokenizes_every_token_without_masks(tokenizer):
    # The handbook's own Zephyr template has no markers; its recipes train on every token.
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] + eos_token }}{% endfor %}"
    dsd = datasets.DatasetDict(train=datasets.Dataset.from_list([conversation(1), conversation(2)]))
    tokenized = tokenize_splits(dsd, tokenizer, "demo")
    assert tokenized["train"].column_names == ["input_ids"]
    assert tokenizer.decode(tokenized["train"][0]["input_ids"]).endswith(
        "The answer is 4.<|endoftext|>"
    )


def test_a_conversation_without_assistant_turn_is_named_when_masks_are_made(tokenizer):
    row = {"messages": conversation(1)["messages"][:1]}
    with pytest.raises(
        DataError, match=r"row 7: the chat template marks no assistant tokens in this conversation"
    ):
        tokenize_example(row, tokenizer, "row 7")


def test_text_gets_eos_and_splits_are_kept(tokenizer):
    dsd = datasets.DatasetDict(
        train=datasets.Dataset.from_list([{"text": "The answer is 4."}] * 3),
        test=datasets.Dataset.from_list([{"text": "What is 1 plus 2?"}]),
    )
    tokenized = tokenize_splits(dsd, tokenizer, "corpus")
    assert set(tokenized) == {"train", "test"} and tokenized["train"].column_names == ["input_ids"]
    assert tokenized["train"][0]["input_ids"][-1] == tokenizer.eos_token_id


def pair(i: int, chosen: str = "The answer is 4.", rejected: str = "Ugh, fine. It is 4.") -> dict:
    user = {"role": "user", "content": f"What is {i} plus 2?"}
    return {
        "chosen": [user, {"role": "assistant", "content": chosen}],
        "rejected": [user, {"role": "assistant", "content": rejected}],
    }


def bad_file(tmp_path: Path, case: str) -> tuple[dict, str]:
    """(dataset spec, expected message) for one malformed local source."""
    path = tmp_path / "data.jsonl"
    if case == "empty":
        path.write_text("")
        return {"dataset_name": str(path)}, r"data\.jsonl: empty file"
    if case == "not utf-8":
        path.write_bytes(json.dumps(conversation(1)).encode() + b"\n\xff\xfe\n")
        return {"dataset_name": str(path)}, r"data\.jsonl: not UTF-8 text \(byte \d+\)"
    if case == "truncated line":
        path.write_text(
            json.dumps(conversation(1)) + "\n" + json.dumps(conversation(2))[:25] + "\n"
        )
        return {"dataset_name": str(path)}, r"data\.jsonl: line 2: not valid JSON, truncated\?"
    if case == "roles not alternating":
        row = conversation(1)
        row["messages"].insert(1, {"role": "user", "content": "and?"})
        write_jsonl(path, [conversation(0), row])
        return {
            "dataset_name": str(path)
        }, r"row 1, column 'messages': messages 0 and 1 are both 'user'"
    if case == "chosen equals rejected":
        write_jsonl(path, [pair(0), pair(1, "Same.", "Same.")])
        return {
            "dataset_name": str(path)
        }, r"data\.jsonl: row 1: 'chosen' and 'rejected' are the same"
    if case == "sources with different columns":
        other = write_jsonl(tmp_path / "other.jsonl", [{"text": "plain text"}])
        write_jsonl(path, [conversation(0)])
        spec = {"dataset_mixture": {"datasets": [{"id": str(path)}, {"id": str(other)}]}}
        return (
            spec,
            r"dataset 'bad': sources have different columns .*set 'columns' to the shared ones",
        )
    if case == "test split larger than the data":
        write_jsonl(path, [conversation(i) for i in range(5)])
        return {
            "dataset_name": str(path),
            "test_split_size": 5,
        }, r"test_split_size 5 leaves no training rows \(the data has 5\)"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "not utf-8",
        "truncated line",
        "roles not alternating",
        "chosen equals rejected",
        "sources with different columns",
        "test split larger than the data",
    ],
)
def test_bad_data_is_one_line_naming_file_and_row(tmp_path, case):
    spec, message = bad_file(tmp_path, case)
    with pytest.raises(DataError, match=message) as info:
        load_mixture("bad", spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "template, message",
    [
        (
            "{% for m in messages %}{{ m.content }",
            r"t\.jinja: the chat template does not render \(TemplateSyntaxError",
        ),
    ],
)
def test_a_broken_chat_template_is_named_before_any_row(tmp_path, tokenizer, template, message):
    tokenizer.chat_template = template
    dsd = datasets.DatasetDict(
        train=datasets.Dataset.from_list([{"messages": conversation(1)["messages"]}])
    )
    with pytest.raises(DataError, match=message):
        tokenize_splits(dsd, tokenizer, "demo", template_source=str(tmp_path / "t.jinja"))


def test_a_template_using_a_special_token_the_tokenizer_lacks(tmp_path, tokenizer):
    from handbook.tokenization import check_chat_template

    tokenizer.chat_template = "{% for m in messages %}{{ bos_token + m['content'] }}{% endfor %}"
    tokenizer.bos_token = None
    with pytest.raises(
        DataError,
        match=r"t\.jinja: the chat template uses bos_token, which the tokenizer does not have",
    ):
        check_chat_template(tokenizer, "t.jinja")


def test_a_prompt_longer_than_max_length_leaves_nothing_to_train_on():
    from handbook.preference import check_prompt_room

    lengths = [10, 300, 400]
    with pytest.raises(
        DataError,
        match=r"^pairs: row 1: the prompt has 300 tokens and max_length is 256.*\(2 rows like it\)",
    ):
        check_prompt_room(lengths, 256, "keep_start", "pairs")
    check_prompt_room(lengths, 256, "keep_end", "pairs")  # the end of the replies is kept
    check_prompt_room(lengths, 512, "keep_start", "pairs")
    check_prompt_room(
        lengths, 350, "keep_start", "pairs"
    )  # one long prompt of three: a warning, not an error


def test_prompt_lengths_follow_the_chat_template(tokenizer):
    from handbook.preference import prompt_lengths

    user = {"role": "user", "content": "What is 3 plus 2?"}
    pairs = [
        {
            "chosen": [user, {"role": "assistant", "content": "5"}],
            "rejected": [user, {"role": "assistant", "content": "6"}],
        }
    ]
    expected = len(
        tokenizer.apply_chat_template(
            [user], tokenize=True, add_generation_prompt=True, return_dict=True
        )["input_ids"]
    )
    assert prompt_lengths(pairs, tokenizer) == [expected] and expected > 5


# --- TRL's dataset formats


def test_hh_transcripts_become_conversations(tmp_path):
    rows = [
        {
            "chosen": "\n\nHuman: What is 3 + 4?\n\nAssistant: 7",
            "rejected": "\n\nHuman: What is 3 + 4?\n\nAssistant: 9",
        },
        {
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: What is 1 + 1?\n\nAssistant: 2",
            "rejected": (
                "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: What is 1 + 1?\n\nAssistant: 3"
            ),
        },
    ]
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    dsd = load_mixture("hh", {"dataset_name": str(path), "format": "hh"})
    second = next(r for r in dsd["train"] if len(r["chosen"]) == 4)
    assert [m["role"] for m in second["chosen"]] == ["user", "assistant", "user", "assistant"]
    assert (
        second["chosen"][-1] == {"role": "assistant", "content": "2"}
        and second["rejected"][-1]["content"] == "3"
    )
    with pytest.raises(
        DataError, match=r"hh.jsonl: row 0, column 'chosen': not a Human/Assistant transcript"
    ):
        load_mixture(
            "hh",
            {
                "dataset_name": str(
                    write_jsonl(tmp_path / "x" / "hh.jsonl", [{"chosen": "7", "rejected": "9"}])
                ),
                "format": "hh",
            },
        )


def test_standard_string_pairs_load_and_mixed_forms_are_named(tmp_path):
    rows = [
        {"prompt": f"What is {i} + 1?", "chosen": f" {i + 1}", "rejected": f" {i + 7}"}
        for i in range(6)
    ]
    dsd = load_mixture("std", {"dataset_name": str(write_jsonl(tmp_path / "std.jsonl", rows))})
    assert dataset_format(dsd["train"].column_names) == "preference"
    empty = datasets.Dataset.from_list(
        rows[:3] + [{"prompt": "q", "chosen": " ", "rejected": " b"}]
    )
    with pytest.raises(
        DataError,
        match=r"row 3, column 'chosen': expected a non-empty string like row 0 \(TRL's standard "
        r"format\)",
    ):
        check_rows(empty, "std.jsonl", ["prompt", "chosen", "rejected"])


@pytest.mark.parametrize(
    "columns, found",
    [
        (["text"], "language modelling"),
        (["messages"], "language modelling"),
        (["prompt", "completion"], "prompt-completion"),
        (["prompt", "chosen", "rejected"], "preference"),
        (["chosen", "rejected"], "preference"),
        (["prompt", "completion", "label"], "unpaired preference"),
        (["prompt"], "prompt-only"),
    ],
)
def test_each_trl_format_is_recognised(columns, found):
    assert dataset_format(columns) == found


def test_a_stage_given_data_it_cannot_use_says_which_formats_it_takes():
    from handbook.methods import METHODS

    with pytest.raises(
        DataError,
        match=r"^d: columns \['messages'\] make language modelling data; a dpo run takes "
        r"preference \(chosen, rejected",
    ):
        check_format(["messages"], METHODS["dpo"].formats, "a dpo run", "d")
    assert (
        check_format(["prompt", "completion", "label"], METHODS["kto"].formats, "a kto run", "d")
        == "unpaired preference"
    )
    with pytest.raises(DataError, match="a orpo run takes preference"):
        check_format(["prompt", "completion", "label"], METHODS["orpo"].formats, "a orpo run", "d")


def test_prompt_completion_rows_train_on_the_completion_only(tokenizer):
    from handbook.modeling import ZEPHYR_CHAT_TEMPLATE

    out = tokenize_example(
        {"prompt": "What is 3 plus 2?", "completion": " The answer is 5."}, tokenizer, "row 0"
    )
    n_prompt = len(tokenizer("What is 3 plus 2?", add_special_tokens=False)["input_ids"])
    assert out["completion_mask"] == [0] * n_prompt + [1] * (len(out["input_ids"]) - n_prompt)
    assert out["input_ids"][-1] == tokenizer.eos_token_id
    tokenizer.chat_template = ZEPHYR_CHAT_TEMPLATE
    chat = tokenize_example(
        {
            "prompt": [{"role": "user", "content": "What is 3 plus 2?"}],
            "completion": [{"role": "assistant", "content": "5"}],
        },
        tokenizer,
        "row 0",
    )
    text = tokenizer.decode([t for t, m in zip(chat["input_ids"], chat["completion_mask"]) if m])
    assert "5" in text and "3 plus 2" not in text
    with pytest.raises(
        DataError,
        match=r"row 0: columns \['chosen', 'rejected'\] cannot be tokenized for cpt or sft",
    ):
        tokenize_example({"chosen": "a", "rejected": "b"}, tokenizer, "row 0")
