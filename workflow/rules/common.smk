# Helpers for the rules: config validation, model references, input functions. No rules here.
import functools
import json
import shlex
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir).parent
SCRIPTS = REPO / "scripts"
# Where snakemake was started: relative paths in the config (local data, recipes) resolve here
# even after tiny scale moves the working directory.
ORIGIN = Path.cwd()
# Tiny-scale artifacts live in their own working directory, so they never share a path with
# full-scale ones: the same target under it (results/tiny/results/tables/...).
TINY_WORKDIR = Path("results/tiny")
# --configfile files extend config/config.yaml; a bad key may come from any of them.
CONFIG_FILES = ["config/config.yaml", *(str(f) for f in workflow.overwrite_configfiles)]
CONFIG_NAME = " + ".join(CONFIG_FILES)
import itertools

# Entry point per training stage; methods differ only in their TRL Trainer and Config.
TRAIN_SCRIPTS = {
    "cpt": "sft.py",
    "sft": "sft.py",
    "rm": "reward.py",
    "dpo": "dpo.py",
    "kto": "kto.py",
    "orpo": "orpo.py",
    "cpo": "cpo.py",
}
# Data each stage trains on: tokenized once per tokenizer, prepared (the trainer tokenizes), or
# tokenized with the reference model's log-probs (shared by every DPO run in a sweep).
TRAIN_DATA = {"cpt": "tokenized", "sft": "tokenized", "dpo": "ref_logps"}
POLICY_STAGES = ("sft", "dpo", "kto", "orpo", "cpo")

# Scripts import the shared package from scripts/, also inside conda envs and SLURM jobs.
shell.prefix(f"export PYTHONPATH={SCRIPTS}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")


def config_error(key, message):
    raise WorkflowError(f"{CONFIG_NAME}: {key}: {message}")


def validate_config():
    """Schema first (one message naming the key), then references between sections."""
    import jsonschema

    schema_path = REPO / "workflow/schemas/config.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    if error is not None:
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        config_error(f"key '{key}'", error.message)
    validate(config, str(schema_path))  # fills in the schema's defaults
    expand_sweeps()
    if config["scale"] == "tiny":
        apply_tiny_scale()
    for stage, runs in config["runs"].items():
        for run, spec in runs.items():
            where = f"runs.{stage}.{run}"
            resolve_model(spec["model"], f"{where}.model")
            if spec["dataset"] not in config["datasets"]:
                config_error(
                    f"{where}.dataset",
                    f"unknown dataset '{spec['dataset']}' (defined: {sorted(config['datasets'])})",
                )
            if not repo_path(spec["recipe"]).exists():
                config_error(f"{where}.recipe", f"no such file '{spec['recipe']}'")
    for table in config["tables"]:
        table_runs(table)  # every model resolves, every suite and judge is defined
    for dataset, ref in sorted(ref_logps_needed()):
        ref_settings(dataset, ref)
    for name in config.get("rejection_sampling", {}):
        spec = config["rejection_sampling"][name]
        resolve_model(spec["policy"], f"rejection_sampling.{name}.policy")
        resolve_model(spec["reward_model"], f"rejection_sampling.{name}.reward_model")


def is_hub_id(source):
    """Neither written by the workflow nor a local file or folder: loaded from the hub."""
    return not (
        str(source).startswith("results/")
        or Path(source).is_absolute()
        or (ORIGIN / source).exists()
    )


def localised(source):
    """A local relative path made absolute, as the working directory moves at tiny scale."""
    if is_hub_id(source) or str(source).startswith("results/"):
        return source
    return str(ORIGIN / source)


def dataset_entries(spec):
    """(source, splits read from it) for each source of a dataset, in either of its forms."""
    if "dataset_mixture" in spec:
        return [
            (e["id"], [e.get("split", "train")])
            for e in spec["dataset_mixture"]["datasets"]
        ]
    splits = [spec.get("dataset_train_split", "train")]
    splits += [spec["dataset_test_split"]] if spec.get("dataset_test_split") else []
    return [(spec["dataset_name"], splits)]


