"""The online methods through the workflow at the smallest size: GRPO (two seeds) and two rounds
of iterative DPO scored by verifiers and by the reward model, evaluated into the `online_small`
table with their training curves; then a dry run with a third round, which must rebuild only it.

tests/config/online.yaml sets the sizes; model quality is the demo's concern (README, the
`online` table), not this test's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, make_workdir, read_jsonl, run_snakemake

CONFIG = REPO / "tests" / "config" / "online.yaml"
TARGETS = ("results/tables/online_small.csv", "results/plots/online_small_curves.png")
LORA = "results/models/grpo/lora"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    work = make_workdir(tmp_path_factory.mktemp("online"))
    run_snakemake(work, *TARGETS, LORA, configfiles=[CONFIG], timeout=1800)
    return work


def test_the_table_has_every_round_and_grpo_over_its_seeds(built):
    table = pd.read_csv(built / TARGETS[0]).set_index("model")
    assert list(table.index) == [
        "sft",
        "verified_r1",
        "verified_r2",
        "rm_scored_r1",
        "rm_scored_r2",
        "grpo",
    ]
    assert table.loc["grpo", "n_runs"] == 2 and table.loc["verified_r2", "n_runs"] == 1
    assert table["task_accuracy"].between(0, 1).all()
    assert (built / TARGETS[1]).read_bytes()[:4] == b"\x89PNG"


def test_grpo_records_its_rollouts_and_curves(built):
    model = built / "results/models/grpo/small_grpo-seed1"
    records = read_jsonl(model / "rollouts.jsonl")
    assert [r["step"] for r in records] == [0, 1, 2]
    sample = records[0]["samples"][0]
    assert (
        set(sample["rewards"]) == {"demo_answer", "demo_format"}
        and "answer" in sample
        and sample["completion"] is not None
    )
    logged = [
        entry for entry in json.loads((model / "log_history.json").read_text()) if "reward" in entry
    ]
    assert len(logged) == 3
    assert {"reward_std", "completions/mean_length", "kl", "rewards/demo_answer/mean"} <= set(
        logged[0]
    )
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(model).num_parameters() > 0


def test_grpo_with_lora_saves_the_merged_model_and_the_adapter(built):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(built / LORA)
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert (built / LORA / "adapter" / "adapter_config.json").is_file()


def test_grpo_reports_its_rewards_to_tensorboard(built):
    """report_to: tensorboard through GRPO: the reward of each logged step, under results/runs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(built / "results/runs/grpo/lora"))
    events.Reload()
    assert [event.step for event in events.Scalars("train/reward")] == [1, 2]


def test_each_round_trains_from_the_previous_rounds_policy_on_its_samples(built):
    provenance = json.loads(
        (built / "results/models/dpo/small_verified-r2/provenance.json").read_text()
    )
    assert provenance["inputs"]["model"] == "results/models/dpo/small_verified-r1"
    scored = read_jsonl(built / "results/rejection_sampling/small_verified-r2/scored.jsonl")
    assert scored and all(row["verifiers"] == ["demo_answer", "demo_format"] for row in scored)
    assert all(set(row["scores"]) <= {0.0, 0.5, 1.0, 1.5} for row in scored)
    rm_scored = read_jsonl(built / "results/rejection_sampling/small_rm-r1/scored.jsonl")
    assert all(row["reward_model"] == "results/models/rm/small" for row in rm_scored)
    pairs = read_jsonl(
        built / "results/rejection_sampling/small_verified-r1/on_policy_pairs/train.jsonl"
    )
    assert pairs and all(p["score_chosen"] > p["score_rejected"] for p in pairs)


def test_a_third_round_rebuilds_only_itself_and_the_table(built, tmp_path):
    more = tmp_path / "three_rounds.yaml"
    more.write_text(yaml.safe_dump({"iterative_dpo": {"small_verified": {"rounds": 3}}}))
    proc = run_snakemake(built, "-n", *TARGETS, configfiles=[CONFIG, more])
    outputs = [
        line.split(":", 1)[1].strip()
        for line in proc.stdout.splitlines()
        if line.strip().startswith("output:")
    ]
    assert outputs, proc.stdout[-3000:]
    others = [
        o
        for o in outputs
        if "small_verified-r3" not in o and not o.startswith(("results/tables/", "results/plots/"))
    ]
    assert not others, others
    assert any("results/models/dpo/small_verified-r3" in o for o in outputs)
    assert any("results/rejection_sampling/small_verified-r3/samples.jsonl" in o for o in outputs)
