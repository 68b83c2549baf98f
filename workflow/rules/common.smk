# The plan (scripts/handbook/plan.py) resolves the config once; the input functions here only
# read it. No rules here.
import os
import sys
from pathlib import Path

from snakemake.logging import logger

REPO = Path(workflow.basedir).parent
SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))

from handbook.plan import ConfigError, build_plan, write_plan  # noqa: E402
from handbook.methods import stage_pattern  # noqa: E402
from handbook.plan import JUDGE_ANSWERS, JUDGE_DEMO_PROMPTS  # noqa: E402

# Scripts import the shared package from scripts/, also inside conda envs and SLURM jobs; the
# job's start time lets them log how long start-up took (handbook.provenance.log_startup).
JOB_PREFIX = f"export PYTHONPATH={SCRIPTS}${{{{PYTHONPATH:+:$PYTHONPATH}}}} HANDBOOK_JOB_START=$(date +%s.%N); "

# At rehearsal every job reads the hub through the stand-ins' caches, with the hub switched off
# (jobs run in the rehearsal's working directory, so the paths are relative to it).
REHEARSAL_ENV = (
    "export HF_HUB_CACHE=$PWD/results/standins/hub HF_DATASETS_CACHE=$PWD/results/standins/datasets "
    "NLTK_DATA=$PWD/results/standins/nltk_data HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1; "
)

try:
    PLAN = build_plan(config, workflow.overwrite_configfiles, origin=Path.cwd())
except ConfigError as err:
    # The message alone, as the first line of the error: the helper's file and line would only
    # distract from the config key that is wrong.
    raise SystemExit(f"Config error: {err}") from None
shell.prefix(JOB_PREFIX + (REHEARSAL_ENV if PLAN.scale == "rehearsal" else ""))
for line in PLAN.from_recipes:
    logger.info(f"recipe: {line}")
for line in PLAN.replacements:
    logger.info(f"{PLAN.scale_name}: {line}")


def get_config_files_arg(wildcards):
    """The config files this workflow was started with, for a job that builds its own plan."""
    files = [str(Path(f).resolve()) for f in workflow.overwrite_configfiles]
    return f"--configfile {' '.join(files)}" if files else ""


def from_plan(name):
    """The input function get_<name>(wildcards): the plan's answer for these wildcards."""

    def get(wildcards):
        return getattr(PLAN, name)(**dict(wildcards.items()))

    get.__name__ = f"get_{name}"
    return get


def get_launcher(wildcards, resources, threads):
    """The launch command for the job's resources as they are at run time (a profile may set them)."""
    return PLAN.launcher(
        wildcards.stage,
        wildcards.run,
        gpu=resources.get("gpu", 0),
        nodes=resources.get("nodes", 1),
        threads=threads,
    )


get_base_corpus = from_plan("base_corpus")
get_tokenizer_train_args = from_plan("tokenizer_train_args")
get_init_args = from_plan("init_args")
get_dataset_sources = from_plan("dataset_sources")
get_dataset_spec = from_plan("dataset_spec")
get_tokenizer_inputs = from_plan("tokenizer_inputs")
get_tokenizer_args = from_plan("tokenizer_args")
get_train_inputs = from_plan("train_inputs")
get_train_env = from_plan("train_env")
get_train_threads = from_plan("train_threads")
get_train_gpus = from_plan("train_gpus")
get_train_mem_mb = from_plan("train_mem_mb")
get_train_runtime = from_plan("train_runtime")
get_train_nodes = from_plan("train_nodes")
get_train_script = from_plan("train_script")
get_train_model = from_plan("train_model_location")


def get_train_args(wildcards, resources):
    """The run's arguments for the job's resources as they are at run time: the global batch is
    kept on the GPUs a profile gives it by changing gradient accumulation, or the job stops.
    """
    return PLAN.train_args(
        wildcards.stage,
        wildcards.run,
        gpu=resources.get("gpu", 0),
        nodes=resources.get("nodes", 1),
    )


get_ref_inputs = from_plan("ref_inputs")
get_ref_gpus = from_plan("ref_gpus")
get_ref_runtime = from_plan("ref_runtime")
get_ref_mem_mb = from_plan("ref_mem_mb")
get_ref_model = from_plan("ref_model_location")
get_ref_args = from_plan("ref_args")
get_eval_inputs = from_plan("eval_inputs")
get_eval_model = from_plan("eval_model")
get_eval_args = from_plan("eval_args")
get_eval_gpus = from_plan("eval_gpus")
get_winrate_inputs = from_plan("winrate_inputs")
get_winrate_model = from_plan("winrate_model")
get_reward_eval_inputs = from_plan("reward_eval_inputs")
get_lm_eval_inputs = from_plan("lm_eval_inputs")
get_lm_eval_args = from_plan("lm_eval_args")
get_suites_json_arg = from_plan("suites_json_arg")
get_judge_answer_inputs = from_plan("judge_answer_inputs")
get_judge_answer_gpus = from_plan("judge_answer_gpus")
get_judge_answer_args = from_plan("judge_answer_args")
get_demo_judge_inputs = from_plan("demo_judge_inputs")
get_demo_judge_args = from_plan("demo_judge_args")
get_sampling_inputs = from_plan("sampling_inputs")
get_sampling_policy = from_plan("sampling_policy")
get_sampling_reward_model = from_plan("sampling_reward_model")
get_scoring_args = from_plan("scoring_args")
get_sampling_gpus = from_plan("sampling_gpus")
get_scoring_gpus = from_plan("scoring_gpus")
get_sampling_args = from_plan("sampling_args")
get_table_inputs = from_plan("table_inputs")
get_table_spec = from_plan("table_spec_arg")
get_curve_inputs = from_plan("curve_models")
get_curve_args = from_plan("curve_args")


# A job on a GPU gets CPUs for its data loading and tokenization; a CPU job at tiny scale one
# thread, so that many run side by side.
GPU_JOB_THREADS = 8


def get_eval_threads(wildcards):
    return GPU_JOB_THREADS if get_eval_gpus(wildcards) else 1


def get_judge_answer_threads(wildcards):
    return GPU_JOB_THREADS if get_judge_answer_gpus(wildcards) else 1


def get_sampling_threads(wildcards):
    return GPU_JOB_THREADS if get_sampling_gpus(wildcards) else 1


def get_scoring_threads(wildcards):
    return GPU_JOB_THREADS if get_scoring_gpus(wildcards) else 1
