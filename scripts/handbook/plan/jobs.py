"""The typed job a rule runs: what the plan's builders (handbook.plan.<rule file>) return and the
input functions in workflow/rules/common.smk read."""

from __future__ import annotations

from dataclasses import dataclass, field

# A job on a GPU gets CPUs for its data loading and tokenization; a CPU job at tiny scale one
# thread, so that many run side by side.
GPU_JOB_THREADS = 8


@dataclass(frozen=True)
class Job:
    """One rule's job for one set of wildcards, resolved."""

    inputs: dict[str, str | list[str]] = field(default_factory=dict)
    args: str = ""  # the script's arguments beyond the rule's own
    model: str = ""  # the folder or hub id the script loads
    env: str = ""  # conda env, relative to the rule file
    threads: int = 1
    gpus: int = 0  # asked of the scheduler, over all nodes
    nodes: int = 1
    mem_mb: int = 0
    runtime: int = 0  # minutes


def threads_for(gpus: int) -> int:
    return GPU_JOB_THREADS if gpus else 1
