"""Table builders on fixed inputs with known expected output."""

from __future__ import annotations

import json
import math

import pytest

from handbook.tables import build_table, flatten_eval, to_markdown


def eval_result(chat_acc: float, plain_acc: float, pref: float, loss: float) -> dict:
    return {
        "chat": {"task_accuracy": chat_acc, "accuracy_by_task": {"arithmetic": chat_acc}, "preferred_rate": 0.0},
        "plain": {"task_accuracy": plain_acc, "accuracy_by_task": {"arithmetic": plain_acc}},
        "chat_sampled": {"task_accuracy": chat_acc, "preferred_rate": pref},
        "heldout_loss": loss,
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


def test_mean_and_std_over_seeds(evals):
    table = build_table({"base": [evals["base/tiny"]], "sft": [evals["sft/s1"], evals["sft/s2"]]})
    assert list(table["model"]) == ["base", "sft"]
    sft = table.set_index("model").loc["sft"]
    assert sft["n_runs"] == 2 and sft["prompt_format"] == "chat"
    assert sft["task_accuracy"] == pytest.approx(0.6)
    assert sft["task_accuracy_std"] == pytest.approx(math.sqrt(0.02))
    assert sft["preference_rate"] == pytest.approx(0.5)
    assert sft["heldout_loss"] == pytest.approx(1.5)
    base = table.set_index("model").loc["base"]
    assert base["prompt_format"] == "plain" and math.isnan(base["task_accuracy_std"])


def test_markdown_shows_mean_plus_minus_std(evals):
    table = build_table({"base": [evals["base/tiny"]], "sft": [evals["sft/s1"], evals["sft/s2"]]})
    md = to_markdown(table).splitlines()
    header = [c.strip() for c in md[0].strip("|").split("|")]
    assert header[:5] == ["model", "stage", "n_runs", "prompt_format", "task_accuracy"]
    assert md[3].startswith("| sft | sft | 2 | chat | 0.600 ± 0.141 |")
    assert md[2].startswith("| base | base | 1 | plain | 0.100 |")
