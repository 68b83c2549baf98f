"""GRPO with verifiable rewards: the run's settings, its prompts, and the record of its rollouts.

TRL's GRPOTrainer takes reward functions as Python objects; a recipe names them (`reward_funcs`,
weighted by GRPOConfig's `reward_weights`) among the verifiers of handbook.verifiers, as the
open-r1 recipes do. What the policy generated and what each verifier gave it is kept, a few
completions per step, in the final model's rollouts.jsonl, and logged as the run goes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback
from trl import GRPOConfig

from handbook import verifiers
from handbook.data import DataError
from handbook.training import RecipeError, scale_name

logger = logging.getLogger("handbook.rl")

# What GRPOTrainer passes to reward functions besides the data's columns.
TRAINER_KWARGS = ("trainer_state", "log_extra", "log_metric", "environments", "completion_ids")


@dataclass
class GRPORunConfig(GRPOConfig):
    """GRPOConfig and the verifiers that reward the run (names in handbook.verifiers.VERIFIERS)."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["demo_answer"],
        metadata={"help": "Verifiers whose (weighted, see reward_weights) sum is the reward."},
    )


def check_vllm(workflow_args, training_args) -> None:
    """`use_vllm` needs vLLM (and CUDA): a tiny-scale run generates with transformers instead, a
    full-scale run without it stops before loading the model."""
    import importlib.util

    import torch

    if not training_args.use_vllm:
        return
    have = {"vllm": importlib.util.find_spec("vllm") is not None, "CUDA": torch.cuda.is_available()}
    missing = [name for name, ok in have.items() if not ok]
    if not missing:
        return
    if workflow_args.tiny_scale or workflow_args.rehearsal:
        logger.warning(
            "use_vllm needs %s: %s generates with transformers instead",
            " and ".join(missing),
            scale_name(workflow_args),
        )
        training_args.use_vllm = False
        return
    raise RecipeError(
        f"use_vllm: true needs {' and '.join(missing)}, missing on this machine (the gpu extra has "
        "vLLM; or set use_vllm: false)"
    )


def conversational_prompts(dataset, tokenizer, where: str):
    """Prompt-only rows whose prompt is a string become one user turn when the model has a chat
    template (a chat model answers in its format); message-list prompts are kept as they are."""
    if "prompt" not in dataset.column_names:
        raise DataError(
            f"{where}: GRPO trains on prompt-only data (a 'prompt' column); found "
            f"{dataset.column_names}"
        )
    if (
        len(dataset) == 0
        or not isinstance(dataset[0]["prompt"], str)
        or not tokenizer.chat_template
    ):
        return dataset
    logger.info("%s: string prompts given to the chat model as one user turn each", where)
    return dataset.map(lambda row: {"prompt": [{"role": "user", "content": row["prompt"]}]})


def check_columns(dataset, names: list[str], where: str) -> None:
    """Verifiers that check an answer need the data's 'answer' column, before any generation."""
    needs_answer = verifiers.NEEDS_ANSWER & set(names)
    if needs_answer and "answer" not in dataset.column_names:
        raise DataError(
            f"{where}: verifier '{sorted(needs_answer)[0]}' needs an 'answer' column (columns: "
            f"{dataset.column_names})"
        )


class CompletionsFolder(TrainerCallback):
    """TRL writes its completion tables (log_completions) to <output_dir>/completions/ without
    creating the folder; it is made once training starts, after the checkpoint folder is set up."""

    def on_train_begin(self, args, state, control, **kwargs):
        Path(args.output_dir, "completions").mkdir(parents=True, exist_ok=True)


@dataclass
class RolloutLog:
    """Wraps the verifiers so each batch's first `per_batch` completions and their rewards are
    kept."""

    names: list[str]
    per_batch: int = 4
    records: list[dict] = field(default_factory=list)

    def functions(self) -> list:
        return [
            self._wrap(i, name, fn)
            for i, (name, fn) in enumerate(zip(self.names, verifiers.get(self.names)))
        ]

    def _wrap(self, index: int, name: str, fn):
        def reward(prompts=None, completions=None, **kwargs):
            columns = {k: v for k, v in kwargs.items() if k not in TRAINER_KWARGS}
            values = fn(completions, **columns)
            if index == 0:
                state = kwargs.get("trainer_state")
                self.records.append(
                    {
                        "step": int(getattr(state, "global_step", 0)),
                        "samples": [
                            {
                                "prompt": verifiers.reply_text(p),
                                "completion": verifiers.reply_text(c),
                                **_carried(kwargs, j),
                            }
                            for j, (p, c) in enumerate(
                                zip(prompts[: self.per_batch], completions[: self.per_batch])
                            )
                        ],
                    }
                )
            for sample, value in zip(self.records[-1]["samples"], values):
                sample.setdefault("rewards", {})[name] = value
            if index == len(self.names) - 1:
                self._log(self.records[-1])
            return values

        reward.__name__ = name  # TRL logs rewards/<name>/mean
        return reward

    def _log(self, record: dict) -> None:
        sample = record["samples"][0] if record["samples"] else None
        if sample:
            logger.info(
                "step %d rollout: %r -> %r rewards %s",
                record["step"],
                sample["prompt"][-80:],
                sample["completion"][:80],
                sample.get("rewards"),
            )

    def write(self, path: str | Path) -> None:
        Path(path).write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records)
        )


def _carried(kwargs: dict, j: int) -> dict:
    return {
        key: kwargs[key][j]
        for key in ("task", "answer")
        if isinstance(kwargs.get(key), list) and j < len(kwargs[key])
    }
