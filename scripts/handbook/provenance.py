"""Provenance: what produced an artifact (resolved config, package versions, git revision)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

# Entry points import this module first, so this is close to the job's start.
STARTED = time.monotonic()
# Files above this size are hashed by their size and first and last MiB (said in the hash's name).
FULL_HASH_LIMIT = 1 << 30
CHUNK = 1 << 20

PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "tokenizers",
    "lm-eval",
    "pandas",
    "snakemake",
    "deepspeed",
    "flash-attn",
)


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(repo: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout the scripts live in (not the working dir)."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {"commit": rev, "dirty": bool(status.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def file_digest(path: Path) -> tuple[str, bytes]:
    h = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as f:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
            return "sha256", h.digest()
        h.update(str(size).encode() + f.read(CHUNK))
        f.seek(-CHUNK, os.SEEK_END)
        h.update(f.read(CHUNK))
        return "sha256-size-ends", h.digest()


def content_hash(path: str | Path | None) -> str | None:
    """Hash of a file, or of a folder's files and their names; None for a hub id or nothing."""
    if not path or not Path(path).exists():
        return None
    root = Path(path)
    files = (
        [root]
        if root.is_file()
        else sorted(p for p in root.rglob("*") if p.is_file() and p.name != "provenance.json")
    )
    h, kinds = hashlib.sha256(), set()
    for file in files:
        kind, digest = file_digest(file)
        kinds.add(kind)
        h.update(str(file.relative_to(root) if root.is_dir() else file.name).encode() + digest)
    return f"{'sha256-size-ends' if 'sha256-size-ends' in kinds else 'sha256'}:{h.hexdigest()}"


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "value") and isinstance(obj.value, (str, int)):
        return obj.value  # enums
    return str(obj)


def provenance(config: Any = None, inputs: dict[str, str] | None = None) -> dict[str, Any]:
    """What made an artifact; secret values (tokens, keys, passwords) are replaced by a marker."""
    from handbook.secrets import redact, redact_argv

    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *redact_argv(sys.argv)],
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "git": git_revision(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "inputs": inputs or {},
        "input_hashes": {name: content_hash(path) for name, path in (inputs or {}).items()},
        "wall_seconds": round(time.monotonic() - STARTED, 1),
        "config": redact(to_jsonable(config)),
    }


def write_provenance(
    folder: Path | str, config: Any = None, inputs: dict[str, str] | None = None
) -> Path:
    path = Path(folder) / "provenance.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(provenance(config, inputs), indent=2, sort_keys=True) + "\n")
    return path


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write a file whole or not at all, so a killed job never leaves a half-written one. The
    temporary name is hidden and per process, as parallel jobs may write the same file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_json(path: Path | str, obj: Any) -> None:
    write_text_atomic(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")


# The job's start, set by the workflow's shell prefix (workflow/rules/common.smk): start-up markers
# count from it, so they include the shell, the launcher and the interpreter.
JOB_START = "HANDBOOK_JOB_START"
_marked: set[str] = set()


def log_startup(moment: str) -> None:
    """Log once per process how long after the job's start `moment` came ('main', 'model loaded',
    'end'), as `timing: <seconds> s from job start to <moment>`; bench/demo_jobs.py reads them."""
    import logging

    start = os.environ.get(JOB_START)
    if not start or moment in _marked:
        return
    _marked.add(moment)
    logging.getLogger("handbook").info(
        "timing: %.2f s from job start to %s", time.time() - float(start), moment
    )
