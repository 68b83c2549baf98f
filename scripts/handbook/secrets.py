"""Secrets (hub tokens, API keys, passwords) never reach an artifact: logs, provenance, plans.

A value is secret by its name: any argument, config key or environment variable whose name has a
part `token`, `secret`, `password`, `key` or `auth` (hub_token, WANDB_API_KEY, HF_TOKEN, ...),
except the tokenizer's special-token settings (pad_token, eos_token_id, ...).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

MARKER = "<redacted>"
SECRET_NAME = re.compile(
    r"(?:^|[_-])(?:token|secret|password|passwd|key|apikey|auth)(?:$|[_-])", re.IGNORECASE
)
SPECIAL_TOKENS = re.compile(
    r"(?:^|_)(?:pad|eos|bos|unk|sep|cls|mask)_token(?:_id)?$", re.IGNORECASE
)
# Where a hub token taken off the command line goes: huggingface_hub reads it from there.
HUB_TOKEN_ENV = "HF_TOKEN"

logger = logging.getLogger("handbook.secrets")


def is_secret_name(name: str) -> bool:
    name = str(name).lstrip("-")
    return bool(SECRET_NAME.search(name)) and not SPECIAL_TOKENS.search(name)


def redact(obj: Any) -> Any:
    """A copy of nested dicts and lists with the values of secret-named keys replaced."""
    if isinstance(obj, dict):
        return {
            k: (MARKER if is_secret_name(k) and v not in (None, "") else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v) for v in obj)
    return obj


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with the values of secret-named options replaced (--x v and --x=v)."""
    out = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MARKER)
            hide_next = False
        elif arg.startswith("--") and "=" in arg and is_secret_name(arg.split("=", 1)[0]):
            out.append(f"{arg.split('=', 1)[0]}={MARKER}")
        else:
            out.append(arg)
            hide_next = arg.startswith("--") and is_secret_name(arg)
    return out


def take_secrets(*parsed) -> None:
    """Remove secret values from parsed argument dataclasses before anything saves them.

    The Trainer pickles its arguments (training_args.bin) into every checkpoint and the final
    model, and the run's provenance records them. A hub token moves to HF_TOKEN for this process,
    where huggingface_hub reads it; other secret-named values are dropped.
    """
    for args in parsed:
        for name, value in list(vars(args).items()):
            if not is_secret_name(name) or not isinstance(value, str) or not value:
                continue
            if name == "hub_token":
                os.environ[HUB_TOKEN_ENV] = value
                logger.info(
                    "hub_token: passed to this process as %s; not saved with the run", HUB_TOKEN_ENV
                )
            else:
                logger.info(
                    "%s: secret-named value dropped; set it in the environment instead", name
                )
            setattr(args, name, None)
