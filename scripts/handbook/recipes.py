"""Recipe files, ours and the alignment handbook's, resolved to what a TRL trainer takes.

    python -m handbook.recipes check FILE [--stage STAGE]

loads a recipe as the training entry point would and prints the trainer arguments it resolves to,
with every key that was mapped or dropped; a file that cannot be used exits non-zero with one line
naming the file and key. The stage comes from the path's sft/, dpo/, orpo/ ... folder when omitted.

A handbook recipe holds model, data and trainer keys in one file, some under names TRL 1.x or
transformers 5 renamed or removed. Its trainer and model keys are mapped here, with one note each;
its data keys (`dataset_mixture`, `dataset_name` ..., legacy `dataset_mixer`/`dataset_splits`) and
`model_name_or_path` give a run its dataset and starting model when the config does not
(recipe_dataset, recipe_model); an inline `chat_template` goes to the tokenizer. Pushing to the hub
and reporting to wandb stay off unless a run's args turn them on.

Nothing here imports torch: the plan reads recipes too. `check` imports TRL for the config class.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from handbook import yamlio
from handbook.methods import METHODS

# Keys the handbook used that TRL 1.16 or transformers 5 took under another name.
RENAMED = {
    "torch_dtype": "dtype",
    "max_seq_length": "max_length",
    "warmup_ratio": "warmup_steps",  # a float below 1 is a share of the steps in transformers 5
    "preprocessing_num_workers": "dataset_num_proc",
    "evaluation_strategy": "eval_strategy",  # older handbook files; removed from transformers 4.46
}
# Keys that mean nothing to the workflow's trainers any more, and why.
DROPPED = {
    "overwrite_output_dir": (
        "removed from transformers 5; checkpoints are kept apart and a rebuilt target resumes"
    ),
    "hub_model_revision": "the handbook's own key; the hub branch is hub_revision when pushing",
    "auto_insert_empty_system_msg": "the handbook's own key; conversations are used as they are",
    "max_prompt_length": "gone from TRL's DPO; only the whole sequence is truncated (max_length)",
    "dataset_text_field": "the workflow tokenizes the data itself (text or messages columns)",
    "tokenizer_name_or_path": (
        "the tokenizer is the starting model's; a chat_template key or the base model's "
        "chat_template sets its template"
    ),
}
# Data keys: they describe the run's dataset (config 'datasets' form), not the trainer.
DATA_KEYS = (
    "dataset_mixture",
    "dataset_name",
    "dataset_config",
    "dataset_train_split",
    "dataset_test_split",
    "dataset_mixer",
    "dataset_splits",
)
# Trainer values replaced by newer ones.
VALUE_MAPS = {("packing_strategy", "ffd"): "bfd"}
# Reporters that send a run's logs off the machine: off unless the run's args turn them on (a
# recipe copied from the handbook would log to wandb, and push every checkpoint to the hub).
REMOTE_REPORTERS = {
    "wandb",
    "all",
    "comet_ml",
    "neptune",
    "clearml",
    "dagshub",
    "swanlab",
    "dvclive",
    "mlflow",
}
# What a job on a machine without CUDA sets over its recipe: TRL's bf16 default is emulated and
# much slower on CPU, and gradient checkpointing only trades speed for memory.
CPU_OVERRIDES = {"bf16": False, "fp16": False, "gradient_checkpointing": False}
# Keys the workflow's own argument class takes (handbook.training.WorkflowArguments).
WORKFLOW_KEYS = {
    "dataset_path",
    "checkpoint_dir",
    "stage",
    "gpus",
    "tiny_scale",
    "chat_template",
    "global_batch",
    "rehearsal",
}


class RecipeFileError(ValueError):
    """A recipe that cannot be used, said as '<file>: <key>: <what is wrong>'."""


@dataclass
class Resolved:
    """A recipe as a trainer takes it: arguments, plus what it says about data and model."""

    args: dict
    notes: list[str] = field(default_factory=list)  # one line per key mapped, dropped or turned off
    dataset: dict | None = None  # a config 'datasets' entry, when the recipe names its data
    model: str | None = None  # model_name_or_path, when the recipe names it


def read_recipe(path: str | Path) -> dict:
    try:
        data = yamlio.load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RecipeFileError(
            f"{path}: cannot be read as YAML ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(data, dict):
        raise RecipeFileError(
            f"{path}: expected a mapping of recipe keys, got {type(data).__name__}"
        )
    return data


def chat_template_from(value: str) -> str:
    """A chat template given inline, as a Jinja file, or as a recipe YAML holding one."""
    if "{%" in value or "{{" in value:
        return value
    path = Path(value)
    if not path.is_file():
        raise RecipeFileError(
            f"chat_template: no such file '{value}' (give Jinja text, a .jinja file or a recipe)"
        )
    if path.suffix in (".yaml", ".yml"):
        template = read_recipe(path).get("chat_template")
        if not isinstance(template, str) or not template.strip():
            raise RecipeFileError(f"{path}: chat_template: the recipe has no inline chat template")
        return template
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise RecipeFileError(f"{path}: chat_template: not a text file (give a Jinja template)")
    if "{%" not in text and "{{" not in text:
        raise RecipeFileError(
            f"{path}: chat_template: holds no Jinja ({{% ... %}} or {{{{ ... }}}})"
        )
    return text


def stage_of(path: str | Path) -> str | None:
    """The training method a recipe's folder names (config/recipes/<model>/<stage>/<file>)."""
    for part in reversed(Path(path).parent.parts):
        if part in METHODS:
            return part
    return None


