"""The plan's core: the resolved runs and the config they came from, and what every rule's job
asks of them (where a model is, what it needs, where it runs). Built by handbook.plan.resolve."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from handbook import artifacts
from handbook.batch import configured_processes
from handbook.config import WORKDIRS, ConfigError, Paths, source_of
from handbook.methods import BASE, METHODS
from handbook.rehearsal import STANDINS_MANIFEST


@dataclass(frozen=True)
class Run:
    """One training job, resolved: what it trains, from what, on what, with which resources."""

    stage: str
    name: str
    model: str  # the starting model's ref (base/<name> or <stage>/<run>)
    dataset: str
    recipe: str  # recipe file as the job reads it
    args: dict  # recipe overrides, passed as --key value
    threads: int
    gpus_per_node: int  # that the training processes run on (0: CPU processes)
    nodes: int
    mem_mb: int
    runtime: int
    processes: int  # CPU processes, when gpus_per_node is 0
    accelerate_config: str | None  # the run's own; else the default for its device
    reference_model: str | None = None  # a preference loss's frozen model (config: ref_model)
    sweep: str | None = None
    merge_with: str | None = None  # merge runs: the other model
    global_batch: int | None = None  # the run's own; else the recipe's on the configured processes
    # Asked of the scheduler per node (rehearsal: the plan's GPUs, while the processes run on CPUs).
    requested_gpus_per_node: int | None = None
    # The processes the recipe's batch is for (rehearsal: the plan's).
    recipe_processes: int | None = None

    @property
    def launch_processes(self) -> int:
        """Training processes over all nodes, as configured."""
        return configured_processes(self.gpus_per_node, self.nodes, self.processes)

    @property
    def requested_gpus(self) -> int:
        """GPUs the job asks the scheduler for, over all its nodes."""
        return (self.requested_gpus_per_node or self.gpus_per_node) * self.nodes

    @property
    def on_cpu_stand_in(self) -> bool:
        """Rehearsal: the scheduler is asked for the plan's GPUs, the processes run on CPUs."""
        return bool(self.requested_gpus_per_node) and not self.gpus_per_node

    @property
    def ref(self) -> str:
        return f"{self.stage}/{self.name}"

    @property
    def method(self):
        return METHODS[self.stage]


