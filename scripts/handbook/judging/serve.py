"""Start a local judge for the length of a job: vLLM on GPUs, transformers serve anywhere.

An open-weights judge is served by the job that needs it, on a free port of this machine, and
stopped when the job ends, however it ends: the server runs in its own session (so stopping it
stops its workers too) and is killed by the kernel if this process dies first.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from handbook.judging.endpoint import Endpoint, JudgeError, Serve
from handbook.lifetime import die_with_parent

logger = logging.getLogger("handbook.judging")
HOST = "127.0.0.1"
STOP_GRACE_S = 20
POLL_S = 1.0
LOG_TAIL_LINES = 20


def free_port() -> int:
    """A port free now; the server binds it a moment later (a small race, retried by nobody)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def executable(name: str) -> str:
    """The engine's command from this environment first, so the job uses the pinned install."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise JudgeError(f"serve engine {name!r}: no `{name}` executable next to python or on PATH")
    return found


def server_command(serve: Serve, port: int) -> list[str]:
    common = ["--host", HOST, "--port", str(port)]
    if serve.engine == "vllm":
        return [
            executable("vllm"),
            "serve",
            serve.model,
            *common,
            "--tensor-parallel-size",
            str(serve.gpus),
            *serve.args,
        ]
    names_device = any(a == "--device" or a.startswith("--device=") for a in serve.args)
    device = [] if names_device else ["--device", "auto"]
    return [executable("transformers"), "serve", serve.model, *common, *device, *serve.args]


def log_tail(log_path: Path | None) -> str:
    if log_path is None or not Path(log_path).exists():
        return "(its output went to this job's stderr)"
    lines = Path(log_path).read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return "last lines of its log:\n" + "\n".join(lines)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/v1/models", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until_up(
    process: subprocess.Popen, port: int, timeout_s: float, log_path: Path | None, name: str
):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise JudgeError(
                f"judge endpoint {name}: the server exited ({process.returncode}) before it "
                f"answered; {log_tail(log_path)}"
            )
        if answers(port):
            return
        time.sleep(POLL_S)
    raise JudgeError(
        f"judge endpoint {name}: the server did not answer within {timeout_s:.0f} s; "
        f"{log_tail(log_path)}"
    )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's whole process group, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def served(endpoint: Endpoint, log_path: Path | str | None = None) -> Iterator[str]:
    """The base URL to ask: the endpoint's own, or that of a server started for the block."""
    if endpoint.serve is None:
        yield endpoint.base_url
        return
    port = free_port()
    command = server_command(endpoint.serve, port)
    log_path = Path(log_path) if log_path else None
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    # Closed in the finally below, once the server has stopped writing to it.
    log = open(log_path, "w") if log_path else None
    logger.info("judge %s: starting %s", endpoint.name, " ".join(command))
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log or sys.stderr,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        wait_until_up(process, port, endpoint.serve.startup_timeout_s, log_path, endpoint.name)
        logger.info(
            "judge %s: serving on port %d after %.0f s",
            endpoint.name,
            port,
            time.monotonic() - started,
        )
        yield f"http://{HOST}:{port}/v1"
    finally:
        stop(process)
        if log:
            log.close()
