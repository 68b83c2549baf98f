"""Recipe families and handbook recipe files as config: each family's file merged under the
config (config/recipes/<family>/family.yaml), and runs whose recipe is a handbook file given the
model and dataset their recipe names. The first steps of handbook.plan.resolve."""

from __future__ import annotations

import copy
import glob
import re
from pathlib import Path

from handbook.config import (
    REPO,
    ConfigError,
    Paths,
    dataset_entries,
    load_schema,
    merge_config,
    read_mapping,
)
from handbook.methods import BASE, METHODS

# What a family file may define: its own models, data, runs, sweeps and tables (and suites or
# judges its tables need). Everything else stays in the config.
FAMILY_SECTIONS = (
    "base_models",
    "datasets",
    "runs",
    "sweeps",
    "rejection_sampling",
    "iterative_dpo",
    "tables",
    "suites",
    "judges",
)


def family_files(patterns: list[str], origin: Path) -> list[Path]:
    """The family files the config's `families` globs name: from the launch directory, else the
    shipped ones in the repository."""
    found: list[Path] = []
    for pattern in patterns:
        for root in [""] if Path(pattern).is_absolute() else [origin, REPO]:
            matches = sorted(Path(m) for m in glob.glob(str(Path(root) / pattern)))
            if matches:
                found += [m for m in matches if m not in found]
                break
        else:
            raise ConfigError(
                f"families: '{pattern}' matches no file (from {origin} or the repository)"
            )
    return found


def family_entries(data: dict) -> list[tuple[tuple[str, ...], object]]:
    """(key path, entry) for each named entry of a family file: runs by stage and name, the
    other sections by name."""
    entries = []
    for section, value in data.items():
        for name, entry in (value or {}).items():
            if section == "runs":
                entries += [((section, name, run), spec) for run, spec in (entry or {}).items()]
            else:
                entries.append(((section, name), entry))
    return entries


def add_families(config: dict, origin: Path, shown) -> dict[str, str]:
    """Merge the recipe families' files under the config (in place): the config's own entries win,
    key by key, so a user's config can change a family's run. Two families defining one name is an
    error naming both files. Returns key -> file for every entry a family defined."""
    sources: dict[str, str] = {}
    merged: dict = {}
    for path in family_files(list(config.get("families", [])), origin):
        name = shown(path)
        data = read_mapping(path, name, "config sections")
        for section in data:
            if section not in FAMILY_SECTIONS:
                raise ConfigError(
                    f"{name}: key '{section}': a family file defines only "
                    f"{', '.join(FAMILY_SECTIONS)}"
                )
        for keys, entry in family_entries(data):
            key = ".".join(keys)
            if key in sources:
                raise ConfigError(f"{name}: key '{key}': already defined in {sources[key]}")
            sources[key] = name
            target = merged
            for part in keys[:-1]:
                target = target.setdefault(part, {})
            target[keys[-1]] = copy.deepcopy(entry)
    own = {k: v for k, v in config.items()}
    config.clear()
    config.update(merge_config(merged, own))
    return sources


def runs_from_recipes(config: dict, paths: Paths, error) -> list[str]:
    """A run whose recipe is a handbook file may leave out 'model' and 'dataset': the recipe's
    model_name_or_path becomes a base model (named after it) and its data keys a dataset named
    <stage>-<run>, with the demo data of its kind in its place at scale: tiny. The recipe's inline
    chat_template goes with the base model. Returns what was taken, one line each."""
    from handbook.recipes import RecipeFileError, read_recipe, recipe_dataset

    taken = []
    # Before the schema fills in its defaults (validate runs after this): the schema's stand-ins.
    defaults = load_schema()["properties"]["tiny_scale"]["properties"]["datasets"]["default"]
    stand_ins = {**defaults, **config.get("tiny_scale", {}).get("datasets", {})}
    for stage, by_name in (config.get("runs") or {}).items():
        for name, spec in (by_name or {}).items():
            if (
                not isinstance(spec, dict)
                or "recipe" not in spec
                or ("model" in spec and "dataset" in spec)
            ):
                continue
            path = paths.config_file(spec["recipe"])
            if not Path(path).is_file() or stage not in METHODS:
                continue  # the checks name the key
            try:
                recipe = read_recipe(path)
                data = recipe_dataset(recipe, spec["recipe"]) if "dataset" not in spec else None
            except RecipeFileError as err:
                raise error(f"runs.{stage}.{name}.recipe", str(err)) from None
            if data is not None:
                dataset = f"{stage}-{name}"
                if any(paths.is_hub(source) for source, _ in dataset_entries(data)):
                    data["tiny"] = stand_ins[METHODS[stage].data_format]
                config.setdefault("datasets", {})[dataset] = data
                spec["dataset"] = dataset
                taken.append(f"runs.{stage}.{name}: dataset '{dataset}' from {spec['recipe']}")
            model = recipe.get("model_name_or_path")
            if "model" not in spec and isinstance(model, str):
                template = spec["recipe"] if recipe.get("chat_template") else None
                base = base_model_named(
                    config.setdefault("base_models", {}), model, paths, template
                )
                entry = config["base_models"].setdefault(base, {"path": model})
                if template:
                    entry["chat_template"] = template
                spec["model"] = f"{BASE}/{base}"
                taken.append(
                    f"runs.{stage}.{name}: model base/{base} ({model}) from {spec['recipe']}"
                )
    return taken


def base_model_named(
    base_models: dict, model: str, paths: Paths, template: str | None = None
) -> str:
    """The base model a recipe's model_name_or_path is: the configured one loaded from that path
    (with the recipe's inline chat template, when it has one: its data is tokenized with it), else
    a new name that no other base model has. A local path always stays that path: a folder named
    like a configured model (results/models/cpt/tiny and the demo's base/tiny) is another model."""

    def same(entry) -> bool:
        path = entry.get("path") if isinstance(entry, dict) else None
        if template and entry.get("chat_template") != template:
            return False
        if path is None or paths.is_hub(model) or paths.is_hub(path):
            return path == model
        return Path(paths.origin, path).resolve() == Path(paths.origin, model).resolve()

    for name, entry in base_models.items():
        if same(entry):
            return name
    clean = lambda text: re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"  # noqa: E731
    name = clean(Path(model).name)
    if name in base_models:
        name = clean(model)
    while name in base_models:
        name += "-local"
    return name
