"""Reward modelling: reward.py trains a loadable sequence classifier; eval_reward.py scores
pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, read_jsonl, run_script
from tiny_model import build_model, build_world

from handbook.reward_scoring import (
    evaluate_pairs,
    pair_conversations,
    pairwise_metrics,
    score_conversations,
)

RECIPE = REPO / "config" / "recipes" / "demo" / "rm" / "tiny.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """World, untrained tiny model, prepared preference data and a 4-step RM."""
    import datasets

    root = tmp_path_factory.mktemp("rm")
    world = build_world(root / "world")
    base = build_model(root / "base", world)
    prepared = root / "prepared"
    splits = {s: read_jsonl(world / "preference" / f"{s}.jsonl") for s in ("train", "test")}
    # Kept as in ultrafeedback_binarized: a prompt string beside full conversations, plus extra
    # columns.
    datasets.DatasetDict(
        {s: datasets.Dataset.from_list(rows) for s, rows in splits.items()}
    ).save_to_disk(prepared)
    out = root / "rm"
    proc = run_script(
        "reward.py",
        "--config",
        RECIPE,
        "--model_name_or_path",
        base,
        "--dataset_path",
        prepared,
        "--checkpoint_dir",
        root / "ckpt",
        "--output_dir",
        out,
        "--max_steps",
        4,
        "--save_steps",
        2,
        "--per_device_train_batch_size",
        8,
        "--logging_steps",
        1,
        "--eval_strategy",
        "steps",
        "--eval_steps",
        4,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"root": root, "world": world, "base": base, "prepared": prepared, "rm": out}


def load_rm(folder: Path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(folder)


def test_reward_model_folder_loads_as_scalar_classifier(trained):
    model, tokenizer = load_rm(trained["rm"])
    assert model.config.num_labels == 1
    assert model.config.pad_token_id == tokenizer.pad_token_id is not None
    assert "SequenceClassification" in model.config.architectures[0]
    assert tokenizer.chat_template
    metrics = json.loads((trained["rm"] / "metrics.json").read_text())
    assert metrics["train_loss"] > 0 and 0 <= metrics["eval_accuracy"] <= 1
    history = json.loads((trained["rm"] / "log_history.json").read_text())
    assert max(entry.get("step", 0) for entry in history) == 4
    provenance = json.loads((trained["rm"] / "provenance.json").read_text())
    assert provenance["inputs"]["dataset"] == str(trained["prepared"])
    assert (trained["root"] / "ckpt" / "checkpoint-4" / "trainer_state.json").exists()


def test_score_head_was_trained(trained):
    """The saved head differs from the one a fresh load with the same seed would get."""
    import torch
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(42)
    fresh = AutoModelForSequenceClassification.from_pretrained(
        trained["base"], num_labels=1, dtype=torch.float32
    )
    model, _ = load_rm(trained["rm"])
    assert not torch.allclose(fresh.score.weight, model.score.weight)


def test_scores_do_not_depend_on_batching_or_padding_side(trained):
    model, tokenizer = load_rm(trained["rm"])
    rows = read_jsonl(trained["world"] / "preference" / "test.jsonl")[:6]
    conversations = [c for row in rows for c in pair_conversations(row, "test")]
    single = [score_conversations(model, tokenizer, [c], batch_size=1)[0] for c in conversations]
    tokenizer.padding_side = "left"
    batched = score_conversations(model, tokenizer, conversations, batch_size=5)
    assert len(batched) == len(conversations)
    assert all(isinstance(s, float) for s in batched)
    assert batched == pytest.approx(single, abs=1e-4)
    assert len(set(round(s, 5) for s in batched)) > 1  # not a constant


def test_eval_reward_writes_metrics_per_kind(trained):
    output = trained["root"] / "eval" / "pairs.json"
    pairs = trained["world"] / "preference" / "test.jsonl"
    proc = run_script(
        "eval_reward.py",
        "--model",
        trained["rm"],
        "--pairs",
        pairs,
        "--output",
        output,
        "--batch_size",
        7,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(output.read_text())
    rows = read_jsonl(pairs)
    assert result["n"] == len(rows)
    assert 0 <= result["pairwise_accuracy"] <= 1
    assert result["margin_std"] >= 0
    kinds = {row["kind"] for row in rows}
    assert set(result["by_kind"]) == kinds
    assert sum(v["n"] for v in result["by_kind"].values()) == len(rows)
    # The overall mean margin is the n-weighted mean of the per-kind means.
    weighted = sum(v["margin_mean"] * v["n"] for v in result["by_kind"].values()) / len(rows)
    assert result["margin_mean"] == pytest.approx(weighted)
    model, tokenizer = load_rm(trained["rm"])
    assert (
        evaluate_pairs(model, tokenizer, rows, 32)["pairwise_accuracy"]
        == result["pairwise_accuracy"]
    )


def test_pair_forms_and_metrics():
    user = [{"role": "user", "content": "q"}]
    a, b = [{"role": "assistant", "content": "a"}], [{"role": "assistant", "content": "b"}]
    assert pair_conversations({"prompt": user, "chosen": a, "rejected": b}, "x") == (
        user + a,
        user + b,
    )
    assert pair_conversations({"prompt": "q", "chosen": a, "rejected": b}, "x") == (
        user + a,
        user + b,
    )
    assert pair_conversations({"prompt": "q", "chosen": user + a, "rejected": user + b}, "x") == (
        user + a,
        user + b,
    )
    metrics = pairwise_metrics([1.0, -1.0, 0.0, 2.0])
    assert metrics["pairwise_accuracy"] == 0.5  # a tie is not a win
    assert metrics["margin_mean"] == 0.5 and metrics["n"] == 4


def test_reward_rejects_data_without_rejected_column(trained, tmp_path):
    import datasets

    bad = tmp_path / "bad"
    rows = read_jsonl(trained["world"] / "preference" / "train.jsonl")[:4]
    datasets.DatasetDict(
        train=datasets.Dataset.from_list([{"chosen": r["chosen"]} for r in rows])
    ).save_to_disk(bad)
    proc = run_script(
        "reward.py",
        "--config",
        RECIPE,
        "--model_name_or_path",
        trained["base"],
        "--dataset_path",
        bad,
        "--checkpoint_dir",
        tmp_path / "ck",
        "--output_dir",
        tmp_path / "out",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert (
        "columns ['chosen'] are in none of TRL's formats; a rm run takes preference (chosen, "
        "rejected" in proc.stderr
    )
    assert not (tmp_path / "out").exists()
