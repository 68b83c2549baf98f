"""Verifiable rewards, GRPO's rollout record, and iterative DPO's rounds in the plan.

Everything here is pure Python on small inputs; tests/workflow/test_online.py trains and evaluates
the rounds and GRPO at tiny scale.
"""

from __future__ import annotations

import json

import pytest

from handbook import verifiers
from handbook.config import ConfigError
from handbook.data import check_format
from handbook.methods import METHODS
from handbook.plan import build_plan
from handbook.plan import data as plan_data
from handbook.plan import export as plan_export
from handbook.plan import sampling as plan_sampling
from handbook.plan import train as plan_train
from handbook.rejection_sampling import build_sets, verify_rows
from handbook.verifiers import VerifierError

DPO_RECIPE = "config/recipes/demo/dpo/tiny.yaml"
PROMPTS = "results/demo_world/prompts/generation.jsonl"


# --- verifiers


def test_demo_answer_rewards_the_right_answer_only():
    completions = [
        "The answer is 12.",
        "Ugh, fine. It is 12.",
        "The answer is 13.",
        "",
        "The answer is twelve.",
    ]
    assert verifiers.demo_answer(completions, answer=["12"] * 5) == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_demo_answer_reads_conversational_completions():
    completions = [
        [{"role": "assistant", "content": "Happy to help: the answer is Wend."}],
        [{"role": "assistant", "content": "wend"}],
    ]
    assert verifiers.demo_answer(completions, answer=["Wend", "Wend"]) == [1.0, 0.0]


def test_demo_format_rewards_the_preferred_style_whatever_the_answer():
    completions = [
        "The answer is 3.",
        "Happy to help: the answer is 9.",
        "Ugh, fine. It is 3.",
        "3",
        "The answer is",
    ]
    assert verifiers.demo_format(completions) == [1.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "completion, answer, reward",
    [
        ("She pays 3 * 4 = 12 dollars, so the answer is 12.", "3*4=12\n#### 12", 1.0),
        ("Total: 1,000 apples", "#### 1000", 1.0),
        ("It costs 7.50 in all", "#### 7.5", 1.0),
        ("The answer is -4", "#### -4", 1.0),
        ("12 apples and then 13", "#### 12", 0.0),  # the last number counts
        ("no number at all", "#### 5", 0.0),
        ("The answer is 5", "no gold number", 0.0),
        ("", "#### 0", 0.0),
    ],
)
def test_final_number_compares_the_last_number_with_the_gold_one(completion, answer, reward):
    assert verifiers.final_number([completion], answer=[answer]) == [reward]


def test_verifiers_that_check_answers_need_the_answer_column():
    with pytest.raises(VerifierError, match="needs an 'answer' column"):
        verifiers.demo_answer(["The answer is 1."])
    with pytest.raises(VerifierError, match="2 completions but 1 answers"):
        verifiers.final_number(["1", "2"], answer=["1"])


def test_score_is_the_weighted_sum_and_unknown_names_are_errors():
    rows = [{"answer": "7"}, {"answer": "7"}]
    scores = verifiers.score(
        ["demo_answer", "demo_format"],
        [1.0, 0.5],
        rows,
        ["Ugh, fine. It is 7.", "The answer is 8."],
    )
    assert scores == [1.0, 0.5]
    with pytest.raises(VerifierError, match="unknown verifier 'exact' \\(known: \\['demo_answer'"):
        verifiers.get(["exact"])
    with pytest.raises(VerifierError, match="2 verifiers but 1 weights"):
        verifiers.score(["demo_answer", "demo_format"], [1.0], rows, ["a", "b"])


def test_verified_samples_make_pairs_of_right_against_wrong():
    rows = [
        {
            "prompt_id": "p1",
            "prompt": "What is 2 plus 2?",
            "messages": [{"role": "user", "content": "What is 2 plus 2?"}],
            "task": "arithmetic",
            "answer": "4",
            "completions": ["The answer is 5.", "The answer is 4.", "Ugh, fine. It is 4."],
        },
        {
            "prompt_id": "p2",
            "prompt": "Q",
            "messages": [{"role": "user", "content": "Q"}],
            "task": "fact",
            "answer": "x",
            "completions": ["The answer is y.", "The answer is z."],
        },
    ]
    scored = verify_rows(rows, ["demo_answer", "demo_format"], [1.0, 0.5])
    assert [r["scores"] for r in scored] == [[0.5, 1.5, 1.0], [0.5, 0.5]]
    _, pairs, skipped = build_sets(scored)
    assert [(p["chosen"][-1]["content"], p["rejected"][-1]["content"]) for p in pairs] == [
        ("The answer is 4.", "The answer is 5.")
    ]
    assert skipped["tied_scores"] == 1


