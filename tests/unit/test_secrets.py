"""Secret values (tokens, keys, passwords) are told by their names and never written out."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import pytest
from conftest import REPO

from handbook.config import ConfigError, load_config
from handbook.plan import build_plan
from handbook.provenance import provenance
from handbook.secrets import MARKER, is_secret_name, redact, redact_argv, take_secrets

PLANTED = "hf_planted_secret_123"


def test_secret_names():
    for name in (
        "hub_token",
        "HF_TOKEN",
        "WANDB_API_KEY",
        "db_password",
        "--hub_token",
        "client_secret",
        "use_auth_token",
    ):
        assert is_secret_name(name), name
    for name in (
        "pad_token",
        "eos_token_id",
        "max_new_tokens",
        "tokenizer_name_or_path",
        "dataset_kwargs",
        "beta",
    ):
        assert not is_secret_name(name), name


def test_redact_nested_values_and_command_lines():
    assert redact({"a": {"hub_token": PLANTED, "beta": 0.1}, "b": [{"api_key": PLANTED}]}) == {
        "a": {"hub_token": MARKER, "beta": 0.1},
        "b": [{"api_key": MARKER}],
    }
    assert redact({"hub_token": None}) == {"hub_token": None}  # nothing set, nothing to hide
    argv = ["x.py", "--hub_token", PLANTED, "--beta", "0.1", f"--wandb_api_key={PLANTED}"]
    assert redact_argv(argv) == [
        "x.py",
        "--hub_token",
        MARKER,
        "--beta",
        "0.1",
        f"--wandb_api_key={MARKER}",
    ]


@dataclass
class Args:
    hub_token: str | None = None
    other_secret: str | None = None
    pad_token: str | None = "<pad>"


def test_take_secrets_moves_the_hub_token_to_the_environment(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    args = Args(hub_token=PLANTED, other_secret=PLANTED)
    take_secrets(args)
    assert args == Args(pad_token="<pad>") and os.environ["HF_TOKEN"] == PLANTED


def test_provenance_hides_secrets_in_config_and_command(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--hub_token", PLANTED])
    record = json.dumps(provenance(config={"TrainingArguments": {"hub_token": PLANTED}}))
    assert PLANTED not in record and MARKER in record


def test_a_secret_in_a_runs_args_is_refused_before_it_reaches_a_command_line(tmp_path):
    config = load_config([])
    config["runs"]["sft"]["tiny"]["args"] = {"hub_token": PLANTED}
    with pytest.raises(
        ConfigError, match=r"runs.sft.tiny.args.hub_token: a secret on the job's command line"
    ) as info:
        build_plan(config, origin=REPO)
    assert PLANTED not in str(info.value)
