"""Ask a judge, once: chat completions through a cache on disk.

A judge's verdicts cost money (an API judge) or GPU time (a served one), and a workflow reruns
jobs, so every request is answered from the cache when the same judge was asked the same thing
before. The cache key is the endpoint's identity, the messages and whether log-probabilities were
asked for; one JSON file per request, written whole or not at all. The API key is read from the
environment when a request must really be made, sent in the request header, and written nowhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from handbook.judging.endpoint import Endpoint, JudgeError
from handbook.provenance import write_text_atomic

logger = logging.getLogger("handbook.judging")
# Local servers (vLLM, transformers serve) take any key; the openai client insists on one.
LOCAL_KEY = "EMPTY"
TOP_LOGPROBS = 5


@dataclass
class Completion:
    text: str
    model_reported: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    # {token, logprob} for the first generated token, when the server returned them.
    top_logprobs: list[dict[str, Any]] | None
    # When the judge answered; kept in the cache, so a rerun writes the same rows.
    created: float
    cached: bool = False


def api_key(endpoint: Endpoint) -> str:
    if endpoint.api_key_env is None:
        return LOCAL_KEY
    value = os.environ.get(endpoint.api_key_env)
    if not value:
        raise JudgeError(
            f"judge endpoint {endpoint.name}: "
            f"environment variable {endpoint.api_key_env} is not set"
        )
    return value


def request_key(endpoint: Endpoint, messages: list[dict], logprobs: bool) -> str:
    payload = json.dumps([endpoint.identity(), messages, logprobs], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def first_token_logprobs(choice: Any) -> list[dict[str, Any]] | None:
    """The alternatives for the first generated token, if the server sent any."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content or not content[0].top_logprobs:
        return None
    return [{"token": t.token, "logprob": float(t.logprob)} for t in content[0].top_logprobs]


def completion_from_response(response: Any) -> Completion:
    choice = response.choices[0]
    usage = response.usage
    return Completion(
        text=choice.message.content or "",
        model_reported=response.model,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        top_logprobs=first_token_logprobs(choice),
        created=float(response.created or time.time()),
    )


class JudgeClient:
    """Chat completions from one endpoint, cached under `cache_dir`.

    `base_url` may be None when every request is already cached (a served judge is then not
    started); the openai client is made on the first request that must really be sent.
    """

    def __init__(self, endpoint: Endpoint, base_url: str | None, cache_dir: Path | str):
        self.endpoint = endpoint
        self.base_url = base_url
        self.cache_dir = Path(cache_dir)
        self.requests_made = 0
        self.cache_hits = 0
        self._api = None
        self._last_request = float("-inf")
        # httpx logs every request at INFO; thousands of verdicts would bury the job's own lines.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    def api(self):
        if self._api is None:
            if self.base_url is None:
                raise JudgeError(f"judge endpoint {self.endpoint.name}: no server to ask")
            import openai

            # The openai client retries rate limits (429), server errors (5xx), timeouts and
            # dropped connections itself, backing off exponentially and honouring Retry-After;
            # what still fails after max_retries is an error of the job.
            self._api = openai.OpenAI(
                base_url=self.base_url,
                api_key=api_key(self.endpoint),
                max_retries=self.endpoint.max_retries,
                timeout=self.endpoint.timeout_s,
            )
        return self._api

    def cache_path(self, messages: list[dict], logprobs: bool = False) -> Path:
        return self.cache_dir / f"{request_key(self.endpoint, messages, logprobs)}.json"

    def is_cached(self, messages: list[dict], logprobs: bool = False) -> bool:
        return self.cache_path(messages, logprobs).exists()

    def complete(self, messages: list[dict], logprobs: bool = False) -> Completion:
        path = self.cache_path(messages, logprobs)
        if path.exists():
            self.cache_hits += 1
            return Completion(**json.loads(path.read_text())["completion"], cached=True)
        completion = self.request(messages, logprobs)
        self.requests_made += 1
        self.store(path, messages, logprobs, completion)
        return completion

    def request(self, messages: list[dict], logprobs: bool) -> Completion:
        import openai

        extra = {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if logprobs else {}
        self.wait_turn()
        try:
            response = self.api().chat.completions.create(
                model=self.endpoint.model,
                messages=messages,
                temperature=self.endpoint.temperature,
                max_tokens=self.endpoint.max_tokens,
                **extra,
            )
        except openai.APIError as err:
            raise JudgeError(self.failure(err)) from None
        return completion_from_response(response)

    def failure(self, err: Exception) -> str:
        """One line for a request that failed after the client's retries, with the key (should
        an error ever echo it) taken out."""
        first = str(err).splitlines()[0] if str(err) else ""
        line = (
            f"judge endpoint {self.endpoint.name}: request failed after "
            f"{self.endpoint.max_retries} retries ({type(err).__name__}: {first[:300]})"
        )
        key = os.environ.get(self.endpoint.api_key_env or "", "")
        return line.replace(key, "<redacted>") if key else line

    def wait_turn(self) -> None:
        """Space requests out to stay under requests_per_minute (cache hits are not counted)."""
        rpm = self.endpoint.requests_per_minute
        if rpm:
            delay = self._last_request + 60.0 / rpm - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._last_request = time.monotonic()

    def store(self, path: Path, messages: list[dict], logprobs: bool, completion: Completion):
        # The request is kept beside its answer so a cache file can be read on its own.
        entry = {
            "request": {
                "identity": self.endpoint.identity(),
                "messages": messages,
                "logprobs": logprobs,
            },
            "completion": {k: v for k, v in asdict(completion).items() if k != "cached"},
        }
        write_text_atomic(path, json.dumps(entry, indent=1, ensure_ascii=False) + "\n")

    def reported_model_id(self) -> str | None:
        """The model id the server lists (the one asked for if listed, else its first), kept in
        the cache so a rerun answered wholly from the cache reports the same judge."""
        path = self.cache_dir / f"models-{request_key(self.endpoint, [], False)[:32]}.json"
        if path.exists():
            return json.loads(path.read_text())["id"]
        if self.base_url is None:
            return None
        try:
            ids = [m.id for m in self.api().models.list()]
        except Exception as err:  # any failure only loses the record, never the verdicts
            logger.warning("judge %s: could not list models (%s)", self.endpoint.name, err)
            return None
        if not ids:
            return None
        reported = self.endpoint.model if self.endpoint.model in ids else ids[0]
        write_text_atomic(path, json.dumps({"id": reported}) + "\n")
        return reported
