"""The cost plan (handbook.costs): N from a model's shape, each job's tokens, steps, FLOPs,
GPU-hours and memory per GPU, the warnings, and Zephyr-7B-beta's figures against the hand
computation written out in docs/costs.md. Plans are built from the shipped config in a scratch
directory, where nothing is built."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

from handbook.config import load_config, merge_config
from handbook.costs import as_csv, as_markdown, as_text, plan_costs
from handbook.costs.known import MODELS
from handbook.costs.memory import GIB
from handbook.costs.shapes import shape_from_config
from handbook.plan import build_plan
from handbook.plan.__main__ import main

TABLE = "zephyr-7b-beta"
# The hand computation of docs/costs.md, rounded: job -> tokens, steps, FLOPs, GPU-hours at MFU
# 0.35 on 989 TFLOP/s, memory per GPU in GiB.
HAND = {
    "sft/zephyr-7b-beta": (2.91e8, 1111, 1.26e19, 10.1, 38.5),
    "ref_logps/ultrafeedback_binarized/sft/zephyr-7b-beta": (5.50e7, None, 7.97e17, 0.64, 21.0),
    "dpo/zephyr-7b-beta": (5.50e7, 478, 2.39e18, 1.92, 27.0),
    "sft/zephyr-7b-beta-qlora": (2.91e8, 17762, 8.50e18, 6.8, 12.5),
}


def zephyr_costs(tmp_path, **changes):
    """The zephyr-7b-beta table's cost plan from `tmp_path`, the config changed by `changes`."""
    config = merge_config(load_config([]), changes)
    tables, rates = plan_costs(build_plan(config, origin=tmp_path), TABLE)
    return {job.job: job for job in tables[0].jobs}, tables[0], rates


def figures(job) -> tuple:
    return job.tokens, job.steps, job.flops, job.gpu_hours, job.memory.total / GIB


def test_mistral_7b_has_7_24_billion_parameters():
    shape = shape_from_config(MODELS["mistralai/Mistral-7B-v0.1"][0])
    assert shape.total_params() == pytest.approx(7.24e9, rel=0.01)
    assert shape.total_params() == 7_241_732_096  # its published count


def test_a_mixture_of_experts_counts_its_active_experts_for_flops():
    shape = shape_from_config(MODELS["mistral-community/Mixtral-8x22B-v0.1"][0])
    assert shape.total_params() == pytest.approx(140.6e9, rel=0.01)
    assert shape.active_params() == pytest.approx(39.2e9, rel=0.01)


def test_gpt2_is_counted_from_its_own_config_keys():
    assert shape_from_config(MODELS["gpt2"][0]).total_params() == 124_439_808


def test_zephyr_figures_agree_with_the_hand_computation(tmp_path):
    jobs, _, _ = zephyr_costs(tmp_path)
    for name, hand in HAND.items():
        for what, code, expected in zip(
            ("tokens", "steps", "FLOPs", "GPU-h", "GiB"), figures(jobs[name]), hand
        ):
            if expected is None:
                assert code is None, (name, what)
            else:
                assert code == pytest.approx(expected, rel=0.10), (name, what, code, expected)
        assert not jobs[name].measured  # nothing is built here: an estimate


def test_the_docs_hand_computation_is_the_one_checked_here():
    """The table at the end of docs/costs.md's hand computation holds the figures above."""
    text = (REPO / "docs" / "costs.md").read_text()
    table = text.split("read by tests/unit/test_costs.py -->", 1)[1].split("\n\n", 2)[1]
    rows = [line.strip("|").split("|") for line in table.splitlines()[2:]]
    documented = {
        cells[0].strip(): tuple(None if c.strip() == "-" else float(c) for c in cells[1:])
        for cells in rows
    }
    assert documented == HAND


def test_zero3_shards_weights_gradients_and_optimizer_states(tmp_path):
    jobs, _, _ = zephyr_costs(tmp_path)
    zero2, _, _ = zephyr_costs(
        tmp_path,
        runs={"sft": {"zephyr-7b-beta": {"accelerate_config": "config/accelerate/zero2.yaml"}}},
    )
    n = 7.24e9
    sharded, unsharded = jobs["sft/zephyr-7b-beta"].memory, zero2["sft/zephyr-7b-beta"].memory
    assert sharded.weights == pytest.approx(2 * n / 8, rel=0.01)  # bf16 over 8 GPUs
    assert unsharded.weights == pytest.approx(2 * n, rel=0.01)  # ZeRO-2 keeps whole weights
    assert sharded.gradients == unsharded.gradients == pytest.approx(2 * n / 8, rel=0.01)
    assert sharded.optimizer == pytest.approx(12 * n / 8, rel=0.01)
    assert "ZeRO-3 over 8 GPU(s)" in jobs["sft/zephyr-7b-beta"].layout


def test_a_run_over_its_time_limit_is_warned_about(tmp_path):
    _, table, _ = zephyr_costs(
        tmp_path, runs={"sft": {"zephyr-7b-beta": {"resources": {"runtime": 30}}}}
    )
    over = [w for w in table.warnings if w.startswith("warning: sft/zephyr-7b-beta:")]
    assert len(over) == 1 and "over the 0.5 h time limit" in over[0]
    _, fine, _ = zephyr_costs(tmp_path)
    assert fine.warnings == []


def test_a_job_that_does_not_fit_its_gpu_is_warned_about(tmp_path):
    _, table, rates = zephyr_costs(tmp_path, costs={"gpu_memory_gib": 24})
    assert rates.gpu_bytes == 24 * GIB
    small = {w.split(":")[1].strip() for w in table.warnings if "GiB per GPU" in w}
    # SFT full (38.5 GiB) and DPO full (27.0) do not fit 24 GiB; the QLoRA SFT run (12.5) does.
    assert {"sft/zephyr-7b-beta", "dpo/zephyr-7b-beta"} <= small
    assert "sft/zephyr-7b-beta-qlora" not in small
    assert all(w.startswith("warning: ") for w in table.warnings)