def recipe_dataset(recipe: dict, source: str) -> dict | None:
    """The recipe's data keys as a config 'datasets' entry (None when it names no data)."""
    if "dataset_mixture" in recipe:
        mixture = recipe["dataset_mixture"]
        if (
            not isinstance(mixture, dict)
            or not isinstance(mixture.get("datasets"), list)
            or not mixture["datasets"]
        ):
            raise RecipeFileError(
                f"{source}: dataset_mixture: expected "
                "{datasets: [{id, split, columns, weight}, ...]}"
            )
        for i, entry in enumerate(mixture["datasets"]):
            if not isinstance(entry, dict) or "id" not in entry:
                raise RecipeFileError(f"{source}: dataset_mixture.datasets[{i}]: needs an 'id'")
        keep = ("datasets", "seed", "test_split_size")
        return {"dataset_mixture": {k: copy.deepcopy(v) for k, v in mixture.items() if k in keep}}
    if "dataset_mixer" in recipe:
        return legacy_dataset(recipe, source)
    if "dataset_name" in recipe:
        spec = {"dataset_name": recipe["dataset_name"]}
        for key in ("dataset_config", "dataset_train_split", "dataset_test_split"):
            if recipe.get(key) is not None:
                spec[key] = recipe[key]
        return spec
    return None


def legacy_dataset(recipe: dict, source: str) -> dict:
    """The handbook's first form: dataset_mixer {id: fraction} and dataset_splits [train...,
    test...]."""
    mixer = recipe["dataset_mixer"]
    if not isinstance(mixer, dict) or not mixer:
        raise RecipeFileError(
            f"{source}: dataset_mixer: expected {{hub id or path: fraction, ...}}"
        )
    splits = recipe.get("dataset_splits") or ["train", "test"]
    train = [s for s in splits if "train" in s]
    test = [s for s in splits if "test" in s]
    if len(train) != 1 or len(test) > 1:
        raise RecipeFileError(
            f"{source}: dataset_splits: expected one train and at most one test split, got {splits}"
        )
    if len(mixer) == 1 and float(next(iter(mixer.values()))) == 1.0:
        spec = {"dataset_name": next(iter(mixer)), "dataset_train_split": train[0]}
        return {**spec, "dataset_test_split": test[0]} if test else spec
    entries = [
        {"id": name, "split": train[0], "weight": float(weight)} for name, weight in mixer.items()
    ]
    mixture = {"datasets": entries, "seed": 0}
    if test:
        mixture["test_split"] = test[0]
    return {"dataset_mixture": mixture}


