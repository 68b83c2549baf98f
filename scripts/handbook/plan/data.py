"""Jobs of workflow/rules/data.smk and base.smk: preparing and tokenizing datasets, and building
a tiny base model (its tokenizer, then a random init)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from handbook import artifacts
from handbook.config import dataset_entries
from handbook.methods import BASE
from handbook.plan.core import Plan
from handbook.plan.jobs import Job


def demo_world_spec(plan: Plan) -> str:
    return json.dumps(plan.config["demo_world"])


def dataset_sources(plan: Plan, dataset: str) -> list[str]:
    """Local sources a prepare job reads. Folders are named by their files, so a file fixed in
    place is prepared again (Snakemake sees a folder change only when files come or go)."""
    sources = []
    for source, splits in dataset_entries(plan.config["datasets"][dataset]):
        folder = plan.paths.origin / source
        if source.startswith("results/") and not Path(source).suffix:
            sources += [f"{source}/{split}.jsonl" for split in splits]
        elif not plan.is_hub(source) and folder.is_dir():
            files = (
                p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")
            )
            sources += [str(Path(source) / p.relative_to(folder)) for p in files]
        elif not plan.is_hub(source):
            sources.append(source)
        else:
            sources += plan.hub_inputs
    return sorted(set(sources))


def dataset_spec(plan: Plan, dataset: str) -> dict:
    """A dataset's config entry as the jobs reading its sources take it (its tiny counterpart is
    the plan's business)."""
    return {k: v for k, v in plan.config["datasets"][dataset].items() if k != "tiny"}


def prepare_job(plan: Plan, dataset: str) -> Job:
    return Job(
        inputs={"sources": dataset_sources(plan, dataset)},
        args=json.dumps(dataset_spec(plan, dataset)),
    )


def tokenize_job(plan: Plan, dataset: str, base: str) -> Job:
    """Tokenized with the base model's tokenizer, and the chat template the config gives it."""
    ref = f"{BASE}/{base}"
    template = plan.chat_template_of(base)
    args = f"--tokenizer {plan.model_location(ref)}"
    return Job(
        inputs={
            "prepared": artifacts.PREPARED.format(dataset=dataset),
            "tokenizer": plan.model_inputs(ref),
        },
        args=args + (f" --chat_template {template}" if template else ""),
    )


def base_build(plan: Plan, base: str) -> dict:
    build = plan.config["base_models"][base].get("build")
    if build is None:
        raise plan.error(
            f"base_models.{base}", "has no 'build' section, so it cannot be built here"
        )
    return build


def tokenizer_job(plan: Plan, base: str) -> Job:
    build = base_build(plan, base)
    return Job(inputs={"corpus": build["corpus"]}, args=f"--vocab_size {build['vocab_size']}")


def init_job(plan: Plan, base: str) -> Job:
    build = base_build(plan, base)
    return Job(
        inputs={"tokenizer": artifacts.TOKENIZER.format(base=base)},
        args=f"--arch {shlex.quote(json.dumps(build['arch']))} --seed {build.get('seed', 0)}",
    )