def apply_tiny_scale():
    """scale: tiny. Hub base models, datasets, lm-eval suites and judge prompt sets are replaced by
    their demo counterparts ('tiny' in their entries), runs trained from replaced models or data
    get tiny_scale.args (few steps, CPU) and lose their GPUs, and everything is built in
    results/tiny/. Each replacement is said in the log."""
    from snakemake.logging import logger

    tiny = config["tiny_scale"]
    said = []
    models = {}
    for name, spec in config["base_models"].items():
        if "tiny" in spec or ("path" in spec and is_hub_id(spec["path"])):
            models[f"base/{name}"] = spec.get("tiny", tiny["base_model"])
        elif "path" in spec:
            spec["path"] = localised(spec["path"])
    for ref, sub in models.items():
        if sub in models:
            config_error(f"base_models.{ref[5:]}.tiny", f"'{sub}' is replaced itself")
        said.append(f"model {ref} -> {sub}")
    used = {
        spec["dataset"] for runs in config["runs"].values() for spec in runs.values()
    }
    datasets = {}
    for name, spec in config["datasets"].items():
        if "tiny" in spec:
            datasets[name] = spec.pop("tiny")
        elif name in used and any(is_hub_id(s) for s, _ in dataset_entries(spec)):
            config_error(
                f"datasets.{name}",
                "reads the Hugging Face Hub; give it 'tiny: <demo dataset>' for scale: tiny",
            )
    for name, sub in datasets.items():
        if sub not in config["datasets"] or sub in datasets:
            config_error(
                f"datasets.{name}.tiny",
                f"'{sub}' is not a dataset used as it is at tiny scale",
            )
        config["datasets"][name] = json.loads(json.dumps(config["datasets"][sub]))
        said.append(f"dataset {name} -> {sub}'s data")
    for spec in config["datasets"].values():
        if "dataset_mixture" in spec:
            for entry in spec["dataset_mixture"]["datasets"]:
                entry["id"] = localised(entry["id"])
        else:
            spec["dataset_name"] = localised(spec["dataset_name"])
    # Runs trained from a replaced model or on replaced data, and runs downstream of them.
    changed = set()
    while True:
        before = len(changed)
        for stage, runs in config["runs"].items():
            for run, spec in runs.items():
                for key in ("model", "ref_model"):
                    if spec.get(key) in models:
                        spec[key] = models[spec[key]]
                        changed.add(f"{stage}/{run}")
                if spec["dataset"] in datasets or spec["model"] in changed:
                    changed.add(f"{stage}/{run}")
        if len(changed) == before:
            break
    for ref in sorted(changed):
        stage, run = ref.split("/", 1)
        spec = config["runs"][stage][run]
        spec["args"] = {**spec.get("args", {}), **tiny["args"]}
        spec["threads"] = 1  # tiny runs go faster side by side than one after another
        for key in ("gpus", "resources", "accelerate_config", "processes"):
            spec.pop(key, None)
    if changed:
        said.append(
            f"{len(changed)} runs get {tiny['args']}: {', '.join(sorted(changed))}"
        )
    for spec in config["rejection_sampling"].values():
        for key in ("policy", "reward_model"):
            spec[key] = models.get(spec[key], spec[key])
    judge = config["eval"]["demo"].get("judge")
    for key in ("reward_model", "baseline") if judge else ():
        judge[key] = models.get(judge[key], judge[key])
    for table in config["tables"].values():
        rows = table.get("rows")
        for label, row in rows.items() if isinstance(rows, dict) else ():
            if isinstance(row, list):
                rows[label] = [models.get(ref, ref) for ref in row]
        if "runs" in table:
            table["runs"] = [
                models.get(r, r) if isinstance(r, str) else r for r in table["runs"]
            ]
    for name, suite in config["suites"].items():
        if suite.get("tiny"):
            said.append(f"lm-eval suite {name} -> {suite['tiny']}")
    for name, judge in config["judges"].items():
        judge["max_new_tokens"] = tiny["max_new_tokens"]
        if is_hub_id(judge["prompts"]):
            said.append(f"{name} prompts {judge['prompts']} -> demo prompts")
        else:
            judge["prompts"] = localised(judge["prompts"])
    for line in said:
        logger.info(f"tiny scale: {line}")
    if not Path.cwd().match(f"*/{TINY_WORKDIR}"):
        from snakemake.common.workdir_handler import WorkdirHandler

        # Config files are read again later (e.g. by --report): by absolute path from now on.
        workflow.configfiles[:] = [str(Path(f).resolve()) for f in workflow.configfiles]
        workflow._workdir_handler = WorkdirHandler(TINY_WORKDIR)
        workflow._workdir_handler.change_to()
        logger.info(f"tiny scale: working directory {Path.cwd()}")


def suite_at_scale(name):
    """The suite evaluated for `name`: its demo counterpart at tiny scale."""
    if config["scale"] == "tiny":
        return config["suites"][name].get("tiny") or name
    return name


def judge_prompts(name):
    """A judge's prompt set: the demo set at tiny scale when it comes from the hub."""
    spec = config["judges"][name]
    if config["scale"] == "tiny" and is_hub_id(spec["prompts"]):
        return JUDGE_DEMO_PROMPTS[spec["format"]]
    return spec["prompts"]


