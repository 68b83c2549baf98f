"""bench/demo_jobs.py reads a build's benchmark files and timing lines into start-up per rule."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from demo_jobs import jobs, rule_of  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_jobs_pair_benchmarks_with_their_logs_timing_lines(tmp_path):
    for job, seconds, lines in (
        (
            "dpo/demo_dpo-seed1",
            20.0,
            [
                "timing: 1.50 s from job start to main",
                "timing: 4.00 s from job start to model loaded",
            ],
        ),
        ("data/demo_sft/prepare", 2.0, ["timing: 0.40 s from job start to main"]),
        ("eval/sft/tiny_lm_eval_demo", 8.0, []),
    ):
        (tmp_path / "benchmarks" / job).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "benchmarks" / f"{job}.tsv").write_text(
            HEADER + f"{seconds}\t0:00:{int(seconds):02d}\t512.5\t1\t1\t1\t0\t0\t90\t1\n"
        )
        (tmp_path / "logs" / job).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "logs" / f"{job}.log").write_text(
            "".join(f"2026-12-01 00:00:00,000 INFO handbook: {x}\n" for x in lines)
        )
    found = {r["job"]: r for r in jobs(tmp_path)}
    assert found["dpo/demo_dpo-seed1"] == {
        "job": "dpo/demo_dpo-seed1",
        "rule": "train_model",
        "seconds": 20.0,
        "startup": 4.0,
        "model": True,
        "max_rss_mb": 512.5,
    }
    assert (
        found["data/demo_sft/prepare"]["startup"] == 0.4
        and found["data/demo_sft/prepare"]["rule"] == "prepare_dataset"
    )
    assert found["eval/sft/tiny_lm_eval_demo"]["startup"] is None


def test_rules_are_told_apart_by_their_log_paths():
    assert (
        rule_of("eval/sft/tiny") == "eval_demo"
        and rule_of("eval/sft/tiny_winrate") == "judge_winrate"
    )
    assert (
        rule_of("eval/rm/tiny") == "eval_reward"
        and rule_of("ref_logps/demo_pref/sft/tiny") == "compute_ref_logps"
    )
    assert (
        rule_of("merge/smollm3") == "train_model"
        and rule_of("judges/mt_bench/sft-tiny") == "judge_answers"
    )
