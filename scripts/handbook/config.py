"""The config files, loaded and merged as Snakemake merges them (--configfile, --config), and
checked against the schema (its defaults filled in); where the config's relative paths point.

handbook.plan.resolve builds the plan from the result; nothing here imports torch, TRL or
Snakemake.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from handbook import yamlio
from handbook.hub import is_hub_id
from handbook.methods import METHODS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
# Tiny-scale artifacts live in their own working directory, so they never share a path with
# full-scale ones: the same target under it (results/tiny/results/tables/...).
TINY_WORKDIR = "results/tiny"
REHEARSAL_WORKDIR = "results/rehearsal"
WORKDIRS = {"tiny": TINY_WORKDIR, "rehearsal": REHEARSAL_WORKDIR}


class ConfigError(ValueError):
    """A config mistake, said as '<config files>: <key>: <what is wrong>'."""


@dataclass(frozen=True)
class Paths:
    """Where the config's relative paths point: the launch directory, and whether the workflow
    moves away from it (tiny scale), in which case they are passed by absolute path."""

    origin: Path
    moves_workdir: bool = False

    def local(self, path: str) -> str:
        """A relative path from the config, usable from the workflow's working directory."""
        if (
            self.moves_workdir
            and not Path(path).is_absolute()
            and not str(path).startswith("results/")
        ):
            return str(self.origin / path)
        return str(path)

    def is_hub(self, source: str) -> bool:
        return is_hub_id(source, self.origin)

    def config_file(self, path: str) -> str:
        """Files named in the config (recipes, templates, accelerate configs) resolve against the
        launch directory, then against the repository (the shipped ones)."""
        if Path(path).is_absolute():
            return str(path)
        if (self.origin / path).exists():
            return self.local(path)
        return str(REPO / path)


# --- Loading and validation --------------------------------------------------------------------


def merge_config(base: dict, extra: dict) -> dict:
    """Nested keys of `extra` replace those of `base` one by one, as Snakemake's --configfile
    does."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(files: list[str | Path], overrides: dict | None = None) -> dict:
    """The default config extended by each file in turn, then by `overrides` (--config k=v)."""
    config: dict = {}
    for path in [DEFAULT_CONFIG, *files]:
        merge_config(config, read_mapping(path, str(path), "config keys"))
    return merge_config(config, overrides or {})


def under_defaults(config: dict) -> dict:
    """The default config with `config` over it: what the Snakefile's `configfile:` gives, for the
    workflow used as a module of another project (Snakemake then passes the config it was given
    and reads no `configfile:` of the module's). A config that already holds the defaults comes
    back unchanged."""
    return merge_config(read_mapping(DEFAULT_CONFIG, str(DEFAULT_CONFIG), "config keys"), config)


def user_config_files(loaded: list[str], given: list[str]) -> list[str]:
    """The config files over the defaults, in the order Snakemake merged them: those its
    `configfile:` statements loaded (`loaded`, Snakemake's list of every file, minus the command
    line's and the default), then the command line's `--configfile`s (`given`). A project using
    this workflow as a module has its own `configfile:`."""
    given = [str(f) for f in given]
    own = [
        str(f)
        for f in loaded
        if str(f) not in given and Path(f).resolve() != DEFAULT_CONFIG.resolve()
    ]
    return own + given


def read_mapping(path: str | Path, name: str, what: str) -> dict:
    """A config or family file's YAML mapping, or one ConfigError naming the file (`name`)."""
    try:
        loaded = yamlio.load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{name}: cannot be read as YAML ({type(err).__name__}: {err})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{name}: expected a mapping of {what}, got {type(loaded).__name__}")
    return loaded


def load_schema() -> dict:
    """The config schema, with the training stages filled in from the method registry (a copy)."""
    return copy.deepcopy(_schema())


@functools.cache
def _schema() -> dict:
    schema = yaml.safe_load(SCHEMA.read_text())
    stages = {"enum": list(METHODS)}
    schema["properties"]["runs"]["propertyNames"] = stages
    schema["properties"]["sweeps"]["additionalProperties"]["properties"]["stage"].update(stages)
    return schema


def validate(config: dict, config_name, sources: dict | None = None) -> None:
    """Schema errors name the file and key; then the schema's defaults are filled in (in place).
    `sources` maps keys to the family file that defined them (see add_families)."""
    import jsonschema

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(
            f"{source_of(key, sources or {}, config_name)}: key '{key}': {error.message}"
        )
    fill_defaults(config, schema)


def fill_defaults(config: dict, schema: dict) -> None:
    """Every property with a schema default gets it when absent (the jsonschema FAQ's validator)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        for prop, sub in properties.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    jsonschema.validators.extend(base, {"properties": set_defaults})(schema).validate(config)


def source_of(key: str, sources: dict[str, str], config_name: str) -> str:
    """The file a config key comes from: the family file that defined its entry, else the config."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in sources:
            return sources[".".join(parts[:end])]
    return config_name


# --- Runs and sweeps ---------------------------------------------------------------------------


def setting_value(value):
    """A run setting as a grid table shows it: lists (e.g. loss types) joined by '+'."""
    return "+".join(map(str, value)) if isinstance(value, list) else value


def dataset_entries(spec: dict) -> list[tuple[str, list[str]]]:
    """(source, splits read from it) for each source of a dataset, in either of its forms."""
    if "dataset_mixture" in spec:
        return [(e["id"], [e.get("split", "train")]) for e in spec["dataset_mixture"]["datasets"]]
    splits = [spec.get("dataset_train_split", "train")]
    splits += [spec["dataset_test_split"]] if spec.get("dataset_test_split") else []
    return [(spec["dataset_name"], splits)]