def run_name(sweep, combo):
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


def expand_sweeps():
    """Each sweep's grid becomes runs that share the sweep's model, dataset and recipe."""
    for sweep, spec in config.get("sweeps", {}).items():
        keys = list(spec["grid"])
        runs = config["runs"].setdefault(spec["stage"], {})
        names = []
        for values in itertools.product(*(spec["grid"][k] for k in keys)):
            combo = dict(zip(keys, values))
            name = run_name(sweep, combo)
            if name in runs and runs[name].get("sweep") != sweep:
                config_error(
                    f"sweeps.{sweep}",
                    f"run '{spec['stage']}/{name}' is already defined in runs",
                )
            run = {k: v for k, v in spec.items() if k not in ("stage", "grid", "args")}
            run["args"] = {**spec.get("args", {}), **combo}
            run["sweep"] = sweep
            runs[name] = run
            names.append(name)
        spec["runs"] = names


def row_models(row, where="row"):
    """A table row is a list of models, or a sweep selection {sweep: name, where: {arg: value}}."""
    if isinstance(row, list):
        return row
    sweep = config.get("sweeps", {}).get(row["sweep"])
    if sweep is None:
        config_error(f"{where}.sweep", f"unknown sweep '{row['sweep']}'")
    selected = []
    for name in sweep["runs"]:
        args = config["runs"][sweep["stage"]][name]["args"]
        if all(args.get(k) == v for k, v in row.get("where", {}).items()):
            selected.append(f"{sweep['stage']}/{name}")
    if not selected:
        config_error(f"{where}.where", f"selects no run of sweep '{row['sweep']}'")
    return selected


@functools.lru_cache(maxsize=None)
def read_recipe(path):
    return yaml.safe_load(repo_path(path).read_text()) or {}


def recipe_settings(stage, run):
    """The recipe's values, with the run's args on top (what the training script will see)."""
    spec = config["runs"][stage][run]
    return {**read_recipe(spec["recipe"]), **spec.get("args", {})}


def ref_logps_needed():
    """(dataset, reference model) pairs that DPO runs need log-probs for."""
    return {
        (spec["dataset"], spec.get("ref_model", spec["model"]))
        for spec in config["runs"].get("dpo", {}).values()
    }


def ref_settings(dataset, ref):
    """Truncation the shared log-probs are computed with: every run using them must agree."""
    seen = {}
    for run, spec in config["runs"].get("dpo", {}).items():
        if (spec["dataset"], spec.get("ref_model", spec["model"])) != (dataset, ref):
            continue
        settings = recipe_settings("dpo", run)
        key = (
            settings.get("max_length", 1024),
            settings.get("truncation_mode", "keep_start"),
        )
        seen.setdefault(key, []).append(run)
    if len(seen) > 1:
        detail = "; ".join(
            f"max_length={k[0]}, truncation_mode={k[1]}: {v}" for k, v in seen.items()
        )
        config_error(
            "runs.dpo",
            f"runs sharing reference log-probs of {ref} on '{dataset}' disagree ({detail})",
        )
    max_length, truncation_mode = next(iter(seen))
    return {"max_length": max_length, "truncation_mode": truncation_mode}


def repo_path(path):
    """Config paths to files (recipes, templates) resolve against the launch directory, then
    against the repository (the shipped ones)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    if (ORIGIN / path).exists():
        return ORIGIN / path
    return REPO / path


def resolve_model(ref, where="model"):
    """'base/<name>' or '<stage>/<run>' -> (stage, name), failing with the config key named."""
    stage, _, name = str(ref).partition("/")
    if stage == "base":
        if name not in config["base_models"]:
            config_error(
                where,
                f"unknown base model '{name}' (defined: {sorted(config['base_models'])})",
            )
    elif name not in config["runs"].get(stage, {}):
        known = [f"{s}/{r}" for s, runs in config["runs"].items() for r in runs]
        config_error(
            where,
            f"'{ref}' is not base/<name> or a configured run (known runs: {known})",
        )
    return stage, name


def model_location(ref):
    """Folder or hub id a model is loaded from."""
    stage, name = resolve_model(ref)
    if stage == "base" and "path" in config["base_models"][name]:
        return config["base_models"][name]["path"]
    return f"results/models/{stage}/{name}"


def model_inputs(ref):
    """Files a job needs for a model: the folder if the workflow builds it or it is local."""
    location = model_location(ref)
    if location.startswith("results/") or Path(location).exists():
        return [location]
    return []


def base_of(ref):
    """The base model at the root of a model's training chain (it fixes the tokenizer)."""
    stage, name = resolve_model(ref)
    while stage != "base":
        stage, name = resolve_model(config["runs"][stage][name]["model"])
    return name


