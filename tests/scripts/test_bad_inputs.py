"""A corpus of bad inputs: config, dataset, chat template, recipe, model and table mistakes.

Each goes through the command a user (or a workflow job) runs and must stop with a non-zero exit,
one readable line naming the file and the key or row, no Python traceback, and no artifact that a
later build would take as complete.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_script, workflow_env

SFT_RECIPE = "config/recipes/demo/sft/tiny.yaml"
KTO_RECIPE = "config/recipes/demo/kto/tiny.yaml"


def assert_one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """Non-zero exit, no traceback, and an `error: ...` line holding every expected piece."""
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for piece in expected:
        assert piece in errors[0], (piece, errors[0])
    return errors[0]


# --- config: through `python -m handbook.plan`, which the DAG build runs as well


def run(name: str, spec: dict) -> dict:
    return {
        "runs": {
            spec.pop("stage", "sft"): {
                name: {"model": "cpt/tiny", "dataset": "demo_sft", "recipe": SFT_RECIPE, **spec}
            }
        }
    }


CONFIG_CASES = {
    "unknown top-level key": ({"demo_wrld": {}}, "key '(top level)'", "demo_wrld"),
    "unknown nested key": ({"demo_world": {"n_sftt": 1}}, "key 'demo_world'", "n_sftt"),
    "wrong type": (
        {"demo_world": {"n_sft": "many"}},
        "key 'demo_world.n_sft'",
        "'many' is not of type 'integer'",
    ),
    "value out of range": ({"demo_world": {"n_sft": -5}}, "key 'demo_world.n_sft'", "minimum of 1"),
    "unknown training stage": ({"runs": {"ppo": {}}}, "key 'runs'", "'ppo' is not one of"),
    "run from a model that does not exist": (
        run("x", {"model": "cpt/nope"}),
        "runs.sft.x.model",
        "'cpt/nope'",
    ),
    "unknown base model": (
        run("x", {"model": "base/nope"}),
        "runs.sft.x.model",
        "unknown base model 'nope'",
    ),
    "unknown dataset": (
        run("x", {"dataset": "nope"}),
        "runs.sft.x.dataset",
        "unknown dataset 'nope'",
    ),
    "missing recipe file": (
        run("x", {"recipe": "config/nope.yaml"}),
        "runs.sft.x.recipe",
        "no such file",
    ),
    "recipe for another stage": (
        run("x", {"recipe": KTO_RECIPE}),
        "runs.sft.x.recipe",
        "a kto recipe",
    ),
    "unknown DPO loss type": (
        run(
            "x",
            {
                "stage": "dpo",
                "model": "sft/tiny",
                "dataset": "demo_pref",
                "recipe": "config/recipes/demo/dpo/tiny.yaml",
                "args": {"loss_type": "kto_pair"},
            },
        ),
        "runs.dpo.x.loss_type",
        "'kto_pair' is not a dpo loss",
    ),
    "cycle between runs": (
        {
            "runs": {
                "sft": {
                    "a": {"model": "sft/b", "dataset": "demo_sft", "recipe": SFT_RECIPE},
                    "b": {"model": "sft/a", "dataset": "demo_sft", "recipe": SFT_RECIPE},
                }
            }
        },
        "runs.sft.a.model",
        "cycle",
    ),
    "sweep values colliding into one run name": (
        {
            "sweeps": {
                "s": {
                    "stage": "sft",
                    "model": "cpt/tiny",
                    "dataset": "demo_sft",
                    "recipe": SFT_RECIPE,
                    "grid": {"seed": [1, 1]},
                }
            }
        },
        "sweeps.s",
        "comes twice",
    ),
    "sweep run clashing with a run": (
        {
            "sweeps": {
                "zephyr": {
                    "stage": "sft",
                    "model": "cpt/tiny",
                    "dataset": "demo_sft",
                    "recipe": SFT_RECIPE,
                    "grid": {"x": ["7b-beta"]},
                }
            }
        },
        "sweeps.zephyr",
        "already defined in runs",
    ),
    "table naming an unknown run": (
        {"tables": {"t": {"rows": {"x": ["dpo/nope"]}}}},
        "tables.t.rows.x",
        "'dpo/nope'",
    ),
    "table naming an unknown sweep": (
        {"tables": {"t": {"rows": {"x": {"sweep": "nope"}}}}},
        "tables.t.rows.x.sweep",
        "unknown sweep",
    ),
    "sweep selection matching nothing": (
        {"tables": {"t": {"rows": {"x": {"sweep": "demo_dpo", "where": {"seed": 9}}}}}},
        "tables.t.rows.x.where",
        "selects no run",
    ),
    "table with an unknown suite": (
        {"tables": {"t": {"rows": {"x": ["sft/tiny"]}, "suites": ["nope"]}}},
        "tables.t.suites",
        "unknown suite",
    ),
    "table with an unknown judge": (
        {"tables": {"t": {"rows": {"x": ["sft/tiny"]}, "judges": ["nope"]}}},
        "tables.t.judges",
        "unknown judge",
    ),
    "grid table without columns": (
        {"tables": {"t": {"rows": "beta", "runs": [{"sweep": "demo_dpo"}]}}},
        "tables.t",
        "needs 'runs' and 'columns'",
    ),
    "grid table over a setting runs lack": (
        {"tables": {"t": {"rows": "seed", "columns": "gamma", "runs": [{"sweep": "demo_dpo"}]}}},
        "tables.t.runs.0",
        "no setting 'gamma'",
    ),
    "runs sharing reference log-probs disagreeing": (
        {"runs": {"dpo": {"on_policy": {"args": {"max_length": 64}, "dataset": "demo_pref"}}}},
        "runs.dpo",
        "disagree",
    ),
    "several nodes without GPUs": (
        run("x", {"resources": {"nodes": 2}}),
        "runs.sft.x.resources.nodes",
        "need GPUs",
    ),
    "missing chat template file": (
        {"base_models": {"tiny": {"chat_template": "config/nope.jinja"}}},
        "base_models.tiny.chat_template",
        "no such file",
    ),
    "local model folder that does not exist": (
        {"base_models": {"mine": {"path": "./models/my-llama"}}},
        "base_models.mine.path",
        "no such folder",
    ),
    "mixture weight out of range": (
        {"datasets": {"m": {"dataset_mixture": {"datasets": [{"id": "a.jsonl", "weight": 1.5}]}}}},
        "key 'datasets.m.dataset_mixture.datasets.0.weight'",
        "maximum of 1",
    ),
    "dataset with neither form": (
        {"datasets": {"m": {"columns": ["text"]}}},
        "key 'datasets.m'",
        "is not valid under any",
    ),
    "judge of an unknown format": (
        {"judges": {"j": {"format": "arena", "prompts": "p.jsonl"}}},
        "key 'judges.j.format'",
        "'arena'",
    ),
    "win-rate baseline that does not exist": (
        {"eval": {"demo": {"judge": {"reward_model": "rm/tiny", "baseline": "sft/nope"}}}},
        "eval.demo.judge.baseline",
        "'sft/nope'",
    ),
    "rejection sampling with an unknown reward model": (
        {"rejection_sampling": {"demo": {"reward_model": "rm/nope"}}},
        "rejection_sampling.demo.reward_model",
        "'rm/nope'",
    ),
}


def plan_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(workflow_env(), PYTHONPATH=str(REPO / "scripts"))
    return subprocess.run(
        [sys.executable, "-m", "handbook.plan", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_mistake(tmp_path, case):
    override, *expected = CONFIG_CASES[case]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(override))
    proc = plan_command(tmp_path, "--configfile", "bad.yaml")
    assert_one_line_error(proc, "bad.yaml", *expected)
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.yaml"]  # nothing written


def test_config_file_that_is_not_yaml(tmp_path):
    (tmp_path / "bad.yaml").write_text("runs: {sft: [unclosed\n")
    assert_one_line_error(
        plan_command(tmp_path, "--configfile", "bad.yaml"), "bad.yaml: cannot be read as YAML"
    )


def test_empty_recipe(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing set\n")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(run("x", {"recipe": "empty.yaml"})))
    proc = plan_command(tmp_path, "--configfile", "bad.yaml")
    assert_one_line_error(proc, "runs.sft.x.recipe", "is empty: the run would train on TRL's")


def test_tiny_scale_hub_data_without_a_demo_counterpart(tmp_path):
    extra = {"datasets": {"web": {"dataset_name": "someone/web"}}, **run("web", {"dataset": "web"})}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(extra))
    proc = plan_command(tmp_path, "--scale", "tiny", "--configfile", "bad.yaml")
    assert_one_line_error(proc, "bad.yaml", "datasets.web", "give it 'tiny: <demo dataset>'")


# --- data: through the prepare step (scripts/prepare_data.py)


def conversation(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"q{i}"},
            {"role": "assistant", "content": f"a{i}"},
        ]
    }


def pair(i: int, chosen: str = "good", rejected: str = "bad") -> dict:
    user = {"role": "user", "content": f"q{i}"}
    return {
        "chosen": [user, {"role": "assistant", "content": chosen}],
        "rejected": [user, {"role": "assistant", "content": rejected}],
    }


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def with_row(rows: list[dict], i: int, row: dict) -> list[dict]:
    return rows[:i] + [row] + rows[i + 1 :]


GOOD = [conversation(i) for i in range(4)]
DATA_CASES = {
    "missing file": (None, {}, "data.jsonl: no such file or folder"),
    "empty file": (b"", {}, "data.jsonl: empty file"),
    "not UTF-8": (jsonl(GOOD[:1]) + b"\xff\xfe\n", {}, "data.jsonl: not UTF-8 text"),
    "truncated JSON line": (
        jsonl(GOOD[:2])[:-20] + b"\n",
        {},
        "data.jsonl: line 2: not valid JSON",
    ),
    "missing column": (jsonl(GOOD), {"columns": ["text"]}, "data.jsonl: column 'text' not found"),
    "wrong role name": (
        jsonl(
            with_row(
                GOOD,
                2,
                {
                    "messages": [
                        {"role": "human", "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ]
                },
            )
        ),
        {},
        "row 2, column 'messages': message 0 has role 'human'",
    ),
    "roles not alternating": (
        jsonl(
            with_row(
                GOOD,
                1,
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ]
                },
            )
        ),
        {},
        "row 1, column 'messages': messages 0 and 1 are both 'user'",
    ),
    "content that is not a string": (
        jsonl(
            with_row(
                GOOD,
                3,
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": 4},
                    ]
                },
            )
        ),
        {},
        "row 3, column 'messages': message 1 content is not a string",
    ),
    "no assistant reply": (
        jsonl(with_row(GOOD, 0, {"messages": [{"role": "user", "content": "q"}]})),
        {},
        "row 0, column 'messages': no assistant message",
    ),
    "chosen identical to rejected": (
        jsonl([pair(0), pair(1, "same", "same")]),
        {},
        "data.jsonl: row 1: 'chosen' and 'rejected' are the same",
    ),
    "test split as large as the data": (
        jsonl(GOOD),
        {"test_split_size": 4},
        "test_split_size 4 leaves no training rows",
    ),
    "test split fraction that leaves no training rows": (
        jsonl(GOOD),
        {"test_split_size": 0.9},
        "test_split_size 0.9 leaves no training rows (the data has 4)",
    ),
    "split a single file does not have": (
        jsonl(GOOD),
        {"dataset_train_split": "train_sft"},
        "a single file has one split, 'train'",
    ),
    "unsupported file type": (b"a,b\n", {"suffix": ".tsv"}, "unsupported file type '.tsv'"),
    "a string reply among conversations": (
        jsonl([pair(0), {"chosen": "good", "rejected": pair(1)["rejected"]}]),
        {},
        "row 1, column 'chosen': expected a non-empty list of {role, content} messages",
    ),
    "an HH row that is no transcript": (
        jsonl(
            [
                {
                    "chosen": "\n\nHuman: q\n\nAssistant: a",
                    "rejected": "\n\nHuman: q\n\nAssistant: b",
                },
                {"chosen": "just text", "rejected": "\n\nHuman: q\n\nAssistant: b"},
            ]
        ),
        {"format": "hh"},
        "row 1, column 'chosen': not a Human/Assistant transcript",
    ),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_data_mistake(tmp_path, case):
    content, extra, expected = DATA_CASES[case]
    source = tmp_path / f"data{extra.pop('suffix', '.jsonl')}"
    if content is not None:
        source.write_bytes(content)
    output = tmp_path / "prepared"
    spec = {"dataset_name": str(source), **extra}
    proc = run_script(
        "prepare_data.py", "--name", "mine", "--spec", json.dumps(spec), "--output_dir", output
    )
    assert_one_line_error(proc, expected)
    assert not output.exists()


def test_mixture_of_sources_with_different_columns(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(jsonl(GOOD))
    (tmp_path / "b.jsonl").write_bytes(jsonl([{"text": "plain"}]))
    spec = {
        "dataset_mixture": {
            "datasets": [{"id": str(tmp_path / "a.jsonl")}, {"id": str(tmp_path / "b.jsonl")}]
        }
    }
    proc = run_script(
        "prepare_data.py",
        "--name",
        "mix",
        "--spec",
        json.dumps(spec),
        "--output_dir",
        tmp_path / "out",
    )
    assert_one_line_error(proc, "dataset 'mix': sources have different columns")
    assert not (tmp_path / "out").exists()


def test_hub_dataset_while_offline(tmp_path):
    spec = {"dataset_name": "someone/not-cached-anywhere"}
    proc = run_script(
        "prepare_data.py",
        "--name",
        "hub",
        "--spec",
        json.dumps(spec),
        "--output_dir",
        tmp_path / "out",
    )
    assert_one_line_error(
        proc, "someone/not-cached-anywhere: could not load split 'train' from the Hugging Face hub"
    )


# --- chat templates: through the tokenize step (scripts/tokenize_data.py)


@pytest.fixture(scope="module")
def prepared_and_tokenizer(tmp_path_factory):
    from handbook.data import load_mixture
    from handbook.modeling import train_tokenizer

    root = tmp_path_factory.mktemp("template")
    (root / "data.jsonl").write_bytes(jsonl(GOOD))
    load_mixture("chat", {"dataset_name": str(root / "data.jsonl")}).save_to_disk(
        str(root / "prepared")
    )
    train_tokenizer([f"q{i} a{i}" for i in range(50)], vocab_size=300).save_pretrained(
        str(root / "tokenizer")
    )
    return root


@pytest.mark.parametrize(
    "template, expected",
    [
        (
            "{% for m in messages %}{{ m.content }",
            "the chat template does not render (TemplateSyntaxError",
        ),
        (
            "{% for m in messages %}{{ bos_token }}"
            "{% generation %}{{ m['content'] }}{% endgeneration %}{% endfor %}",
            "the chat template uses bos_token, which the tokenizer does not have",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "chat_template: not a text file"),
    ],
    ids=["does not parse", "special token the tokenizer lacks", "binary file"],
)
def test_chat_template_mistake(prepared_and_tokenizer, tmp_path, template, expected):
    if isinstance(template, bytes):
        (tmp_path / "t.jinja").write_bytes(template)
    else:
        (tmp_path / "t.jinja").write_text(template)
    root = prepared_and_tokenizer
    proc = run_script(
        "tokenize_data.py",
        "--prepared",
        root / "prepared",
        "--tokenizer",
        root / "tokenizer",
        "--chat_template",
        tmp_path / "t.jinja",
        "--output_dir",
        tmp_path / "out",
    )
    assert_one_line_error(proc, "t.jinja: ", expected)
    assert not (tmp_path / "out").exists()


def test_assistant_only_loss_on_data_whose_template_marks_no_assistant_tokens(
    prepared_and_tokenizer, tmp_path
):
    # Tokenizing works (every token is trained on, as the handbook's Zephyr recipes did); a run
    # that asks for assistant-only loss stops before loading a model.
    (tmp_path / "t.jinja").write_text(
        "{% for m in messages %}{{ m['content'] + eos_token }}{% endfor %}"
    )
    root = prepared_and_tokenizer
    proc = run_script(
        "tokenize_data.py",
        "--prepared",
        root / "prepared",
        "--tokenizer",
        root / "tokenizer",
        "--chat_template",
        tmp_path / "t.jinja",
        "--output_dir",
        tmp_path / "tokenized",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no {% generation %} markers" in proc.stdout + proc.stderr
    (tmp_path / "r.yaml").write_text("assistant_only_loss: true\nmax_steps: 1\n")
    proc = run_script(
        "sft.py",
        "--config",
        tmp_path / "r.yaml",
        "--model_name_or_path",
        root / "tokenizer",
        "--dataset_path",
        tmp_path / "tokenized",
        "--checkpoint_dir",
        tmp_path / "ck",
        "--output_dir",
        tmp_path / "out",
        timeout=300,
    )
    assert_one_line_error(
        proc, "r.yaml: assistant_only_loss: true needs assistant masks", "{% generation %} markers"
    )
    assert not (tmp_path / "out").exists()


def test_preference_data_given_to_the_tokenize_step_of_sft(prepared_and_tokenizer, tmp_path):
    from handbook.data import load_mixture

    (tmp_path / "pairs.jsonl").write_bytes(jsonl([pair(i) for i in range(4)]))
    load_mixture("pairs", {"dataset_name": str(tmp_path / "pairs.jsonl")}).save_to_disk(
        str(tmp_path / "prepared")
    )
    root = prepared_and_tokenizer
    proc = run_script(
        "tokenize_data.py",
        "--prepared",
        tmp_path / "prepared",
        "--tokenizer",
        root / "tokenizer",
        "--output_dir",
        tmp_path / "out",
    )
    assert_one_line_error(
        proc,
        "columns ['chosen', 'rejected'] make preference data; cpt or sft takes language modelling",
    )
    assert not (tmp_path / "out").exists()


def test_conversations_given_to_dpo(tmp_path):
    from tiny_model import build_model, build_world

    from handbook.data import load_mixture

    world = build_world(tmp_path / "world")
    model = build_model(tmp_path / "model", world)
    load_mixture(
        "chat", {"dataset_name": str(world / "sft"), "dataset_test_split": "test"}
    ).save_to_disk(str(tmp_path / "prepared"))
    proc = run_script(
        "ref_logps.py",
        "--config",
        REPO / "config/recipes/demo/dpo/tiny.yaml",
        "--model_name_or_path",
        model,
        "--dataset_path",
        tmp_path / "prepared",
        "--output_dir",
        tmp_path / "out",
        timeout=300,
    )
    assert_one_line_error(
        proc,
        "prepared (train): columns [",
        "'messages'",
        "make language modelling data; a dpo run takes preference",
    )
    assert not (tmp_path / "out").exists()


def test_grpo_prompts_without_the_answer_its_verifier_checks(tmp_path):
    from tiny_model import build_model, build_world

    from handbook.data import load_mixture

    world = build_world(tmp_path / "world")
    model = build_model(tmp_path / "model", world)
    spec = {
        "dataset_name": str(world / "prompts" / "generation.jsonl"),
        "columns": ["prompt", "task"],
    }
    load_mixture("prompts", spec).save_to_disk(str(tmp_path / "prepared"))
    proc = run_script(
        "grpo.py",
        "--config",
        REPO / "config/recipes/demo/grpo/tiny.yaml",
        "--model_name_or_path",
        model,
        "--dataset_path",
        tmp_path / "prepared",
        "--checkpoint_dir",
        tmp_path / "ck",
        "--output_dir",
        tmp_path / "out",
        timeout=300,
    )
    assert_one_line_error(
        proc,
        "prepared: verifier 'demo_answer' needs an 'answer' column (columns: ['prompt', 'task'])",
    )
    assert not (tmp_path / "out").exists()


def test_grpo_recipe_naming_an_unknown_verifier(tmp_path):
    (tmp_path / "r.yaml").write_text("reward_funcs: [demo_answr]\n")
    proc = run_script(
        "grpo.py", "--config", tmp_path / "r.yaml", "--output_dir", tmp_path / "out", timeout=300
    )
    assert_one_line_error(
        proc,
        "r.yaml: reward_funcs: unknown verifier 'demo_answr' (known: ['demo_answer', "
        "'demo_format', 'final_number'])",
    )
    assert not (tmp_path / "out").exists()


# --- recipes and models: through a training entry point and a model-loading one


def test_recipe_key_that_means_nothing(tmp_path):
    (tmp_path / "r.yaml").write_text("learning_rate: 1.0e-3\nwarmup_ratioo: 0.1\n")
    proc = run_script(
        "sft.py", "--config", tmp_path / "r.yaml", "--output_dir", tmp_path / "out", timeout=300
    )
    assert_one_line_error(proc, "r.yaml: unknown recipe key(s) warmup_ratioo")
    assert not (tmp_path / "out").exists()


def test_recipe_value_of_the_wrong_type(tmp_path):
    (tmp_path / "r.yaml").write_text("learning_rate: fast\n")
    proc = run_script(
        "sft.py", "--config", tmp_path / "r.yaml", "--output_dir", tmp_path / "out", timeout=300
    )
    assert_one_line_error(proc, "r.yaml: ", "learning_rate", "'fast'")
    assert (
        "usage:" not in proc.stderr
    )  # the error, not the 150-line usage of every trainer argument


def test_run_argument_that_means_nothing_blames_the_command_line_not_the_recipe(tmp_path):
    proc = run_script(
        "sft.py",
        "--config",
        REPO / SFT_RECIPE,
        "--lerning_rate",
        "1e-3",
        "--output_dir",
        tmp_path / "out",
        timeout=300,
    )
    line = assert_one_line_error(
        proc, "command line (the run's args): unknown argument(s)", "--lerning_rate"
    )
    assert "tiny.yaml" not in line


def test_run_argument_of_the_wrong_type_blames_the_command_line_not_the_recipe(tmp_path):
    proc = run_script(
        "sft.py", "--config", REPO / SFT_RECIPE, "--seed", "1.5", "--output_dir", tmp_path / "o"
    )
    line = assert_one_line_error(
        proc, "error: command line (the run's args): argument --seed: invalid int value: '1.5'"
    )
    assert "tiny.yaml" not in line


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tiny_model import build_model, build_world

    root = tmp_path_factory.mktemp("tiny")
    return build_model(root / "model", build_world(root / "world"))  # position limit 256


@pytest.mark.parametrize(
    "recipe, args, expected",
    [
        (None, ["--report_to", "wandb"], "report_to: wandb is not installed here"),
    ],
    ids=["report_to wandb"],
)
def test_setting_that_would_fail_after_the_model_loads(
    tiny_model, tmp_path, recipe, args, expected
):
    pytest.importorskip("torch")
    if "wandb" in args and importlib.util.find_spec("wandb"):
        pytest.skip("wandb is installed here")
    config = REPO / SFT_RECIPE
    if recipe:
        config = tmp_path / "r.yaml"
        config.write_text((REPO / SFT_RECIPE).read_text().replace("max_length: 128\n", recipe))
    proc = run_script(
        "sft.py",
        "--config",
        config,
        "--model_name_or_path",
        tiny_model,
        *args,
        "--output_dir",
        tmp_path / "out",
    )
    assert_one_line_error(proc, expected)
    assert "model loaded" not in proc.stdout
    assert not (tmp_path / "out").exists()


def test_local_model_folder_that_does_not_exist(tmp_path):
    proc = run_script(
        "sft.py",
        "--config",
        REPO / SFT_RECIPE,
        "--model_name_or_path",
        "results/models/sft/tinyy",
        "--output_dir",
        tmp_path / "out",
    )
    assert_one_line_error(proc, "results/models/sft/tinyy: no such model folder")


def test_gpus_on_a_machine_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: asking for a GPU is not a mistake here")
    proc = run_script(
        "sft.py",
        "--config",
        REPO / SFT_RECIPE,
        "--gpus",
        "1",
        "--output_dir",
        tmp_path / "out",
        timeout=300,
    )
    assert_one_line_error(
        proc,
        "asks for 1 GPU(s) but torch",
        "sees no CUDA device: on a GPU node, run Snakemake with --sdm conda",
    )


def test_corrupt_safetensors_file(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "num_labels": 1}))
    (model / "model.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "pairs.jsonl").write_bytes(jsonl([pair(0)]))
    proc = run_script(
        "eval_reward.py",
        "--model",
        model,
        "--pairs",
        tmp_path / "pairs.jsonl",
        "--output",
        tmp_path / "out.json",
    )
    assert_one_line_error(proc, f"{model}: cannot load")
    assert not (tmp_path / "out.json").exists()


def test_max_length_shorter_than_the_prompts(tmp_path):
    from tiny_model import build_model, build_world

    from handbook.data import load_mixture

    world = build_world(tmp_path / "world")
    model = build_model(tmp_path / "model", world)
    spec = {
        "dataset_name": str(world / "preference"),
        "dataset_test_split": "test",
        "columns": ["chosen", "rejected"],
    }
    load_mixture("pairs", spec).save_to_disk(str(tmp_path / "prepared"))
    proc = run_script(
        "ref_logps.py",
        "--config",
        REPO / "config/recipes/demo/dpo/tiny.yaml",
        "--model_name_or_path",
        model,
        "--dataset_path",
        tmp_path / "prepared",
        "--max_length",
        "4",
        "--output_dir",
        tmp_path / "out",
        timeout=300,
    )
    assert_one_line_error(
        proc, "prepared (train): row 0: the prompt has", "max_length is 4", "raise max_length"
    )
    assert not (tmp_path / "out").exists()


# --- tables


def test_table_metric_that_no_result_has(tmp_path):
    result = tmp_path / "demo.json"
    result.write_text(json.dumps({"chat": {"task_accuracy": 0.5}}))
    spec = {
        "table": {"name": "t", "rows": {"sft": ["sft/x"]}, "metrics": ["task_acuracy"]},
        "runs": [{"label": "sft", "ref": "sft/x", "params": {}, "files": {"demo": str(result)}}],
    }
    out = {ext: tmp_path / f"t.{ext}" for ext in ("csv", "md", "png")}
    proc = run_script(
        "make_table.py",
        "--spec",
        json.dumps(spec),
        *(a for ext in out for a in (f"--{ext}", out[ext])),
    )
    assert_one_line_error(proc, "tables.t: metrics ['task_acuracy']: in no result of this table")
    assert not any(p.exists() for p in out.values())
