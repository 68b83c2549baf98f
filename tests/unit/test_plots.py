"""Training-curve plots on fixed, hand-written log histories."""

from __future__ import annotations

import json

import pytest
from conftest import run_script

from handbook.plots import PANELS, curves, plot_training_curves

PNG = b"\x89PNG"
NAN = float("nan")

DPO = [
    {
        "loss": 0.69,
        "rewards/margins": 0.0,
        "rewards/accuracies": 0.0,
        "rewards/chosen": 0.0,
        "step": 10,
    },
    {
        "loss": 0.55,
        "rewards/margins": 0.4,
        "rewards/accuracies": 0.75,
        "rewards/chosen": 0.1,
        "step": 20,
    },
    {"eval_loss": 0.6, "eval_rewards/margins": 0.3, "eval_rewards/accuracies": 0.5, "step": 20},
    {"train_loss": 0.62, "train_runtime": 12.0, "step": 20},
]
SFT = [
    {"loss": 2.65, "learning_rate": 1e-4, "grad_norm": 3.0, "epoch": 0.2, "step": 20},
    {"loss": 2.1, "learning_rate": 5e-5, "grad_norm": 2.0, "epoch": 0.4, "step": 40},
    {"eval_loss": 2.3, "step": 40},
    {"train_loss": 2.4, "train_runtime": 30.0, "step": 40},
]
# NaN, null and a missing key are all "no point"; the reward-model trainer's plain `accuracy` keys
# count.
WITH_NAN = [
    {"loss": NAN, "accuracy": 0.5, "step": 5},
    {"loss": 1.0, "accuracy": None, "step": 10},
    {"eval_loss": NAN, "eval_accuracy": 0.8, "step": 10},
    {"loss": 0.8, "step": 15},
    {"loss": 0.7},
]


# GRPO's log entries (TRL 1.16 key names), with beta > 0 so the KL is logged.
GRPO = [
    {
        "loss": 0.03,
        "reward": 0.49,
        "reward_std": 0.46,
        "completions/mean_length": 13.1,
        "kl": 0.0006,
        "rewards/demo_answer/mean": 0.3,
        "step": 5,
    },
    {
        "loss": -0.01,
        "reward": 0.78,
        "reward_std": 0.49,
        "completions/mean_length": 12.7,
        "kl": 0.047,
        "step": 10,
    },
]


def test_panels_are_ordered():
    assert [panel[0] for panel in PANELS] == [
        "Loss",
        "Reward margin",
        "Reward accuracy",
        "Mean reward (GRPO)",
        "Reward std (GRPO)",
        "Completion length (GRPO)",
        "KL to reference (GRPO)",
    ]


def test_curves_grpo_has_reward_spread_length_and_kl():
    assert curves(GRPO) == {
        "Loss": {"train": [(5, 0.03), (10, -0.01)], "eval": []},
        "Mean reward (GRPO)": {"train": [(5, 0.49), (10, 0.78)], "eval": []},
        "Reward std (GRPO)": {"train": [(5, 0.46), (10, 0.49)], "eval": []},
        "Completion length (GRPO)": {"train": [(5, 13.1), (10, 12.7)], "eval": []},
        "KL to reference (GRPO)": {"train": [(5, 0.0006), (10, 0.047)], "eval": []},
    }


def test_curves_dpo():
    assert curves(DPO) == {
        "Loss": {"train": [(10, 0.69), (20, 0.55)], "eval": [(20, 0.6)]},
        "Reward margin": {"train": [(10, 0.0), (20, 0.4)], "eval": [(20, 0.3)]},
        "Reward accuracy": {"train": [(10, 0.0), (20, 0.75)], "eval": [(20, 0.5)]},
    }


def test_curves_sft_has_loss_only_and_ignores_summary():
    assert curves(SFT) == {"Loss": {"train": [(20, 2.65), (40, 2.1)], "eval": [(40, 2.3)]}}


def test_curves_skip_nan_null_and_missing():
    assert curves(WITH_NAN) == {
        "Loss": {"train": [(10, 1.0), (15, 0.8)], "eval": []},
        "Reward accuracy": {"train": [(5, 0.5)], "eval": [(10, 0.8)]},
    }


