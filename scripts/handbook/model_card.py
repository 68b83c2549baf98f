"""A model card (README.md in the Hub's format) in every trained model folder: how it was made,
what it scored during training, and how to load it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from handbook.hub import is_hub_id
from handbook.provenance import to_jsonable, write_text_atomic
from handbook.secrets import redact

# Trainer and model arguments a reader wants first; the rest is in provenance.json.
KEY_ARGUMENTS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "lr_scheduler_type",
    "warmup_ratio",
    "warmup_steps",
    "max_length",
    "loss_type",
    "beta",
    "packing",
    "assistant_only_loss",
    "seed",
    "use_peft",
    "lora_r",
    "lora_alpha",
)
# Metrics worth a line in the card, when the trainer reported them.
KEY_METRICS = (
    "train_loss",
    "eval_loss",
    "eval_rewards/accuracies",
    "eval_rewards/margins",
    "eval_accuracy",
    "train_runtime",
)


def read_provenance(folder: str | Path) -> dict:
    path = Path(folder) / "provenance.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def dataset_origin(dataset_path: str) -> tuple[str | None, list[str]]:
    """The dataset's name and sources, found by following provenance back to the prepared data
    (a tokenized set or reference log-probs name the prepared folder they came from)."""
    folder, seen = dataset_path, set()
    while folder and folder not in seen:
        seen.add(folder)
        record = read_provenance(folder)
        config = record.get("config") or {}
        if isinstance(config, dict) and "spec" in config:
            spec = config["spec"]
            mixture = spec.get("dataset_mixture", {}).get("datasets")
            sources = [e["id"] for e in mixture] if mixture else [spec.get("dataset_name")]
            return config.get("name"), [s for s in sources if s]
        inputs = record.get("inputs") or {}
        folder = inputs.get("prepared") or inputs.get("dataset")
    return None, []


def key_arguments(parsed) -> dict[str, Any]:
    """The arguments of KEY_ARGUMENTS that take effect, as they read in a recipe."""
    values = {}
    for args in parsed:
        for name in KEY_ARGUMENTS:
            value = to_jsonable(getattr(args, name, None))
            if (
                value is None
                or (name == "max_steps" and value <= 0)
                or (name.startswith("warmup") and not value)
            ):
                continue
            values.setdefault(name, f"{value:g}" if isinstance(value, float) else value)
    if not values.get("use_peft"):
        values = {k: v for k, v in values.items() if not k.startswith("lora_")}
    return redact(values)


def render_model_card(
    *,
    title: str,
    method: str,
    trainer: str,
    parent: str,
    dataset_path: str,
    dataset_name: str | None,
    sources: list[str],
    arguments: dict[str, Any],
    metrics: dict[str, Any],
    reward_model: bool = False,
) -> str:
    loader = "AutoModelForSequenceClassification" if reward_model else "AutoModelForCausalLM"
    metadata = {
        "library_name": "transformers",
        "license": "other",
        "tags": ["trl", method, "alignment-workflow"],
    }
    if is_hub_id(parent):
        metadata["base_model"] = parent
    hub_datasets = [s for s in sources if is_hub_id(s)]
    if hub_datasets:
        metadata["datasets"] = hub_datasets
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        f"Trained with TRL's `{trainer}` (method `{method}`) from `{parent}` on "
        f"`{dataset_name or dataset_path}` "
        f"({', '.join(f'`{s}`' for s in sources) or 'sources not recorded'}).",
        "The license is that of the base model and the data: set `license` above before sharing.",
        "",
        "## Training",
        "",
        "| argument | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in arguments.items()),
        "",
        "Every resolved argument, package versions and the git revision are in `provenance.json`; "
        f"the training curves in `log_history.json`. Data: `{dataset_path}`.",
        "",
        "## Results during training",
        "",
    ]
    shown = {k: metrics[k] for k in KEY_METRICS if isinstance(metrics.get(k), (int, float))}
    lines += [f"- {k}: {v:.4g}" for k, v in shown.items()] or ["- none reported"]
    lines += [
        "",
        "All metrics are in `metrics.json`. Held-out evaluations of this model are separate "
        "artifacts of the workflow (`results/eval/<stage>/<run>/`).",
        "",
        "## How to load",
        "",
        "```python",
        f"from transformers import {loader}, AutoTokenizer",
        "",
        f'model = {loader}.from_pretrained("<this folder>")',
        'tokenizer = AutoTokenizer.from_pretrained("<this folder>")  # carries its chat template',
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(final_dir: str, parsed, trainer, metrics: dict, into=None) -> Path:
    """README.md of the model that will be at `final_dir`, written atomically into `into` (its
    staging folder) or `final_dir`."""
    workflow_args, _, model_args = parsed
    folder = Path(final_dir)
    dataset_name, sources = dataset_origin(workflow_args.dataset_path)
    text = render_model_card(
        title="/".join(folder.parts[-2:]),
        method=getattr(workflow_args, "stage", None)
        or type(trainer).__name__.removesuffix("Trainer").lower(),
        trainer=type(trainer).__name__,
        parent=model_args.model_name_or_path,
        dataset_path=workflow_args.dataset_path,
        dataset_name=dataset_name,
        sources=sources,
        arguments=key_arguments(parsed),
        metrics=metrics,
        reward_model=type(trainer).__name__ == "RewardTrainer",
    )
    target = Path(into or folder) / "README.md"
    write_text_atomic(target, text)
    return target
