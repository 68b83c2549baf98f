# Helpers for the rules: config validation, model references, input functions. No rules here.
import json
import shlex
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir).parent
SCRIPTS = REPO / "scripts"
# --configfile files extend config/config.yaml; a bad key may come from any of them.
CONFIG_FILES = ["config/config.yaml", *(str(f) for f in workflow.overwrite_configfiles)]
CONFIG_NAME = " + ".join(CONFIG_FILES)
TRAIN_SCRIPTS = {"cpt": "sft.py", "sft": "sft.py"}
HUB_EVAL_STAGES = ("base",)

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
    for table, spec in config["tables"].items():
        for label, refs in spec["rows"].items():
            for ref in refs:
                resolve_model(ref, f"tables.{table}.rows.{label}")


def repo_path(path):
    """Config paths to shipped files (recipes, templates) resolve against the repository."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
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


def get_train_inputs(wildcards):
    spec = run_spec(wildcards)
    return {
        "recipe": str(repo_path(spec["recipe"])),
        "model": model_inputs(spec["model"]),
        "data": tokenized_path(spec["dataset"], spec["model"]),
    }


def get_train_model(wildcards):
    return model_location(run_spec(wildcards)["model"])


def get_train_script(wildcards):
    return SCRIPTS / TRAIN_SCRIPTS[wildcards.stage]


def get_launcher(wildcards, resources):
    """accelerate launch with one process per GPU (one CPU process where there is none)."""
    processes = max(1, int(resources.get("gpu", 0) or 0))
    accel = repo_path(
        run_spec(wildcards).get("accelerate_config", config["accelerate_config"])
    )
    return f"accelerate launch --config_file {accel} --num_processes {processes}"


def get_run_args(wildcards):
    """Per-run overrides of the recipe, passed as --key value (the command line wins)."""
    args = run_spec(wildcards).get("args", {})
    return " ".join(
        f"--{key} {shlex.quote(str(value))}" for key, value in sorted(args.items())
    )


def get_run_gpus(wildcards):
    return int(run_spec(wildcards).get("gpus", 0))


def get_dataset_spec(wildcards):
    return json.dumps(config["datasets"][wildcards.dataset])


def get_dataset_sources(wildcards):
    spec = config["datasets"][wildcards.dataset]
    entries = (
        spec["dataset_mixture"]["datasets"]
        if "dataset_mixture" in spec
        else [{"id": spec["dataset_name"]}]
    )
    sources = []
    for source in (e["id"] for e in entries):
        if source.startswith("results/demo_world"):
            # The generator writes its folder as a whole; its manifest is written last.
            sources.append("results/demo_world/manifest.json")
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


def eval_path(ref):
    return f"results/eval/{ref}/demo.json"


def get_table_inputs(wildcards):
    rows = config["tables"][wildcards.table]["rows"]
    return [eval_path(ref) for refs in rows.values() for ref in refs]


def get_table_rows(wildcards):
    rows = config["tables"][wildcards.table]["rows"]
    return json.dumps(
        {label: [eval_path(ref) for ref in refs] for label, refs in rows.items()}
    )


def get_final_targets():
    return [
        f"results/tables/{table}.{ext}"
        for table in config["tables"]
        for ext in ("csv", "md")
    ]


validate_config()