def tokenized_path(dataset, ref):
    return f"results/data/{dataset}/tokenized/{base_of(ref)}"


def run_spec(wildcards):
    return config["runs"][wildcards.stage][wildcards.run]


def ref_logps_path(dataset, ref):
    return f"results/ref_logps/{dataset}/{ref}"


def train_data_path(stage, spec):
    kind = TRAIN_DATA.get(stage, "prepared")
    if kind == "tokenized":
        return tokenized_path(spec["dataset"], spec["model"])
    if kind == "ref_logps":
        return ref_logps_path(spec["dataset"], spec.get("ref_model", spec["model"]))
    return f"results/data/{spec['dataset']}/prepared"


def get_train_inputs(wildcards):
    spec = run_spec(wildcards)
    return {
        "recipe": str(repo_path(spec["recipe"])),
        "model": model_inputs(spec["model"]),
        "data": train_data_path(wildcards.stage, spec),
    }


def get_ref_inputs(wildcards):
    return {
        "model": model_inputs(f"{wildcards.stage}/{wildcards.run}"),
        "data": f"results/data/{wildcards.dataset}/prepared",
    }


def get_ref_model(wildcards):
    return model_location(f"{wildcards.stage}/{wildcards.run}")


def get_ref_args(wildcards):
    settings = ref_settings(wildcards.dataset, f"{wildcards.stage}/{wildcards.run}")
    return f"--max_length {settings['max_length']} --truncation_mode {settings['truncation_mode']}"


def get_train_model(wildcards):
    return model_location(run_spec(wildcards)["model"])


def get_train_script(wildcards):
    return SCRIPTS / TRAIN_SCRIPTS[wildcards.stage]


# Rendezvous port of multi-node runs. Every node must know it in advance, so it cannot be a free
# port picked at launch; nodes of a multi-node job are not shared with another such job.
MULTI_NODE_PORT = 29500


def multi_node_launcher(accel, gpus, nodes, threads):
    """One accelerate launcher per node through srun, each starting that node's GPU processes.

    srun runs the quoted script once per node; the rule's script and arguments follow the launcher
    in the shell command and reach accelerate as "$@". The variables are expanded on each node, so
    every launcher learns its own rank ($SLURM_NODEID) and the first host of the allocation, which
    hosts the rendezvous. With a static rendezvous all ranks need the same host and port.
    The SLURM executor may run the job inside a one-task step of its own: --overlap lets this step
    share that step's resources (without it srun waits forever), and --ntasks overrides the task
    count the outer step leaves in the environment. --kill-on-bad-exit stops the other nodes when
    one launcher fails, instead of leaving them waiting at the rendezvous.
    """
    launch = " ".join(
        [
            'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1);',
            f"exec accelerate launch --config_file {shlex.quote(str(accel))}",
            f"--num_processes {gpus * nodes} --num_machines {nodes}",
            '--machine_rank "$SLURM_NODEID" --main_process_ip "$head"',
            f'--main_process_port {MULTI_NODE_PORT} "$@"',
        ]
    )
    env = f"OMP_NUM_THREADS={max(1, threads // gpus)} "
    srun = f"srun --nodes {nodes} --ntasks-per-node 1 --ntasks {nodes} --overlap --kill-on-bad-exit=1"
    return f"{env}{srun} bash -c {shlex.quote(launch)} accelerate"


def get_launcher(wildcards, resources, threads):
    """accelerate launch with one process per GPU (or the run's CPU process count).

    Several processes on one machine get a free port (--main_process_port 0), so parallel jobs on a
    node do not collide, and share the job's threads. Several CPU processes need more: accelerate
    starts one process for a NO or MULTI_CPU config (it expects mpirun), so they go through its
    torchrun path (--multi_gpu), and that path does not tell the Trainer to stay on the CPU, so
    ACCELERATE_USE_CPU=true makes it join them over gloo. DeepSpeed decides that itself (the flag
    would switch DeepSpeed off); it needs `ddp_backend: gloo` in the run's args on CPU. The scripts
    train in fp32 without CUDA, so a bf16 config is overridden there (DeepSpeed refuses the mismatch).
    Several nodes (resources.nodes > 1) run `gpus` processes on each node (multi_node_launcher).
    """
    spec = run_spec(wildcards)
    nodes = int(resources.get("nodes", 1) or 1)
    # The gpu resource is the job's total (sbatch --gpus); each node runs its share.
    gpus = int(resources.get("gpu", 0) or 0) // nodes
    processes = gpus or int(spec.get("processes", 1))
    # The default config is for CPU; a GPU run without one of its own gets plain DDP.
    default = "config/accelerate/ddp.yaml" if gpus else config["accelerate_config"]
    accel = repo_path(spec.get("accelerate_config", default))
    if nodes > 1:
        if not gpus:
            config_error(
                f"runs.{wildcards.stage}.{wildcards.run}.resources.nodes",
                f"{nodes} nodes need GPUs (set gpus, the GPUs of each node)",
            )
        return multi_node_launcher(accel, gpus, nodes, threads)
    launcher = f"accelerate launch --config_file {accel} --num_processes {processes}"
    if processes == 1:
        return launcher
    settings = yaml.safe_load(Path(accel).read_text()) or {}
    kind = str(settings.get("distributed_type", "NO")).upper()
    env = f"OMP_NUM_THREADS={max(1, threads // processes)} "
    machines = int(settings.get("num_machines", 1))
    if max(machines, int(resources.get("nodes", 1) or 1)) == 1:
        launcher += " --main_process_port 0"
    if gpus:
        return env + launcher
    if kind in ("NO", "MULTI_CPU"):
        launcher += " --multi_gpu"
    if kind != "DEEPSPEED":
        env += "ACCELERATE_USE_CPU=true "
    if str(settings.get("mixed_precision", "no")).lower() != "no":
        launcher += " --mixed_precision no"
    return env + launcher


