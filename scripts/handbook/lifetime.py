"""A job's processes end with it.

Rules hand their shell over to the entry point (`exec`), so the process Snakemake (or SLURM) kills
is the entry point itself. Below it, a launcher's worker processes, or an entry point whose parent
is killed outright (Snakemake itself SIGKILLed), would run on and write a model folder after the
job was failed; asking the kernel to kill a process when its parent dies closes that gap.
"""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILL this process when the process that started it exits (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl (a libc without it): the exec still holds
        return