def test_a_built_summary_replaces_the_estimate(tmp_path):
    summary = tmp_path / "results/data/ultrachat_200k/tokenized/mistral-7b/summary.json"
    summary.parent.mkdir(parents=True)
    # 100,000 conversations of 1,000 tokens on average, counted.
    summary.write_text(
        json.dumps({"train": {"rows": 100_000, "tokens": 100_000_000, "max_length": 4000}})
    )
    jobs, table, rates = zephyr_costs(tmp_path)
    sft = jobs["sft/zephyr-7b-beta"]
    assert sft.measured and sft.tokens == pytest.approx(1e8, rel=1e-3)
    assert sft.steps == 382  # 1e8 tokens packed into 48,829 sequences of 2,048, 128 a step
    assert any("summary.json" in note for note in sft.notes)
    row = next(
        line
        for line in as_text([table], rates).splitlines()
        if line.startswith("sft/zephyr-7b-beta ")
    )
    assert "100.0M" in row and "~" not in row  # counted, not estimated
    assert not jobs["dpo/zephyr-7b-beta"].measured  # pairs: rows only are ever counted


def test_prepared_rows_stand_in_for_a_dataset_the_table_does_not_know(tmp_path):
    """deita-10k's rows are not shipped: its job is unknown until the prepared data's summary
    gives them, then its tokens are rows x the default tokens per row, an estimate."""
    config = load_config([])
    before = plan_costs(build_plan(config, origin=tmp_path), "zephyr-7b-gemma")[0][0]
    assert "sft/zephyr-7b-gemma" in before.unknown()
    summary = tmp_path / "results/data/zephyr-7b-gemma_deita-10k/prepared/summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"train": {"rows": 9500, "columns": ["messages"]}}))
    after = plan_costs(build_plan(config, origin=tmp_path), "zephyr-7b-gemma")[0][0]
    sft = next(job for job in after.jobs if job.job == "sft/zephyr-7b-gemma")
    assert not sft.measured and sft.flops and not after.unknown()
    assert sft.tokens == pytest.approx(9500 * 512 * 3, rel=0.01)  # 3 epochs of the recipe


def test_the_measured_mfu_replaces_the_configured_one(tmp_path):
    (tmp_path / "results/bench").mkdir(parents=True)
    (tmp_path / "results/bench/gpu_check.json").write_text(json.dumps({"mfu": 0.5}))
    jobs, _, rates = zephyr_costs(tmp_path)
    assert rates.mfu == 0.5 and rates.mfu_source.startswith("measured")
    assert jobs["sft/zephyr-7b-beta"].gpu_hours == pytest.approx(10.1 * 0.35 / 0.5, rel=0.10)


def test_an_unknown_model_is_said_to_be_unknown(tmp_path):
    jobs, table, _ = zephyr_costs(
        tmp_path, base_models={"mistral-7b": {"path": "nobody/unknown-model"}}
    )
    sft = jobs["sft/zephyr-7b-beta"]
    assert sft.flops is None and sft.gpu_hours is None
    assert any("unknown model: nobody/unknown-model" in note for note in sft.notes)
    assert "sft/zephyr-7b-beta" in table.unknown()


def test_the_cli_prints_each_job_and_the_totals(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing built there, no measured MFU
    assert main(["--costs", "--table", TABLE]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("job "))
    assert all(column in header for column in ("tokens", "steps", "FLOPs", "GPU-h", "GiB/GPU"))
    for job in HAND:
        assert any(line.startswith(job + " ") for line in lines), job
    total = next(line for line in lines if line.startswith("total (6 jobs)"))
    flops, hours = re.findall(r"\d\.\d\de\+\d\d", total)[0], total.split()[-1]
    assert float(flops) == pytest.approx(2.68e19, rel=0.10)
    assert float(hours) == pytest.approx(21.5, rel=0.10)


def test_the_cli_names_an_unknown_table(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["--costs", "--table", "no-such-table"]) == 2
    assert "unknown table 'no-such-table'" in capsys.readouterr().err


def test_markdown_and_csv_hold_every_job(tmp_path):
    jobs, table, rates = zephyr_costs(tmp_path)
    markdown = as_markdown([table], rates, "full")
    assert "## zephyr-7b-beta" in markdown and "| total (6 jobs) |" in markdown
    rows = as_csv([table], rates).splitlines()
    assert rows[0].startswith("table,job,kind,gpus")
    assert {line.split(",")[1] for line in rows[1:]} == set(jobs)


def test_the_cost_plan_imports_no_torch():
    code = (
        "import sys; from handbook.config import load_config; from handbook.plan import build_plan;"
        "from handbook.costs import plan_costs, as_text;"
        "as_text(*plan_costs(build_plan(load_config([]))));"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "scripts"), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_judges_calls_are_counted_before_any_answer_exists(tmp_path):
    """Five chat models (four rows and the anchor) x MT-Bench's 80 two-turn questions, and x
    AlpacaEval's 805 prompts, each call at most the endpoint's max_tokens."""
    _, table, rates = zephyr_costs(tmp_path)
    mt_bench, alpaca = table.judging
    assert "judging mt_bench: endpoint gpt-4 (gpt-4-0613), 5 models x 80 prompts x 2 turns" in (
        mt_bench
    )
    assert "= 800 calls, at most 1,638,400 completion tokens" in mt_bench
    assert "= 4,025 calls, at most 4,025 completion tokens" in alpaca
    assert mt_bench in as_text([table], rates) and f"- {alpaca}" in as_markdown(
        [table], rates, "full"
    )