def get_run_args(wildcards):
    """Per-run overrides of the recipe, passed as --key value (the command line wins)."""
    args = run_spec(wildcards).get("args", {})
    return " ".join(
        f"--{key} {shlex.quote(str(value))}" for key, value in sorted(args.items())
    )


def run_resource(wildcards, key, default):
    return int(run_spec(wildcards).get("resources", {}).get(key, default))


def get_run_threads(wildcards):
    """CPU threads of a training job (capped by --cores): tiny models train faster as parallel
    one-thread jobs than one after another with two threads each."""
    return int(run_spec(wildcards).get("threads", 8))


def get_run_mem_mb(wildcards):
    return run_resource(wildcards, "mem_mb", 16000)


def get_run_runtime(wildcards):
    return run_resource(wildcards, "runtime", 720)


def get_run_nodes(wildcards):
    return run_resource(wildcards, "nodes", 1)


def get_run_gpus(wildcards):
    """GPUs of the whole job: the run's gpus (per node) on each of its nodes."""
    return int(run_spec(wildcards).get("gpus", 0)) * get_run_nodes(wildcards)


def get_train_env(wildcards):
    """GPU runs need the GPU stack (DeepSpeed, flash-attn); CPU runs the lighter train env."""
    return "../../envs/gpu.yaml" if get_run_gpus(wildcards) else "../../envs/train.yaml"


def get_ref_gpus(wildcards):
    """One GPU for the reference pass when the DPO runs sharing its log-probs train on GPUs."""
    ref = f"{wildcards.stage}/{wildcards.run}"
    runs = config["runs"].get("dpo", {}).values()
    shared = [
        s
        for s in runs
        if (s["dataset"], s.get("ref_model", s["model"])) == (wildcards.dataset, ref)
    ]
    return int(any(s.get("gpus") for s in shared))


def get_dataset_spec(wildcards):
    spec = config["datasets"][wildcards.dataset]
    return json.dumps({k: v for k, v in spec.items() if k != "tiny"})


def get_dataset_sources(wildcards):
    """Local sources a prepare job reads; folders the workflow writes are named by their files."""
    sources = []
    for source, splits in dataset_entries(config["datasets"][wildcards.dataset]):
        if source.startswith("results/") and not Path(source).suffix:
            sources += [f"{source}/{split}.jsonl" for split in splits]
        elif source.startswith("results/") or Path(source).exists():
            sources.append(source)
    return sorted(set(sources))


def get_tokenizer_inputs(wildcards):
    return model_inputs(f"base/{wildcards.base}")


def get_tokenizer_source(wildcards):
    return model_location(f"base/{wildcards.base}")


def get_chat_template_arg(wildcards):
    template = config["base_models"][wildcards.base].get("chat_template")
    return f"--chat_template {repo_path(template)}" if template else ""


def get_base_build(wildcards):
    build = config["base_models"][wildcards.base].get("build")
    if build is None:
        config_error(
            f"base_models.{wildcards.base}",
            "has no 'build' section, so it cannot be built here",
        )
    return build


def get_base_corpus(wildcards):
    return get_base_build(wildcards)["corpus"]


def get_base_vocab_size(wildcards):
    return get_base_build(wildcards)["vocab_size"]


def get_base_arch(wildcards):
    return json.dumps(get_base_build(wildcards)["arch"])


def get_base_seed(wildcards):
    return get_base_build(wildcards).get("seed", 0)


