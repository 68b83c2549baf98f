"""Which judge answers, and how it is reached: an OpenAI-compatible chat endpoint.

The plan hands an endpoint over as JSON on the command line, so what it may hold is checked here
with one-line errors: unknown keys are refused (a typo would otherwise be a silently ignored
setting), and so is anything that looks like a key value. The key itself lives only in the
environment variable that `api_key_env` names; command lines, plans and verdict files see its name.

Only `identity()` decides a verdict (and so the cache): where the judge is, which model, how it
samples. Retries, timeouts and throttling change how a verdict is fetched, not what it says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from handbook.secrets import is_secret_name

ENGINES = ("vllm", "transformers")
ENDPOINT_KEYS = (
    "name",
    "base_url",
    "model",
    "api_key_env",
    "temperature",
    "max_tokens",
    "max_retries",
    "timeout_s",
    "requests_per_minute",
    "serve",
)
SERVE_KEYS = ("engine", "model", "gpus", "args", "startup_timeout_s")
# The one secret-looking name allowed: it holds the name of a variable, not a key.
KEY_NAME_FIELD = "api_key_env"


class JudgeError(RuntimeError):
    """A judge that cannot be reached or started; entry points print it as one line."""


@dataclass(frozen=True)
class Serve:
    """A judge this job starts itself (vLLM on GPUs, transformers serve anywhere)."""

    engine: str
    model: str
    gpus: int = 1
    args: tuple[str, ...] = ()
    startup_timeout_s: float = 900.0


@dataclass(frozen=True)
class Endpoint:
    name: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 2048
    max_retries: int = 6
    timeout_s: float = 600.0
    requests_per_minute: float | None = None
    serve: Serve | None = field(default=None)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Endpoint:
        if not isinstance(raw, dict):
            raise ValueError("judge endpoint: expected a JSON object")
        where = f"judge endpoint {raw.get('name', '?')}"
        check_keys(raw, ENDPOINT_KEYS, where)
        values = dict(raw)
        if values.get("serve") is not None:
            values["serve"] = serve_from_dict(values["serve"], where)
        endpoint = cls(**values)
        endpoint.validate()
        return endpoint

    @classmethod
    def from_json(cls, text: str) -> Endpoint:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"judge endpoint: not valid JSON ({err})") from None
        return cls.from_dict(raw)

    def validate(self) -> None:
        where = f"judge endpoint {self.name}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("judge endpoint: 'name' must be a non-empty string")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"{where}: 'model' must be a non-empty string")
        if (self.serve is None) == (self.base_url is None):
            raise ValueError(f"{where}: give exactly one of 'base_url' and 'serve'")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"{where}: 'max_tokens' must be a positive integer")
        if self.requests_per_minute is not None and self.requests_per_minute <= 0:
            raise ValueError(f"{where}: 'requests_per_minute' must be positive (or null)")

    def identity(self) -> dict[str, Any]:
        """What decides a verdict; a served judge's port changes every run, so it is left out."""
        return {
            "base_url": self.base_url or f"served:{self.serve.engine}",
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def describe(self) -> dict[str, Any]:
        """The endpoint as verdict files record it: the key's variable name, never its value."""
        served = self.serve and {
            "engine": self.serve.engine,
            "model": self.serve.model,
            "gpus": self.serve.gpus,
        }
        return {
            **self.identity(),
            "name": self.name,
            "api_key_env": self.api_key_env,
            "serve": served,
        }


def check_keys(raw: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key != KEY_NAME_FIELD and is_secret_name(key):
            raise ValueError(
                f"{where}: {key!r} looks like a key value; "
                "put the key in the environment variable named by api_key_env"
            )
        if key not in allowed:
            raise ValueError(
                f"{where}: unknown key {key!r} (expected some of {', '.join(allowed)})"
            )


def serve_from_dict(raw: Any, where: str) -> Serve:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: 'serve' must be an object")
    check_keys(raw, SERVE_KEYS, f"{where} serve")
    if raw.get("engine") not in ENGINES:
        raise ValueError(
            f"{where}: serve engine must be one of {ENGINES}, not {raw.get('engine')!r}"
        )
    if not isinstance(raw.get("model"), str) or not raw["model"]:
        raise ValueError(f"{where}: serve needs 'model' (a path or hub id)")
    args = raw.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError(f"{where}: serve 'args' must be a list of strings")
    # A server's own key option (vllm serve --api-key) would put a key on a command line.
    secret = [a for a in args if a.startswith("-") and is_secret_name(a.split("=", 1)[0])]
    if secret:
        raise ValueError(
            f"{where}: serve argument {secret[0].split('=', 1)[0]!r} takes a key; "
            "put the key in the environment variable named by api_key_env"
        )
    return Serve(
        engine=raw["engine"],
        model=raw["model"],
        gpus=int(raw.get("gpus", 1)),
        args=tuple(args),
        startup_timeout_s=float(raw.get("startup_timeout_s", 900.0)),
    )
