"""lm-eval suites: resolution, errors, headline metrics, and the Open LLM Leaderboard v1 suite
checked against the task configs of the installed lm-eval."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO

from handbook.suites import (
    REFERENCE_SUITES,
    SuiteError,
    TaskSpec,
    by_fewshot,
    check_metrics,
    config_metrics,
    headline,
    metric_key,
    resolve_suite,
)

OPENLLM_V1 = [
    ("arc_challenge", 25, "acc_norm,none"),
    ("hellaswag", 10, "acc_norm,none"),
    ("truthfulqa_mc2", 0, "acc,none"),
    ("mmlu", 5, "acc,none"),
    ("winogrande", 5, "acc,none"),
    ("gsm8k", 5, "exact_match,strict-match"),
]
# Where lm-eval 0.4.13 defines each task (under lm_eval/tasks).
TASK_YAMLS = {
    "arc_challenge": "arc/arc_challenge.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "truthfulqa_mc2": "truthfulqa/truthfulqa_mc2.yaml",
    "mmlu": "mmlu/default/_mmlu.yaml",
    "winogrande": "winogrande/default.yaml",
    "gsm8k": "gsm8k/gsm8k.yaml",
    "ifeval": "ifeval/ifeval.yaml",
}


def test_demo_suite_takes_suite_defaults():
    specs = resolve_suite("demo", REFERENCE_SUITES)
    assert specs == [
        TaskSpec("demo_mc", 0, "acc,none", apply_chat_template=True, local=True),
        TaskSpec("demo_gen", 0, "exact_match,get-answer", apply_chat_template=True, local=True),
    ]


def test_openllm_is_leaderboard_v1():
    specs = resolve_suite("openllm", REFERENCE_SUITES)
    assert [(s.task, s.num_fewshot, s.metric) for s in specs] == OPENLLM_V1
    assert not any(s.apply_chat_template or s.local for s in specs)
    groups = by_fewshot(specs)
    assert {k: [s.task for s in v] for k, v in groups.items()} == {
        25: ["arc_challenge"],
        10: ["hellaswag"],
        0: ["truthfulqa_mc2"],
        5: ["mmlu", "winogrande", "gsm8k"],
    }
    (ifeval,) = resolve_suite("ifeval", REFERENCE_SUITES)
    assert (ifeval.task, ifeval.num_fewshot, ifeval.metric, ifeval.apply_chat_template) == (
        "ifeval",
        0,
        "prompt_level_strict_acc,none",
        True,
    )


def test_reference_metrics_exist_in_installed_lm_eval():
    """Task names and results keys (gsm8k's filter, mmlu's group aggregate) as lm-eval defines
    them."""
    import lm_eval.tasks
    from lm_eval.tasks._yaml_loader import load_yaml

    root = Path(lm_eval.tasks.__file__).parent
    specs = resolve_suite("openllm", REFERENCE_SUITES) + resolve_suite("ifeval", REFERENCE_SUITES)
    configs = {}
    for spec in specs:
        cfg = load_yaml(root / TASK_YAMLS[spec.task], resolve_func=False)
        assert cfg.get("group", cfg.get("task")) == spec.task
        configs[spec.task] = cfg
        assert spec.metric in config_metrics(cfg), (spec.task, config_metrics(cfg))
    check_metrics("openllm", specs, configs)
    assert config_metrics(configs["gsm8k"]) == {
        "exact_match,strict-match",
        "exact_match,flexible-extract",
    }
    assert config_metrics(configs["mmlu"]) == {"acc,none"}


def test_check_metrics_names_the_task_and_what_it_gives():
    spec = TaskSpec("gsm8k", 5, "exact_match,none")
    cfg = {
        "task": "gsm8k",
        "metric_list": [{"metric": "exact_match"}],
        "filter_list": [{"name": "strict-match"}],
    }
    with pytest.raises(SuiteError, match=r"'gsm8k'.*'exact_match,none'.*exact_match,strict-match"):
        check_metrics("s", [spec], {"gsm8k": cfg})
    check_metrics(
        "s", [spec], {"gsm8k": {"task": "gsm8k"}}
    )  # metrics left to lm-eval: nothing to check


def test_metric_key():
    assert metric_key("acc") == "acc,none"
    assert metric_key("exact_match,strict-match") == "exact_match,strict-match"
    assert metric_key(" acc_norm , none ") == "acc_norm,none"


@pytest.mark.parametrize(
    ("suites", "name", "pattern"),
    [
        (
            REFERENCE_SUITES,
            "openlm",
            r"unknown suite 'openlm'; defined suites: demo, ifeval, openllm",
        ),
        ({"s": {"tasks": []}}, "s", r"suite 's': 'tasks' must be a non-empty list"),
        ({"s": {"tasks": ["a"], "fewshot": 3}}, "s", r"suite 's': unknown keys \['fewshot'\]"),
        (
            {"s": {"tasks": [{"task": "a", "metric": "acc", "shots": 1}]}},
            "s",
            r"suite 's', task 'a': unknown keys \['shots'\]",
        ),
        ({"s": {"tasks": ["mystery"]}}, "s", r"suite 's', task 'mystery': no metric given"),
        (
            {"s": {"tasks": [{"task": "a", "metric": "acc", "num_fewshot": -1}]}},
            "s",
            r"task 'a': num_fewshot must be",
        ),
        ({"s": {"tasks": ["gsm8k", "gsm8k"]}}, "s", r"task 'gsm8k' is listed twice"),
        (
            {"s": {"tasks": ["gsm8k"], "apply_chat_template": "yes"}},
            "s",
            r"apply_chat_template must be true or false",
        ),
        (
            {"s": {"tasks": [{"metric": "acc"}]}},
            "s",
            r"suite 's': each task must be a name or a mapping",
        ),
    ],
)
def test_resolve_errors_name_suite_and_task(suites, name, pattern):
    with pytest.raises(SuiteError, match=pattern):
        resolve_suite(name, suites)


def test_unquoted_flow_style_metric_gets_a_hint():
    suites = yaml.safe_load(
        "s: {tasks: [{task: gsm8k, num_fewshot: 5, metric: exact_match,strict-match}]}"
    )
    with pytest.raises(
        SuiteError, match=r"unknown keys \['strict-match'\].*metric: .exact_match,strict-match."
    ):
        resolve_suite("s", suites)


def test_unknown_task_checked_against_known_names():
    known = [
        "arc_challenge",
        "arc_easy",
        "hellaswag",
        "gsm8k",
        "mmlu",
        "winogrande",
        "truthfulqa_mc2",
    ]
    suites = {"mine": {"tasks": ["arc_challenge", {"task": "helaswag", "metric": "acc"}]}}
    with pytest.raises(
        SuiteError, match=r"suite 'mine': unknown task 'helaswag'.*did you mean hellaswag"
    ):
        resolve_suite("mine", suites, known_tasks=known)
    assert len(resolve_suite("openllm", REFERENCE_SUITES, known_tasks=known)) == 6


def test_fewshot_per_task_overrides_suite():
    suites = {
        "s": {
            "tasks": [
                {"task": "gsm8k", "num_fewshot": 8},
                "winogrande",
                {"task": "mmlu", "num_fewshot": None},
            ],
            "num_fewshot": 1,
        }
    }
    assert [s.num_fewshot for s in resolve_suite("s", suites)] == [8, 1, None]


LM_EVAL_LIKE = {
    "results": {
        "arc_challenge": {
            "alias": "arc_challenge",
            "acc,none": 0.1,
            "acc_norm,none": 0.5,
            "acc_norm_stderr,none": 0.01,
        },
        "hellaswag": {"acc,none": 0.2, "acc_norm,none": 0.75},
        "truthfulqa_mc2": {"acc,none": 0.4},
        "mmlu": {"acc,none": 0.3, "alias": "mmlu"},
        "mmlu_stem": {"acc,none": 0.9},
        "winogrande": {"acc,none": 0.6},
        "gsm8k": {"exact_match,strict-match": 0.25, "exact_match,flexible-extract": 0.9},
    },
    "groups": {"mmlu": {"acc,none": 0.3, "acc_stderr,none": 0.02}},
}


def test_headline_picks_each_task_metric_and_averages():
    scores = headline(LM_EVAL_LIKE, resolve_suite("openllm", REFERENCE_SUITES))
    assert scores == {
        "arc_challenge": 0.5,
        "hellaswag": 0.75,
        "truthfulqa_mc2": 0.4,
        "mmlu": 0.3,
        "winogrande": 0.6,
        "gsm8k": 0.25,
        "average": pytest.approx((0.5 + 0.75 + 0.4 + 0.3 + 0.6 + 0.25) / 6),
    }
    # a group found only under "groups", and a flat task -> metrics mapping, read the same way
    only_groups = {"results": {}, "groups": {"mmlu": {"acc,none": 0.3}}}
    assert headline(only_groups, [TaskSpec("mmlu", 5, "acc,none")]) == {"mmlu": 0.3, "average": 0.3}
    assert (
        headline(
            {"gsm8k": {"exact_match,strict-match": 0.5}},
            [TaskSpec("gsm8k", 5, "exact_match,strict-match")],
        )["average"]
        == 0.5
    )


def test_headline_errors_name_the_task():
    with pytest.raises(
        SuiteError,
        match=r"task 'gsm8k': no numeric metric 'exact_match,none'; available: "
        r"\['exact_match,flexible-extract'",
    ):
        headline(LM_EVAL_LIKE, [TaskSpec("gsm8k", 5, "exact_match,none")])
    with pytest.raises(SuiteError, match=r"task 'ifeval' has no results"):
        headline(LM_EVAL_LIKE, [TaskSpec("ifeval", 0, "prompt_level_strict_acc,none")])


def test_shipped_config_suites_resolve():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    suites = config["suites"]
    for name in suites:
        assert resolve_suite(name, suites)
    for name in ("demo", "openllm", "ifeval"):
        assert resolve_suite(name, suites) == resolve_suite(name, REFERENCE_SUITES)
    # The plain-format demo suite is the chat one without the template; hub suites have offline
    # stand-ins.
    plain = resolve_suite("demo_plain", suites)
    assert [s.task for s in plain] == ["demo_mc", "demo_gen"] and not any(
        s.apply_chat_template for s in plain
    )
    assert suites["openllm"]["tiny"] == "demo_plain" and suites["ifeval"]["tiny"] == "demo"