def get_eval_inputs(wildcards):
    ref = f"{wildcards.stage}/{wildcards.run}"
    spec = config["eval"]["demo"]
    inputs = {"model": model_inputs(ref), "prompts": spec["prompts"]}
    if spec.get("loss_dataset"):
        inputs["loss_data"] = tokenized_path(spec["loss_dataset"], ref)
    return inputs


def get_eval_model(wildcards):
    return model_location(f"{wildcards.stage}/{wildcards.run}")


def get_eval_loss_arg(wildcards):
    inputs = get_eval_inputs(wildcards)
    return f"--loss_data {inputs['loss_data']}" if "loss_data" in inputs else ""


def get_sampling_inputs(wildcards):
    spec = config["rejection_sampling"][wildcards.name]
    return {"model": model_inputs(spec["policy"]), "prompts": spec["prompts"]}


def get_sampling_policy(wildcards):
    return model_location(config["rejection_sampling"][wildcards.name]["policy"])


def get_sampling_reward_model(wildcards):
    return model_location(config["rejection_sampling"][wildcards.name]["reward_model"])


def get_sampling_args(wildcards):
    spec = config["rejection_sampling"][wildcards.name]
    keys = (
        "num_completions",
        "temperature",
        "top_p",
        "max_new_tokens",
        "seed",
        "backend",
    )
    return " ".join(f"--{k} {spec[k]}" for k in keys if k in spec)


def get_judge_inputs(wildcards):
    judge = config["eval"]["demo"]["judge"]
    return {
        "samples": f"results/eval/{wildcards.stage}/{wildcards.run}/demo_samples.json",
        "baseline": f"results/eval/{judge['baseline']}/demo_samples.json",
        "reward_model": model_inputs(judge["reward_model"]),
    }


def get_judge_model(wildcards):
    return model_location(config["eval"]["demo"]["judge"]["reward_model"])


def get_reward_eval_inputs(wildcards):
    return {
        "model": model_inputs(f"rm/{wildcards.run}"),
        "pairs": config["eval"]["demo"]["pairs"],
    }


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
# Models with a chat format answer the judges' prompts; base models and reward models do not.
ANSWERING_STAGES = POLICY_STAGES


def judges_of_format(fmt):
    """Wildcard constraint: the judges of one format (a pattern matching nothing if none)."""
    names = [n for n, j in config.get("judges", {}).items() if j["format"] == fmt]
    return "|".join(names) if names else "(?!)"


def judge_model_id(ref):
    """The name judges report a model by: <stage>-<run> (a file name, so no slash)."""
    stage, name = resolve_model(ref)
    return f"{stage}-{name}"


def needs_gpu(ref):
    """Evaluating a model needs a GPU if it was trained on GPUs or is a hub base model."""
    stage, name = resolve_model(ref)
    if stage == "base":
        return "path" in config["base_models"][name]
    return bool(config["runs"][stage][name].get("gpus"))


def get_eval_gpus(wildcards):
    return int(needs_gpu(f"{wildcards.stage}/{wildcards.run}"))


def get_eval_device(wildcards):
    return "cuda" if get_eval_gpus(wildcards) else "cpu"


def suite_spec(suite):
    """A suite as scripts/eval_lm_harness.py reads it (without the workflow-only keys)."""
    spec = config["suites"][suite]
    return {k: v for k, v in spec.items() if k not in ("tiny", "limit")}


def suite_tasks_dir(suite):
    """Local suites read tasks generated from the demo world, in the suite's prompt format."""
    spec = config["suites"][suite]
    if not spec.get("local"):
        return None
    return f"results/lm_eval_tasks/{'chat' if spec.get('apply_chat_template') else 'plain'}"


def get_lm_eval_inputs(wildcards):
    ref = f"{wildcards.stage}/{wildcards.run}"
    inputs = {"model": model_inputs(ref)}
    if suite_tasks_dir(wildcards.suite):
        inputs["tasks"] = suite_tasks_dir(wildcards.suite)
    return inputs


def get_lm_eval_args(wildcards):
    spec = config["suites"][wildcards.suite]
    args = f"--suites_json {shlex.quote(json.dumps({wildcards.suite: suite_spec(wildcards.suite)}))}"
    if suite_tasks_dir(wildcards.suite):
        args += f" --include_path {suite_tasks_dir(wildcards.suite)}"
    if spec.get("limit"):
        args += f" --limit {spec['limit']}"
    return args


def get_judge_answer_inputs(wildcards):
    stage, _, run = wildcards.model_id.partition("-")
    return {
        "model": model_inputs(f"{stage}/{run}"),
        "prompts": (
            [judge_prompts(wildcards.judge)]
            if not is_hub_id(judge_prompts(wildcards.judge))
            else []
        ),
    }