def resolve(recipe: dict, known: set[str] | None, source: str) -> Resolved:
    """Map a recipe's keys to the trainer's. `known` is every argument the entry point takes (None
    at plan time: trainer keys are then checked by the job). Unknown keys are one error."""
    recipe = copy.deepcopy(recipe)
    out = Resolved(args={}, dataset=recipe_dataset(recipe, source))
    out.model = recipe.get("model_name_or_path")
    for key in DATA_KEYS:
        if key in recipe:
            recipe.pop(key)
    if out.dataset is not None:
        out.notes.append("dataset keys: give the run its dataset (a run's own 'dataset' wins)")
    loss = recipe.get("loss_type")
    if loss == "kto_pair" or (isinstance(loss, list) and "kto_pair" in loss):
        raise RecipeFileError(
            f"{source}: loss_type: kto_pair is gone from TRL (since 0.9.6); train this as a kto "
            "run (stage kto, KTOTrainer on the pairs split into desirable and undesirable replies)"
        )
    unknown = []
    for key, value in recipe.items():
        if key in RENAMED and not (known and key in known):
            new = RENAMED[key]
            if new in recipe:
                out.notes.append(f"{key}: dropped, the recipe also sets {new}")
                continue
            out.args[new] = value
            out.notes.append(f"{key} -> {new}")
        elif key in DROPPED and not (known and key in known):
            out.notes.append(f"{key}: dropped ({DROPPED[key]})")
        elif key == "dataset_kwargs":
            kept = {k: v for k, v in (value or {}).items() if k == "skip_prepare_dataset"}
            if set(value or {}) - set(kept):
                out.notes.append(
                    f"dataset_kwargs: dropped {sorted(set(value) - set(kept))} (the data is "
                    "tokenized by the workflow)"
                )
            if kept and (known is None or key in known):
                out.args[key] = kept
        elif key == "push_to_hub" and value:
            out.args[key] = False
            out.notes.append(
                "push_to_hub: true -> false (turn it on in the run's args: push_to_hub: true)"
            )
        elif key == "report_to" and remote_reporters(value):
            local = [
                r
                for r in ([value] if isinstance(value, str) else value)
                if r not in REMOTE_REPORTERS
            ]
            out.args[key] = local or "none"
            out.notes.append(
                f"report_to: {value!r} -> {out.args[key]!r} (turn it on in the run's args)"
            )
        elif known is not None and key not in known and key != "env":
            unknown.append(key)
        else:
            mapped = VALUE_MAPS.get((key, value)) if isinstance(value, str) else None
            if mapped is not None:
                out.notes.append(f"{key}: {value} -> {mapped}")
                value = mapped
            out.args[key] = value
    if unknown:
        raise RecipeFileError(f"{source}: unknown recipe key(s) {', '.join(unknown)}")
    return out


def remote_reporters(value) -> list[str]:
    return [
        r for r in ([value] if isinstance(value, str) else value or []) if r in REMOTE_REPORTERS
    ]


def known_keys(*classes) -> set[str]:
    return {f.name for cls in classes for f in dataclasses.fields(cls)} | WORKFLOW_KEYS


def check(path: str, stage: str | None) -> int:
    """Load a recipe as the stage's entry point would and print what it resolves to."""
    import os
    import warnings

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from transformers import HfArgumentParser
    from trl import ModelConfig

    stage = stage or stage_of(path)
    if stage is None:
        raise RecipeFileError(
            f"{path}: no stage folder ({'/'.join(METHODS)}) in its path; give --stage"
        )
    config_cls = METHODS[stage].load_config_class()
    resolved = resolve(read_recipe(path), known_keys(config_cls, ModelConfig), path)
    trainer_args = {k: v for k, v in resolved.args.items() if k not in WORKFLOW_KEYS and k != "env"}
    # Build the argument classes as the job would (on a machine without CUDA it trains in fp32
    # without checkpointing), so a bad value fails here too.
    on_cpu = {} if torch.cuda.is_available() else dict(CPU_OVERRIDES)
    parser = HfArgumentParser((config_cls, ModelConfig))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            config, _ = parser.parse_dict(
                {"output_dir": "unused", **trainer_args, **on_cpu}, allow_extra_keys=False
            )
    except (ValueError, TypeError) as err:
        raise RecipeFileError(f"{path}: {str(err).splitlines()[0]}") from None
    print(f"{path}: a {stage} recipe for {type(config).__name__}")
    if on_cpu:
        print("  no CUDA here: a job on this machine trains in fp32 without gradient checkpointing")
    if resolved.model:
        print(f"  model: {resolved.model} (a run's own 'model' wins)")
    if resolved.dataset:
        print(
            "  dataset: "
            f"{yaml.safe_dump(resolved.dataset, default_flow_style=True, width=1000).strip()}"
        )
    if "chat_template" in resolved.args:
        print("  chat_template: inline (given to the tokenizer; the trained model carries it)")
    print("  trainer arguments:")
    for key in sorted(trainer_args):
        value = getattr(config, key, trainer_args[key])
        print(f"    {key}: {value.value if hasattr(value, 'value') else value!r}")
    for note in resolved.notes:
        print(f"  mapped: {note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handbook.recipes", description="Recipe files.")
    sub = parser.add_subparsers(dest="command", required=True)
    checking = sub.add_parser("check", help="load a recipe as its training entry point would")
    checking.add_argument("file")
    checking.add_argument("--stage", choices=list(METHODS), help="default: the path's stage folder")
    args = parser.parse_args(argv)
    try:
        return check(args.file, args.stage)
    except RecipeFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
