"""The plan's checks: every name the config uses is defined and every value a run would train
with makes sense, before any job runs, each failure naming the config key (or recipe file) and
what to change."""

from __future__ import annotations

import math
from pathlib import Path

from handbook.methods import BASE, METHODS
from handbook.plan.core import Plan, Run
from handbook.plan.eval import suite_at_scale
from handbook.plan.judges import check_endpoint, endpoint_name, judged_by_reward_model
from handbook.plan.recipes import read_yaml
from handbook.plan.train import batch, reference_groups, reference_settings
from handbook.recipes import RecipeFileError, chat_template_from
from handbook.secrets import is_secret_name
from handbook.tables import table_kind
from handbook.verifiers import VERIFIERS


def check_runs(plan: Plan) -> None:
    """Every run's models, data, recipe and settings, and every base model's files."""
    config = plan.config
    # Iterative DPO first: its rounds' runs and sampling setups derive from it, so it is the key
    # to name.
    for name, spec in config.get("iterative_dpo", {}).items():
        check_sampling(plan, f"iterative_dpo.{name}", spec)
    for ref, run in plan.runs.items():
        where = f"runs.{run.stage}.{run.name}"
        plan.check_model(run.model, f"{where}.model")
        if run.reference_model:
            plan.check_model(run.reference_model, f"{where}.reference_model")
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
            recipe = read_yaml(run.recipe)
        except RecipeFileError as err:  # unreadable, not a mapping, or a key given twice
            raise plan.error(f"{where}.recipe", str(err)) from None
        if not recipe and run.method.data != "model":
            raise plan.error(
                f"{where}.recipe",
                f"'{run.recipe}' is empty: the run would train on TRL's defaults (give at least "
                "its learning_rate and epochs or max_steps)",
            )
        folder = Path(run.recipe).parent.name  # recipes live in config/recipes/<model>/<stage>/
        if folder in METHODS and METHODS[folder].config_class != run.method.config_class:
            raise plan.error(
                f"{where}.recipe",
                f"a {folder} recipe ({METHODS[folder].config_class}) on a {run.stage} run "
                f"({run.method.config_class})",
            )
        check_loss_type(plan, run, where)
        check_values(plan, run, where)
        check_no_secret_args(plan, run, where)
        check_assistant_only(plan, run, where)
        batch(plan, run)  # a global batch its processes cannot hold
        if run.nodes > 1 and not run.gpus_per_node:
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


def check_table(plan: Plan, name: str) -> None:
    """A table's suites and judges are defined (its rows are checked as they are resolved)."""
    config = plan.config
    for suite in config["tables"][name].get("suites", []):
        if suite not in config["suites"]:
            raise plan.error(f"tables.{name}.suites", f"unknown suite '{suite}'")
        if suite_at_scale(plan, suite) not in config["suites"]:
            raise plan.error(
                f"suites.{suite}.tiny", f"unknown suite '{suite_at_scale(plan, suite)}'"
            )
    for judge in config["tables"][name].get("judges", []):
        if judge not in config["judges"]:
            raise plan.error(f"tables.{name}.judges", f"unknown judge '{judge}'")
        endpoint = endpoint_name(plan, judge)
        if endpoint:
            check_endpoint(plan, endpoint)
        if judged_by_reward_model(plan, judge) and not config["eval"]["demo"].get("judge"):
            raise plan.error(
                f"judges.{judge}.endpoint",
                "a reward-model judge compares with eval.demo.judge.baseline; set it",
            )
    rows = config["tables"][name].get("rows")
    labels = set(rows) if table_kind(config["tables"][name]) == "label" else set()
    if config["tables"][name].get("plot") == "pass_at_k" and not labels:
        raise plan.error(f"tables.{name}.plot", "pass_at_k plots a table with rows by label")
    for i, published in enumerate(config["tables"][name].get("published") or []):
        row = published.get("reproduced_by")
        if row is not None and row not in labels:
            raise plan.error(
                f"tables.{name}.published[{i}].reproduced_by",
                f"no row '{row}' in this table (rows: {sorted(labels)})",
            )
        unknown = sorted(set(published.get("tolerance") or {}) - set(published["values"]))
        if unknown:
            raise plan.error(
                f"tables.{name}.published[{i}].tolerance",
                f"{unknown}: no published value to hold ours to",
            )


def check_shared(plan: Plan) -> None:
    """What runs share (reference log-probs), the sampling setups, and the demo judge."""
    config = plan.config
    for dataset, ref in reference_groups(plan):
        reference_settings(plan, dataset, ref)
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
                "a secret on the job's command line would be printed and kept in .snakemake/: "
                "set it in the environment (HF_TOKEN for the hub) or in the run's recipe file",
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
            f"{unknown[0]!r} is not a {run.stage} loss "
            f"(one of {list(run.method.loss_types)}){hint}",
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
            f"assistant_only_loss: true needs {{% generation %}} markers, which the chat template "
            f"{template} of base/{base} lacks (use a template with them, or "
            "assistant_only_loss: false to train on every token)",
        )


def check_no_cycle(plan: Plan, ref: str, where: str) -> None:
    chain = [ref]
    while not chain[-1].startswith(f"{BASE}/"):
        nxt = plan.runs[chain[-1]].model
        if nxt in chain:
            raise plan.error(f"{where}.model", f"models form a cycle: {' <- '.join(chain + [nxt])}")
        chain.append(nxt)
