"""The global batch: sequences per optimizer step over every process of a run.

A recipe's per-device batch and gradient accumulation were chosen for a number of processes (the
handbook's for one node of 8 GPUs). Run on another number, the same recipe trains with another
global batch, so another learning-rate schedule per sample: the plan and every job keep the global
batch by changing gradient accumulation, and stop when no whole accumulation gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

# TrainingArguments' defaults, for a recipe that does not set them.
DEFAULT_PER_DEVICE = 8
DEFAULT_ACCUMULATION = 1


class BatchError(ValueError):
    pass


def configured_processes(gpus_per_node: int, nodes: int, processes: int) -> int:
    """Training processes over all nodes as a run is configured: one per GPU, else `processes`
    CPU processes."""
    return gpus_per_node * nodes if gpus_per_node else processes


@dataclass(frozen=True)
class Batch:
    per_device: int
    accumulation: int
    processes: int  # over all nodes

    @property
    def size(self) -> int:
        return self.per_device * self.accumulation * self.processes

    def as_dict(self) -> dict:
        return {
            "per_device": self.per_device,
            "accumulation": self.accumulation,
            "processes": self.processes,
            "global": self.size,
        }


def recipe_batch(settings: dict, processes: int) -> Batch:
    """The batch a recipe's settings give on `processes` processes."""
    per_device = int(settings.get("per_device_train_batch_size", DEFAULT_PER_DEVICE))
    accumulation = int(settings.get("gradient_accumulation_steps", DEFAULT_ACCUMULATION))
    return Batch(per_device, accumulation, processes)


def keep_global(target: int, per_device: int, processes: int) -> Batch:
    """The batch of `target` sequences per step on `processes` processes of `per_device` each."""
    step = per_device * processes
    if target % step:
        raise BatchError(
            f"a global batch of {target} is not a whole number of steps of {per_device} per device "
            f"x {processes} processes (= {step}); set global_batch, per_device_train_batch_size or "
            "the GPUs so that it is"
        )
    return Batch(per_device, target // step, processes)
