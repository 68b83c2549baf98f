"""The config files, loaded and resolved: merged as Snakemake merges them, checked against the
schema (defaults filled in), sweeps expanded into runs, and tiny scale applied in one pass.

handbook.plan builds the plan from the result; nothing here imports torch, TRL or Snakemake.
"""

from __future__ import annotations

import copy
import glob
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from handbook import yamlio
from handbook.hub import is_hub_id
from handbook.methods import BASE, METHODS

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
    """Nested keys of `extra` replace those of `base` one by one, as Snakemake's --configfile does."""
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
    """The config schema, with the training stages filled in from the method registry."""
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


# --- Recipe families ---------------------------------------------------------------------------

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
                    f"{name}: key '{section}': a family file defines only {', '.join(FAMILY_SECTIONS)}"
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


def source_of(key: str, sources: dict[str, str], config_name: str) -> str:
    """The file a config key comes from: the family file that defined its entry, else the config."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in sources:
            return sources[".".join(parts[:end])]
    return config_name


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


# --- Runs from handbook recipe files ------------------------------------------------------------

DEFAULT_TINY_DATASETS = {
    "text": "demo_corpus",
    "conversations": "demo_sft",
    "preference": "demo_pref",
    "prompts": "demo_prompts",
}


def runs_from_recipes(config: dict, paths: Paths, error) -> list[str]:
    """A run whose recipe is a handbook file may leave out 'model' and 'dataset': the recipe's
    model_name_or_path becomes a base model (named after it) and its data keys a dataset named
    <stage>-<run>, with the demo data of its kind in its place at scale: tiny. The recipe's inline
    chat_template goes with the base model. Returns what was taken, one line each."""
    from handbook.recipes import RecipeFileError, read_recipe, recipe_dataset

    taken = []
    stand_ins = {**DEFAULT_TINY_DATASETS, **config.get("tiny_scale", {}).get("datasets", {})}
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


# --- Runs and sweeps ---------------------------------------------------------------------------


def run_name(sweep: str, combo: dict) -> str:
    """Readable run names: strings as they are, numbers after their key (dpo-sigmoid-beta0.1-seed1)."""
    parts = [sweep]
    for key, value in combo.items():
        if isinstance(value, list):
            parts.append("+".join(str(v) for v in value))
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{key}{value}")
    return "-".join(parts)


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


# --- Resolution: config -> plan -----------------------------------------------------------------


def expand_sweeps(config: dict, error, tiny: bool = False) -> dict[str, list[str]]:
    """Each sweep's grid becomes runs sharing the sweep's model, dataset and recipe. At tiny scale
    a sweep's tiny_grid, when it has one, replaces its grid (a 60-run scan as a few cells)."""
    sweeps = {}
    for sweep, spec in config["sweeps"].items():
        grid = spec.get("tiny_grid", spec["grid"]) if tiny else spec["grid"]
        keys = list(grid)
        runs = config["runs"].setdefault(spec["stage"], {})
        names = []
        for values in itertools.product(*(grid[k] for k in keys)):
            combo = dict(zip(keys, values))
            name = run_name(sweep, combo)
            if name in runs:
                owner = runs[name].get("sweep")
                detail = (
                    "is already defined in runs"
                    if owner is None
                    else f"comes twice out of sweep '{owner}'"
                )
                raise error(f"sweeps.{sweep}", f"run '{spec['stage']}/{name}' {detail}")
            run = {
                k: copy.deepcopy(v)
                for k, v in spec.items()
                if k not in ("stage", "grid", "tiny_grid", "args")
            }
            run["args"] = {**spec.get("args", {}), **combo}
            run["sweep"] = sweep
            runs[name] = run
            names.append(name)
        sweeps[sweep] = names
    return sweeps


# Keys of an iterative_dpo entry that go to each round's sampling job, and to each round's DPO run.
ROUND_SAMPLING_KEYS = (
    "prompts",
    "reward_model",
    "verifiers",
    "verifier_weights",
    "num_completions",
    "temperature",
    "top_p",
    "max_new_tokens",
    "backend",
)
ROUND_RUN_KEYS = (
    "recipe",
    "args",
    "gpus",
    "processes",
    "threads",
    "global_batch",
    "accelerate_config",
    "resources",
)