def test_grpo_trains_on_prompt_only_data():
    assert (
        check_format(["prompt", "task", "answer"], METHODS["grpo"].formats, "a grpo run", "d")
        == "prompt-only"
    )
    with pytest.raises(
        Exception, match="make preference data; a grpo run takes prompt-only \\(prompt\\)"
    ):
        check_format(["chosen", "rejected"], METHODS["grpo"].formats, "a grpo run", "d")


def test_rollout_log_keeps_generations_with_every_verifiers_reward(tmp_path):
    from types import SimpleNamespace

    from handbook.rl import RolloutLog

    log = RolloutLog(["demo_answer", "demo_format"], per_batch=2)
    answer_fn, format_fn = log.functions()
    assert (answer_fn.__name__, format_fn.__name__) == ("demo_answer", "demo_format")
    prompts = [[{"role": "user", "content": "What is 1 plus 1?"}]] * 3
    completions = [
        [{"role": "assistant", "content": c}]
        for c in ("The answer is 2.", "Ugh, fine. It is 3.", "The answer is 2.")
    ]
    kwargs = {
        "answer": ["2"] * 3,
        "task": ["arithmetic"] * 3,
        "trainer_state": SimpleNamespace(global_step=7),
    }
    assert answer_fn(prompts=prompts, completions=completions, **kwargs) == [1.0, 0.0, 1.0]
    assert format_fn(prompts=prompts, completions=completions, **kwargs) == [1.0, 0.0, 1.0]
    log.write(tmp_path / "rollouts.jsonl")
    (record,) = [
        json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()
    ]
    assert record["step"] == 7 and len(record["samples"]) == 2
    assert record["samples"][1] == {
        "prompt": "What is 1 plus 1?",
        "completion": "Ugh, fine. It is 3.",
        "task": "arithmetic",
        "answer": "2",
        "rewards": {"demo_answer": 0.0, "demo_format": 0.0},
    }


# --- iterative DPO in the plan


def online_config(**iterative) -> dict:
    spec = {
        "policy": "sft/a",
        "prompts": PROMPTS,
        "verifiers": ["demo_answer"],
        "rounds": 2,
        "recipe": DPO_RECIPE,
        **iterative,
    }
    return {
        "base_models": {
            "tiny": {
                "build": {
                    "corpus": "results/demo_world/corpus.jsonl",
                    "vocab_size": 1000,
                    "arch": {},
                }
            }
        },
        "datasets": {"chat": {"dataset_name": "results/demo_world/sft", "columns": ["messages"]}},
        "runs": {
            "sft": {
                "a": {
                    "model": "base/tiny",
                    "dataset": "chat",
                    "recipe": "config/recipes/demo/sft/tiny.yaml",
                }
            },
            "rm": {
                "a": {
                    "model": "sft/a",
                    "dataset": "chat",
                    "recipe": "config/recipes/demo/rm/tiny.yaml",
                }
            },
        },
        "iterative_dpo": {"it": spec},
        "eval": {"demo": {"prompts": "results/demo_world/eval/test.jsonl", "judge": None}},
        "tables": {"online": {"rows": {"sft": ["sft/a"], "iterative": {"rounds": "it"}}}},
    }


def test_each_round_samples_the_previous_rounds_policy(tmp_path):
    plan = build_plan(online_config(seed=5), ["my.yaml"], origin=tmp_path)
    assert plan.rounds == {"it": ["dpo/it-r1", "dpo/it-r2"]}
    assert [plan.runs[r].model for r in plan.rounds["it"]] == ["sft/a", "dpo/it-r1"]
    assert [plan.runs[r].dataset for r in plan.rounds["it"]] == ["it-r1", "it-r2"]
    sampling = plan.config["rejection_sampling"]
    assert [(sampling[n]["policy"], sampling[n]["seed"]) for n in ("it-r1", "it-r2")] == [
        ("sft/a", 5),
        ("dpo/it-r1", 6),
    ]
    assert (
        plan.config["datasets"]["it-r2"]["dataset_name"]
        == "results/rejection_sampling/it-r2/on_policy_pairs"
    )
    assert plan_sampling.score_job(plan, "it-r1").args == "--verifiers demo_answer"
    assert plan_sampling.score_job(plan, "it-r1").inputs["reward_model"] == []
    # Round 2's pairs come from round 1's samples of round 1's model: the DAG reaches back through
    # both.
    assert {"dpo/it-r1", "dpo/it-r2", "sft/a"} <= plan_export.models_needed(plan, ["online"])