@dataclass(frozen=True)
class Plan:
    """The resolved config and its runs. Build it with handbook.plan.build_plan()."""

    config: dict  # resolved: families merged, sweeps and rounds expanded, the scale applied
    config_name: str
    paths: Paths  # where relative paths in the config resolve
    runs: dict[str, Run]  # ref -> Run for every configured run (sweeps and rounds included)
    recipe_settings_of: dict[str, dict]  # ref -> the run's recipe values as its trainer reads them
    replacements: tuple[str, ...] = ()  # what the scale replaced, one line each
    from_recipes: tuple[str, ...] = ()  # models and datasets taken from handbook recipes
    sweeps: dict = field(default_factory=dict)  # sweep -> its run names
    rounds: dict = field(default_factory=dict)  # iterative_dpo name -> its rounds' model refs
    sources: dict = field(default_factory=dict)  # config key -> the family file that defined it
    tables: dict = field(default_factory=dict)  # table -> its entries (plan.tables.TableEntry)

    # --- identity and errors

    @property
    def scale(self) -> str:
        return self.config["scale"]

    @property
    def scale_name(self) -> str:
        return {"tiny": "tiny scale"}.get(self.scale, self.scale)

    @property
    def workdir(self) -> str | None:
        return WORKDIRS.get(self.scale)

    @property
    def moves_workdir(self) -> bool:
        """Tiny scale and rehearsal: the workflow runs in WORKDIRS[scale], not where it started."""
        return self.paths.moves_workdir

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{source_of(key, self.sources, self.config_name)}: {key}: {message}")

    def is_hub(self, source: str) -> bool:
        return self.paths.is_hub(source)

    # --- runs

    def run(self, stage: str, run: str) -> Run:
        """The run a target names; an unknown one is a config error, not a KeyError."""
        if f"{stage}/{run}" not in self.runs:
            known = sorted(r.name for r in self.runs.values() if r.stage == stage)
            raise self.error(
                f"runs.{stage}.{run}", f"no such run is configured (runs of {stage}: {known})"
            )
        return self.runs[f"{stage}/{run}"]

    def run_pattern(self) -> str:
        """Wildcard constraint: the configured run names, so a target naming another run matches
        no rule (Snakemake then names the target) rather than failing inside an input function."""
        return "|".join(re.escape(n) for n in sorted({run.name for run in self.runs.values()}))

    def recipe_settings(self, run: Run) -> dict:
        """The recipe's trainer values as the training job resolves them (handbook.recipes: a
        handbook file's max_seq_length is max_length ...), with the run's args on top (a copy)."""
        return {**self.recipe_settings_of[run.ref], **run.args}

    # --- models

    def check_model(self, ref: str, where: str) -> tuple[str, str]:
        """'base/<name>' or '<stage>/<run>' -> (stage, name), failing with the config key named."""
        stage, _, name = str(ref).partition("/")
        if stage == BASE:
            if name not in self.config["base_models"]:
                known = sorted(self.config["base_models"])
                raise self.error(where, f"unknown base model '{name}' (defined: {known})")
        elif ref not in self.runs:
            raise self.error(
                where,
                f"'{ref}' is not base/<name> or a configured run (known runs: {list(self.runs)})",
            )
        return stage, name

    def model_location(self, ref: str) -> str:
        """Folder or hub id a model is loaded from."""
        stage, name = ref.split("/", 1)
        if stage == BASE and "path" in self.config["base_models"][name]:
            return self.config["base_models"][name]["path"]
        return artifacts.model_dir(ref)

    def model_inputs(self, ref: str) -> list[str]:
        """Files a job needs for a model: the folder if the workflow builds it or it is local."""
        location = self.model_location(ref)
        return self.hub_inputs if self.is_hub(location) else [location]

    @property
    def hub_inputs(self) -> list[str]:
        """What a job reading the hub needs first: at rehearsal, the stand-ins under hub ids."""
        return [STANDINS_MANIFEST] if self.scale == "rehearsal" else []

    def base_of(self, ref: str) -> str:
        """The base model at the root of a model's training chain (it fixes the tokenizer)."""
        while not ref.startswith(f"{BASE}/"):
            ref = self.runs[ref].model
        return ref.split("/", 1)[1]

    def chat_template_of(self, base: str) -> str | None:
        """The chat template file the config gives a base model, as jobs read it."""
        template = self.config["base_models"][base].get("chat_template")
        return self.paths.config_file(template) if template else None

    def needs_gpu(self, ref: str) -> bool:
        """Evaluating a model needs a GPU if it was trained on GPUs or is a pretrained base."""
        stage, name = ref.split("/", 1)
        if stage == BASE:
            return "path" in self.config["base_models"][name]
        return bool(self.runs[ref].requested_gpus_per_node)

    def device(self, ref: str) -> str:
        """Where a model is evaluated; a rehearsal asks for the plan's GPUs but runs on CPU."""
        return "cuda" if self.needs_gpu(ref) and self.scale != "rehearsal" else "cpu"

    def tokenized_path(self, dataset: str, ref: str) -> str:
        return artifacts.TOKENIZED.format(dataset=dataset, base=self.base_of(ref))

    @property
    def demo_eval(self) -> dict:
        return self.config["eval"]["demo"]


def model_id(ref: str) -> str:
    """The name judges report a model by: <stage>-<run> (a file name, so no slash)."""
    return ref.replace("/", "-", 1)


def ref_of(model_id: str) -> str:
    """The model a judge's model id names (model_id's inverse: stages hold no '-')."""
    return model_id.replace("-", "/", 1)
