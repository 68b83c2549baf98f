"""From the config files to the frozen plan, in one pass: the recipe families merged under the
config, runs taken from handbook recipes, the schema checked (its defaults filled in), sweeps and
iterative DPO's rounds expanded, the scale applied, each run's recipe resolved through
handbook.recipes (the code its training job runs), then every check and every table's entries.
Nothing changes the config once build_plan returns."""

from __future__ import annotations

import copy
from pathlib import Path

from handbook.config import DEFAULT_CONFIG, REPO, WORKDIRS, ConfigError, Paths, source_of, validate
from handbook.plan import checks
from handbook.plan.core import Plan, Run
from handbook.plan.expand import expand_rounds, expand_sweeps
from handbook.plan.families import add_families, runs_from_recipes
from handbook.plan.recipes import resolved_recipe
from handbook.plan.scales import apply_tiny_scale, localise_paths
from handbook.plan.tables import resolve_table
from handbook.rehearsal import apply_rehearsal


def build_plan(
    config: dict,
    config_files=(),
    origin: str | Path | None = None,
    moves_workdir: bool | None = None,
) -> Plan:
    """The plan of a loaded config (left unchanged), with the recipe families' files merged under
    it. `config_files` name it in errors; relative paths resolve against `origin` (the launch
    directory). At tiny scale and rehearsal the workflow moves into WORKDIRS[scale] unless
    `moves_workdir` is False (it runs there already)."""
    origin = Path(origin or Path.cwd()).resolve()
    names = [display_name(DEFAULT_CONFIG, origin), *(display_name(f, origin) for f in config_files)]
    config_name = " + ".join(dict.fromkeys(names))
    config = copy.deepcopy(config)
    sources = add_families(config, origin, lambda path: display_name(path, origin))

    def error(key, message):
        return ConfigError(f"{source_of(key, sources, config_name)}: {key}: {message}")

    from_recipes = runs_from_recipes(config, Paths(origin), error)
    validate(config, config_name, sources)

    tiny = config["scale"] == "tiny"
    # A sweep's tiny_grid at rehearsal too: the number of cells is a size, its runs the plan's.
    sweeps = expand_sweeps(config, error, tiny or config["scale"] == "rehearsal", seeded=tiny)
    for sweep, run_names in sweeps.items():
        for run in run_names if f"sweeps.{sweep}" in sources else ():
            sources[f"runs.{config['sweeps'][sweep]['stage']}.{run}"] = sources[f"sweeps.{sweep}"]
    rounds = expand_rounds(config, error)
    for name, refs in rounds.items():
        for ref in refs if f"iterative_dpo.{name}" in sources else ():
            run = ref.split("/", 1)[1]
            for key in (f"runs.dpo.{run}", f"rejection_sampling.{run}", f"datasets.{run}"):
                sources[key] = sources[f"iterative_dpo.{name}"]
    workdir = WORKDIRS.get(config["scale"])
    moves = bool(workdir) and (
        moves_workdir if moves_workdir is not None else not origin.match(f"*/{workdir}")
    )
    paths = Paths(origin, moves)
    replacements = apply_tiny_scale(config, paths, error) if tiny else []
    if config["scale"] == "rehearsal":
        localise_paths(config, paths)
        replacements = apply_rehearsal(config, lambda spec: run_recipe_settings(spec, paths))
    runs = runs_of(config, paths)
    plan = Plan(
        config=config,
        config_name=config_name,
        paths=paths,
        runs=runs,
        recipe_settings_of={ref: resolved_recipe(run.recipe) for ref, run in runs.items()},
        replacements=tuple(replacements),
        from_recipes=tuple(from_recipes),
        sweeps=sweeps,
        rounds=rounds,
        sources=sources,
    )
    checks.check_runs(plan)
    for name in config["tables"]:
        plan.tables[name] = resolve_table(plan, name)
    checks.check_shared(plan)
    return plan


def runs_of(config: dict, paths: Paths) -> dict[str, Run]:
    """ref -> Run for every configured run, its resources with their defaults."""
    runs = {}
    for stage, by_name in config["runs"].items():
        for name, spec in by_name.items():
            resources = spec.get("resources", {})
            gpus = int(spec.get("gpus", 0))
            asked = int(spec.get("request_gpus", gpus))  # at rehearsal the plan's, run on CPUs
            runs[f"{stage}/{name}"] = Run(
                stage=stage,
                name=name,
                model=spec["model"],
                dataset=spec.get("dataset", ""),
                recipe=paths.config_file(spec["recipe"]),
                args=dict(spec.get("args", {})),
                # At least 4 CPU threads per GPU process (data loading, NCCL, the launcher).
                threads=int(spec.get("threads") or max(8, 4 * asked)),
                gpus_per_node=gpus,
                nodes=int(resources.get("nodes", 1)),
                mem_mb=int(resources.get("mem_mb", 16000)),
                runtime=int(resources.get("runtime", 720)),
                processes=int(spec.get("processes", 1)),
                accelerate_config=spec.get("accelerate_config"),
                reference_model=spec.get("ref_model"),
                sweep=spec.get("sweep"),
                merge_with=spec.get("merge_with"),
                global_batch=spec.get("global_batch"),
                requested_gpus_per_node=asked,
                recipe_processes=spec.get("recipe_processes"),
            )
    return runs


def run_recipe_settings(spec: dict, paths: Paths) -> dict:
    """A configured run's recipe values as its trainer resolves them, its args on top."""
    return {**resolved_recipe(paths.config_file(spec["recipe"])), **spec.get("args", {})}


def display_name(path: str | Path, origin: Path) -> str:
    path = Path(path)
    for root in (origin, REPO):
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)
