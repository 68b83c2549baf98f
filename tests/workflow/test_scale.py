"""The scale switch and the paper tables' DAGs, by dry run (no training).

`--config scale=tiny` builds any target in results/tiny/ with demo counterparts of hub models,
datasets, lm-eval suites and judge prompt sets; full scale plans GPU jobs for the same targets.
"""

from __future__ import annotations

import re

import yaml
from conftest import run_snakemake

SCAN = "results/tables/pref_align_scan.md"
BETAS = ["0.01", "0.5"]  # the scan's tiny_grid (its grid has ten betas)


def planned(proc) -> list[dict]:
    """Every planned job of a dry run (-n -p) as {rule, output, resources, shell}."""
    out = proc.stdout + proc.stderr
    jobs = []
    for block in re.split(r"\n(?=\[[^\]\n]+\]\n(?:local)?rule )", out)[1:]:
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        jobs.append(
            {
                "rule": re.search(r"^(?:local)?rule (\w+):", block, re.M).group(1),
                "output": re.search(r"^\s+output: (.*)$", block, re.M).group(1),
                "resources": dict(i.split("=", 1) for i in resources.group(1).split(", "))
                if resources
                else {},
                "shell": shell.group(1) if shell else "",
            }
        )
    assert jobs, out
    return jobs


def test_tiny_scan_plans_every_cell_offline_in_its_own_folder(workdir):
    proc = run_snakemake(workdir, "-n", "-p", SCAN, "--config", "scale=tiny")
    log = proc.stdout + proc.stderr
    for line in (
        "tiny scale: model base/zephyr-7b-sft -> sft/tiny",
        "tiny scale: dataset ultrafeedback_binarized -> demo_pref's data",
        "tiny scale: mt_bench prompts HuggingFaceH4/mt_bench_prompts -> demo prompts",
        f"tiny scale: working directory {workdir / 'results/tiny'}",
        "tiny scale: table pref_align_scan takes its tiny settings of demo, judges, metrics, "
        "finding",
    ):
        assert line in log
    jobs = planned(proc)
    trained = {j["output"].split(", ")[0] for j in jobs if j["rule"] == "train_model"}
    seeds = (1, 2, 3)  # the sweeps' tiny_seeds: every cell's spread
    cells = {
        f"results/models/dpo/pref_align_scan_dpo-{loss}-beta{b}-seed{seed}"
        for loss in ("sigmoid", "ipo")
        for b in BETAS
        for seed in seeds
    }
    cells |= {
        f"results/models/kto/pref_align_scan_kto-beta{b}-seed{seed}"
        for b in BETAS
        for seed in seeds
    }
    assert cells <= trained
    # Its tiny settings: the demo evaluation (KL to the SFT model among it), no MT-Bench judge.
    evaluated = {j["output"] for j in jobs if j["rule"] == "eval_demo"}
    assert any(
        "results/eval/kto/pref_align_scan_kto-beta0.5-seed3/demo.json" in o for o in evaluated
    )
    assert not [j for j in jobs if j["rule"] == "judge_verdicts"]
    # The scan starts from the demo SFT model; no job reads the hub or asks for a GPU.
    assert {"results/models/sft/tiny", "results/models/cpt/tiny"} <= trained
    for job in jobs:
        assert job["resources"].get("gpu", "0") == "0", job
        assert "HuggingFaceH4" not in job["shell"] and "zephyr-7b-sft-full" not in job["shell"], job
    scan = [j for j in jobs if j["output"].startswith("results/models/dpo/pref_align_scan")]
    # The scan's tiny_args: the demo DPO's learning rate over one epoch, not 10 steps at 5e-7.
    assert all(
        "--max_steps -1 " in j["shell"]
        and "--learning_rate 3e-05 " in j["shell"]
        and "--tiny_scale True" in j["shell"]
        for j in scan
    )
    # 12 Zephyr-arm DPO/IPO runs (2 losses x 2 betas x 3 seeds) and the OpenHermes arm's 4.
    assert "tiny scale: 16 runs then get {'learning_rate': 3e-05, 'max_steps': -1}: " in log
    assert all("--beta " in j["shell"] and "--loss_type " in j["shell"] for j in scan)
    # At tiny scale the scan's cells are judged on the demo world, not by MT-Bench answers.
    assert not [j for j in jobs if j["rule"].startswith("judge_answers")]
    # Snakemake ran in the tiny folder (its metadata is there), so its paths are not the full
    # scale's.
    assert (workdir / "results/tiny/.snakemake").is_dir() and not (
        workdir / ".snakemake/metadata"
    ).exists()