def test_curves_from_json_round_trip():
    # The Trainer writes NaN as a bare NaN token; json reads it back as float nan.
    assert curves(json.loads(json.dumps(WITH_NAN))) == curves(WITH_NAN)


def test_curves_empty():
    assert curves([]) == {}
    assert curves([{"train_loss": 1.0, "train_runtime": 2.0, "step": 3}]) == {}


def test_plot_all_panels(tmp_path):
    out = tmp_path / "nested" / "dir" / "curves.png"
    titles = plot_training_curves({"dpo": DPO, "sft": SFT, "rm": WITH_NAN}, out, title="demo")
    assert titles == ["Loss", "Reward margin", "Reward accuracy"]
    assert out.read_bytes()[:4] == PNG


def test_plot_only_panels_with_data(tmp_path):
    assert plot_training_curves({"sft": SFT}, tmp_path / "sft.png") == ["Loss"]
    assert (tmp_path / "sft.png").read_bytes()[:4] == PNG
    assert plot_training_curves({"rm": WITH_NAN}, tmp_path / "rm.png") == [
        "Loss",
        "Reward accuracy",
    ]


def test_plot_empty_raises_naming_labels(tmp_path):
    summary_only = [{"train_loss": 1.0, "train_runtime": 2.0, "step": 3}]
    with pytest.raises(ValueError, match="alpha.*beta"):
        plot_training_curves({"alpha": [], "beta": summary_only}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_cli_writes_png_and_names_missing_history(tmp_path):
    dpo = tmp_path / "dpo" / "log_history.json"
    dpo.parent.mkdir()
    dpo.write_text(json.dumps(DPO))
    out = tmp_path / "plots" / "curves.png"

    ok = run_script(
        "plot_curves.py",
        "--histories",
        json.dumps({"dpo": str(dpo)}),
        "--output",
        str(out),
        "--title",
        "t",
    )
    assert ok.returncode == 0, ok.stderr
    assert out.read_bytes()[:4] == PNG

    missing = tmp_path / "sft" / "log_history.json"
    histories = json.dumps({"dpo": str(dpo), "sft": str(missing)})
    bad = run_script(
        "plot_curves.py", "--histories", histories, "--output", str(tmp_path / "bad.png")
    )
    assert bad.returncode != 0
    assert str(missing) in bad.stderr and "sft" in bad.stderr
    assert not (tmp_path / "bad.png").exists()


def test_panel_spanning_orders_of_magnitude_gets_a_log_axis(tmp_path):
    from handbook import plots

    assert plots.wants_log_scale([2500.0, 2499.0, 0.68, 0.65])  # IPO at beta 0.01 beside DPO
    assert not plots.wants_log_scale([6.9, 0.4, 0.2])
    assert not plots.wants_log_scale([2500.0, 0.0])  # zero or negative values stay linear
    assert not plots.wants_log_scale([])
    ipo = [{"step": s, "loss": 2500.0 - s} for s in range(1, 5)]
    dpo = [{"step": s, "loss": 0.69 - 0.01 * s} for s in range(1, 5)]
    assert plots.plot_training_curves({"ipo": ipo, "dpo": dpo}, tmp_path / "log.png") == ["Loss"]
    assert (tmp_path / "log.png").read_bytes()[:4] == b"\x89PNG"


def test_pass_at_k_curves_take_each_prompt_sets_columns_by_k(tmp_path):
    import pandas as pd

    from handbook.table_plots import pass_at_k_columns, plot_pass_at_k

    table = pd.DataFrame(
        {
            "model": ["sft", "grpo", "reward_model"],
            "pass@16": [0.5, 0.5, None],
            "pass@1": [0.2, 0.4, None],
            "pass@4": [0.35, 0.45, None],
            "pass@4_fact": [0.9, 0.9, None],  # a task's column, not a point of the curve
            "same_knowledge/pass@1": [0.3, 0.5, None],
            "same_knowledge/pass@1_std": [0.01, 0.02, None],
        }
    )
    assert pass_at_k_columns(table, "") == [(1, "pass@1"), (4, "pass@4"), (16, "pass@16")]
    assert pass_at_k_columns(table, "same_knowledge/") == [(1, "same_knowledge/pass@1")]
    plot_pass_at_k(table, "t", str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
