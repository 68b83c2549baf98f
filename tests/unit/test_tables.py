"""Table builders on fixed inputs with known expected output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from handbook.config import ConfigError, load_config
from handbook.plan import build_plan
from handbook.plan import tables as plan_tables
from handbook.tables import (
    TableError,
    build_table,
    flatten_eval,
    flatten_run,
    label_table,
    to_markdown,
)


def eval_result(chat_acc: float, plain_acc: float, pref: float, loss: float) -> dict:
    return {
        "chat": {
            "task_accuracy": chat_acc,
            "accuracy_by_task": {"arithmetic": chat_acc},
            "preferred_rate": 0.0,
        },
        "plain": {"task_accuracy": plain_acc, "accuracy_by_task": {"arithmetic": plain_acc}},
        "chat_sampled": {
            "task_accuracy": chat_acc,
            "preferred_rate": pref,
            "pass_at_k": {"1": chat_acc, "4": min(1.0, 2 * chat_acc)},
            "pass_at_k_by_task": {"arithmetic": {"1": chat_acc, "4": min(1.0, 2 * chat_acc)}},
        },
        "heldout_loss": loss,
        "kl_to_reference": loss / 10,
        "same_knowledge": {
            "chat": {"task_accuracy": chat_acc + 0.1},
            "chat_sampled": {"pass_at_k": {"1": chat_acc, "4": 0.9, "16": 1.0}},
        },
    }


@pytest.fixture
def evals(tmp_path):
    paths = {}
    for ref, result in {
        "base/tiny": eval_result(0.0, 0.1, 0.0, 6.0),
        "sft/s1": eval_result(0.5, 0.2, 0.4, 1.0),
        "sft/s2": eval_result(0.7, 0.2, 0.6, 2.0),
    }.items():
        path = tmp_path / "results" / "eval" / ref / "demo.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(result))
        paths[ref] = str(path)
    return paths


def test_own_format_is_the_headline(evals):
    assert flatten_eval(json.loads(open(evals["base/tiny"]).read()), "base")["task_accuracy"] == 0.1
    assert flatten_eval(json.loads(open(evals["sft/s1"]).read()), "sft")["task_accuracy"] == 0.5


def test_the_same_knowledge_set_and_the_kl_have_columns_of_their_own(evals):
    row = flatten_eval(json.loads(open(evals["sft/s1"]).read()), "sft")
    assert row["same_knowledge/task_accuracy"] == pytest.approx(0.6)
    assert (row["same_knowledge/pass@1"], row["same_knowledge/pass@16"]) == (0.5, 1.0)
    assert row["pass@4"] == 1.0 and "pass@16" not in row  # 4 samples held out: no pass@16
    assert row["kl_to_ref"] == pytest.approx(0.1)


def seeds_table(evals):
    def flat(ref):
        return flatten_run({"demo": evals[ref]}, ref)

    return build_table({"base": [flat("base/tiny")], "sft": [flat("sft/s1"), flat("sft/s2")]})


def test_mean_and_std_over_seeds(evals):
    table = seeds_table(evals)
    assert list(table["model"]) == ["base", "sft"]
    sft = table.set_index("model").loc["sft"]
    assert sft["n_runs"] == 2 and sft["prompt_format"] == "chat"
    assert sft["task_accuracy"] == pytest.approx(0.6)
    assert sft["task_accuracy_std"] == pytest.approx(math.sqrt(0.02))
    assert sft["preference_rate"] == pytest.approx(0.5)
    assert sft["heldout_loss"] == pytest.approx(1.5)
    # pass@k of the sampled replies, overall and per task, with its spread over seeds.
    assert sft["pass@4"] == pytest.approx(1.0) and sft["pass@4_std"] == pytest.approx(0.0)
    assert sft["pass@1_arithmetic"] == pytest.approx(0.6)
    base = table.set_index("model").loc["base"]
    assert base["prompt_format"] == "plain" and math.isnan(base["task_accuracy_std"])


def test_markdown_shows_mean_plus_minus_std(evals):
    table = seeds_table(evals)
    md = to_markdown(table).splitlines()
    header = [c.strip() for c in md[0].strip("|").split("|")]
    assert header[:4] == ["model", "stage", "runs", "task_accuracy"]
    assert md[3].startswith("| sft | sft | 2 | 0.600 ± 0.141 |")
    assert md[2].startswith("| base | base (plain) | 1 | 0.100 |")


def test_markdown_shows_the_named_metrics_and_the_csv_keeps_every_one(evals):
    """A table's Markdown fits a screen: model, stage, runs and the metrics it names (at most
    MARKDOWN_METRICS when it names none); every other column stays in the table (the CSV)."""
    from handbook.tables import MARKDOWN_METRICS, present_metrics

    table = seeds_table(evals)
    every = present_metrics(table)
    md = to_markdown(table, ["heldout_loss"]).splitlines()
    assert md[0] == "| model | stage | runs | heldout_loss |"
    assert (
        md[-1]
        == f"{len(every) - 1} more metrics in the CSV: "
        + ", ".join(m for m in every if m != "heldout_loss")
        + "."
    )
    assert MARKDOWN_METRICS + 3 <= 10


def test_a_suite_gives_way_to_its_average_when_the_metrics_do_not_fit():
    from handbook.tables import fit_to_screen

    tasks = [f"openllm/{t}" for t in ("arc", "hellaswag", "mmlu", "gsm8k", "average")]
    assert fit_to_screen(["x", *tasks], ["openllm"]) == ["x", *tasks]  # 6 fit
    wide = [*tasks, "ifeval/strict", "mt_bench", "alpaca_eval"]
    assert fit_to_screen(wide, ["openllm", "ifeval"]) == [
        "openllm/average",
        "ifeval/strict",
        "mt_bench",
        "alpaca_eval",
    ]
    assert len(fit_to_screen([f"m{i}" for i in range(12)], [])) == 7


def test_base_rows_of_paper_tables_report_their_stage_and_plain_format(tmp_path, monkeypatch):
    """A paper table (demo: false) reads only suites: its base row's stage and prompt format come
    from the plan's entry, whatever the model's name or result paths."""
    plan = build_plan(load_config([]))
    entries = plan.tables["zephyr-7b-beta"]
    base = next(e for e in entries if e.stage == "base")
    assert base.prompt_format == "plain" and not any(k == "demo" for k in base.files)
    monkeypatch.chdir(tmp_path)
    for entry in entries:
        for key, path in entry.files.items():
            if key.startswith("suite:"):
                suite = key.split(":", 1)[1]
                write(tmp_path / path, {"suite": suite, "headline": {"average": 0.5}})
    spec = plan_tables.table_spec(plan, "zephyr-7b-beta")
    table, _ = label_table(spec["table"], spec["runs"])
    row = table.set_index("model").loc[base.label]
    assert (row["stage"], row["prompt_format"]) == ("base", "plain")
    built = table[(table["stage"] != "published") & (table["model"] != base.label)]
    assert set(built["prompt_format"]) == {"chat"}


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def trained(tmp_path, ref, accuracy, margin):
    folder = tmp_path / "results" / "models" / ref
    write(
        folder / "metrics.json",
        {"eval_rewards/accuracies": accuracy, "eval_rewards/margins": margin},
    )
    return str(folder)


def suite_result(tmp_path, ref, suite, scores):
    return write(
        tmp_path / "results" / "eval" / ref / "lm_eval" / f"{suite}.json",
        {"suite": suite, "headline": scores},
    )


def test_label_table_selects_metrics_and_adds_published_rows(tmp_path):
    from handbook.tables import label_table

    judgments = write(
        tmp_path / "judgments.jsonl",
        "\n".join(
            json.dumps(r)
            for r in [
                {"model": "dpo-z", "question_id": 1, "turn": 1, "score": 8},
                {"model": "dpo-z", "question_id": 1, "turn": 2, "score": 6},
                {"model": "dpo-z", "question_id": 2, "turn": 1, "score": -1},
                {"model": "sft-z", "question_id": 1, "turn": 1, "score": 3},
            ]
        ),
    )
    runs = []
    for label, ref, avg in (("sft", "sft/z", 0.4), ("dpo", "dpo/z", 0.5)):
        runs.append(
            {
                "label": label,
                "ref": ref,
                "params": {},
                "model_id": ref.replace("/", "-"),
                "files": {
                    "model": trained(tmp_path, ref, 0.6, 1.0),
                    "suite:openllm": suite_result(
                        tmp_path, ref, "openllm", {"arc_challenge": avg, "average": avg}
                    ),
                    "answers:mt_bench": "answers.jsonl",
                    "judgment:mt_bench": judgments,
                },
            }
        )
    spec = {
        "name": "zephyr",
        "rows": {"sft": ["sft/z"], "dpo": ["dpo/z"]},
        "suites": ["openllm"],
        "judges": {
            "mt_bench": {"format": "mt_bench", "prompts": "p"},
            "alpaca_eval": {"format": "alpaca_eval", "prompts": "q"},
        },
        "metrics": ["openllm", "mt_bench", "alpaca_eval"],
        "published": [
            {
                "label": "zephyr (published)",
                "source": "a paper",
                "values": {"mt_bench": 7.34, "alpaca_eval": 90.6},
            }
        ],
    }
    table, metrics = label_table(spec, runs)
    assert metrics == ["openllm/arc_challenge", "openllm/average", "mt_bench", "alpaca_eval"]
    assert list(table["model"]) == ["sft", "dpo", "zephyr (published)"]
    rows = table.set_index("model")
    assert rows.loc["dpo", "mt_bench"] == pytest.approx(7.0)  # (8 + 6) / 2; the -1 is not a score
    assert rows.loc["sft", "mt_bench"] == pytest.approx(3.0)
    assert rows.loc["dpo", "openllm/average"] == pytest.approx(0.5)
    assert math.isnan(rows.loc["dpo", "alpaca_eval"])  # answers only for mt_bench
    assert (
        rows.loc["zephyr (published)", "mt_bench"] == 7.34
        and rows.loc["zephyr (published)", "source"] == "a paper"
    )
    # Not asked for: in the CSV, not in the Markdown.
    assert "reward_accuracy" in table and "reward_accuracy" not in metrics
    md = to_markdown(table, metrics)
    assert "| zephyr (published) | published |  | 7.340 | 90.600 |" not in md
    assert "| zephyr (published) | published |  |  |  | 7.340 | 90.600 |" in md
    assert "reward_accuracy" in md.splitlines()[-1]  # named as left out
    # A metric that neither a result nor a published number has is a typo, said as such.
    with pytest.raises(TableError, match=r"metrics \['mt_bnech'\]: in no result of this table"):
        label_table({**spec, "metrics": ["openllm", "mt_bnech"]}, runs)
    # A base row with no result file of its own (suites none, judges not for base models) is a
    # row of empty cells, its stage that of its ref.
    base = {
        "label": "mistral-7b",
        "ref": "base/mistral-7b",
        "params": {},
        "model_id": "base-mistral-7b",
        "files": {},
    }
    table, _ = label_table(spec, [base, *runs])
    row = table.set_index("model").loc["mistral-7b"]
    assert row["stage"] == "base" and math.isnan(row["mt_bench"])


def test_grid_table_has_every_cell_with_seed_spread(tmp_path):
    from handbook.tables import grid_markdown, grid_table, pivot

    runs = []
    for loss, beta, seed, acc in [
        ("sigmoid", 0.1, 1, 0.6),
        ("sigmoid", 0.1, 2, 0.8),
        ("sigmoid", 0.01, 1, 0.5),
        ("ipo", 0.1, 1, 0.9),
        ("ipo", 0.01, 1, 0.7),
        ("kto", 0.01, 1, 0.65),
    ]:
        ref = f"dpo/{loss}-{beta}-{seed}"
        runs.append(
            {
                "label": None,
                "ref": ref,
                "params": {"loss_type": loss, "beta": beta, "seed": seed},
                "files": {"model": trained(tmp_path, ref, acc, acc * 2)},
            }
        )
    spec = {"name": "scan", "rows": "loss_type", "columns": "beta", "metrics": ["reward_accuracy"]}
    long, metrics = grid_table(spec, runs)
    assert metrics == ["reward_accuracy"]
    wide = pivot(long, "loss_type", "beta")
    assert list(wide.columns) == [0.01, 0.1]  # numbers sorted
    assert list(wide.index.get_level_values("loss_type")) == ["sigmoid", "ipo", "kto"]
    assert wide.loc[("reward_accuracy", "sigmoid"), 0.1] == pytest.approx(0.7)
    assert wide.loc[("reward_accuracy", "ipo"), 0.01] == pytest.approx(0.7)
    assert math.isnan(wide.loc[("reward_accuracy", "kto"), 0.1])  # a missing cell stays empty
    md = grid_markdown(long, "loss_type", "beta").splitlines()
    assert md[0] == "### reward_accuracy"
    assert md[2] == "| loss_type \\ beta | 0.01 | 0.1 |"
    assert md[4] == "| sigmoid | 0.500 | 0.700 ± 0.141 |"
    assert md[6] == "| kto | 0.650 |  |"


def test_make_table_writes_csv_markdown_and_png(tmp_path, evals):
    from conftest import run_script

    spec = {
        "table": {
            "name": "demo",
            "title": "Demo",
            "rows": {"base": ["base/tiny"], "sft": ["sft/s1", "sft/s2"]},
            "scale": "tiny",
            "plot": "pass_at_k",
        },
        "runs": [
            {
                "label": "base",
                "ref": "base/tiny",
                "params": {},
                "files": {"demo": evals["base/tiny"]},
            },
            {"label": "sft", "ref": "sft/s1", "params": {}, "files": {"demo": evals["sft/s1"]}},
            {"label": "sft", "ref": "sft/s2", "params": {}, "files": {"demo": evals["sft/s2"]}},
        ],
    }
    out = tmp_path / "tables"
    proc = run_script(
        "make_table.py",
        "--spec",
        json.dumps(spec),
        "--csv",
        out / "demo.csv",
        "--md",
        out / "demo.md",
        "--png",
        out / "demo.png",
    )
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    table = pd.read_csv(out / "demo.csv").set_index("model")
    assert table.loc["sft", "task_accuracy"] == pytest.approx(0.6)
    md = (out / "demo.md").read_text()
    assert (
        md.startswith("# Demo\n")
        and "Built at tiny scale" in md
        and "| sft | sft | 2 | 0.600 ± 0.141 |" in md
    )
    assert (out / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_aggregate_over_seeds_is_configurable(tmp_path):
    from handbook.tables import grid_table, label_table

    runs = [
        {
            "label": "dpo",
            "ref": f"dpo/s{i}",
            "params": {"loss_type": "sigmoid", "beta": 0.1},
            "files": {"model": trained(tmp_path, f"dpo/s{i}", acc, 1.0)},
        }
        for i, acc in enumerate([0.5, 0.6, 0.9])
    ]
    table, _ = label_table({"name": "t", "rows": {"dpo": []}, "aggregate": "median"}, runs)
    assert table.loc[0, "reward_accuracy"] == pytest.approx(0.6)
    assert table.loc[0, "reward_accuracy_std"] == pytest.approx(0.2081666, rel=1e-5)
    long, _ = grid_table(
        {"name": "t", "rows": "loss_type", "columns": "beta", "aggregate": "max"}, runs
    )
    cell = long[long["metric"] == "reward_accuracy"].iloc[0]
    assert cell["value"] == pytest.approx(0.9) and cell["n_runs"] == 3


def test_every_table_kind_the_plan_resolves_has_a_writer():
    """A table kind is its rows' resolution in the plan and its writer in make_table.py."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "make_table.py"
    spec = importlib.util.spec_from_file_location("make_table", path)
    make_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_table)
    assert set(make_table.WRITERS) == set(plan_tables.ROWS_OF_KIND) == {"label", "grid"}


def test_an_unknown_table_kind_is_named(tmp_path):
    config = load_config([])
    config["tables"]["demo"]["kind"] = "radar"
    with pytest.raises(ConfigError, match=r"tables\.demo\.kind: unknown table kind 'radar'"):
        build_plan(config, origin=tmp_path)


def test_the_win_rate_pairs_the_first_replies_of_each_prompt():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "judge_winrate.py"
    spec = importlib.util.spec_from_file_location("judge_winrate", path)
    judge_winrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(judge_winrate)

    def replies(who, n):
        return [
            {"format": "chat_sampled", "prompt_id": p, "prompt": p, "completion": f"{who}{p}{i}"}
            for p in "ab"
            for i in range(n)
        ] + [{"format": "chat", "prompt_id": "a", "prompt": "a", "completion": "greedy"}]

    pairs = judge_winrate.paired_replies(replies("x", 16), replies("y", 16), "chat_sampled", 4)
    assert pairs[:4] == [("a", f"xa{i}", f"ya{i}") for i in range(4)] and len(pairs) == 8
    assert len(judge_winrate.paired_replies(replies("x", 3), replies("y", 16), "chat_sampled")) == 6
