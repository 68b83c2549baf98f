# The plan (scripts/handbook/plan/) resolves the config once; the input functions here only read
# the jobs its builders return, one module per rule file (handbook.plan.data, .train, ...). No
# rules here.
import functools
import os
import sys
from pathlib import Path

from snakemake.logging import logger

# This file's checkout, also when another project uses the workflow as a module (whose
# workflow.basedir is that project's). Jobs run its scripts, so it must be a local folder.
if not Path(str(workflow.current_basedir)).is_dir():
    raise SystemExit(
        f"The workflow must be a local checkout to run ({workflow.current_basedir}): clone it and "
        "name its workflow/Snakefile by path (config/README.md)"
    )
REPO = Path(str(workflow.current_basedir)).parents[1]
SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))

from handbook import artifacts, launch, model_folder, schedule  # noqa: E402
from handbook.config import under_defaults, user_config_files  # noqa: E402
from handbook.methods import stage_pattern  # noqa: E402
from handbook.plan import ConfigError, build_plan, write_plan  # noqa: E402
from handbook.plan import data as data_jobs  # noqa: E402
from handbook.plan import decontamination as decontamination_jobs  # noqa: E402
from handbook.plan import eval as eval_jobs  # noqa: E402
from handbook.plan import judges as judge_jobs  # noqa: E402
from handbook.plan import sampling as sampling_jobs  # noqa: E402
from handbook.plan import tables as table_jobs  # noqa: E402
from handbook.plan import train as train_jobs  # noqa: E402

JOB_PREFIX = launch.job_prefix(SCRIPTS)

# At rehearsal every job reads the hub through the stand-ins' caches, with the hub switched off
# (jobs run in the rehearsal's working directory, so the paths are relative to it).
REHEARSAL_ENV = (
    "export HF_HUB_CACHE=$PWD/results/standins/hub HF_DATASETS_CACHE=$PWD/results/standins/datasets "
    "NLTK_DATA=$PWD/results/standins/nltk_data HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1; "
)

# Used as a module of another project (config/README.md), the workflow
# gets that project's config without its own config/config.yaml: the defaults go under it.
_given = under_defaults(dict(config))
config.clear()
config.update(_given)
CONFIG_FILES = user_config_files(workflow.configfiles, workflow.overwrite_configfiles)
try:
    PLAN = build_plan(config, CONFIG_FILES, origin=Path.cwd())
except ConfigError as err:
    # The message alone, as the first line of the error: the helper's file and line would only
    # distract from the config key that is wrong.
    raise SystemExit(f"Config error: {err}") from None
shell.prefix(JOB_PREFIX + (REHEARSAL_ENV if PLAN.scale == "rehearsal" else ""))
for line in PLAN.from_recipes:
    logger.info(f"recipe: {line}")
# A built model whose files are not those its manifest lists (deleted, cut short) would count as
# done; names and sizes are checked here, hashes by the next job that loads it.
for line in model_folder.damaged(
    artifacts.model_dirs(PLAN.runs, PLAN.config["base_models"])
):
    logger.warning(line)
for line in PLAN.replacements:
    logger.info(f"{PLAN.scale_name}: {line}")


def get_config_files_arg(wildcards):
    """The config files this workflow was started with, for a job that builds its own plan."""
    # Relative to the job's working directory, which moves with the checkout.
    files = [os.path.relpath(Path(f).resolve()) for f in CONFIG_FILES]
    return f"--configfile {' '.join(files)}" if files else ""


# --- data.smk and base.smk


def get_dataset_sources(wildcards):
    return data_jobs.prepare_job(PLAN, wildcards.dataset).inputs["sources"]


def get_dataset_spec(wildcards):
    return data_jobs.prepare_job(PLAN, wildcards.dataset).args


def get_decontamination_inputs(wildcards):
    return decontamination_jobs.decontaminate_job(PLAN, wildcards.dataset).inputs


def get_decontamination_spec(wildcards):
    return decontamination_jobs.decontaminate_job(PLAN, wildcards.dataset).args


def get_decontamination_report_inputs(wildcards):
    return decontamination_jobs.report_job(PLAN, wildcards.table).inputs


def get_decontamination_report_spec(wildcards):
    return decontamination_jobs.report_job(PLAN, wildcards.table).args


def get_tokenize_inputs(wildcards):
    return data_jobs.tokenize_job(PLAN, wildcards.dataset, wildcards.base).inputs