def round_name(name: str, k: int) -> str:
    return f"{name}-r{k}"


def expand_rounds(config: dict, error) -> dict[str, list[str]]:
    """Each iterative_dpo entry becomes, per round k, a rejection-sampling setup that samples round
    k-1's policy, the dataset of its on-policy pairs, and the DPO run dpo/<name>-r<k> trained from
    round k-1's policy on them. A round depends only on the rounds before it, so adding a round
    leaves the others' jobs as they were. Returns name -> the rounds' model refs. Its scorer is
    checked with the sampling setups' (handbook.plan.check_sampling), naming the entry's key."""
    rounds = {}
    for name, spec in config.get("iterative_dpo", {}).items():
        where = f"iterative_dpo.{name}"
        runs = config["runs"].setdefault("dpo", {})
        policy, refs = spec["policy"], []
        for k in range(1, spec["rounds"] + 1):
            round_ = round_name(name, k)
            if (
                round_ in runs
                or round_ in config["rejection_sampling"]
                or round_ in config["datasets"]
            ):
                raise error(where, f"round {k} would be '{round_}', which is already defined")
            sampling = {key: copy.deepcopy(spec[key]) for key in ROUND_SAMPLING_KEYS if key in spec}
            config["rejection_sampling"][round_] = {
                "policy": policy,
                **sampling,
                "seed": spec.get("seed", 0) + k - 1,
            }
            config["datasets"][round_] = {
                "dataset_name": f"results/rejection_sampling/{round_}/on_policy_pairs",
                "dataset_test_split": "test",
                "columns": ["chosen", "rejected"],
            }
            settings = {key: copy.deepcopy(spec[key]) for key in ROUND_RUN_KEYS if key in spec}
            runs[round_] = {"model": policy, "dataset": round_, **settings}
            policy = f"dpo/{round_}"
            refs.append(policy)
        rounds[name] = refs
    return rounds


