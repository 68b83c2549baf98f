"""Entry points share code through the handbook package only: no file in scripts/ imports another.

A script that imports another runs that script's module-level code and ties two command-line
interfaces together; the check reads the source with `ast`, so it imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
PATHS = sorted(SCRIPTS.glob("*.py"))
STEMS = {path.stem for path in PATHS}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every import anywhere in the source, functions included, and of
    importlib.import_module / __import__ calls with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # `from . import x` names x, a sibling module
                found += [(node.lineno, node.module or alias.name) for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return [(line, module.split(".")[0]) for line, module in found]


def test_scripts_are_found():
    assert {"orpo", "cpo", "eval_reward", "sample_completions"} <= STEMS


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_script_imports_no_other_script(path):
    others = STEMS - {path.stem}
    found = imported_modules(path.read_text())
    bad = [f"{path.name}:{line}: imports {module}" for line, module in found if module in others]
    assert not bad, "move the shared code into scripts/handbook/:\n" + "\n".join(bad)


def test_the_check_sees_every_form_of_import():
    source = """
import orpo
import os, eval_reward.sub
from sample_completions import write_jsonl
from .kto import main

def main():
    from score_samples import read_samples
    import importlib
    importlib.import_module("make_bon_sets")
    return __import__("cpo")

from handbook.jsonl import read_jsonl
"""
    found = [module for _, module in imported_modules(source)]
    expected = [
        "orpo",
        "os",
        "eval_reward",
        "sample_completions",
        "kto",
        "score_samples",
        "importlib",
    ]
    assert sorted(found) == sorted(expected + ["make_bon_sets", "cpo", "handbook"])