def get_tokenize_args(wildcards):
    return data_jobs.tokenize_job(PLAN, wildcards.dataset, wildcards.base).args


def get_tokenizer_train_inputs(wildcards):
    return data_jobs.tokenizer_job(PLAN, wildcards.base).inputs


def get_tokenizer_train_args(wildcards):
    return data_jobs.tokenizer_job(PLAN, wildcards.base).args


def get_init_inputs(wildcards):
    return data_jobs.init_job(PLAN, wildcards.base).inputs


def get_init_args(wildcards):
    return data_jobs.init_job(PLAN, wildcards.base).args


# --- train.smk


@functools.cache
def train_job(stage, run):
    return train_jobs.train_job(PLAN, stage, run)


def get_train_inputs(wildcards):
    return train_job(wildcards.stage, wildcards.run).inputs


def get_train_env(wildcards):
    return train_job(wildcards.stage, wildcards.run).env


def get_train_threads(wildcards):
    return train_job(wildcards.stage, wildcards.run).threads


def get_train_priority(wildcards):
    return schedule.training(wildcards.stage)


def get_train_gpus(wildcards):
    """GPUs the job asks the scheduler for, over all its nodes."""
    return train_job(wildcards.stage, wildcards.run).gpus


def get_train_nodes(wildcards):
    return train_job(wildcards.stage, wildcards.run).nodes


def get_train_mem_mb(wildcards):
    return train_job(wildcards.stage, wildcards.run).mem_mb


def get_train_runtime(wildcards):
    return train_job(wildcards.stage, wildcards.run).runtime


def get_train_script(wildcards):
    return train_job(wildcards.stage, wildcards.run).script


def get_train_model(wildcards):
    return train_job(wildcards.stage, wildcards.run).model


def get_train_args(wildcards, resources):
    """The run's arguments for the job's resources as they are at run time: the global batch is
    kept on the GPUs a profile gives it by changing gradient accumulation, or the job stops.
    """
    job = train_job(wildcards.stage, wildcards.run)
    return job.args_for(resources.get("gpu", 0), resources.get("nodes", 1))


def get_launcher(wildcards, resources, threads):
    """The launch command for the job's resources as they are at run time (a profile may set them)."""
    job = train_job(wildcards.stage, wildcards.run)
    command = job.launcher_for(
        resources.get("gpu", 0), resources.get("nodes", 1), threads
    )
    return launch.exec_form(command)


@functools.cache
def reference_logps_job(dataset, stage, run):
    return train_jobs.reference_logps_job(PLAN, dataset, stage, run)


def get_reference_inputs(wildcards):
    return reference_logps_job(wildcards.dataset, wildcards.stage, wildcards.run).inputs


def get_reference_gpus(wildcards):
    return reference_logps_job(wildcards.dataset, wildcards.stage, wildcards.run).gpus


def get_reference_threads(wildcards):
    return reference_logps_job(
        wildcards.dataset, wildcards.stage, wildcards.run
    ).threads


def get_reference_runtime(wildcards):
    return reference_logps_job(
        wildcards.dataset, wildcards.stage, wildcards.run
    ).runtime


def get_reference_mem_mb(wildcards):
    return reference_logps_job(wildcards.dataset, wildcards.stage, wildcards.run).mem_mb


def get_reference_model(wildcards):
    return reference_logps_job(wildcards.dataset, wildcards.stage, wildcards.run).model


def get_reference_args(wildcards):
    return reference_logps_job(wildcards.dataset, wildcards.stage, wildcards.run).args


# --- sampling.smk


def get_sampling_inputs(wildcards):
    return sampling_jobs.sample_job(PLAN, wildcards.name).inputs


def get_sampling_policy(wildcards):
    return sampling_jobs.sample_job(PLAN, wildcards.name).model


def get_sampling_args(wildcards):
    return sampling_jobs.sample_job(PLAN, wildcards.name).args


def get_sampling_gpus(wildcards):
    return sampling_jobs.sample_job(PLAN, wildcards.name).gpus


def get_sampling_threads(wildcards):
    return sampling_jobs.sample_job(PLAN, wildcards.name).threads


def get_scoring_inputs(wildcards):
    return sampling_jobs.score_job(PLAN, wildcards.name).inputs


def get_scoring_args(wildcards):
    return sampling_jobs.score_job(PLAN, wildcards.name).args