def apply_tiny_scale(config: dict, paths: Paths, error) -> list[str]:
    """scale: tiny, in one pass. Hub base models, datasets, lm-eval suites and judge prompt sets
    are replaced by their demo counterparts ('tiny' in their entries); runs trained from replaced
    models or data, or downstream of such runs, get tiny_scale.args (few steps, CPU) and lose their
    GPUs. Local paths become absolute, as the workflow runs in TINY_WORKDIR. Returns what was
    replaced, one line each."""
    tiny = config["tiny_scale"]
    said = []
    models = {}
    for name, spec in config["base_models"].items():
        if "tiny" in spec or ("path" in spec and paths.is_hub(spec["path"])):
            models[f"{BASE}/{name}"] = spec.get("tiny", tiny["base_model"])
        elif "path" in spec:
            spec["path"] = paths.local(spec["path"])
    for ref, sub in models.items():
        if sub in models:
            raise error(f"base_models.{ref.split('/', 1)[1]}.tiny", f"'{sub}' is replaced itself")
        said.append(f"model {ref} -> {sub}")
    used = {spec.get("dataset") for runs in config["runs"].values() for spec in runs.values()}
    datasets = {}
    for name, spec in config["datasets"].items():
        if "tiny" in spec:
            datasets[name] = spec.pop("tiny")
        elif name in used and any(paths.is_hub(s) for s, _ in dataset_entries(spec)):
            raise error(
                f"datasets.{name}",
                "reads the Hugging Face Hub; give it 'tiny: <demo dataset>' for scale: tiny",
            )
    for name, sub in datasets.items():
        if sub not in config["datasets"] or sub in datasets:
            raise error(
                f"datasets.{name}.tiny", f"'{sub}' is not a dataset used as it is at tiny scale"
            )
        config["datasets"][name] = copy.deepcopy(config["datasets"][sub])
        said.append(f"dataset {name} -> {sub}'s data")
    localise_datasets(config, paths)
    changed = runs_changed_at_tiny_scale(config["runs"], models, set(datasets))
    for ref in sorted(changed):
        stage, run = ref.split("/", 1)
        spec = config["runs"][stage][run]
        if METHODS[stage].data != "model":  # a merge trains nothing: no steps to cut
            spec["args"] = {**spec.get("args", {}), **tiny["args"]}
            for key, value in METHODS[stage].tiny_args:
                if value is None:
                    spec["args"].pop(key, None)
                else:
                    spec["args"][key] = value
        spec["threads"] = 1  # tiny runs go faster side by side than one after another
        for key in ("gpus", "resources", "accelerate_config", "processes"):
            spec.pop(key, None)
    if changed:
        said.append(f"{len(changed)} runs get {tiny['args']}: {', '.join(sorted(changed))}")
    for spec in [*config["rejection_sampling"].values(), *config.get("iterative_dpo", {}).values()]:
        for key in ("policy", "reward_model") if "reward_model" in spec else ("policy",):
            spec[key] = models.get(spec[key], spec[key])
    for spec in config["rejection_sampling"].values():
        # Sampled on the CPU by transformers, no longer than judge answers at this scale.
        spec["backend"] = "hf"
        spec["max_new_tokens"] = min(
            spec.get("max_new_tokens", tiny["max_new_tokens"]), tiny["max_new_tokens"]
        )
    judge = config["eval"]["demo"].get("judge")
    for key in ("reward_model", "baseline") if judge else ():
        judge[key] = models.get(judge[key], judge[key])
    for table in config["tables"].values():
        rows = table.get("rows")
        for label, row in rows.items() if isinstance(rows, dict) else ():
            if isinstance(row, list):
                rows[label] = [models.get(ref, ref) for ref in row]
        if "runs" in table:
            table["runs"] = [models.get(r, r) if isinstance(r, str) else r for r in table["runs"]]
    said += [
        f"lm-eval suite {name} -> {s['tiny']}"
        for name, s in config["suites"].items()
        if s.get("tiny")
    ]
    for name, judge_spec in config["judges"].items():
        judge_spec["max_new_tokens"] = tiny["max_new_tokens"]
        if paths.is_hub(judge_spec["prompts"]):
            said.append(f"{name} prompts {judge_spec['prompts']} -> demo prompts")
        else:
            judge_spec["prompts"] = paths.local(judge_spec["prompts"])
    return said


def localise_datasets(config: dict, paths: Paths) -> None:
    """Local dataset sources, usable from a working directory of the scale's own."""
    for spec in config["datasets"].values():
        for entry in spec["dataset_mixture"]["datasets"] if "dataset_mixture" in spec else [spec]:
            key = "id" if "dataset_mixture" in spec else "dataset_name"
            if not paths.is_hub(entry[key]):
                entry[key] = paths.local(entry[key])


def runs_changed_at_tiny_scale(runs: dict, models: dict, datasets: set) -> set[str]:
    """Runs trained from a replaced model or on replaced data, and every run downstream of one.
    Their starting and reference models are switched to the replacements as they are found."""
    changed: set[str] = set()
    order = [(stage, name) for stage, by_name in runs.items() for name in by_name]
    for stage, name in order:
        spec = runs[stage][name]
        for key in ("model", "ref_model", "merge_with"):
            if spec.get(key) in models:
                spec[key] = models[spec[key]]
                changed.add(f"{stage}/{name}")
        if spec.get("dataset") in datasets:
            changed.add(f"{stage}/{name}")

    def downstream(ref: str, seen: frozenset) -> bool:
        stage, _, name = ref.partition("/")
        spec = runs.get(stage, {}).get(name)
        if spec is None or ref in seen:
            return False  # a base model, an unknown ref or a cycle: reported by the checks
        return ref in changed or downstream(spec["model"], seen | {ref})

    return {f"{s}/{n}" for s, n in order if downstream(f"{s}/{n}", frozenset())}