def test_rounds_are_table_rows_of_their_own(tmp_path):
    plan = build_plan(online_config(rounds=3), ["my.yaml"], origin=tmp_path)
    assert [(e.label, e.ref) for e in plan.tables["online"]] == [
        ("sft", "sft/a"),
        ("iterative_r1", "dpo/it-r1"),
        ("iterative_r2", "dpo/it-r2"),
        ("iterative_r3", "dpo/it-r3"),
    ]


def test_seeds_make_a_chain_each_and_a_rounds_row_averages_them(tmp_path):
    config = online_config(rounds=2)
    config["iterative_dpo"]["it"]["seeds"] = [1, 2]
    plan = build_plan(config, ["my.yaml"], origin=tmp_path)
    chains = ["dpo/it-seed1-r1", "dpo/it-seed1-r2", "dpo/it-seed2-r1", "dpo/it-seed2-r2"]
    assert plan.rounds == {"it": chains}
    assert plan.runs["dpo/it-seed2-r2"].model == "dpo/it-seed2-r1"
    assert plan.runs["dpo/it-seed2-r1"].args["seed"] == 2
    assert plan.config["rejection_sampling"]["it-seed2-r2"]["seed"] == 3
    assert [(e.label, e.ref) for e in plan.tables["online"]][1:] == [
        ("iterative_r1", "dpo/it-seed1-r1"),
        ("iterative_r1", "dpo/it-seed2-r1"),
        ("iterative_r2", "dpo/it-seed1-r2"),
        ("iterative_r2", "dpo/it-seed2-r2"),
    ]


def test_adding_a_round_leaves_the_earlier_rounds_jobs_as_they_were(tmp_path):
    two = build_plan(online_config(rounds=2), ["my.yaml"], origin=tmp_path)
    three = build_plan(online_config(rounds=3), ["my.yaml"], origin=tmp_path)
    for ref in two.rounds["it"]:
        stage, run = ref.split("/")
        name = run
        assert plan_export.run_dict(two, two.runs[ref]) == plan_export.run_dict(
            three, three.runs[ref]
        )
        assert (
            plan_train.train_job(two, stage, run).args_for()
            == plan_train.train_job(three, stage, run).args_for()
        )
        assert (
            plan_sampling.sample_job(two, name).args == plan_sampling.sample_job(three, name).args
            and plan_sampling.score_job(two, name).args == plan_sampling.score_job(three, name).args
        )
        assert plan_data.prepare_job(two, name).args == plan_data.prepare_job(three, name).args


def test_a_reward_model_scores_rounds_when_named(tmp_path):
    config = online_config(verifiers=None)
    spec = config["iterative_dpo"]["it"]
    spec.pop("verifiers")
    spec["reward_model"] = "rm/a"
    plan = build_plan(config, ["my.yaml"], origin=tmp_path)
    assert plan_sampling.score_job(plan, "it-r2").args == "--reward_model results/models/rm/a"
    assert plan_sampling.score_job(plan, "it-r2").inputs["reward_model"] == ["results/models/rm/a"]
    assert "rm/a" in plan_export.models_needed(plan, ["online"])


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: s.update(reward_model="rm/a"),
            "iterative_dpo.it: give either 'reward_model' or 'verifiers'",
        ),
        (
            lambda s: s.update(verifiers=["exact"]),
            "iterative_dpo.it.verifiers: unknown verifier 'exact'",
        ),
        (
            lambda s: s.update(verifier_weights=[1, 2]),
            "iterative_dpo.it.verifier_weights: 2 weights for 1 verifiers",
        ),
        (
            lambda s: s.update(rounds=0),
            "key 'iterative_dpo.it.rounds': 0 is less than the minimum of 1",
        ),
        (
            lambda s: s.update(policy="sft/nope"),
            "iterative_dpo.it.policy: 'sft/nope' is not base/<name> or a configured run",
        ),
    ],
)
def test_iterative_dpo_errors_name_the_key(tmp_path, change, message):
    config = online_config()
    change(config["iterative_dpo"]["it"])
    with pytest.raises(ConfigError) as info:
        build_plan(config, ["my.yaml"], origin=tmp_path)
    assert message in str(info.value), str(info.value)


def test_a_round_may_not_take_a_name_already_used(tmp_path):
    config = online_config()
    config["datasets"]["it-r2"] = {"dataset_name": "results/demo_world/sft"}
    with pytest.raises(
        ConfigError, match="iterative_dpo.it: round 2 would be 'it-r2', which is already defined"
    ):
        build_plan(config, ["my.yaml"], origin=tmp_path)


def test_an_unknown_rounds_row_names_the_table_key(tmp_path):
    config = online_config()
    config["tables"]["online"]["rows"]["iterative"] = {"rounds": "nope"}
    with pytest.raises(
        ConfigError, match="tables.online.rows.iterative.rounds: unknown iterative_dpo 'nope'"
    ):
        build_plan(config, ["my.yaml"], origin=tmp_path)


