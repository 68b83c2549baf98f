"""The model card of a trained model: Hub metadata, how it was made, its metrics, how to load it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import yaml

from handbook.model_card import dataset_origin, key_arguments, render_model_card


def write_provenance(folder, config=None, inputs=None):
    folder.mkdir(parents=True)
    (folder / "provenance.json").write_text(
        json.dumps({"config": config or {}, "inputs": inputs or {}})
    )


def test_dataset_origin_follows_provenance_back_to_the_prepared_data(tmp_path):
    prepared, tokenized = tmp_path / "prepared", tmp_path / "tokenized"
    spec = {"dataset_mixture": {"datasets": [{"id": "org/chat"}, {"id": "data/mine.jsonl"}]}}
    write_provenance(prepared, config={"name": "mix", "spec": spec})
    write_provenance(tokenized, config={"tokenizer": "t"}, inputs={"prepared": str(prepared)})
    assert dataset_origin(str(tokenized)) == ("mix", ["org/chat", "data/mine.jsonl"])
    assert dataset_origin(str(tmp_path / "nowhere")) == (None, [])


def test_card_has_hub_metadata_arguments_metrics_and_loading():
    parsed = (
        SimpleNamespace(stage="dpo"),
        SimpleNamespace(
            learning_rate=5e-7, beta=0.01, max_steps=-1, warmup_ratio=0.1, seed=42, hub_token=None
        ),
        SimpleNamespace(use_peft=False),
    )
    card = render_model_card(
        title="dpo/zephyr",
        method="dpo",
        trainer="DPOTrainer",
        parent="org/zephyr-sft",
        dataset_path="results/ref_logps/uf/sft/zephyr",
        dataset_name="ultrafeedback_binarized",
        sources=["HuggingFaceH4/ultrafeedback_binarized"],
        arguments=key_arguments(parsed),
        metrics={"eval_rewards/accuracies": 0.75, "eval_loss": 0.61, "note": "text"},
    )
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "org/zephyr-sft" and front["datasets"] == [
        "HuggingFaceH4/ultrafeedback_binarized"
    ]
    assert front["tags"] == ["trl", "dpo", "alignment-workflow"] and front["license"] == "other"
    assert (
        "| beta | 0.01 |" in card and "| warmup_ratio | 0.1 |" in card and "max_steps" not in card
    )
    assert (
        "- eval_rewards/accuracies: 0.75" in card and "AutoModelForCausalLM.from_pretrained" in card
    )


def test_reward_model_card_loads_a_classifier_and_local_parents_are_not_hub_metadata():
    card = render_model_card(
        title="rm/tiny",
        method="rm",
        trainer="RewardTrainer",
        parent="results/models/sft/tiny",
        dataset_path="results/data/demo_pref/prepared",
        dataset_name="demo_pref",
        sources=["results/demo_world/preference"],
        arguments={},
        metrics={},
        reward_model=True,
    )
    front = yaml.safe_load(card.split("---")[1])
    assert "base_model" not in front and "datasets" not in front
    assert (
        "AutoModelForSequenceClassification.from_pretrained" in card and "- none reported" in card
    )
