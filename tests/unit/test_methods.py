"""The method registry: each method has an entry point, a shipped recipe and a TRL config class,
and everything that lists stages derives from it."""

from __future__ import annotations

import ast
import re

import pytest
import yaml
from conftest import REPO

from handbook.config import load_schema
from handbook.methods import DATA_KINDS, METHODS, PLAIN_STAGES, stage_pattern


@pytest.mark.parametrize("name", list(METHODS))
def test_method_has_an_entry_point_a_recipe_and_a_config_class(name, monkeypatch):
    method = METHODS[name]
    script = REPO / "scripts" / method.script
    tree = ast.parse(script.read_text())
    assert ast.get_docstring(tree), f"{script} needs a docstring with a command"
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), script
    recipes = sorted((REPO / "config" / "recipes").glob(f"*/{name}/*.yaml"))
    assert recipes, f"no shipped recipe for {name} (config/recipes/<model>/{name}/<variant>.yaml)"
    assert method.data in DATA_KINDS
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    config_class = method.load_config_class()
    from trl import ModelConfig

    from handbook.recipes import known_keys, read_recipe, resolve

    for recipe in recipes:
        # Our recipes are written for the installed TRL: every key known, nothing to map.
        resolved = resolve(read_recipe(recipe), known_keys(config_class, ModelConfig), str(recipe))
        assert resolved.notes == [], (recipe, resolved.notes)


def test_stage_lists_derive_from_the_registry():
    schema = load_schema()
    assert schema["properties"]["runs"]["propertyNames"]["enum"] == list(METHODS)
    assert schema["properties"]["sweeps"]["additionalProperties"]["properties"]["stage"][
        "enum"
    ] == list(METHODS)
    assert all(re.fullmatch(stage_pattern(), name) for name in METHODS)
    assert not re.fullmatch(stage_pattern(), "base")
    assert PLAIN_STAGES == {"base", "cpt"}


def test_the_shipped_schema_file_lists_no_stage_itself():
    """A method added to the registry needs no schema edit."""

    def enums(node):
        if isinstance(node, dict):
            yield from ([node["enum"]] if "enum" in node else [])
            for value in node.values():
                yield from enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums(value)

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert not [e for e in enums(schema) if set(e) & set(METHODS)]


def test_what_each_method_reads_and_answers():
    assert {m.name for m in METHODS.values() if m.data == "ref_logps"} == {"dpo"}
    assert {m.name for m in METHODS.values() if m.answers_chat} == {
        "sft",
        "dpo",
        "kto",
        "orpo",
        "cpo",
        "grpo",
        "merge",
    }
    assert [m.name for m in METHODS.values() if m.data == "model"] == ["merge"]
    assert [m.name for m in METHODS.values() if m.reward_model] == ["rm"]
    assert [(m.name, m.data_format, m.formats) for m in METHODS.values() if m.rollouts] == [
        ("grpo", "prompts", ("prompt-only",))
    ]


def test_registry_loss_types_match_the_installed_trl(monkeypatch):
    import dataclasses

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    for method in (m for m in METHODS.values() if m.loss_types):
        field = {f.name: f for f in dataclasses.fields(method.load_config_class())}["loss_type"]
        help_text = field.metadata["help"]
        # DPO's help quotes each value in backticks; GRPO's lists them after "Supported values are".
        supported = (
            help_text.split("Supported values are", 1)[-1].split(".", 1)[0]
            if "Supported values are" in help_text
            else ""
        )
        accepted = (
            field.metadata.get("choices")
            or re.findall(r"`'(\w+)'`", help_text)
            or re.findall(r"'(\w+)'", supported)
        )
        assert sorted(method.loss_types) == sorted(accepted), method.name


# The calls a training script hands its config class to: start_run(cls) and
# train_reference_free(cls, trainer) take it first; parse_recipe takes the argument classes as
# (WorkflowArguments, cls, ModelConfig).
CONFIG_TAKERS = {"start_run": None, "train_reference_free": None, "parse_recipe": 1}


def config_classes_parsed(source: str) -> set[str]:
    """'module.Class' of each config class the script's source parses its arguments into, named
    through the script's own imports (a class defined in the script keeps its bare name)."""
    tree = ast.parse(source)
    imported = {
        alias.asname or alias.name: f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    found = set()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in CONFIG_TAKERS
            and node.args
        ):
            continue
        arg, at = node.args[0], CONFIG_TAKERS[node.func.id]
        if at is not None:
            arg = arg.elts[at] if isinstance(arg, ast.Tuple) and len(arg.elts) > at else None
        if arg is not None:
            name = ast.unparse(arg)
            found.add(imported.get(name, name))
    return found


@pytest.mark.parametrize("name", list(METHODS))
def test_each_script_parses_its_recipes_into_the_registrys_config_class(name):
    method = METHODS[name]
    source = (REPO / "scripts" / method.script).read_text()
    assert config_classes_parsed(source) == {method.config_class}, method.script


def test_the_config_class_check_sees_a_script_using_another_class():
    kto_with_dpo_config = """
from trl import DPOConfig, KTOTrainer
from handbook.training import start_run

def main():
    parsed, final_dir = start_run(DPOConfig)
"""
    assert (
        config_classes_parsed(kto_with_dpo_config)
        == {"trl.DPOConfig"}
        != {METHODS["kto"].config_class}
    )
    lazy = """
def main():
    from trl.experimental.orpo import ORPOConfig as Config, ORPOTrainer
    train_reference_free(Config, ORPOTrainer)
"""
    assert config_classes_parsed(lazy) == {"trl.experimental.orpo.ORPOConfig"}
    merge = "parsed = parse_recipe((WorkflowArguments, MergeConfig, ModelConfig))"
    assert config_classes_parsed(merge) == {"MergeConfig"}  # not imported: its bare name
    assert config_classes_parsed("main = lambda: None") == set()  # parses nothing: no match
