"""Rejection sampling: sample k completions, score them with an RM, build best-of-n and pair
sets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import read_jsonl, run_script
from tiny_model import build_model, build_world

from handbook.rejection_sampling import best_and_worst, split_rows
from handbook.reward_scoring import score_conversations

K = 3


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def load_rm(folder: Path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(
        folder, dtype=torch.float32
    ), AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Sample with an untrained tiny policy, score with an untrained head on the same body, build
    sets."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("bon")
    world = build_world(root / "world")
    policy = build_model(root / "policy", world)
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(
        policy, num_labels=1, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(policy)
    rm.config.pad_token_id = tokenizer.pad_token_id
    rm.save_pretrained(root / "rm")
    tokenizer.save_pretrained(root / "rm")

    prompts = world / "prompts" / "generation.jsonl"
    samples, scored, sets = root / "samples.jsonl", root / "scored.jsonl", root / "sets"
    proc = run_script(
        "sample_completions.py",
        "--model",
        policy,
        "--prompts",
        prompts,
        "--output",
        samples,
        "--num_completions",
        K,
        "--max_new_tokens",
        8,
        "--seed",
        3,
        "--batch_size",
        8,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run_script(
        "score_samples.py",
        "--reward_model",
        root / "rm",
        "--samples",
        samples,
        "--output",
        scored,
        "--batch_size",
        5,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run_script(
        "make_bon_sets.py", "--scored", scored, "--output_dir", sets, "--test_fraction", 0.25
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {
        "root": root,
        "prompts": prompts,
        "samples": samples,
        "scored": scored,
        "sets": sets,
        "rm": root / "rm",
        "policy": policy,
    }


def test_samples_have_k_completions_and_carry_ids(pipeline):
    prompts = read_jsonl(pipeline["prompts"])
    rows = read_jsonl(pipeline["samples"])
    assert [r["prompt_id"] for r in rows] == [p["prompt_id"] for p in prompts]
    for row, prompt in zip(rows, prompts):
        assert row["answer"] == prompt["answer"] and row["task"] == prompt["task"]
        assert row["messages"] == prompt["messages"] and row["prompt"] == prompt["prompt"]
        assert len(row["completions"]) == K and all(isinstance(c, str) for c in row["completions"])
        assert row["generation"] == {
            "backend": "hf",
            "temperature": 1.0,
            "top_p": 1.0,
            "max_new_tokens": 8,
            "seed": 3,
            "model": str(pipeline["policy"]),
        }
    # Sampling at T=1 from an untrained model: the k completions of a prompt are not all the same.
    assert any(len(set(r["completions"])) > 1 for r in rows)


def test_scores_align_with_completions(pipeline):
    rows = read_jsonl(pipeline["scored"])
    assert all(len(r["scores"]) == len(r["completions"]) == K for r in rows)
    model, tokenizer = load_rm(pipeline["rm"])
    row = rows[1]
    conversations = [
        row["messages"] + [{"role": "assistant", "content": c}] for c in row["completions"]
    ]
    assert score_conversations(model, tokenizer, conversations, batch_size=1) == pytest.approx(
        row["scores"], abs=1e-4
    )


def test_best_of_n_and_pairs_use_argmax_and_argmin(pipeline):
    scored = {r["prompt_id"]: r for r in read_jsonl(pipeline["scored"])}
    sets = pipeline["sets"]
    best = read_jsonl(sets / "best_of_n" / "train.jsonl") + read_jsonl(
        sets / "best_of_n" / "test.jsonl"
    )
    assert sorted(r["prompt_id"] for r in best) == sorted(scored)
    for row in best:
        source = scored[row["prompt_id"]]
        top = max(range(K), key=lambda i: source["scores"][i])
        assert row["messages"] == source["messages"] + [
            {"role": "assistant", "content": source["completions"][top]}
        ]
        assert row["score"] == max(source["scores"])
    pairs = read_jsonl(sets / "on_policy_pairs" / "train.jsonl") + read_jsonl(
        sets / "on_policy_pairs" / "test.jsonl"
    )
    for pair in pairs:
        source = scored[pair["prompt_id"]]
        assert (
            pair["score_chosen"]
            == max(source["scores"])
            > pair["score_rejected"]
            == min(source["scores"])
        )
        assert (
            pair["chosen"][-1]["content"]
            == source["completions"][source["scores"].index(pair["score_chosen"])]
        )
        assert (
            pair["rejected"][-1]["content"]
            == source["completions"][source["scores"].index(pair["score_rejected"])]
        )
        assert pair["chosen"][:-1] == pair["rejected"][:-1] == source["messages"]
    summary = json.loads((sets / "summary.json").read_text())
    assert summary["n_prompts"] == len(scored)
    assert len(pairs) + sum(summary["skipped_pairs"].values()) == len(scored)
    assert set(summary["quality"]) == {"best", "worst", "all"}


@pytest.mark.parametrize("name", ["best_of_n", "on_policy_pairs"])
def test_splits_are_disjoint_and_load_as_a_dataset(pipeline, name):
    from handbook.data import load_mixture

    folder = pipeline["sets"] / name
    train = {r["prompt_id"] for r in read_jsonl(folder / "train.jsonl")}
    test = {r["prompt_id"] for r in read_jsonl(folder / "test.jsonl")}
    assert train and test and not train & test
    dsd = load_mixture(name, {"dataset_name": str(folder), "dataset_test_split": "test"})
    assert (len(dsd["train"]), len(dsd["test"])) == (len(train), len(test))


def test_hand_made_scores_with_ties(tmp_path):
    user = [{"role": "user", "content": "What is 2 + 2?"}]
    base = {"prompt": "What is 2 + 2?", "messages": user, "task": "arithmetic", "answer": "4"}
    rows = [
        dict(
            base,
            prompt_id="distinct",
            completions=["The answer is 4.", "Ugh, fine. It is 5.", "The answer is 3."],
            scores=[2.0, -1.0, 0.5],
        ),
        dict(base, prompt_id="tied", completions=["a", "b", "c"], scores=[1.0, 1.0, 1.0]),
        dict(base, prompt_id="same_text", completions=["x", "x ", "y"], scores=[3.0, -3.0, 0.0]),
        dict(
            base,
            prompt_id="tied_top",
            completions=["p", "q", "r", "s"],
            scores=[0.0, 3.0, 3.0, -2.0],
        ),
    ]
    out = tmp_path / "sets"
    proc = run_script(
        "make_bon_sets.py",
        "--scored",
        write_jsonl(tmp_path / "scored.jsonl", rows),
        "--output_dir",
        out,
        "--test_fraction",
        0.0,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = {r["prompt_id"]: r for r in read_jsonl(out / "best_of_n" / "train.jsonl")}
    assert best["distinct"]["messages"][-1]["content"] == "The answer is 4."
    assert best["tied_top"]["messages"][-1]["content"] == "q"  # the first of the tied maxima
    assert best["tied"]["score"] == 1.0
    pairs = {r["prompt_id"]: r for r in read_jsonl(out / "on_policy_pairs" / "train.jsonl")}
    assert set(pairs) == {"distinct", "tied_top"}
    assert pairs["distinct"]["rejected"][-1]["content"] == "Ugh, fine. It is 5."
    assert (pairs["tied_top"]["score_chosen"], pairs["tied_top"]["score_rejected"]) == (3.0, -2.0)
    assert pairs["distinct"]["answer"] == "4"
    assert not (out / "best_of_n" / "test.jsonl").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_pairs"] == {"tied_scores": 1, "identical_text": 1}
    assert summary["counts"]["on_policy_pairs"] == {"train": 2, "test": 0}
    assert summary["mean_best_score"] == pytest.approx((2 + 1 + 3 + 3) / 4)
    assert summary["mean_worst_score"] == pytest.approx((-1 + 1 - 3 - 2) / 4)
    assert summary["quality"]["best"]["correct_rate"] == 0.25  # only "The answer is 4." is right
    assert summary["quality"]["best"]["preferred_rate"] == 0.25
    assert summary["quality"]["worst"]["preferred_rate"] == 0.0


def test_selection_and_split_helpers():
    assert best_and_worst([1.0, 5.0, 5.0, -2.0, -2.0]) == (1, 3)
    rows = [{"prompt_id": f"p{i}"} for i in range(200)]
    train, test = split_rows(rows, 0.1)
    assert len(train) + len(test) == 200 and 5 < len(test) < 40
    again_train, again_test = split_rows(list(reversed(rows)), 0.1)
    assert {r["prompt_id"] for r in again_test} == {r["prompt_id"] for r in test}
    # A prompt's split does not depend on which other prompts are there.
    assert {r["prompt_id"] for r in split_rows(rows[:100], 0.1)[1]} <= {
        r["prompt_id"] for r in test
    }
    assert len(split_rows(rows[:3], 0.01)[1]) == 1  # a tiny set still gets a test row


def test_vllm_backend_without_vllm_fails_fast(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    output = tmp_path / "samples.jsonl"
    proc = run_script(
        "sample_completions.py",
        "--model",
        tmp_path / "no_such_model",
        "--prompts",
        tmp_path / "no_such_prompts.jsonl",
        "--output",
        output,
        "--backend",
        "vllm",
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "vllm is not installed" in lines[0]
    assert not output.exists()


def test_one_pair_is_too_few_to_hold_one_out(tmp_path):
    user = [{"role": "user", "content": "What is 2 + 2?"}]
    rows = [
        {
            "prompt_id": "a",
            "prompt": "Q",
            "messages": user,
            "completions": ["x", "y"],
            "scores": [1.0, 0.0],
        },
        {
            "prompt_id": "b",
            "prompt": "Q",
            "messages": user,
            "completions": ["x", "y"],
            "scores": [0.0, 0.0],
        },
    ]
    scored = write_jsonl(tmp_path / "scored.jsonl", rows)
    proc = run_script(
        "make_bon_sets.py",
        "--scored",
        scored,
        "--output_dir",
        tmp_path / "sets",
        "--test_fraction",
        0.1,
    )
    assert proc.returncode == 2
    assert f"{scored}: 1 pair (the other 1 prompts' best and worst tie" in proc.stderr
    assert not (tmp_path / "sets" / "on_policy_pairs" / "train.jsonl").exists()
