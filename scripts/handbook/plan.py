"""Config -> plan: everything the workflow will build, resolved once, in plain Python.

    python -m handbook.plan [--configfile my.yaml ...] [--scale tiny] [--table pref_align_scan]

prints the resolved plan as JSON: every run (stage, starting model, data, recipe, arguments,
threads, resources, launch command), sweeps expanded, each tiny-scale replacement, the reference
log-prob groups, the judges and suites at this scale, the tables with the runs and result files of
each row, and the final targets. The workflow builds the same plan when it parses
(workflow/rules/common.smk) and writes it to results/plan.json; its input functions only read it.

Nothing here imports torch, TRL or Snakemake: building the DAG stays fast and unit tests build
plans from small config dicts. A bad config raises ConfigError naming the config file(s) and key.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from handbook.config import (
    DEFAULT_CONFIG,
    REPO,
    WORKDIRS,
    ConfigError,
    Paths,
    add_families,
    apply_tiny_scale,
    runs_from_recipes,
    dataset_entries,
    expand_rounds,
    localise_datasets,
    expand_sweeps,
    load_config,
    setting_value,
    source_of,
    validate,
)
from handbook.batch import BatchError, keep_global, recipe_batch
from handbook.launch import launcher
from handbook.methods import BASE, METHODS
from handbook.provenance import write_text_atomic
from handbook.rehearsal import STANDINS_MANIFEST, apply_rehearsal
from handbook.recipes import RecipeFileError, chat_template_from, read_recipe, resolve
from handbook.secrets import is_secret_name, redact
from handbook.suites import RUN_KEYS
from handbook.verifiers import VERIFIERS

# The default accelerate config is for CPU; a GPU run without one of its own gets plain DDP.
GPU_ACCELERATE_CONFIG = "config/accelerate/ddp.yaml"
# Recipe defaults the shared reference log-probs are computed with (TRL's DPOConfig defaults).
REF_DEFAULTS = {"max_length": 1024, "truncation_mode": "keep_start"}

JUDGE_DEMO_PROMPTS = {
    "mt_bench": "results/judges/prompts/mt_bench_demo.jsonl",
    "alpaca_eval": "results/judges/prompts/alpaca_eval_demo.json",
}
JUDGE_ANSWERS = {
    "mt_bench": "results/judges/{judge}/model_answer/{model_id}.jsonl",
    "alpaca_eval": "results/judges/{judge}/model_outputs/{model_id}.json",
}
# At tiny scale the demo reward model stands in for the judge (scripts/demo_judge.py), writing
# its verdicts on a table's answers in the judge's own result format.
DEMO_JUDGMENTS = {
    "mt_bench": "results/judges/{judge}/demo_judgment/{table}.jsonl",
    "alpaca_eval": "results/judges/{judge}/demo_judgment/{table}.csv",
}
SAMPLING_KEYS = ("num_completions", "temperature", "top_p", "max_new_tokens", "seed", "backend")
JUDGE_GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size")


@dataclass(frozen=True)
class Run:
    """One training job, resolved: what it trains, from what, on what, with which resources."""

    stage: str
    name: str
    model: str  # starting model ref (base/<name> or <stage>/<run>)
    dataset: str
    recipe: str  # recipe file as the job reads it
    args: dict  # recipe overrides, passed as --key value
    threads: int
    gpus: int  # per node, that the training processes run on
    nodes: int
    mem_mb: int
    runtime: int
    processes: int  # CPU processes, when gpus is 0
    accelerate_config: str | None  # the run's own; else the default for its device
    ref_model: str | None = None
    sweep: str | None = None
    merge_with: str | None = None  # merge runs: the other model
    global_batch: int | None = None  # the run's own; else the recipe's on the configured processes
    requested_gpus: int | None = (
        None  # per node, asked of the scheduler (rehearsal: the plan's, run on CPU)
    )
    recipe_processes: int | None = (
        None  # the processes the recipe's batch is for (rehearsal: the plan's)
    )

    @property
    def launch_processes(self) -> int:
        """Training processes over all nodes, as configured."""
        return self.gpus * self.nodes if self.gpus else self.processes

    @property
    def on_cpu_stand_in(self) -> bool:
        """Rehearsal: the scheduler is asked for the plan's GPUs, the processes run on CPUs."""
        return bool(self.requested_gpus) and not self.gpus

    @property
    def ref(self) -> str:
        return f"{self.stage}/{self.name}"

    @property
    def method(self):
        return METHODS[self.stage]