def get_judge_answer_args(wildcards):
    stage, _, run = wildcards.model_id.partition("-")
    spec = config["judges"][wildcards.judge]
    prompts = judge_prompts(wildcards.judge)
    args = [
        f"--model {model_location(f'{stage}/{run}')}",
        f"--format {spec['format']}",
        f"--prompts {shlex.quote(prompts)}",
        f"--model_id {wildcards.model_id}",
        f"--device {'cuda' if needs_gpu(f'{stage}/{run}') else 'cpu'}",
    ]
    if prompts == spec["prompts"]:
        for key in ("prompts_config", "prompts_split"):
            if spec.get(key):
                args.append(f"--{key} {shlex.quote(str(spec[key]))}")
    for key in ("max_new_tokens", "temperature", "top_p", "seed", "batch_size"):
        if key in spec:
            args.append(f"--{key} {spec[key]}")
    return " ".join(args)


def get_judge_answer_gpus(wildcards):
    stage, _, run = wildcards.model_id.partition("-")
    return int(needs_gpu(f"{stage}/{run}"))


def eval_files(ref, table=None):
    """Result files a table reads for one model; `judgment:` entries are read if they exist."""
    spec = config["tables"][table] if table else {}
    stage, name = resolve_model(ref)
    files = {}
    if stage != "base":
        files["model"] = f"results/models/{ref}"  # metrics.json, log_history.json
    if spec.get("demo", True):
        if stage == "rm":
            files["reward"] = f"results/eval/{ref}/reward.json"
        else:
            files["demo"] = f"results/eval/{ref}/demo.json"
            if stage in POLICY_STAGES and config["eval"]["demo"].get("judge"):
                files["winrate"] = f"results/eval/{ref}/winrate.json"
    if stage != "rm":
        for suite in spec.get("suites", []):
            files[f"suite:{suite}"] = (
                f"results/eval/{ref}/lm_eval/{suite_at_scale(suite)}.json"
            )
    if stage in ANSWERING_STAGES:
        for judge in spec.get("judges", []):
            fmt = config["judges"][judge]["format"]
            files[f"answers:{judge}"] = JUDGE_ANSWERS[fmt].format(
                judge=judge, model_id=judge_model_id(ref)
            )
            if demo_judge_used():
                files[f"judgment:{judge}"] = DEMO_JUDGMENTS[fmt].format(
                    judge=judge, table=table
                )
            elif config["judges"][judge].get("judgments"):
                files[f"judgment:{judge}"] = config["judges"][judge]["judgments"]
    return files


def run_params(ref):
    """A run's settings a grid table can group by: recipe values with the run's args on top."""
    stage, name = resolve_model(ref)
    if stage == "base":
        return {}
    settings = recipe_settings(stage, name)
    return {
        k: "+".join(map(str, v)) if isinstance(v, list) else v
        for k, v in settings.items()
    }


def table_runs(table):
    """The table's runs: (row label or None, model ref, params). Fails naming the key."""
    spec = config["tables"][table]
    where = f"tables.{table}"
    entries = []
    if isinstance(spec["rows"], dict):
        if "runs" in spec or "columns" in spec:
            config_error(where, "rows by label take no 'runs' or 'columns'")
        for label, row in spec["rows"].items():
            for ref in row_models(row, f"{where}.rows.{label}"):
                resolve_model(ref, f"{where}.rows.{label}")
                entries.append((label, ref, {}))
    else:
        if "runs" not in spec or "columns" not in spec:
            config_error(
                where, "a grid table (rows: <setting>) needs 'runs' and 'columns'"
            )
        for i, entry in enumerate(spec["runs"]):
            if isinstance(entry, str):
                refs, extra = [entry], {}
            else:
                refs = row_models(entry, f"{where}.runs.{i}")
                extra = entry.get("params", {})
            for ref in refs:
                resolve_model(ref, f"{where}.runs.{i}")
                params = {**run_params(ref), **extra}
                for key in (spec["rows"], spec["columns"]):
                    if key not in params:
                        config_error(
                            f"{where}.runs.{i}",
                            f"run {ref} has no setting '{key}' (add it under params)",
                        )
                entries.append((None, ref, params))
    for suite in spec.get("suites", []):
        if suite not in config["suites"]:
            config_error(f"{where}.suites", f"unknown suite '{suite}'")
        if suite_at_scale(suite) not in config["suites"]:
            config_error(
                f"suites.{suite}.tiny", f"unknown suite '{suite_at_scale(suite)}'"
            )
    for judge in spec.get("judges", []):
        if judge not in config["judges"]:
            config_error(f"{where}.judges", f"unknown judge '{judge}'")
    return entries


