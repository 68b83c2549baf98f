"""The training methods: the one place that says which stages exist and how each one trains.

Everything else derives from this table: the config schema's stage names, the workflow's wildcard
constraints, the data a run's job reads, which models the evaluations and judges ask to answer,
and the tests. Config classes are named as strings so that building the DAG imports no TRL.
Adding a method is one entry here, one entry point in scripts/, one recipe and one run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# What a method trains on: data tokenized once per tokenizer, the prepared data (the trainer
# tokenizes it), tokenized pairs with a reference model's log-probs (shared by a sweep), or for a
# merge another model (the run's merge_with).
DATA_KINDS = ("tokenized", "prepared", "ref_logps", "model")


@dataclass(frozen=True)
class Method:
    name: str
    script: str  # entry point in scripts/
    config_class: str  # "module.Class" of the TRL config its recipes are parsed into
    data: str  # one of DATA_KINDS
    chat: bool  # trained on conversations (else plain text)
    reward_model: bool = False  # a sequence classifier scoring replies, not a policy
    loss_types: tuple[str, ...] = ()  # the config class's loss_type values (checked before any job)
    unpaired: bool = False  # also trains on unpaired preferences (prompt, completion, label)
    rollouts: bool = False  # trains on its own samples of prompt-only data, scored by verifiers
    # At tiny scale, on top of tiny_scale.args: (key, value) pairs, a None value removing the key
    # (an argument the method's config does not have).
    tiny_args: tuple[tuple[str, object], ...] = ()

    @property
    def answers_chat(self) -> bool:
        """A policy that answers chat prompts: evaluated by generation, win rate and judges."""
        return self.chat and not self.reward_model

    @property
    def data_format(self) -> str:
        """The rows it trains on: text (continued pretraining), conversations, preference data or
        prompts with checkable answers (or, for a merge, none: it reads another model)."""
        if self.data == "model":
            return "model"
        if self.rollouts:
            return "prompts"
        if not self.chat:
            return "text"
        return "conversations" if self.data == "tokenized" else "preference"

    @property
    def formats(self) -> tuple[str, ...]:
        """TRL's dataset formats its runs train on (as handbook.data names them)."""
        if self.data_format == "model":
            return ()
        if self.data_format == "prompts":
            return ("prompt-only",)
        if self.data_format == "text":
            return ("language modelling",)
        if self.data_format == "conversations":
            return ("language modelling", "prompt-completion")
        return ("preference", "unpaired preference") if self.unpaired else ("preference",)

    def load_config_class(self):
        module, _, name = self.config_class.rpartition(".")
        return getattr(importlib.import_module(module), name)


# TRL 1.16's loss types (tests/unit/test_methods.py compares them with the installed TRL).
DPO_LOSSES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)
KTO_LOSSES = ("kto", "apo_zero_unpaired")
GRPO_LOSSES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
CPO_LOSSES = ("sigmoid", "hinge", "ipo", "simpo", "alphapo")

METHODS = {
    m.name: m
    for m in (
        Method("cpt", "sft.py", "trl.SFTConfig", "tokenized", chat=False),
        Method("sft", "sft.py", "trl.SFTConfig", "tokenized", chat=True),
        Method(
            "rm",
            "reward.py",
            "trl.RewardConfig",
            "prepared",
            chat=True,
            reward_model=True,
        ),
        Method(
            "dpo",
            "dpo.py",
            "trl.DPOConfig",
            "ref_logps",
            chat=True,
            loss_types=DPO_LOSSES,
        ),
        Method(
            "kto",
            "kto.py",
            "trl.KTOConfig",
            "prepared",
            chat=True,
            loss_types=KTO_LOSSES,
            unpaired=True,
        ),
        Method(
            "orpo",
            "orpo.py",
            "trl.experimental.orpo.ORPOConfig",
            "prepared",
            chat=True,
        ),
        Method(
            "cpo",
            "cpo.py",
            "trl.experimental.cpo.CPOConfig",
            "prepared",
            chat=True,
            loss_types=CPO_LOSSES,
        ),
        # Online RL: samples from the policy during training, rewarded by handbook.verifiers.
        Method(
            "grpo",
            "grpo.py",
            "handbook.rl.GRPORunConfig",
            "prepared",
            chat=True,
            rollouts=True,
            loss_types=GRPO_LOSSES,
            # On the CPU: short replies in groups of 4 (the tiny batches are multiples of 4), and no
            # SFT arguments GRPOConfig lacks.
            tiny_args=(
                ("max_length", None),
                ("dataset_num_proc", None),
                ("max_completion_length", 64),
                ("num_generations", 4),
            ),
        ),
        # Not a trainer: a linear merge of the run's model with its merge_with model (SmolLM3).
        Method(
            "merge",
            "merge_models.py",
            "handbook.merging.MergeConfig",
            "model",
            chat=True,
        ),
    )
}

# Models that are not trained here: pretrained (hub or local) or built from the demo corpus.
BASE = "base"


def stage_pattern() -> str:
    """Regular expression matching exactly the training stages (a wildcard constraint)."""
    return "|".join(METHODS)


# Stages whose models know no chat format (scored in the plain Question/Answer format).
PLAIN_STAGES = frozenset({BASE} | {name for name, m in METHODS.items() if not m.chat})