def get_scoring_gpus(wildcards):
    return sampling_jobs.score_job(PLAN, wildcards.name).gpus


def get_scoring_threads(wildcards):
    return sampling_jobs.score_job(PLAN, wildcards.name).threads


# --- eval.smk


@functools.cache
def demo_eval_job(stage, run):
    return eval_jobs.demo_eval_job(PLAN, stage, run)


def get_eval_inputs(wildcards):
    return demo_eval_job(wildcards.stage, wildcards.run).inputs


def get_eval_model(wildcards):
    return demo_eval_job(wildcards.stage, wildcards.run).model


def get_eval_args(wildcards):
    return demo_eval_job(wildcards.stage, wildcards.run).args


def get_winrate_inputs(wildcards):
    return eval_jobs.winrate_job(PLAN, wildcards.stage, wildcards.run).inputs


def get_winrate_model(wildcards):
    return eval_jobs.winrate_job(PLAN, wildcards.stage, wildcards.run).model


def get_reward_eval_inputs(wildcards):
    return eval_jobs.reward_eval_job(PLAN, wildcards.run).inputs


def get_suites_json_arg(wildcards):
    return eval_jobs.suites_json_arg(PLAN, wildcards.suite)


@functools.cache
def lm_eval_job(stage, run, suite):
    return eval_jobs.lm_eval_job(PLAN, stage, run, suite)


def get_lm_eval_inputs(wildcards):
    return lm_eval_job(wildcards.stage, wildcards.run, wildcards.suite).inputs


def get_lm_eval_model(wildcards):
    return lm_eval_job(wildcards.stage, wildcards.run, wildcards.suite).model


def get_lm_eval_args(wildcards):
    return lm_eval_job(wildcards.stage, wildcards.run, wildcards.suite).args


def get_lm_eval_gpus(wildcards):
    return lm_eval_job(wildcards.stage, wildcards.run, wildcards.suite).gpus


def get_lm_eval_threads(wildcards):
    return lm_eval_job(wildcards.stage, wildcards.run, wildcards.suite).threads


def get_judge_answer_inputs(wildcards):
    return judge_jobs.answer_job(PLAN, wildcards.judge, wildcards.model_id).inputs


def get_judge_answer_args(wildcards):
    return judge_jobs.answer_job(PLAN, wildcards.judge, wildcards.model_id).args


def get_judge_answer_gpus(wildcards):
    return judge_jobs.answer_job(PLAN, wildcards.judge, wildcards.model_id).gpus


def get_judge_answer_threads(wildcards):
    return judge_jobs.answer_job(PLAN, wildcards.judge, wildcards.model_id).threads


def get_demo_judge_inputs(wildcards):
    return table_jobs.demo_judge_job(
        PLAN, wildcards.judge, wildcards.table, wildcards.ext
    ).inputs


def get_demo_judge_args(wildcards):
    return table_jobs.demo_judge_job(
        PLAN, wildcards.judge, wildcards.table, wildcards.ext
    ).args


@functools.cache
def verdicts_job(judge, table):
    return table_jobs.verdicts_job(PLAN, judge, table)


def get_verdicts_inputs(wildcards):
    return verdicts_job(wildcards.judge, wildcards.table).inputs


def get_verdicts_args(wildcards):
    return verdicts_job(wildcards.judge, wildcards.table).args


def get_verdicts_gpus(wildcards):
    return verdicts_job(wildcards.judge, wildcards.table).gpus


def get_verdicts_threads(wildcards):
    return verdicts_job(wildcards.judge, wildcards.table).threads


def get_verdicts_env(wildcards):
    return verdicts_job(wildcards.judge, wildcards.table).env


def get_endpoint_digest(wildcards):
    return judge_jobs.endpoint_digest(PLAN, wildcards.judge)


def get_download_args(wildcards):
    return judge_jobs.download_job(PLAN, wildcards.name).args


# --- tables.smk


@functools.cache
def table_job(table):
    return table_jobs.table_job(PLAN, table)


def get_table_inputs(wildcards):
    return table_job(wildcards.table).inputs


def get_table_spec(wildcards):
    return table_job(wildcards.table).args


def get_curve_inputs(wildcards):
    return table_jobs.curves_job(PLAN, wildcards.table).inputs


def get_curve_args(wildcards):
    return table_jobs.curves_job(PLAN, wildcards.table).args
