"""The order ready jobs start in: what more jobs wait on first, then training, evaluation,
judging."""

from __future__ import annotations

import re
from pathlib import Path

from handbook import schedule
from handbook.methods import METHODS

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules"
# Rules that write what a person reads (or a plan): nothing waits on them, Snakemake's default.
UNRANKED = {"make_table", "plot_curves", "plan_costs", "decontamination_report"}


def declared_priorities() -> dict[str, str]:
    found = {}
    for path in RULES.glob("*.smk"):
        for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)*)", path.read_text(), re.M):
            match = re.search(r"^    priority: (\S+)$", body, re.M)
            found[rule] = match.group(1) if match else None
    return found


def test_tiers_rank_what_unblocks_most_first():
    tiers = [
        schedule.UNBLOCKS_MANY,
        schedule.FEEDS_TRAINING,
        schedule.TRAINING,
        schedule.EVALUATION,
        schedule.JUDGING,
        schedule.REPORTING,
    ]
    assert tiers == sorted(tiers, reverse=True) and len(set(tiers)) == len(tiers)


def test_a_reward_model_trains_before_the_policies():
    assert schedule.training("rm") == schedule.UNBLOCKS_MANY
    for name, method in METHODS.items():
        expected = schedule.UNBLOCKS_MANY if method.reward_model else schedule.TRAINING
        assert schedule.training(name) == expected, name


def test_every_rule_a_job_waits_on_declares_its_tier():
    declared = declared_priorities()
    assert declared["train_model"] == "get_train_priority"
    assert declared["compute_ref_logps"] == "schedule.UNBLOCKS_MANY"
    assert declared["eval_demo"] == "schedule.EVALUATION"
    assert declared["judge_winrate"] == "schedule.JUDGING"
    for rule, value in declared.items():
        if rule in UNRANKED or rule == "all":
            assert value is None, rule
        else:
            assert value is not None, f"{rule} has no priority"
            if value.startswith("schedule."):
                assert hasattr(schedule, value.split(".", 1)[1]), (rule, value)