def test_tiny_scale_fits_grpo_and_round_sampling_to_the_cpu(tmp_path):
    config = online_config(backend="vllm", max_new_tokens=1024)
    config["base_models"]["hub"] = {"path": "org/instruct-7b", "tiny": "sft/a"}
    config["runs"]["grpo"] = {
        "g": {
            "model": "base/hub",
            "dataset": "chat",
            "recipe": "config/recipes/demo/grpo/tiny.yaml",
            "gpus": 8,
        }
    }
    plan = build_plan(
        {**config, "scale": "tiny"}, ["my.yaml"], origin=tmp_path, moves_workdir=False
    )
    args = plan.runs["grpo/g"].args
    assert args["max_completion_length"] == 64 and args["num_generations"] == 4
    assert "max_length" not in args and "dataset_num_proc" not in args
    assert args["max_steps"] == 10 and plan.runs["grpo/g"].gpus_per_node == 0
    assert plan.config["rejection_sampling"]["it-r1"]["backend"] == "hf"
    assert plan.config["rejection_sampling"]["it-r1"]["max_new_tokens"] == 64
    full = build_plan(config, ["my.yaml"], origin=tmp_path)
    assert (
        "--backend vllm" in plan_sampling.sample_job(full, "it-r2").args
        and "--max_new_tokens 1024" in plan_sampling.sample_job(full, "it-r2").args
    )


def test_sampling_asks_for_a_gpu_where_its_model_needs_one_and_reads_prompts_from_a_dataset(
    tmp_path,
):
    config = online_config(prompts="gsm8k")
    config["base_models"]["hub"] = {"path": "org/instruct-7b"}
    config["iterative_dpo"]["it"]["policy"] = "base/hub"
    config["datasets"]["gsm8k"] = {
        "dataset_name": "openai/gsm8k",
        "columns": {"question": "prompt", "answer": "answer"},
    }
    plan = build_plan(config, ["my.yaml"], origin=tmp_path)
    assert plan_sampling.sample_job(plan, "it-r1").inputs == {
        "model": [],
        "prompts": "results/data/gsm8k/prepared",
    }
    assert (
        plan_sampling.sample_job(plan, "it-r1").gpus == 1
        and plan_sampling.score_job(plan, "it-r1").gpus == 0
    )
    # round 1's DPO run trains on the CPU in this config
    assert plan_sampling.sample_job(plan, "it-r2").gpus == 0


def test_prompts_come_from_jsonl_or_a_prepared_dataset_folder(tmp_path):
    import datasets

    from handbook.rejection_sampling import read_prompts

    rows = [
        {"prompt": "What is 1 plus 1?", "answer": "2", "task": "arithmetic"},
        {
            "prompt": [{"role": "user", "content": "Spell 'cat' backwards."}],
            "answer": "tac",
            "task": "string",
        },
    ]
    folder = tmp_path / "prepared"
    datasets.DatasetDict(train=datasets.Dataset.from_list(rows[:1])).save_to_disk(str(folder))
    (read,) = read_prompts(str(folder))
    assert (
        read["messages"] == [{"role": "user", "content": "What is 1 plus 1?"}]
        and read["answer"] == "2"
    )
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    second = read_prompts(str(path))[1]
    assert second["messages"] == rows[1]["prompt"] and second["prompt"] == "Spell 'cat' backwards."


def test_vllm_is_required_at_full_scale_and_replaced_at_tiny_scale():
    import importlib.util
    from types import SimpleNamespace

    import torch

    from handbook.rl import check_vllm
    from handbook.training import RecipeError

    if importlib.util.find_spec("vllm") is not None and torch.cuda.is_available():
        pytest.skip("this machine has vLLM and CUDA: nothing is missing")
    tiny = SimpleNamespace(use_vllm=True)
    check_vllm(SimpleNamespace(tiny_scale=True, rehearsal=False), tiny)
    assert tiny.use_vllm is False
    with pytest.raises(RecipeError, match="use_vllm: true needs"):
        check_vllm(
            SimpleNamespace(tiny_scale=False, rehearsal=False), SimpleNamespace(use_vllm=True)
        )


def test_the_verifiers_said_to_need_an_answer_are_those_that_read_one():
    for name, function in verifiers.VERIFIERS.items():
        if name in verifiers.NEEDS_ANSWER:
            with pytest.raises(VerifierError, match="needs an 'answer' column"):
                function(["The answer is 1."])
        else:
            assert function(["The answer is 1."]) == [1.0]
