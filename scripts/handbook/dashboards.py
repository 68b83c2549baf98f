"""Live training dashboards that stay on the machine: TensorBoard and Trackio.

A run whose recipe or args say `report_to: tensorboard` (or `trackio`) logs its curves under
results/runs/, not inside its checkpoint folder: one TensorBoard directory per target
(results/runs/<stage>/<run>), and one Trackio store for the whole results folder
(results/runs/trackio) in which each sweep (or, outside a sweep, each stage) is a project, so the
runs of a sweep share one screen. `make dashboard` serves either on localhost.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from handbook import artifacts

logger = logging.getLogger("handbook")

# Reporters whose viewer runs on this machine from files under results/runs.
DASHBOARDS = ("tensorboard", "trackio")
# Environment variables each reads its folder from; one the user set is kept.
TENSORBOARD_DIR_VAR = "TENSORBOARD_LOGGING_DIR"
TRACKIO_DIR_VAR = "TRACKIO_DIR"
# TrainingArguments.project's default: a run left at it gets its sweep or stage.
DEFAULT_PROJECT = "huggingface"


def dashboards_of(report_to) -> list[str]:
    """The local dashboards a report_to value (a name, or a list of names in a recipe file)
    turns on."""
    names = [report_to] if isinstance(report_to, str) else report_to or []
    return [name for name in names if name in DASHBOARDS]


def job_args(stage: str, run: str, group: str, report_to) -> dict[str, str]:
    """The training job's arguments for its dashboards (none when it reports to none, so the
    commands of runs without one are unchanged)."""
    if not dashboards_of(report_to):
        return {}
    return {"run_dir": artifacts.RUN_DIR.format(stage=stage, run=run), "run_group": group}


def set_up(workflow_args, training_args) -> None:
    """Point the reporters at results/runs before the trainer builds its callbacks."""
    wanted = dashboards_of(training_args.report_to)
    if not wanted or not workflow_args.run_dir:
        return
    run_dir = Path(workflow_args.run_dir).resolve()
    name = f"{workflow_args.stage}/{run_dir.name}"
    if not training_args.run_name:
        training_args.run_name = name
    if "tensorboard" in wanted:
        os.environ.setdefault(TENSORBOARD_DIR_VAR, str(run_dir))
        logger.info("TensorBoard logs: %s", os.environ[TENSORBOARD_DIR_VAR])
    if "trackio" in wanted:
        store = Path(artifacts.TRACKIO_STORE).resolve()
        os.environ.setdefault(TRACKIO_DIR_VAR, str(store))
        if training_args.project == DEFAULT_PROJECT:
            training_args.project = workflow_args.run_group or workflow_args.stage
        logger.info(
            "Trackio run %s in project %s, store %s",
            training_args.run_name,
            training_args.project,
            os.environ[TRACKIO_DIR_VAR],
        )