@dataclass(frozen=True)
class Plan:
    """The resolved config and what derives from it. Build it with build_plan()."""

    config: dict  # resolved: sweeps expanded, tiny scale applied, schema defaults filled in
    config_name: str
    paths: Paths  # where relative paths in the config resolve
    replacements: tuple[str, ...] = ()  # what tiny scale replaced, one line each
    from_recipes: tuple[
        str, ...
    ] = ()  # models and datasets taken from handbook recipes, one line each
    sweeps: dict = field(default_factory=dict)  # sweep -> its run names
    rounds: dict = field(default_factory=dict)  # iterative_dpo name -> its rounds' model refs
    sources: dict = field(default_factory=dict)  # config key -> the family file that defined it

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

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{source_of(key, self.sources, self.config_name)}: {key}: {message}")

    @property
    def moves_workdir(self) -> bool:
        """Tiny scale and rehearsal: the workflow runs in WORKDIRS[scale], not where it was started."""
        return self.paths.moves_workdir

    def is_hub(self, source: str) -> bool:
        return self.paths.is_hub(source)

    # --- models

    @cached_property
    def runs(self) -> dict[str, Run]:
        """ref -> Run for every configured run (sweeps included)."""
        runs = {}
        for stage, by_name in self.config["runs"].items():
            for name, spec in by_name.items():
                resources = spec.get("resources", {})
                gpus = int(spec.get("gpus", 0))
                asked = int(
                    spec.get("request_gpus", gpus)
                )  # per node; at rehearsal the plan's, run on CPUs
                runs[f"{stage}/{name}"] = Run(
                    stage=stage,
                    name=name,
                    model=spec["model"],
                    dataset=spec.get("dataset", ""),
                    recipe=self.paths.config_file(spec["recipe"]),
                    args=dict(spec.get("args", {})),
                    # At least 4 CPU threads per GPU process (data loading, NCCL, the launcher).
                    threads=int(spec.get("threads") or max(8, 4 * asked)),
                    gpus=gpus,
                    nodes=int(resources.get("nodes", 1)),
                    mem_mb=int(resources.get("mem_mb", 16000)),
                    runtime=int(resources.get("runtime", 720)),
                    processes=int(spec.get("processes", 1)),
                    accelerate_config=spec.get("accelerate_config"),
                    ref_model=spec.get("ref_model"),
                    sweep=spec.get("sweep"),
                    merge_with=spec.get("merge_with"),
                    global_batch=spec.get("global_batch"),
                    requested_gpus=asked,
                    recipe_processes=spec.get("recipe_processes"),
                )
        return runs

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
        return f"results/models/{ref}"

    def model_inputs(self, ref: str) -> list[str]:
        """Files a job needs for a model: the folder if the workflow builds it or it is local."""
        location = self.model_location(ref)
        return self.hub_inputs if self.is_hub(location) else [location]

    @property
    def hub_inputs(self) -> list[str]:
        """What a job reading the hub needs first: at rehearsal, the stand-ins under the hub's ids."""
        return [STANDINS_MANIFEST] if self.scale == "rehearsal" else []

    def base_of(self, ref: str) -> str:
        """The base model at the root of a model's training chain (it fixes the tokenizer)."""
        while not ref.startswith(f"{BASE}/"):
            ref = self.runs[ref].model
        return ref.split("/", 1)[1]

    def needs_gpu(self, ref: str) -> bool:
        """Evaluating a model needs a GPU if it was trained on GPUs or is a pretrained base model."""
        stage, name = ref.split("/", 1)
        if stage == BASE:
            return "path" in self.config["base_models"][name]
        return bool(self.runs[ref].requested_gpus)

    def model_id(self, ref: str) -> str:
        """The name judges report a model by: <stage>-<run> (a file name, so no slash)."""
        return ref.replace("/", "-", 1)

    def ref_of(self, model_id: str) -> str:
        """The model a judge's model id names (model_id's inverse: stages hold no '-')."""
        return model_id.replace("-", "/", 1)

    def device(self, ref: str) -> str:
        """Where a model is evaluated; a rehearsal asks for the plan's GPUs but runs on the CPU."""
        return "cuda" if self.needs_gpu(ref) and self.scale != "rehearsal" else "cpu"

    # --- data

    @property
    def demo_world_spec(self) -> str:
        return json.dumps(self.config["demo_world"])

    def dataset_sources(self, dataset: str, **_) -> list[str]:
        """Local sources a prepare job reads. Folders are named by their files, so a file fixed in
        place is prepared again (Snakemake sees a folder change only when files come or go)."""
        sources = []
        for source, splits in dataset_entries(self.config["datasets"][dataset]):
            folder = self.paths.origin / source
            if source.startswith("results/") and not Path(source).suffix:
                sources += [f"{source}/{split}.jsonl" for split in splits]
            elif not self.is_hub(source) and folder.is_dir():
                files = (
                    p
                    for p in sorted(folder.rglob("*"))
                    if p.is_file() and not p.name.startswith(".")
                )
                sources += [str(Path(source) / p.relative_to(folder)) for p in files]
            elif not self.is_hub(source):
                sources.append(source)
            else:
                sources += self.hub_inputs
        return sorted(set(sources))

    def dataset_spec(self, dataset: str, **_) -> str:
        spec = self.config["datasets"][dataset]
        return json.dumps({k: v for k, v in spec.items() if k != "tiny"})

    def tokenized_path(self, dataset: str, ref: str) -> str:
        return f"results/data/{dataset}/tokenized/{self.base_of(ref)}"

    def train_data(self, run: Run) -> str:
        kind = run.method.data
        if kind == "tokenized":
            return self.tokenized_path(run.dataset, run.model)
        if kind == "ref_logps":
            return f"results/ref_logps/{run.dataset}/{run.ref_model or run.model}"
        if kind == "model":
            return self.model_location(run.merge_with)
        return f"results/data/{run.dataset}/prepared"

    # --- base models and tokenizers

    def base_build(self, base: str) -> dict:
        build = self.config["base_models"][base].get("build")
        if build is None:
            raise self.error(
                f"base_models.{base}", "has no 'build' section, so it cannot be built here"
            )
        return build

    def base_corpus(self, base: str, **_) -> str:
        return self.base_build(base)["corpus"]

    def tokenizer_train_args(self, base: str, **_) -> str:
        return f"--vocab_size {self.base_build(base)['vocab_size']}"

    def init_args(self, base: str, **_) -> str:
        build = self.base_build(base)
        return f"--arch {shlex.quote(json.dumps(build['arch']))} --seed {build.get('seed', 0)}"

    def tokenizer_inputs(self, base: str, **_) -> list[str]:
        return self.model_inputs(f"{BASE}/{base}")

    def tokenizer_args(self, base: str, **_) -> str:
        args = f"--tokenizer {self.model_location(f'{BASE}/{base}')}"
        template = self.config["base_models"][base].get("chat_template")
        return args + (f" --chat_template {self.paths.config_file(template)}" if template else "")

    # --- training

    def run_pattern(self) -> str:
        """Wildcard constraint: the configured run names, so a target naming another run matches
        no rule (Snakemake then names the target) rather than failing inside an input function."""
        return "|".join(
            re.escape(name) for name in sorted({run.name for run in self.runs.values()})
        )

    def run(self, stage: str, run: str, **_) -> Run:
        """The run a target names; an unknown one is a config error, not a KeyError."""
        if f"{stage}/{run}" not in self.runs:
            known = sorted(r.name for r in self.runs.values() if r.stage == stage)
            raise self.error(
                f"runs.{stage}.{run}", f"no such run is configured (runs of {stage}: {known})"
            )
        return self.runs[f"{stage}/{run}"]

    def train_inputs(self, stage: str, run: str, **_) -> dict:
        spec = self.run(stage, run)
        return {
            "recipe": spec.recipe,
            "model": self.model_inputs(spec.model),
            "data": self.train_data(spec),
        }

    def train_script(self, stage: str, **_) -> str:
        return str(REPO / "scripts" / METHODS[stage].script)

    def train_model_location(self, stage: str, run: str, **_) -> str:
        return self.model_location(self.run(stage, run).model)

    def train_args(
        self, stage: str, run: str, gpu: int | None = None, nodes: int | None = None, **_
    ) -> str:
        """Per-run overrides of the recipe, passed as --key value (the command line wins), for the
        job's resources as they are at run time (`gpu` over all nodes; a profile may change it).
        A run from a base model given a chat template passes it on, so the trained model carries
        it. The global batch goes with it, and the accumulation that keeps it on these processes."""
        spec = self.run(stage, run)
        args = dict(spec.args)
        base_stage, _, base = spec.model.partition("/")
        template = (
            self.config["base_models"][base].get("chat_template") if base_stage == BASE else None
        )
        if template and "chat_template" not in args:
            args["chat_template"] = self.paths.config_file(template)
        gpus, processes = self.launch_shape(spec, gpu, nodes)
        args["gpus"] = gpus
        layout = self.batch(spec, processes)
        if layout is not None:
            args["global_batch"] = layout["global"]
            if layout["accumulation"] != layout["recipe"]["accumulation"]:
                args["gradient_accumulation_steps"] = layout["accumulation"]
        return " ".join(f"--{key} {shlex.quote(str(value))}" for key, value in sorted(args.items()))

    def launch_shape(
        self, run: Run, gpu: int | None = None, nodes: int | None = None
    ) -> tuple[int, int]:
        """(GPUs over all nodes, processes over all nodes) the job trains on. The scheduler's `gpu`
        resource (a profile may raise it) sets them on GPUs; a CPU stand-in keeps its processes."""
        if run.on_cpu_stand_in or not run.gpus:
            return 0, run.processes
        gpus = int(gpu if gpu is not None else run.gpus * run.nodes)
        nodes = int(nodes or run.nodes)
        if gpus < nodes or gpus % nodes:
            raise self.error(
                f"runs.{run.stage}.{run.name}",
                f"{gpus} GPUs cannot be spread evenly over {nodes} nodes (a profile's gpu counts the GPUs of all nodes)",
            )
        return gpus, gpus

    def batch(self, run: Run, processes: int | None = None) -> dict | None:
        """The run's global batch on `processes` processes (default: as configured), beside the
        recipe's: per-device batch x accumulation x processes. None for runs that do not train."""
        if run.method.data == "model":
            return None
        recipe = recipe_batch(
            self.recipe_settings(run), run.recipe_processes or run.launch_processes
        )
        target = run.global_batch or recipe.size
        processes = processes or run.launch_processes
        if processes == recipe.processes and target == recipe.size:
            layout = recipe
        else:
            try:
                layout = keep_global(target, recipe.per_device, processes)
            except BatchError as err:
                raise self.error(
                    f"runs.{run.stage}.{run.name}", f"on {processes} processes: {err}"
                ) from None
        return {**layout.as_dict(), "recipe": recipe.as_dict()}

    def train_threads(self, stage: str, run: str, **_) -> int:
        return self.run(stage, run).threads

    def train_gpus(self, stage: str, run: str, **_) -> int:
        """GPUs the job asks the scheduler for: the run's gpus (per node) on each of its nodes."""
        spec = self.run(stage, run)
        return (spec.requested_gpus or spec.gpus) * spec.nodes

    def train_nodes(self, stage: str, run: str, **_) -> int:
        return self.run(stage, run).nodes

    def train_mem_mb(self, stage: str, run: str, **_) -> int:
        return self.run(stage, run).mem_mb

    def train_runtime(self, stage: str, run: str, **_) -> int:
        return self.run(stage, run).runtime

    def train_env(self, stage: str, run: str, **_) -> str:
        """GPU runs need the GPU stack (DeepSpeed, flash-attn); CPU runs the lighter train env."""
        return "../../envs/gpu.yaml" if self.run(stage, run).gpus else "../../envs/train.yaml"

    def launcher(
        self, stage: str, run: str, gpu: int | None = None, nodes: int = 1, threads: int = 1, **_
    ) -> str:
        """The launch command for the job's actual resources (a profile may change them)."""
        spec = self.run(stage, run)
        nodes = int(nodes or 1) if not spec.on_cpu_stand_in else 1
        gpus = self.launch_shape(spec, gpu, nodes)[0] // nodes  # each node runs its share
        default = GPU_ACCELERATE_CONFIG if gpus else self.config["accelerate_config"]
        accel = self.paths.config_file(spec.accelerate_config or default)
        return launcher(accel, read_yaml(accel), gpus, nodes, spec.processes, int(threads))

    # --- reference log-probs

    @cached_property
    def ref_groups(self) -> dict[tuple[str, str], list[Run]]:
        """(dataset, reference model) -> the runs sharing its log-probs, computed once."""
        groups: dict[tuple[str, str], list[Run]] = {}
        for run in self.runs.values():
            if run.method.data == "ref_logps":
                groups.setdefault((run.dataset, run.ref_model or run.model), []).append(run)
        return groups

    def recipe_settings(self, run: Run) -> dict:
        """The recipe's trainer values as the training job resolves them (handbook.recipes: a
        handbook file's max_seq_length is max_length ...), with the run's args on top."""
        return {**resolved_recipe(run.recipe), **run.args}

    def ref_settings(self, dataset: str, ref: str) -> dict:
        """Truncation the shared log-probs are computed with: every run using them must agree."""
        seen: dict[tuple, list[str]] = {}
        for run in self.ref_groups[(dataset, ref)]:
            settings = {**REF_DEFAULTS, **self.recipe_settings(run)}
            seen.setdefault((settings["max_length"], settings["truncation_mode"]), []).append(
                run.name
            )
        if len(seen) > 1:
            detail = "; ".join(
                f"max_length={k[0]}, truncation_mode={k[1]}: {v}" for k, v in seen.items()
            )
            stages = sorted({r.stage for r in self.ref_groups[(dataset, ref)]})
            raise self.error(
                f"runs.{'/'.join(stages)}",
                f"runs sharing reference log-probs of {ref} on '{dataset}' disagree ({detail})",
            )
        max_length, truncation_mode = next(iter(seen))
        return {"max_length": max_length, "truncation_mode": truncation_mode}

    def ref_inputs(self, dataset: str, stage: str, run: str, **_) -> dict:
        return {
            "model": self.model_inputs(f"{stage}/{run}"),
            "data": f"results/data/{dataset}/prepared",
        }

    def ref_model_location(self, stage: str, run: str, **_) -> str:
        return self.model_location(f"{stage}/{run}")

    def ref_args(self, dataset: str, stage: str, run: str, **_) -> str:
        settings = self.ref_settings(dataset, f"{stage}/{run}")
        return (
            f"--max_length {settings['max_length']} --truncation_mode {settings['truncation_mode']}"
        )

    def ref_gpus(self, dataset: str, stage: str, run: str, **_) -> int:
        """One GPU for the reference pass when the runs sharing its log-probs train on GPUs."""
        return int(
            any(r.requested_gpus for r in self.ref_groups.get((dataset, f"{stage}/{run}"), []))
        )

    def ref_runtime(self, dataset: str, stage: str, run: str, **_) -> int:
        """Minutes for the reference pass: the longest of the runs it serves (one forward pass over
        their data on one GPU instead of training on all of theirs), at least 4 hours; at rehearsal
        the runs' own."""
        runs = self.ref_groups.get((dataset, f"{stage}/{run}"), [])
        if self.scale == "rehearsal":
            return max(r.runtime for r in runs)
        return max([240] + [r.runtime for r in runs if r.gpus])

    def ref_mem_mb(self, dataset: str, stage: str, run: str, **_) -> int:
        """Host memory for the reference pass: a quarter of the largest run's (one process, not
        one per GPU), at least 16 GB; at rehearsal the runs' own."""
        runs = self.ref_groups.get((dataset, f"{stage}/{run}"), [])
        if self.scale == "rehearsal":
            return max(r.mem_mb for r in runs)
        return max([16000] + [r.mem_mb // 4 for r in runs if r.gpus])

    # --- demo-world evaluation and rejection sampling

    @property
    def demo_eval(self) -> dict:
        return self.config["eval"]["demo"]

    def eval_inputs(self, stage: str, run: str, **_) -> dict:
        ref = f"{stage}/{run}"
        inputs = {"model": self.model_inputs(ref), "prompts": self.demo_eval["prompts"]}
        if self.demo_eval.get("loss_dataset"):
            inputs["loss_data"] = self.tokenized_path(self.demo_eval["loss_dataset"], ref)
        inputs["tasks"] = sorted({self.suite_tasks_dir(s) for s in self.local_suites})
        return inputs

    def eval_model(self, stage: str, run: str, **_) -> str:
        return self.model_location(f"{stage}/{run}")

    def eval_args(self, stage: str, run: str, **_) -> str:
        inputs = self.eval_inputs(stage, run)
        args = f"--num_samples {self.demo_eval['num_samples']} --max_new_tokens {self.demo_eval['max_new_tokens']}"
        if self.local_suites:
            suites = {s: self.suite_entry(stage, run, s) for s in self.local_suites}
            args += f" --lm_eval {shlex.quote(json.dumps(suites))}"
        return (f"--loss_data {inputs['loss_data']} " if "loss_data" in inputs else "") + args

    def winrate_inputs(self, stage: str, run: str, **_) -> dict:
        judge = self.demo_eval["judge"]
        return {
            "samples": f"results/eval/{stage}/{run}/demo_samples.json",
            "baseline": f"results/eval/{judge['baseline']}/demo_samples.json",
            "reward_model": self.model_inputs(judge["reward_model"]),
        }

    def winrate_model(self, **_) -> str:
        return self.model_location(self.demo_eval["judge"]["reward_model"])

    def reward_eval_inputs(self, run: str, **_) -> dict:
        return {"model": self.model_inputs(f"rm/{run}"), "pairs": self.demo_eval["pairs"]}

    def sampling_inputs(self, name: str, **_) -> dict:
        """The policy, and the prompts: a JSONL file, or a configured dataset's prepared train split."""
        spec = self.config["rejection_sampling"][name]
        prompts = spec["prompts"]
        if prompts in self.config["datasets"]:
            prompts = f"results/data/{prompts}/prepared"
        return {"model": self.model_inputs(spec["policy"]), "prompts": prompts}

    def sampling_policy(self, name: str, **_) -> str:
        return self.model_location(self.config["rejection_sampling"][name]["policy"])

    def sampling_reward_model(self, name: str, **_) -> list[str]:
        """The reward model's folder when one scores the samples (none for verifiers or a hub model)."""
        spec = self.config["rejection_sampling"][name]
        return self.model_inputs(spec["reward_model"]) if "reward_model" in spec else []

    def sampling_args(self, name: str, **_) -> str:
        spec = self.config["rejection_sampling"][name]
        return " ".join(f"--{k} {spec[k]}" for k in SAMPLING_KEYS if k in spec)

    def sampling_gpus(self, name: str, **_) -> int:
        """One GPU to sample a model that needs one (trained on GPUs, or a pretrained base model)."""
        return int(self.needs_gpu(self.config["rejection_sampling"][name]["policy"]))

    def scoring_gpus(self, name: str, **_) -> int:
        """Verifiers run on the CPU; a reward model gets a GPU as its policy would."""
        spec = self.config["rejection_sampling"][name]
        return int("reward_model" in spec and self.needs_gpu(spec["reward_model"]))

    def scoring_args(self, name: str, **_) -> str:
        """How a setup's samples are scored: by its reward model, or by verifiers (weighted)."""
        spec = self.config["rejection_sampling"][name]
        if "reward_model" in spec:
            return f"--reward_model {self.model_location(spec['reward_model'])}"
        args = f"--verifiers {','.join(spec['verifiers'])}"
        if spec.get("verifier_weights"):
            args += f" --verifier_weights {','.join(str(w) for w in spec['verifier_weights'])}"
        return args

    # --- lm-eval suites

    def suite_at_scale(self, name: str) -> str:
        """The suite evaluated for `name`: its demo counterpart at tiny scale."""
        if self.scale == "tiny":
            return self.config["suites"][name].get("tiny") or name
        return name

    def suite_tasks_dir(self, suite: str) -> str | None:
        """Local suites read tasks generated from the demo world, in the suite's prompt format."""
        spec = self.config["suites"][suite]
        if not spec.get("local"):
            return None
        return f"results/lm_eval_tasks/{'chat' if spec.get('apply_chat_template') else 'plain'}"

    def task_folders_file(self, suite: str) -> str | None:
        """Hub suites: the lm-eval task folders their tasks live in, found once per suite."""
        if self.config["suites"][suite].get("local"):
            return None
        return f"results/eval/lm_eval_task_folders/{suite}.json"

    def suite_spec(self, suite: str) -> dict:
        """The suite as its scripts read it: what it is, without how much of it runs (RUN_KEYS)."""
        return {k: v for k, v in self.config["suites"][suite].items() if k not in RUN_KEYS}

    def suites_json_arg(self, suite: str, **_) -> str:
        """The suite for a script's --suites_json (the lm_eval and lm_eval_task_folders rules)."""
        return f"--suites_json {shlex.quote(json.dumps({suite: self.suite_spec(suite)}))}"

    @cached_property
    def local_suites(self) -> list[str]:
        """Suites (as evaluated at this scale) on tasks generated here that some table reads: the
        demo evaluation runs them on the model it has loaded (one process per model), so their
        files are outputs of eval_demo, not of lm_eval."""
        used = {
            self.suite_at_scale(s)
            for spec in self.config["tables"].values()
            for s in spec.get("suites", [])
        }
        return sorted(s for s in used if self.config["suites"][s].get("local"))

    def lm_eval_suite_pattern(self) -> str:
        """Wildcard constraint of the lm_eval rule: the suites eval_demo does not write."""
        others = sorted(set(self.config["suites"]) - set(self.local_suites))
        return "|".join(re.escape(s) for s in others) if others else "(?!)"

    def suite_entry(self, stage: str, run: str, suite: str) -> dict:
        """What an evaluation needs to run one suite: its spec, tasks folder, limit and output."""
        spec = self.config["suites"][suite]
        return {
            "spec": self.suite_spec(suite),
            "include_path": self.suite_tasks_dir(suite),
            "limit": spec.get("limit"),
            "output": f"results/eval/{stage}/{run}/lm_eval/{suite}.json",
        }

    def lm_eval_inputs(self, stage: str, run: str, suite: str, **_) -> dict:
        inputs = {"model": self.model_inputs(f"{stage}/{run}")}
        if self.suite_tasks_dir(suite):
            inputs["tasks"] = self.suite_tasks_dir(suite)
        if self.task_folders_file(suite):
            inputs["task_folders"] = self.task_folders_file(suite)
        return inputs

    def lm_eval_args(self, stage: str, run: str, suite: str, **_) -> str:
        spec = self.config["suites"][suite]
        args = self.suites_json_arg(suite)
        if self.suite_tasks_dir(suite):
            args += f" --include_path {self.suite_tasks_dir(suite)}"
        if self.task_folders_file(suite):
            args += f" --task_folders {self.task_folders_file(suite)}"
        for key in ("limit", "max_gen_toks"):
            if spec.get(key):
                args += f" --{key} {spec[key]}"
        return args + f" --device {self.device(f'{stage}/{run}')}"

    def eval_gpus(self, stage: str, run: str, **_) -> int:
        return int(self.needs_gpu(f"{stage}/{run}"))

    # --- judges

    def judges_of_format(self, fmt: str) -> str:
        """Wildcard constraint: the judges of one format (a pattern matching nothing if none)."""
        names = [n for n, j in self.config["judges"].items() if j["format"] == fmt]
        return "|".join(names) if names else "(?!)"

    def judge_prompts(self, name: str) -> str:
        """A judge's prompt set: the demo set at tiny scale and rehearsal when it comes from the hub
        (its answers are judged by the demo reward model there)."""
        spec = self.config["judges"][name]
        if self.scale in ("tiny", "rehearsal") and self.is_hub(spec["prompts"]):
            return JUDGE_DEMO_PROMPTS[spec["format"]]
        return spec["prompts"]

    def demo_judge_used(self) -> bool:
        """Tiny scale and rehearsal judge answers with the demo reward model (eval.demo.judge), when
        there is one."""
        return self.scale in ("tiny", "rehearsal") and bool(self.demo_eval.get("judge"))

    def judge_answer_inputs(self, judge: str, model_id: str, **_) -> dict:
        prompts = self.judge_prompts(judge)
        return {
            "model": self.model_inputs(self.ref_of(model_id)),
            "prompts": [] if self.is_hub(prompts) else [prompts],
        }

    def judge_answer_gpus(self, model_id: str, **_) -> int:
        return int(self.needs_gpu(self.ref_of(model_id)))

    def judge_answer_args(self, judge: str, model_id: str, **_) -> str:
        ref = self.ref_of(model_id)
        spec = self.config["judges"][judge]
        prompts = self.judge_prompts(judge)
        args = [
            f"--model {self.model_location(ref)}",
            f"--format {spec['format']}",
            f"--prompts {shlex.quote(prompts)}",
            f"--model_id {model_id}",
            f"--device {self.device(ref)}",
        ]
        if prompts == spec["prompts"]:
            args += [
                f"--{k} {shlex.quote(str(spec[k]))}"
                for k in ("prompts_config", "prompts_split")
                if spec.get(k)
            ]
        args += [f"--{k} {spec[k]}" for k in JUDGE_GENERATION_KEYS if k in spec]
        return " ".join(args)

    def demo_judge_inputs(self, judge: str, table: str, ext: str, **_) -> dict:
        fmt = self.config["judges"][judge]["format"]
        expected = DEMO_JUDGMENTS[fmt].rsplit(".", 1)[1]
        if ext != expected:
            raise ConfigError(f"{judge} judgments are .{expected} files")
        key = f"answers:{judge}"
        answers = sorted({e["files"][key] for e in self.table_entries(table) if key in e["files"]})
        inputs = {
            "answers": answers,
            "reward_model": self.model_inputs(self.demo_eval["judge"]["reward_model"]),
        }
        if fmt == "mt_bench":
            inputs["prompts"] = self.judge_prompts(judge)
        else:
            baseline = self.model_id(self.demo_eval["judge"]["baseline"])
            inputs["baseline"] = JUDGE_ANSWERS[fmt].format(judge=judge, model_id=baseline)
        return inputs

    def demo_judge_args(self, judge: str, table: str, ext: str, **_) -> str:
        inputs = self.demo_judge_inputs(judge, table, ext)
        args = [
            f"--format {self.config['judges'][judge]['format']}",
            f"--reward_model {self.model_location(self.demo_eval['judge']['reward_model'])}",
        ]
        args += [f"--{key} {inputs[key]}" for key in ("prompts", "baseline") if key in inputs]
        return " ".join(args)

    # --- tables

    def row_models(self, row, where: str) -> list[str]:
        """A table row is a list of models, or a sweep selection {sweep: name, where: {arg: value}}."""
        if isinstance(row, list):
            return row
        if "rounds" in row:
            raise self.error(
                where,
                "rounds of iterative DPO are rows of their own (a row by label, not a grid entry)",
            )
        if row["sweep"] not in self.sweeps:
            raise self.error(f"{where}.sweep", f"unknown sweep '{row['sweep']}'")
        stage = self.config["sweeps"][row["sweep"]]["stage"]
        selected = [
            f"{stage}/{name}"
            for name in self.sweeps[row["sweep"]]
            if all(
                self.runs[f"{stage}/{name}"].args.get(k) == v
                for k, v in row.get("where", {}).items()
            )
        ]
        if not selected:
            raise self.error(f"{where}.where", f"selects no run of sweep '{row['sweep']}'")
        return selected

    def round_rows(self, label: str, name: str, where: str) -> list[tuple[str, str, dict]]:
        """One row per round of an iterative DPO setup: <label>_r1, <label>_r2, ..."""
        if name not in self.rounds:
            raise self.error(
                f"{where}.rounds",
                f"unknown iterative_dpo '{name}' (defined: {sorted(self.rounds)})",
            )
        return [(f"{label}_r{k}", ref, {}) for k, ref in enumerate(self.rounds[name], start=1)]

    def run_params(self, ref: str) -> dict:
        """A run's settings a grid table can group by: recipe values with the run's args on top."""
        if ref.startswith(f"{BASE}/"):
            return {}
        return redact(
            {k: setting_value(v) for k, v in self.recipe_settings(self.runs[ref]).items()}
        )

    @cached_property
    def _table_runs(self) -> dict[str, list]:
        return {}  # table -> its runs, filled as tables are first asked for

    def table_runs(self, table: str) -> list[tuple[str | None, str, dict]]:
        """The table's runs: (row label or None, model ref, params), resolved once per table (the
        checks, the default target and every table job's input functions ask for them)."""
        if table not in self._table_runs:
            self._table_runs[table] = self.resolve_table(table)
        return self._table_runs[table]

    def resolve_table(self, table: str) -> list[tuple[str | None, str, dict]]:
        """Each row's or grid entry's runs and settings. Fails naming the key."""
        spec = self.config["tables"][table]
        where = f"tables.{table}"
        entries = []
        if isinstance(spec["rows"], dict):
            if "runs" in spec or "columns" in spec:
                raise self.error(where, "rows by label take no 'runs' or 'columns'")
            for label, row in spec["rows"].items():
                if isinstance(row, dict) and "rounds" in row:
                    entries += self.round_rows(label, row["rounds"], f"{where}.rows.{label}")
                    continue
                for ref in self.row_models(row, f"{where}.rows.{label}"):
                    self.check_model(ref, f"{where}.rows.{label}")
                    entries.append((label, ref, {}))
            return entries
        if "runs" not in spec or "columns" not in spec:
            raise self.error(where, "a grid table (rows: <setting>) needs 'runs' and 'columns'")
        for i, entry in enumerate(spec["runs"]):
            refs, extra = (
                ([entry], {})
                if isinstance(entry, str)
                else (self.row_models(entry, f"{where}.runs.{i}"), entry.get("params", {}))
            )
            for ref in refs:
                self.check_model(ref, f"{where}.runs.{i}")
                params = {**self.run_params(ref), **extra}
                for key in (spec["rows"], spec["columns"]):
                    if key not in params:
                        raise self.error(
                            f"{where}.runs.{i}",
                            f"run {ref} has no setting '{key}' (add it under params)",
                        )
                entries.append((None, ref, params))
        return entries

    def eval_files(self, ref: str, table: str) -> dict[str, str]:
        """Result files a table reads for one model; `judgment:` entries are read if they exist."""
        spec = self.config["tables"][table]
        stage = ref.split("/", 1)[0]
        method = METHODS.get(stage)
        files = {}
        if stage != BASE:
            files["model"] = f"results/models/{ref}"  # metrics.json, log_history.json
        if spec.get("demo", True):
            if method and method.reward_model:
                files["reward"] = f"results/eval/{ref}/reward.json"
            else:
                files["demo"] = f"results/eval/{ref}/demo.json"
                if method and method.answers_chat and self.demo_eval.get("judge"):
                    files["winrate"] = f"results/eval/{ref}/winrate.json"
        if not (method and method.reward_model):
            for suite in spec.get("suites", []):
                files[f"suite:{suite}"] = (
                    f"results/eval/{ref}/lm_eval/{self.suite_at_scale(suite)}.json"
                )
        if method and method.answers_chat:
            for judge in spec.get("judges", []):
                fmt = self.config["judges"][judge]["format"]
                files[f"answers:{judge}"] = JUDGE_ANSWERS[fmt].format(
                    judge=judge, model_id=self.model_id(ref)
                )
                if self.demo_judge_used():
                    files[f"judgment:{judge}"] = DEMO_JUDGMENTS[fmt].format(
                        judge=judge, table=table
                    )
                elif self.config["judges"][judge].get("judgments"):
                    files[f"judgment:{judge}"] = self.config["judges"][judge]["judgments"]
        return files

    def table_entries(self, table: str) -> list[dict]:
        """Each run of the table with its row label, settings and result files."""
        return [
            {
                "label": label,
                "ref": ref,
                "params": params,
                "files": self.eval_files(ref, table),
                "model_id": self.model_id(ref),
            }
            for label, ref, params in self.table_runs(table)
        ]

    def table_inputs(self, table: str, **_) -> list[str]:
        """Result files of the table's models; external judgments only when built here."""
        return sorted(
            {
                path
                for entry in self.table_entries(table)
                for key, path in entry["files"].items()
                if not key.startswith("judgment:") or self.demo_judge_used()
            }
        )

    def table_spec(self, table: str, **_) -> dict:
        """Everything scripts/make_table.py needs: the table at this scale and its runs."""
        spec = dict(self.config["tables"][table])
        spec.pop("runs", None)
        spec["name"] = table
        spec["scale"] = self.scale
        spec["suites"] = [self.suite_at_scale(s) for s in spec.get("suites", [])]
        if self.scale == "tiny" and "metrics" in spec:
            spec["metrics"] = [
                self.suite_at_scale(m) if m in self.config["suites"] else m for m in spec["metrics"]
            ]
        judge_model = (
            self.demo_eval["judge"]["reward_model"] if self.demo_judge_used() else "external"
        )
        spec["judges"] = {
            j: {
                "format": self.config["judges"][j]["format"],
                "prompts": self.judge_prompts(j),
                "judge": judge_model,
            }
            for j in spec.get("judges", [])
        }
        return {"table": spec, "runs": self.table_entries(table)}

    def table_spec_arg(self, table: str, **_) -> str:
        return shlex.quote(json.dumps(self.table_spec(table)))

    def curve_models(self, table: str, **_) -> list[str]:
        """The trained models of a table, whose training curves the report shows."""
        refs = {ref for _, ref, _ in self.table_runs(table) if not ref.startswith(f"{BASE}/")}
        return sorted(f"results/models/{ref}" for ref in refs)

    def curve_args(self, table: str, **_) -> str:
        """Label -> log_history.json of each trained model, and label -> its group (the table row,
        so seeds share a colour)."""
        spec = self.config["tables"][table]
        histories, groups = {}, {}
        for label, ref, params in self.table_runs(table):
            if ref.startswith(f"{BASE}/"):
                continue
            histories[ref] = f"results/models/{ref}/log_history.json"
            groups[ref] = label if label is not None else f"{spec['rows']}={params[spec['rows']]}"
        return f"--histories {shlex.quote(json.dumps(histories))} --groups {shlex.quote(json.dumps(groups))}"

    # --- the default target

    def final_targets(self) -> list[str]:
        return [
            t
            for name, spec in self.config["tables"].items()
            if spec.get("default", True)
            for t in self.table_targets(name)
        ]

    # --- the plan as data

    def to_dict(self, table: str | None = None) -> dict:
        """The resolved plan as JSON-ready data; with `table`, only what that table needs."""
        if table is not None and table not in self.config["tables"]:
            raise self.error(
                "--table", f"unknown table '{table}' (defined: {sorted(self.config['tables'])})"
            )
        tables = [table] if table else list(self.config["tables"])
        needed = self.models_needed(tables) if table else set(self.runs)
        runs = {ref: self.run_dict(run) for ref, run in self.runs.items() if ref in needed}
        groups = [
            {
                "dataset": dataset,
                "reference_model": ref,
                "path": f"results/ref_logps/{dataset}/{ref}",
                "runs": [r.ref for r in members],
                "gpus": self.ref_gpus(dataset, *ref.split("/", 1)),
                **self.ref_settings(dataset, ref),
            }
            for (dataset, ref), members in self.ref_groups.items()
            if any(r.ref in needed for r in members)
        ]
        return {
            "scale": self.scale,
            "workdir": self.workdir,
            "config_files": self.config_name.split(" + "),
            "family_files": sorted(set(self.sources.values())),
            "from_recipes": list(self.from_recipes),
            "tiny_scale_replacements": list(self.replacements),
            "runs": runs,
            "reference_logps": groups,
            "rejection_sampling": self.config["rejection_sampling"],
            "suites": {name: self.suite_at_scale(name) for name in self.config["suites"]},
            "judges": redact(
                {
                    n: {**spec, "prompts": self.judge_prompts(n)}
                    for n, spec in self.config["judges"].items()
                }
            ),
            "tables": {name: self.table_spec(name) for name in tables},
            "targets": self.final_targets() if table is None else self.table_targets(table),
        }

    def run_dict(self, run: Run) -> dict:
        return {
            "stage": run.stage,
            "method": {
                "script": f"scripts/{run.method.script}",
                "config_class": run.method.config_class,
            },
            "model": run.model,
            "model_location": self.model_location(run.model),
            "dataset": run.dataset,
            "data": self.train_data(run),
            "recipe": run.recipe,
            "args": redact(run.args),
            "sweep": run.sweep,
            "threads": run.threads,
            "resources": {
                "gpu": self.train_gpus(run.stage, run.name),
                "nodes": run.nodes,
                "mem_mb": run.mem_mb,
                "runtime": run.runtime,
                "cpus_per_task": run.threads,
            },
            "batch": self.batch(run),
            "launcher": self.launcher(
                run.stage, run.name, self.train_gpus(run.stage, run.name), run.nodes, run.threads
            ),
            "conda_env": self.train_env(run.stage, run.name),
        }

    def table_targets(self, table: str) -> list[str]:
        targets = [f"results/tables/{table}.{ext}" for ext in ("csv", "md", "png")]
        return targets + ([f"results/plots/{table}_curves.png"] if self.curve_models(table) else [])

    def models_needed(self, tables: list[str]) -> set[str]:
        """Runs the tables need, with everything they are trained from (transitively)."""
        todo = [ref for t in tables for _, ref, _ in self.table_runs(t)]
        judge = self.demo_eval.get("judge")
        for spec in (self.config["tables"][t] for t in tables):
            if judge and (
                spec.get("demo", True) or (self.demo_judge_used() and spec.get("judges"))
            ):
                todo += [judge["reward_model"], judge["baseline"]]
        needed: set[str] = set()
        while todo:
            ref = todo.pop()
            if ref in needed or ref not in self.runs:
                continue
            needed.add(ref)
            run = self.runs[ref]
            todo += [run.model] + [r for r in (run.ref_model, run.merge_with) if r]
            for source, _ in (
                dataset_entries(self.config["datasets"][run.dataset]) if run.dataset else ()
            ):
                for spec in self.sampling_writing(source):
                    todo += [spec["policy"]] + (
                        [spec["reward_model"]] if "reward_model" in spec else []
                    )
        return needed

    def sampling_writing(self, source: str) -> list[dict]:
        """Rejection-sampling setups whose output folder a dataset source lies in."""
        return [
            spec
            for name, spec in self.config["rejection_sampling"].items()
            if source.startswith(f"results/rejection_sampling/{name}/")
        ]


@functools.lru_cache(maxsize=None)
def _parsed_yaml(path: str) -> dict:
    return read_recipe(path)  # a mapping, or one RecipeFileError naming the file


@functools.lru_cache(maxsize=None)
def _resolved_recipe(path: str) -> dict:
    try:
        return resolve(_parsed_yaml(path), None, path).args
    except RecipeFileError:
        return {}  # the recipe's own error is raised where the run's recipe is checked


def resolved_recipe(path: str) -> dict:
    """A recipe's trainer arguments, mapped as the training job maps them (a copy)."""
    return copy.deepcopy(_resolved_recipe(str(path)))


def read_yaml(path: str) -> dict:
    """A recipe or accelerate config, parsed once per path however many runs share it (a copy, so
    no caller changes another's)."""
    return copy.deepcopy(_parsed_yaml(str(path)))


# --- Checks and the plan -----------------------------------------------------------------------


def check_references(plan: Plan) -> None:
    """Every name the config uses is defined, before any job runs, with the config key named."""
    config = plan.config
    # Iterative DPO first: its rounds' runs and sampling setups derive from it, so it is the key to name.
    for name, spec in config.get("iterative_dpo", {}).items():
        check_sampling(plan, f"iterative_dpo.{name}", spec)
    for ref, run in plan.runs.items():
        where = f"runs.{run.stage}.{run.name}"
        plan.check_model(run.model, f"{where}.model")
        if run.ref_model:
            plan.check_model(run.ref_model, f"{where}.ref_model")
        check_no_cycle(plan, ref, where)
        if run.method.data == "model":
            check_merge(plan, run, where)
        elif not run.dataset:
            raise plan.error(
                f"{where}.dataset",
                "missing (a key of 'datasets', or data keys in a handbook recipe)",
            )
        elif run.dataset not in config["datasets"]:
            raise plan.error(
                f"{where}.dataset",
                f"unknown dataset '{run.dataset}' (defined: {sorted(config['datasets'])})",
            )
        if not Path(run.recipe).exists():
            raise plan.error(
                f"{where}.recipe", f"no such file '{config['runs'][run.stage][run.name]['recipe']}'"
            )
        try:
            read_yaml(run.recipe)
        except RecipeFileError as err:  # unreadable, not a mapping, or a key given twice
            raise plan.error(f"{where}.recipe", str(err)) from None
        folder = Path(run.recipe).parent.name  # recipes live in config/recipes/<model>/<stage>/
        if folder in METHODS and METHODS[folder].config_class != run.method.config_class:
            raise plan.error(
                f"{where}.recipe",
                f"a {folder} recipe ({METHODS[folder].config_class}) on a {run.stage} run ({run.method.config_class})",
            )
        check_loss_type(plan, run, where)
        check_values(plan, run, where)
        check_no_secret_args(plan, run, where)
        check_assistant_only(plan, run, where)
        plan.batch(run)  # a global batch its processes cannot hold
        if run.nodes > 1 and not run.gpus:
            raise plan.error(
                f"{where}.resources.nodes",
                f"{run.nodes} nodes need GPUs (set gpus, the GPUs of each node)",
            )
    for name, spec in config["base_models"].items():
        where = f"base_models.{name}"
        if (
            spec.get("chat_template")
            and not Path(plan.paths.config_file(spec["chat_template"])).is_file()
        ):
            raise plan.error(f"{where}.chat_template", f"no such file '{spec['chat_template']}'")
        local = (
            "path" in spec
            and not plan.is_hub(spec["path"])
            and not spec["path"].startswith("results/")
        )
        if (
            local and not Path(plan.paths.origin, plan.paths.local(spec["path"])).exists()
        ):  # results/ are built here
            raise plan.error(
                f"{where}.path", f"no such folder '{spec['path']}' (a hub id is 'org/name')"
            )
    for name in config["tables"]:
        plan.table_runs(name)
        for suite in config["tables"][name].get("suites", []):
            if suite not in config["suites"]:
                raise plan.error(f"tables.{name}.suites", f"unknown suite '{suite}'")
            if plan.suite_at_scale(suite) not in config["suites"]:
                raise plan.error(
                    f"suites.{suite}.tiny", f"unknown suite '{plan.suite_at_scale(suite)}'"
                )
        for judge in config["tables"][name].get("judges", []):
            if judge not in config["judges"]:
                raise plan.error(f"tables.{name}.judges", f"unknown judge '{judge}'")
    for dataset, ref in plan.ref_groups:
        plan.ref_settings(dataset, ref)
    for name, spec in config["rejection_sampling"].items():
        check_sampling(plan, f"rejection_sampling.{name}", spec)
    judge = config["eval"]["demo"].get("judge")
    for key in ("reward_model", "baseline") if judge else ():
        plan.check_model(judge[key], f"eval.demo.judge.{key}")


def check_sampling(plan: Plan, where: str, spec: dict) -> None:
    """A sampling setup (or an iterative DPO entry) has a policy, and either a reward model or
    known verifiers with matching weights."""
    plan.check_model(spec["policy"], f"{where}.policy")
    if ("reward_model" in spec) == ("verifiers" in spec):
        raise plan.error(where, "give either 'reward_model' or 'verifiers' to score the samples")
    if "reward_model" in spec:
        plan.check_model(spec["reward_model"], f"{where}.reward_model")
        return
    unknown = [v for v in spec["verifiers"] if v not in VERIFIERS]
    if unknown:
        raise plan.error(
            f"{where}.verifiers", f"unknown verifier '{unknown[0]}' (known: {sorted(VERIFIERS)})"
        )
    weights = spec.get("verifier_weights")
    if weights and len(weights) != len(spec["verifiers"]):
        raise plan.error(
            f"{where}.verifier_weights",
            f"{len(weights)} weights for {len(spec['verifiers'])} verifiers",
        )


def check_merge(plan: Plan, run: Run, where: str) -> None:
    """A merge reads its other model as a folder: one built here or a local one."""
    if not run.merge_with:
        raise plan.error(f"{where}.merge_with", "a merge run names the model it is merged with")
    plan.check_model(run.merge_with, f"{where}.merge_with")
    if plan.is_hub(plan.model_location(run.merge_with)):
        raise plan.error(
            f"{where}.merge_with",
            f"'{run.merge_with}' is a hub model; merge with a model built here or a local folder",
        )


# Preference losses scale the policy/reference log-ratio by beta: zero or below trains nothing
# sensible (GRPO's beta is its KL weight, where 0 is valid).
POSITIVE_BETA_STAGES = ("dpo", "kto", "orpo")


def check_values(plan: Plan, run: Run, where: str) -> None:
    """Settings that would train nonsense stop here, naming where the value came from: a number
    that is not finite, no steps or epochs to train, a learning rate or preference beta at or
    below 0."""
    import math

    settings = plan.recipe_settings(run)

    def fail(key: str, why: str):
        origin = (
            f"{where}.args.{key}" if key in run.args else f"{where}.recipe ({run.recipe}): {key}"
        )
        raise plan.error(origin, f"{settings[key]!r} {why}")

    for key, value in settings.items():
        if isinstance(value, float) and not math.isfinite(value):
            fail(key, "is not a finite number")
    steps, epochs = settings.get("max_steps", -1), settings.get("num_train_epochs", 3.0)
    if isinstance(steps, (int, float)) and steps == 0:
        fail(
            "max_steps", "trains no step (give a positive number, or -1 to train num_train_epochs)"
        )
    if (
        isinstance(steps, (int, float))
        and steps < 0
        and "num_train_epochs" in settings
        and epochs <= 0
    ):
        fail("num_train_epochs", "trains nothing (give a positive number of epochs, or max_steps)")
    if isinstance(settings.get("learning_rate"), (int, float)) and settings["learning_rate"] <= 0:
        fail("learning_rate", "is not a positive learning rate")
    if (
        run.stage in POSITIVE_BETA_STAGES
        and isinstance(settings.get("beta"), (int, float))
        and settings["beta"] <= 0
    ):
        fail("beta", f"is not a positive {run.stage} beta")


def check_no_secret_args(plan: Plan, run: Run, where: str) -> None:
    """A run's args travel on the job's command line, which Snakemake prints and records under
    .snakemake/: a secret there is refused (the environment or the recipe file carry it)."""
    for key in run.args:
        if is_secret_name(key):
            raise plan.error(
                f"{where}.args.{key}",
                "a secret on the job's command line would be printed and kept in .snakemake/: set it in the "
                "environment (HF_TOKEN for the hub) or in the run's recipe file",
            )


def check_loss_type(plan: Plan, run: Run, where: str) -> None:
    """An unknown loss type fails here, not after the model has loaded and training started."""
    if not run.method.loss_types:
        return
    value = plan.recipe_settings(run).get("loss_type")
    asked = value if isinstance(value, list) else [] if value is None else [value]
    unknown = [v for v in asked if v not in run.method.loss_types]
    if unknown:
        hint = (
            " (kto_pair is gone from TRL: train a kto run instead)" if "kto_pair" in unknown else ""
        )
        raise plan.error(
            f"{where}.loss_type",
            f"{unknown[0]!r} is not a {run.stage} loss (one of {list(run.method.loss_types)}){hint}",
        )


def check_assistant_only(plan: Plan, run: Run, where: str) -> None:
    """assistant_only_loss needs {% generation %} markers in the template the data is tokenized
    with; a template the config names is read here, before any job (a hub tokenizer's own is
    checked by the training job)."""
    if run.method.data != "tokenized" or not plan.recipe_settings(run).get("assistant_only_loss"):
        return
    base = plan.base_of(run.ref)
    template = plan.config["base_models"][base].get("chat_template")
    if not template:
        return
    try:
        text = chat_template_from(plan.paths.config_file(template))
    except RecipeFileError:
        return  # a missing template file is named by check_references
    if "generation" not in text:
        raise plan.error(
            f"{where}.recipe",
            f"assistant_only_loss: true needs {{% generation %}} markers, which the chat template {template} of "
            f"base/{base} lacks (use a template with them, or assistant_only_loss: false to train on every token)",
        )


def check_no_cycle(plan: Plan, ref: str, where: str) -> None:
    chain = [ref]
    while not chain[-1].startswith(f"{BASE}/"):
        nxt = plan.runs[chain[-1]].model
        if nxt in chain:
            raise plan.error(f"{where}.model", f"models form a cycle: {' <- '.join(chain + [nxt])}")
        chain.append(nxt)


def display_name(path: str | Path, origin: Path) -> str:
    path = Path(path)
    for root in (origin, REPO):
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def build_plan(
    config: dict,
    config_files=(),
    origin: str | Path | None = None,
    moves_workdir: bool | None = None,
) -> Plan:
    """The plan of a loaded config (left unchanged), with the recipe families' files merged under
    it. `config_files` name it in errors; relative paths resolve against `origin` (the launch
    directory). At tiny scale and rehearsal the workflow moves into WORKDIRS[scale] unless `moves_workdir` is False
    (it runs there already)."""
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
    # A sweep's tiny_grid at rehearsal too: the number of cells is a size, the cells' runs are the plan's.
    sweeps = expand_sweeps(config, error, tiny or config["scale"] == "rehearsal")
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
    plan = Plan(
        config=config,
        config_name=config_name,
        paths=paths,
        replacements=tuple(replacements),
        from_recipes=tuple(from_recipes),
        sweeps=sweeps,
        rounds=rounds,
        sources=sources,
    )
    check_references(plan)
    return plan


def run_recipe_settings(spec: dict, paths: Paths) -> dict:
    """A configured run's recipe values as its trainer resolves them, its args on top."""
    return {**resolved_recipe(paths.config_file(spec["recipe"])), **spec.get("args", {})}


def localise_paths(config: dict, paths: Paths) -> None:
    """Local model and dataset paths of the config, usable from a working directory of its own."""
    for spec in config["base_models"].values():
        if "path" in spec and not paths.is_hub(spec["path"]):
            spec["path"] = paths.local(spec["path"])
    localise_datasets(config, paths)
    for spec in config["judges"].values():
        if not paths.is_hub(spec["prompts"]):
            spec["prompts"] = paths.local(spec["prompts"])


def write_plan(plan: Plan, path: str | Path) -> None:
    """Write the plan as JSON, atomically, and only when it changed (parallel jobs re-read it)."""
    path = Path(path)
    text = json.dumps(plan.to_dict(), indent=1, default=str) + "\n"
    if not path.exists() or path.read_text() != text:
        write_text_atomic(path, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handbook.plan", description="Print the resolved plan as JSON."
    )
    parser.add_argument(
        "--configfile", nargs="+", default=[], help="config files extending config/config.yaml"
    )
    parser.add_argument(
        "--scale", choices=("full", "rehearsal", "tiny"), help="override the config's scale"
    )
    parser.add_argument("--table", help="only what this table needs")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configfile, {"scale": args.scale} if args.scale else None)
        plan = build_plan(config, args.configfile)
        print(json.dumps(plan.to_dict(args.table), indent=1, default=str))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