def demo_judge_used():
    """Tiny scale judges answers with the demo reward model (eval.demo.judge), when there is one."""
    return config["scale"] == "tiny" and bool(config["eval"]["demo"].get("judge"))


def get_table_inputs(wildcards):
    """Result files of the table's models; external judgments only when built here."""
    return sorted(
        {
            path
            for _, ref, _ in table_runs(wildcards.table)
            for key, path in eval_files(ref, wildcards.table).items()
            if not key.startswith("judgment:") or demo_judge_used()
        }
    )


def get_demo_judge_inputs(wildcards):
    judge = config["eval"]["demo"]["judge"]
    fmt = config["judges"][wildcards.judge]["format"]
    if wildcards.ext != DEMO_JUDGMENTS[fmt].rsplit(".", 1)[1]:
        raise WorkflowError(
            f"{wildcards.judge} judgments are .{DEMO_JUDGMENTS[fmt].rsplit('.', 1)[1]} files"
        )
    key = f"answers:{wildcards.judge}"
    files = [
        eval_files(ref, wildcards.table) for _, ref, _ in table_runs(wildcards.table)
    ]
    answers = sorted({f[key] for f in files if key in f})
    inputs = {"answers": answers, "reward_model": model_inputs(judge["reward_model"])}
    if fmt == "mt_bench":
        inputs["prompts"] = judge_prompts(wildcards.judge)
    else:
        inputs["baseline"] = JUDGE_ANSWERS[fmt].format(
            judge=wildcards.judge, model_id=judge_model_id(judge["baseline"])
        )
    return inputs


def get_demo_judge_args(wildcards):
    inputs = get_demo_judge_inputs(wildcards)
    args = [
        f"--format {config['judges'][wildcards.judge]['format']}",
        f"--reward_model {model_location(config['eval']['demo']['judge']['reward_model'])}",
    ]
    if "prompts" in inputs:
        args.append(f"--prompts {inputs['prompts']}")
    if "baseline" in inputs:
        args.append(f"--baseline {inputs['baseline']}")
    return " ".join(args)


def get_table_spec(wildcards):
    """Everything make_table.py needs, as one JSON argument."""
    table = wildcards.table
    spec = dict(config["tables"][table])
    spec.pop("runs", None)
    spec["name"] = table
    spec["scale"] = config["scale"]
    spec["suites"] = [suite_at_scale(s) for s in spec.get("suites", [])]
    if config["scale"] == "tiny" and "metrics" in spec:
        spec["metrics"] = [
            suite_at_scale(m) if m in config["suites"] else m for m in spec["metrics"]
        ]
    spec["judges"] = {
        j: {
            "format": config["judges"][j]["format"],
            "prompts": judge_prompts(j),
            "judge": (
                config["eval"]["demo"]["judge"]["reward_model"]
                if demo_judge_used()
                else "external"
            ),
        }
        for j in spec.get("judges", [])
    }
    runs = [
        {
            "label": label,
            "ref": ref,
            "params": params,
            "files": eval_files(ref, table),
            "model_id": judge_model_id(ref),
        }
        for label, ref, params in table_runs(table)
    ]
    return shlex.quote(json.dumps({"table": spec, "runs": runs}))


def curve_models(table):
    """The trained models of a table, whose training curves the report shows."""
    refs = {ref for _, ref, _ in table_runs(table)}
    return sorted(
        f"results/models/{ref}" for ref in refs if not ref.startswith("base/")
    )


def get_curve_inputs(wildcards):
    return curve_models(wildcards.table)


def curve_histories(table):
    """Label -> log_history.json of each trained model of the table, and label -> its group (the
    table row, so seeds share a colour)."""
    spec = config["tables"][table]
    histories, groups = {}, {}
    for label, ref, params in table_runs(table):
        if ref.startswith("base/"):
            continue
        histories[ref] = f"results/models/{ref}/log_history.json"
        groups[ref] = (
            label if label is not None else f"{spec['rows']}={params[spec['rows']]}"
        )
    return histories, groups


def get_curve_args(wildcards):
    histories, groups = curve_histories(wildcards.table)
    return (
        f"--histories {shlex.quote(json.dumps(histories))} "
        f"--groups {shlex.quote(json.dumps(groups))}"
    )


def get_final_targets():
    return [
        f"results/tables/{table}.{ext}"
        for table, spec in config["tables"].items()
        if spec.get("default", True)
        for ext in ("csv", "md", "png")
    ] + [
        f"results/plots/{table}_curves.png"
        for table, spec in config["tables"].items()
        if spec.get("default", True) and curve_models(table)
    ]


validate_config()