def test_tiny_scale_needs_a_demo_counterpart_for_hub_data(workdir):
    extra = workdir / "hub.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "webdata": {"dataset_name": "someone/webdata", "columns": ["messages"]}
                },
                "runs": {
                    "sft": {
                        "web": {
                            "model": "cpt/tiny",
                            "dataset": "webdata",
                            "recipe": "config/recipes/demo/sft/tiny.yaml",
                        }
                    }
                },
            }
        )
    )
    proc = run_snakemake(workdir, "-n", "--config", "scale=tiny", configfiles=[extra], check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert (
        "hub.yaml: datasets.webdata: reads the Hugging Face Hub; give it 'tiny: <demo dataset>'"
        in out
    )


def test_full_scale_zephyr_table_plans_lm_eval_and_judge_answers_on_gpus(workdir):
    proc = run_snakemake(workdir, "-n", "-p", "results/tables/zephyr-7b-beta.md")
    jobs = planned(proc)
    lm_eval = {j["output"]: j for j in jobs if j["rule"] == "lm_eval"}
    assert {
        "results/eval/base/mistral-7b/lm_eval/openllm.json",
        "results/eval/sft/zephyr-7b-beta/lm_eval/openllm.json",
        "results/eval/dpo/zephyr-7b-beta/lm_eval/openllm.json",
    } <= set(lm_eval)
    assert not (
        workdir / "results"
    ).exists()  # a dry run writes nothing under results/ (plan.json included)
    for job in lm_eval.values():
        assert job["resources"]["gpu"] == "1" and "--device cuda" in job["shell"]
        assert "--include_path" not in job["shell"] and '"arc_challenge"' in job["shell"]
    assert (
        "--model mistralai/Mistral-7B-v0.1 "
        in lm_eval["results/eval/base/mistral-7b/lm_eval/openllm.json"]["shell"]
    )
    answers = {j["output"].split(", ")[0] for j in jobs if j["rule"].startswith("judge_answers")}
    # Base models have no chat format: only the tuned ones answer the judges' prompts, and the
    # published checkpoint that anchors the judge.
    assert sorted(a for a in answers if "base-" in a) == [
        "results/judges/alpaca_eval/model_outputs/base-zephyr-7b-beta-published.json",
        "results/judges/mt_bench/model_answer/base-zephyr-7b-beta-published.jsonl",
    ]
    assert answers >= {
        "results/judges/mt_bench/model_answer/sft-zephyr-7b-beta.jsonl",
        "results/judges/mt_bench/model_answer/dpo-zephyr-7b-beta.jsonl",
        "results/judges/alpaca_eval/model_outputs/sft-zephyr-7b-beta.json",
        "results/judges/alpaca_eval/model_outputs/dpo-zephyr-7b-beta.json",
    }
    mt_bench = next(
        j for j in jobs if j["output"].startswith("results/judges/mt_bench/model_answer/dpo")
    )
    assert (
        "--prompts HuggingFaceH4/mt_bench_prompts --model_id dpo-zephyr-7b-beta"
        in mt_bench["shell"]
    )
    assert "--max_new_tokens 1024 --temperature 0.7" in mt_bench["shell"]
    assert not any(j["rule"] == "eval_demo" for j in jobs)  # demo: false
    # The judges judge in the build: FastChat's files fetched on the submitting machine (a local
    # rule), then one verdicts job per judge, before the table.
    downloads = [j for j in jobs if j["rule"] == "judge_download"]
    assert len(downloads) == 2 and all("--sha256 " in j["shell"] for j in downloads)
    verdicts = {j["output"].split(", ")[0]: j for j in jobs if j["rule"] == "judge_verdicts"}
    assert set(verdicts) == {
        "results/judges/mt_bench/verdicts/zephyr-7b-beta.jsonl",
        "results/judges/alpaca_eval/verdicts/zephyr-7b-beta.jsonl",
    }
    for job in verdicts.values():
        assert '"api_key_env": "OPENAI_API_KEY"' in job["shell"] and "sk-" not in job["shell"]
        assert job["resources"]["gpu"] == "0"


def test_the_141b_table_answers_on_a_node_of_gpus(workdir):
    """Mixtral-8x22B does not fit one GPU: its judge answers ask for the node's 8 GPUs and spread
    the model over them."""
    proc = run_snakemake(workdir, "-n", "-p", "results/tables/zephyr-141b-A35b.md")
    [answers] = [j for j in planned(proc) if j["rule"] == "judge_answers_mt_bench"]
    assert answers["resources"]["gpu"] == "8"
    assert "--device_map auto --dtype bfloat16" in answers["shell"]


def test_tiny_scale_keeps_local_data_and_demo_runs_as_they_are(workdir):
    (workdir / "data").mkdir()
    (workdir / "data" / "mine.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "hi"}, '
        '{"role": "assistant", "content": "hello"}]}\n'
    )
    extra = workdir / "mine.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "mine": {
                        "dataset_name": "data/mine.jsonl",
                        "columns": ["messages"],
                        "test_split_size": 1,
                    }
                },
                "runs": {
                    "sft": {
                        "mine": {
                            "model": "cpt/tiny",
                            "dataset": "mine",
                            "recipe": "config/recipes/demo/sft/tiny.yaml",
                        }
                    }
                },
            }
        )
    )
    proc = run_snakemake(
        workdir,
        "-n",
        "-p",
        "results/models/sft/mine",
        "--config",
        "scale=tiny",
        configfiles=[extra],
    )
    jobs = {j["output"].split(", ")[0]: j for j in planned(proc)}
    # The working directory moved to results/tiny: the local file is passed by its absolute path.
    assert str(workdir / "data" / "mine.jsonl") in jobs["results/data/mine/prepared"]["shell"]
    # Neither the model nor the data was replaced: the run trains as configured, without tiny args.
    assert "--max_steps" not in jobs["results/models/sft/mine"]["shell"]
    assert "--max_steps" not in jobs["results/models/cpt/tiny"]["shell"]


def test_tiny_build_lands_under_results_tiny_and_reports(workdir):
    target = "results/demo_world/manifest.json"
    run_snakemake(workdir, target, "--config", "scale=tiny")
    assert (workdir / "results/tiny" / target).is_file()
    assert not (workdir / target).exists()  # the full-scale path stays untouched
    # The report reads the config files again after the working directory moved.
    run_snakemake(workdir, target, "--config", "scale=tiny", "--report", "report.html")
    html = (workdir / "results/tiny/report.html").read_text()
    assert re.search(
        r'Scale: <tt class=\\?"docutils literal\\?">tiny</tt>', html
    )  # workflow/report/workflow.rst
