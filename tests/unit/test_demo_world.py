"""The demo-world generator: determinism, formats, sizes, split hygiene, answer round trips."""

import collections
import hashlib
import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

from handbook import demo_questions, demo_world, tasks

SPEC = {
    "seed": 3,
    "n_towns": 12,
    "corpus_chars": 20000,
    "n_sft": 200,
    "n_sft_test": 20,
    "n_pref": 100,
    "n_pref_test": 20,
    "n_generation": 20,
    "n_eval": 40,
}
SPLITS = {
    "sft/train.jsonl": "n_sft",
    "sft/test.jsonl": "n_sft_test",
    "preference/train.jsonl": "n_pref",
    "preference/test.jsonl": "n_pref_test",
    "prompts/generation.jsonl": "n_generation",
    "eval/test.jsonl": "n_eval",
}
COLUMNS = {
    "corpus.jsonl": {"text"},
    "sft/train.jsonl": {"prompt_id", "prompt", "messages", "task", "answer", "style"},
    "sft/test.jsonl": {"prompt_id", "prompt", "messages", "task", "answer", "style"},
    "preference/train.jsonl": {
        "prompt_id",
        "prompt",
        "chosen",
        "rejected",
        "score_chosen",
        "score_rejected",
        "task",
        "answer",
        "kind",
    },
    "preference/test.jsonl": {
        "prompt_id",
        "prompt",
        "chosen",
        "rejected",
        "score_chosen",
        "score_rejected",
        "task",
        "answer",
        "kind",
    },
    "prompts/generation.jsonl": {"prompt_id", "prompt", "messages", "task", "answer"},
    "eval/test.jsonl": {"prompt_id", "prompt", "task", "answer", "in_sft"},
    "eval/same_knowledge.jsonl": {"prompt_id", "prompt", "task", "answer", "in_sft"},
}
PLAIN_QA = "Question: {q}\nAnswer: {a}\n"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo_world")
    demo_world.generate(SPEC, path)
    return path


@pytest.fixture(scope="module")
def data(outdir):
    return {name: read_jsonl(outdir / name) for name in COLUMNS}


@pytest.fixture(scope="module")
def corpus_text(data):
    return "\n".join(row["text"] for row in data["corpus.jsonl"])


@pytest.fixture(scope="module")
def fact_of_question():
    world = demo_questions.build_world(SPEC["seed"], SPEC["n_towns"])
    return {
        q: (town, attr, values[attr])
        for town, values in world.items()
        for attr in demo_questions.ATTRIBUTES
        for q in demo_questions.fact_questions(town, attr)
    }


def test_same_seed_gives_identical_bytes(outdir, tmp_path):
    demo_world.generate(SPEC, tmp_path)
    for name in [*COLUMNS, "manifest.json"]:
        assert (tmp_path / name).read_bytes() == (outdir / name).read_bytes(), name


def test_other_seed_gives_other_data(outdir, tmp_path):
    demo_world.generate({**SPEC, "seed": SPEC["seed"] + 1}, tmp_path)
    for name in COLUMNS:
        assert (tmp_path / name).read_bytes() != (outdir / name).read_bytes(), name


def test_manifest_matches_files(outdir, data):
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert manifest["spec"] == demo_world.resolve_spec(SPEC)
    assert manifest["counts"] == {name: len(rows) for name, rows in data.items()}
    for name in COLUMNS:
        assert manifest["sha256"][name] == hashlib.sha256((outdir / name).read_bytes()).hexdigest()
    assert not list(outdir.rglob("*.tmp"))


def test_columns_and_roles(data):
    for name, rows in data.items():
        for row in rows:
            assert set(row) == COLUMNS[name], name
    for name in ("sft/train.jsonl", "sft/test.jsonl"):
        for row in data[name]:
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
            assert row["messages"][0]["content"] == row["prompt"]
            assert row["style"] in tasks.STYLES
    for name in ("preference/train.jsonl", "preference/test.jsonl"):
        for row in data[name]:
            for side in ("chosen", "rejected"):
                assert [m["role"] for m in row[side]] == ["user", "assistant"]
                assert row[side][0]["content"] == row["prompt"]
            assert (
                isinstance(row["score_chosen"], float)
                and row["score_chosen"] > row["score_rejected"]
            )
    for row in data["prompts/generation.jsonl"]:
        assert row["messages"] == [{"role": "user", "content": row["prompt"]}]
    for name in SPLITS:
        for row in data[name]:
            assert row["prompt_id"] == hashlib.sha256(row["prompt"].encode()).hexdigest()
            assert row["task"] in tasks.TASKS
    assert all(isinstance(row["in_sft"], bool) for row in data["eval/test.jsonl"])


