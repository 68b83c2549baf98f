"""End to end: the default chain at a reduced size, from the demo world to the demo table.

Built once per session in a checkout copy (the `demo` fixture in tests/conftest.py, a few minutes
on 2 cores); these tests check the table, the checkpoints, provenance and that a rebuild has
nothing to do. tests/workflow/test_faults.py then moves, damages and kills it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import DEMO_CONFIG, PLANTED_SECRETS, run_snakemake, workflow_env

pytestmark = pytest.mark.e2e


def test_table_shows_sft_above_base(demo):
    table = pd.read_csv(demo / "results/tables/chain.csv").set_index("model")
    assert list(table.index) == ["base", "cpt", "sft"]
    assert {"task_accuracy", "task_accuracy_chat", "task_accuracy_plain", "heldout_loss"} <= set(
        table.columns
    )
    assert table.loc["sft", "task_accuracy"] > table.loc["base", "task_accuracy"] + 0.15
    # pass@k of the sampled replies (2 per prompt here): pass@1 is their accuracy.
    assert table.loc["sft", "pass@1"] == pytest.approx(table.loc["sft", "task_accuracy_sampled"])
    assert "pass@4" not in table  # needs at least 4 samples per prompt
    # The same-knowledge prompts (the generation prompts' items asked anew) are scored alike.
    assert table.loc["sft", "same_knowledge/task_accuracy"] >= 0
    assert table.loc["sft", "same_knowledge/pass@1"] == pytest.approx(
        table.loc["sft", "same_knowledge/task_accuracy_sampled"]
    )
    assert table.loc["sft", "heldout_loss"] < min(
        table.loc["cpt", "heldout_loss"], table.loc["base", "heldout_loss"]
    )
    markdown = (demo / "results/tables/chain.md").read_text()
    # A table that names no metrics shows its first few; the CSV has every one.
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| model |"))
    assert header.count("|") - 1 <= 10 and "| sft | sft | 1 |" in markdown
    assert "| cpt | cpt (plain) | 1 |" in markdown


def test_checkpoints_load_with_plain_transformers(demo):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for ref in ("base/tiny", "cpt/tiny", "sft/tiny"):
        folder = demo / "results/models" / ref
        model = AutoModelForCausalLM.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert "{% generation %}" in tokenizer.chat_template
        assert model.config.model_type == "llama" and model.num_parameters() < 2_000_000
        manifest = json.loads((folder / "manifest.json").read_text())["files"]
        assert (
            manifest["model.safetensors"]["size"] == (folder / "model.safetensors").stat().st_size
        )
    metrics = json.loads((demo / "results/models/sft/tiny/metrics.json").read_text())
    assert metrics["world_size"] == 1 and metrics["train_loss"] > 0 and "eval_loss" in metrics


def test_no_planted_secret_is_kept_anywhere_under_results(demo):
    """Tokens given in a recipe and the environment: in no log, provenance, pickled training
    arguments, model card, plan, table or Snakemake record (one in a run's args is refused by the
    plan)."""
    files = [p for top in ("results", ".snakemake") for p in (demo / top).rglob("*") if p.is_file()]
    assert any(".snakemake/metadata" in str(p) for p in files)
    assert any(p.name == "training_args.bin" for p in files) and any(
        p.name == "plan.json" for p in files
    )
    leaks = [
        (str(p.relative_to(demo)), s)
        for p in files
        for s in PLANTED_SECRETS
        if s.encode() in p.read_bytes()
    ]
    assert not leaks
    log = (demo / "results/logs/cpt/tiny.log").read_text()  # its recipe holds the planted hub_token
    assert "hub_token: passed to this process as HF_TOKEN" in log


def test_model_card_says_how_the_model_was_made(demo):
    card = (demo / "results/models/sft/tiny/README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\n") and "- sft\n" in card
    assert "from `results/models/cpt/tiny` on `demo_sft` (`results/demo_world/sft`)" in card
    assert "| num_train_epochs | 6 |" in card and "- eval_loss: " in card


def test_every_artifact_has_provenance(demo):
    folders = [
        "results/demo_world",
        "results/tokenizers/tiny",
        "results/models/base/tiny",
        "results/models/cpt/tiny",
        "results/models/sft/tiny",
        "results/data/demo_sft/prepared",
        "results/data/demo_sft/tokenized/tiny",
        "results/eval/sft/tiny",
    ]
    for folder in folders:
        record = json.loads((demo / folder / "provenance.json").read_text())
        assert record["packages"]["trl"] == "1.16.0", folder
        assert "commit" in record["git"] and record["config"], folder
    sft = json.loads((demo / "results/models/sft/tiny/provenance.json").read_text())["config"]
    assert (
        sft["SFTConfig"]["num_train_epochs"] == 6
        and sft["SFTConfig"]["assistant_only_loss"] is True
    )
    assert (demo / "results/demo_world/manifest.json").exists()
    assert (demo / "results/logs/sft/tiny.log").read_text().count("SFTConfig.learning_rate") == 1


def test_no_job_wrote_into_another_jobs_finished_output(demo):
    # datasets' map caches go beside the data read: a tokenize job would write into prepared/.
    assert not list((demo / "results" / "data").glob("*/prepared/**/cache-*.arrow"))


def test_rebuild_has_nothing_to_do(demo):
    proc = run_snakemake(
        demo, "-n", "results/tables/chain.csv", configfiles=[DEMO_CONFIG], repo=demo
    )
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lm_eval_suites_and_judge_answers_through_the_workflow(demo):
    targets = {
        "chat": "results/eval/sft/tiny/lm_eval/demo.json",
        "plain": "results/eval/cpt/tiny/lm_eval/demo_plain.json",
        "mt_bench": "results/judges/mt_bench/model_answer/sft-tiny.jsonl",
        "alpaca_eval": "results/judges/alpaca_eval/model_outputs/sft-tiny.json",
    }
    run_snakemake(demo, *targets.values(), configfiles=[DEMO_CONFIG], repo=demo)
    for fmt in ("chat", "plain"):
        result = json.loads((demo / targets[fmt]).read_text())
        assert set(result["headline"]) == {"demo_mc", "demo_gen", "average"}
        assert result["settings"]["apply_chat_template"] is (fmt == "chat")
        assert all(0.0 <= v <= 1.0 for v in result["headline"].values())
        manifest = json.loads(
            (demo / f"results/lm_eval_tasks/{fmt}/tasks_manifest.json").read_text()
        )
        assert manifest["format"] == fmt
    # Four choices: chance is 0.25; the SFT model knows the demo world's answers better.
    sft = json.loads((demo / targets["chat"]).read_text())["headline"]
    assert sft["demo_mc"] > 0.3
    questions = [
        json.loads(line)
        for line in (demo / "results/judges/prompts/mt_bench_demo.jsonl").read_text().splitlines()
    ]
    answers = [json.loads(line) for line in (demo / targets["mt_bench"]).read_text().splitlines()]
    assert [a["question_id"] for a in answers] == [q["question_id"] for q in questions]
    assert all(a["model_id"] == "sft-tiny" and len(a["choices"][0]["turns"]) == 2 for a in answers)
    outputs = json.loads((demo / targets["alpaca_eval"]).read_text())
    assert outputs and all(o["generator"] == "sft-tiny" and o["output"] for o in outputs)
    settings = json.loads(
        (demo / "results/judges/mt_bench/model_answer/sft-tiny.settings.json").read_text()
    )
    assert settings["max_new_tokens"] == 16 and settings["do_sample"] is False


def test_report_shows_the_table_and_training_curves(demo):
    targets = ("results/tables/chain.png", "results/plots/chain_curves.png")
    run_snakemake(demo, *targets, configfiles=[DEMO_CONFIG], repo=demo)
    run_snakemake(demo, *targets, "--report", "report.html", configfiles=[DEMO_CONFIG], repo=demo)
    html = (demo / "report.html").read_text()
    assert "chain_curves.png" in html and "chain.png" in html
    assert html.count("data:image/png;base64") >= 2 or html.count("image/png") >= 2
    assert "Training curves of the models in table" in html  # the caption from workflow/report/


def leaky_config(demo, max_fraction) -> str:
    """A dataset with two of the held-out prompts planted in its conversations, one SFT run on
    it and a table showing that run (the table makes the demo evaluation its prompt set)."""
    held_out = [json.loads(line) for line in (demo / "results/demo_world/eval/test.jsonl").open()]
    planted = [r["prompt"] for r in held_out if len(r["prompt"].split()) >= 6][:2]
    rows = [
        [
            {"role": "user", "content": f"Quick one: {p} Thanks."},
            {"role": "assistant", "content": "No."},
        ]
        for p in planted
    ] + [
        [{"role": "user", "content": f"Count to {i}."}, {"role": "assistant", "content": "Done."}]
        for i in range(30)
    ]
    (demo / "leaky.jsonl").write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows))
    config = {
        "datasets": {"leaky": {"dataset_name": "leaky.jsonl", "columns": ["messages"]}},
        "runs": {
            "sft": {
                "leaky": {
                    "model": "base/tiny",
                    "dataset": "leaky",
                    "recipe": "config/recipes/demo/sft/tiny.yaml",
                    "args": {"max_steps": 1},
                }
            }
        },
        "tables": {"leaky": {"rows": {"leaky": ["sft/leaky"]}}},
        "decontamination": {"max_fraction": max_fraction},
    }
    (demo / "leaky.yaml").write_text(json.dumps(config))
    return planted


def test_a_training_set_holding_held_out_prompts_stops_before_training(demo):
    """decontamination.max_fraction 0: the planted overlap fails the dataset's check, named in
    one line, and the SFT run on it never starts; without a threshold the table's report shows
    it with its example."""
    planted = leaky_config(demo, 0.0)
    configs = [DEMO_CONFIG, "leaky.yaml"]
    proc = run_snakemake(
        demo, "results/models/sft/leaky", configfiles=configs, repo=demo, check=False
    )
    assert proc.returncode != 0
    log = (demo / "results/logs/decontamination/leaky.log").read_text()
    assert "error: leaky: leaky.jsonl (train) contains 2 of the" in log and planted[0] in log
    assert not (demo / "results/logs/sft/leaky.log").exists()

    leaky_config(demo, None)
    run_snakemake(demo, "results/decontamination/leaky.md", configfiles=configs, repo=demo)
    report = (demo / "results/decontamination/leaky.md").read_text()
    assert "| leaky | leaky.jsonl | 32 | 2 of" in report and f'prompt "{planted[0]}"' in report


JUDGE_KEY = "sk-planted-judge-key-0"


def judged_config(demo, models: list[str]) -> list[str]:
    """A table of the demo's chat models judged on MT-Bench and AlpacaEval by the demo SFT model,
    served in the judging job by `transformers serve` with a planted API key (the server ignores
    it; no file may keep it); the demo world's questions, judge prompts and references stand in
    for FastChat's and AlpacaEval's at this scale."""
    prompts = "results/judges/prompts"
    endpoint = {
        "serve": {"engine": "transformers", "model": "sft/tiny", "args": ["--device", "cpu"]},
        "api_key_env": "JUDGE_API_KEY",
        "temperature": 0,
        "max_tokens": 12,
    }
    config = {
        "runs": {
            "sft": {
                "one_step": {
                    "model": "cpt/tiny",
                    "dataset": "demo_sft",
                    "recipe": "config/recipes/demo/sft/tiny.yaml",
                    "args": {"max_steps": 1},
                }
            }
        },
        "judge_endpoints": {"local": endpoint},
        "judges": {
            "mt_bench": {
                "prompts": f"{prompts}/mt_bench_demo.jsonl",
                "judge_prompts": f"{prompts}/mt_bench_demo_judge_prompts.jsonl",
                "reference_answers": None,
                "endpoint": "local",
                "max_new_tokens": 12,
            },
            "alpaca_eval": {
                "prompts": f"{prompts}/alpaca_eval_demo.json",
                "references": f"{prompts}/alpaca_eval_demo.json",
                "endpoint": "local",
                "max_new_tokens": 12,
            },
        },
        "tables": {
            "judged": {
                "demo": False,
                "rows": {m.split("/")[1]: [m] for m in models},
                "judges": ["mt_bench", "alpaca_eval"],
                "metrics": ["mt_bench", "alpaca_eval"],
            }
        },
    }
    (demo / "judged.yaml").write_text(json.dumps(config))
    return [DEMO_CONFIG, "judged.yaml"]


def test_a_table_is_judged_by_a_served_endpoint_and_a_new_model_costs_only_its_verdicts(demo):
    """The table's judging jobs start the judge on localhost, ask it about every answer, record
    the model id its server reports and count the verdicts that did not parse; adding a model
    asks only about the new model's answers, and the planted key is written nowhere."""
    env = {**workflow_env(), "JUDGE_API_KEY": JUDGE_KEY}
    target = "results/tables/judged.md"
    run_snakemake(demo, target, configfiles=judged_config(demo, ["sft/tiny"]), repo=demo, env=env)
    mt = json.loads((demo / "results/judges/mt_bench/verdicts/judged.json").read_text())
    questions = (demo / "results/judges/prompts/mt_bench_demo.jsonl").read_text().splitlines()
    assert mt["judge_model_reported"] == "results/models/sft/tiny"
    scores = mt["models"]["sft-tiny"]
    assert scores["n_judged"] == 2 * len(questions) == mt["requests_made"]
    assert 0 <= scores["n_parse_failures"] <= scores["n_judged"]
    table = pd.read_csv(demo / "results/tables/judged.csv").set_index("model")
    assert table.loc["tiny", "mt_bench/parse_failures"] == scores["n_parse_failures"]
    markdown = (demo / target).read_text()
    assert "model `results/models/sft/tiny` as its server reported it" in markdown
    assert (
        "mt_bench/parse_failures"
        in markdown.splitlines()[
            next(i for i, line in enumerate(markdown.splitlines()) if line.startswith("| model"))
        ]
    )

    configs = judged_config(demo, ["sft/tiny", "sft/one_step"])
    run_snakemake(demo, target, configfiles=configs, repo=demo, env=env)
    again = json.loads((demo / "results/judges/mt_bench/verdicts/judged.json").read_text())
    assert set(again["models"]) == {"sft-tiny", "sft-one_step"}
    assert again["requests_made"] == 2 * len(questions)  # the new model's answers only
    assert again["cache_hits"] == 2 * len(questions)
    assert again["models"]["sft-tiny"] == scores
    alpaca = json.loads((demo / "results/judges/alpaca_eval/verdicts/judged.json").read_text())
    assert alpaca["cache_hits"] == alpaca["models"]["sft-tiny"]["n_total"]

    files = [p for top in ("results", ".snakemake") for p in (demo / top).rglob("*") if p.is_file()]
    assert any("results/judges/cache" in str(p) for p in files)
    assert not [str(p) for p in files if JUDGE_KEY.encode() in p.read_bytes()]
