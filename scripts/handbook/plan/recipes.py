"""Recipe and accelerate files as the plan reads them: parsed once per path however many runs
share them, and resolved through handbook.recipes, the code the training job runs."""

from __future__ import annotations

import copy
import functools

from handbook.recipes import RecipeFileError, read_recipe, resolve


@functools.cache
def _parsed_yaml(path: str) -> dict:
    return read_recipe(path)  # a mapping, or one RecipeFileError naming the file


@functools.cache
def _resolved_recipe(path: str) -> dict:
    try:
        return resolve(_parsed_yaml(path), None, path).args
    except RecipeFileError:
        return {}  # the recipe's own error is raised where the run's recipe is checked


def resolved_recipe(path: str) -> dict:
    """A recipe's trainer arguments, mapped as the training job maps them (a copy)."""
    return copy.deepcopy(_resolved_recipe(str(path)))


def read_yaml(path: str) -> dict:
    """A recipe or accelerate config (a copy, so no caller changes another's)."""
    return copy.deepcopy(_parsed_yaml(str(path)))