def test_sizes_and_task_mix_are_honoured(data):
    spec = demo_world.resolve_spec(SPEC)
    for name, key in SPLITS.items():
        assert len(data[name]) == SPEC[key], name
        tally = collections.Counter(row["task"] for row in data[name])
        assert tally == {
            t: n for t, n in demo_world.allocate(SPEC[key], spec["task_mix"]).items() if n
        }, name
    chars = sum(len(row["text"]) for row in data["corpus.jsonl"])
    assert SPEC["corpus_chars"] <= chars < SPEC["corpus_chars"] + 1000


def test_allocate_is_exact():
    assert demo_world.allocate(230, demo_world.DEFAULTS["task_mix"]) == {
        "arithmetic": 92,
        "string": 69,
        "fact": 69,
    }
    assert sum(demo_world.allocate(7, {"a": 1, "b": 1, "c": 1}).values()) == 7


@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_sft_style_mix(fraction):
    files = demo_world.build(demo_world.resolve_spec({**SPEC, "sft_preferred_fraction": fraction}))
    replies = [row["messages"][1]["content"] for row in files["sft/train.jsonl"]]
    templates = collections.Counter(r.split(" ")[0] for r in replies)
    n_preferred = round(SPEC["n_sft"] * fraction)
    starts = [t.split(" ")[0] for t in tasks.PREFERRED_TEMPLATES + [tasks.DISPREFERRED_TEMPLATE]]
    assert templates == {
        starts[0]: n_preferred // 2,
        starts[1]: n_preferred // 2,
        starts[2]: SPEC["n_sft"] - n_preferred,
    }
    styles = collections.Counter(row["style"] for row in files["sft/train.jsonl"])
    assert styles["preferred"] == n_preferred
    assert all(
        tasks.style_of(r["messages"][1]["content"]) == r["style"] for r in files["sft/train.jsonl"]
    )


def test_preference_kinds_are_half_and_half(data):
    for name in ("preference/train.jsonl", "preference/test.jsonl"):
        kinds = collections.Counter(row["kind"] for row in data[name])
        assert kinds["correctness"] == kinds["style"] == len(data[name]) // 2


def test_no_prompt_shared_across_splits_or_with_corpus_questions(data, corpus_text):
    seen = {}
    for name in [*SPLITS, "eval/same_knowledge.jsonl"]:
        for row in data[name]:
            assert row["prompt"] not in seen, (row["prompt"], name, seen.get(row["prompt"]))
            seen[row["prompt"]] = name
            assert f"Question: {row['prompt']}\n" not in corpus_text


def test_every_gold_answer_round_trips_through_every_template(data):
    for name in SPLITS:
        for row in data[name]:
            for variant in range(len(tasks.PREFERRED_TEMPLATES)):
                assert (
                    tasks.extract_answer(tasks.render_reply(row["answer"], "preferred", variant))
                    == row["answer"]
                )
            assert (
                tasks.extract_answer(tasks.render_reply(row["answer"], "dispreferred"))
                == row["answer"]
            )
            assert tasks.extract_plain_answer(f" {row['answer']}\n") == row["answer"]


def test_stored_replies_carry_the_gold_answer(data):
    for name in ("sft/train.jsonl", "sft/test.jsonl"):
        for row in data[name]:
            assert tasks.extract_answer(row["messages"][1]["content"]) == row["answer"]


def test_preference_pairs(data):
    for name in ("preference/train.jsonl", "preference/test.jsonl"):
        for row in data[name]:
            chosen, rejected = row["chosen"][1]["content"], row["rejected"][1]["content"]
            assert tasks.style_of(chosen) == "preferred"
            assert tasks.extract_answer(chosen) == row["answer"]
            wrong = tasks.extract_answer(rejected)
            if row["kind"] == "correctness":
                assert tasks.style_of(rejected) == "preferred"
                assert not tasks.is_correct(wrong, row["answer"])
                assert chosen.replace(row["answer"] + ".", wrong + ".") == rejected
                if row["task"] == "arithmetic":
                    assert wrong.isdigit() and abs(int(wrong) - int(row["answer"])) <= 10
            else:
                assert tasks.style_of(rejected) == "dispreferred"
                assert wrong == row["answer"]


def test_answers_are_right(data, fact_of_question):
    for name in [*SPLITS, "eval/same_knowledge.jsonl"]:
        for row in data[name]:
            if row["task"] == "fact":
                assert fact_of_question[row["prompt"]][2] == row["answer"]
            elif row["task"] == "arithmetic":
                x, y = [int(n) for n in re.findall(r"\d+", row["prompt"])]
                if "Subtract" in row["prompt"]:
                    expected = y - x
                elif any(w in row["prompt"] for w in ("plus", "+", "Add", "sum")):
                    expected = x + y
                else:
                    expected = x - y
                assert expected >= 0 and row["answer"] == str(expected), row["prompt"]
            else:
                word = re.search(r"'(\w+)'", row["prompt"]).group(1)
                assert row["answer"] in (word[::-1], word.upper(), word[0]), row["prompt"]


def test_held_out_facts_are_in_the_corpus(data, corpus_text, fact_of_question):
    for name in ("eval/test.jsonl", "sft/test.jsonl", "preference/test.jsonl"):
        for row in data[name]:
            if row["task"] == "fact":
                town, attr, value = fact_of_question[row["prompt"]]
                assert any(
                    s in corpus_text for s in demo_questions.fact_statements(town, attr, value)
                ), row["prompt"]


def test_eval_in_sft_marks_facts_asked_in_sft_train(data, fact_of_question):
    def fact_key(prompt):
        return fact_of_question[prompt][:2]

    sft_facts = {fact_key(r["prompt"]) for r in data["sft/train.jsonl"] if r["task"] == "fact"}
    trained = {
        fact_key(r["prompt"])
        for name in ("sft/train.jsonl", "preference/train.jsonl", "prompts/generation.jsonl")
        for r in data[name]
        if r["task"] == "fact"
    }
    eval_facts = [r for r in data["eval/test.jsonl"] if r["task"] == "fact"]
    flags = collections.Counter(r["in_sft"] for r in eval_facts)
    assert flags[True] > 0 and flags[False] > 0
    for row in eval_facts:
        assert (fact_key(row["prompt"]) in sft_facts) == row["in_sft"]
        if not row["in_sft"]:
            assert fact_key(row["prompt"]) not in trained


def item_of(row, fact_of_question):
    """What a demo question asks, whatever its phrasing: a fact, a sum, a word and operation."""
    if row["task"] == "fact":
        return fact_of_question[row["prompt"]][:2]
    if row["task"] == "string":
        return (re.search(r"'(\w+)'", row["prompt"]).group(1), row["answer"])
    numbers = re.findall(r"\d+", row["prompt"])
    return (tuple(numbers[::-1] if "Subtract" in row["prompt"] else numbers), row["answer"])


def test_same_knowledge_asks_the_generation_items_in_new_phrasings(data, fact_of_question):
    same = data["eval/same_knowledge.jsonl"]
    generation = data["prompts/generation.jsonl"]
    asked = {item_of(r, fact_of_question) for r in generation}
    # Nearly every generation prompt's item has a phrasing left (facts have 8, the others 4).
    assert len(same) >= 0.8 * len(generation)
    assert all(item_of(r, fact_of_question) in asked for r in same)
    assert len({item_of(r, fact_of_question) for r in same}) == len(same)
    elsewhere = {r["prompt"] for name in SPLITS for r in data[name]}
    assert not elsewhere & {r["prompt"] for r in same}
    assert {r["task"] for r in same} == set(tasks.TASKS)


def test_same_knowledge_size_is_exact_or_refused(tmp_path):
    demo_world.generate({**SPEC, "n_same_knowledge": 5}, tmp_path)
    assert len(read_jsonl(tmp_path / "eval/same_knowledge.jsonl")) == 5
    with pytest.raises(ValueError, match="n_same_knowledge"):
        demo_world.generate({**SPEC, "n_same_knowledge": SPEC["n_generation"] + 1}, tmp_path)


def test_corpus_plain_qa_is_correct(corpus_text, fact_of_question):
    blocks = corpus_text.split("Question: ")[1:]
    assert len(blocks) > 20
    n_facts = 0
    for block in blocks:
        question, rest = block.split("\nAnswer:", 1)
        answer = tasks.extract_plain_answer(rest)
        assert answer is not None and rest.startswith(f" {answer}\n")
        if question in fact_of_question:
            n_facts += 1
            assert fact_of_question[question][2] == answer
    assert n_facts > 0


def test_bad_specs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_town"):
        demo_world.resolve_spec({"n_town": 3})
    with pytest.raises(ValueError, match="maths"):
        demo_world.resolve_spec({"task_mix": {"maths": 1.0}})
    with pytest.raises(ValueError, match="sft_preferred_fraction"):
        demo_world.resolve_spec({"sft_preferred_fraction": 1.5})
    with pytest.raises(ValueError, match="not enough distinct fact prompts"):
        demo_world.generate({**SPEC, "n_towns": 2}, tmp_path)


def test_failed_run_leaves_no_manifest(tmp_path):
    demo_world.generate(SPEC, tmp_path)
    assert (tmp_path / "manifest.json").exists()
    with pytest.raises(ValueError):
        demo_world.generate({**SPEC, "n_sft": 10**6}, tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_entry_point_prints_one_line_per_file(tmp_path):
    script = REPO / "scripts" / "make_demo_world.py"
    spec = json.dumps({**SPEC, "seed": 5})
    proc = subprocess.run(
        [sys.executable, str(script), "--spec", spec, "--outdir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    written = [line for line in proc.stdout.splitlines() if line.startswith("wrote ")]
    assert len(written) == len(COLUMNS) + 1 and written[-1].endswith("manifest.json")
    assert json.loads((tmp_path / "manifest.json").read_text())["spec"]["seed"] == 5
