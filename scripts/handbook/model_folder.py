"""A model folder is published whole or not at all, and says when it has been damaged since.

Jobs write a model into a hidden staging folder beside its final name (`.<name>.partial`), then
write manifest.json (every file's name, size, modification time and SHA-256) and rename the folder
into place. A killed job or an orphaned write never leaves a folder that looks finished; a file
deleted or changed afterwards is found by `check` (the next job that loads the model) and by
`missing_or_resized` (every DAG build), each naming the file.

    python -m handbook.model_folder verify results/models/sft/x    # hashes every file
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

MANIFEST = "manifest.json"
# Snakemake's own marker in directory outputs, written after the job.
IGNORED = {MANIFEST, ".snakemake_timestamp"}


class DamagedModel(ValueError):
    """A model folder whose files are not those its manifest lists."""


def staging(final_dir: str | Path) -> Path:
    final = Path(final_dir)
    return final.parent / f".{final.name}.partial"


def start(final_dir: str | Path) -> Path:
    """An empty staging folder for `final_dir` (a previous attempt's is removed)."""
    folder = staging(final_dir)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def publish(folder: str | Path, final_dir: str | Path) -> None:
    """Write the manifest last, then move the staging folder to its final name."""
    folder, final = Path(folder), Path(final_dir)
    write_manifest(folder)
    if final.exists():
        shutil.rmtree(final)
    os.replace(folder, final)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def listed_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() not in IGNORED
    )


def write_manifest(folder: str | Path) -> None:
    folder = Path(folder)
    files = {
        path.relative_to(folder).as_posix(): {
            "size": path.stat().st_size,
            "mtime_ns": path.stat().st_mtime_ns,
            "sha256": file_digest(path),
        }
        for path in listed_files(folder)
    }
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    return json.loads(path.read_text())["files"] if path.is_file() else None


def missing_or_resized(folder: str | Path) -> str | None:
    """What is wrong with a folder against its manifest, from names and sizes only (cheap enough
    for every DAG build); None when nothing is, or when the folder has no manifest."""
    return problem_of(Path(folder), read_manifest(Path(folder)) or {}, hash_all=None)


def damaged(folders) -> list[str]:
    """One line per folder whose files are missing or resized, naming the file and the fix."""
    return [
        f"{folder}: {problem}: {REBUILD_HINT}"
        for folder in folders
        if (problem := missing_or_resized(folder))
    ]


def problem_of(folder: Path, listed: dict, hash_all: bool | None) -> str | None:
    """The first file of `listed` that is missing, resized or (when hashed) changed. Files are
    hashed: all (`hash_all` True), those whose modification time differs (False), none (None)."""
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        stat = path.stat()
        if stat.st_size != entry["size"]:
            return f"{name} has {stat.st_size} bytes, not the {entry['size']} it was written with"
    for name, entry in listed.items() if hash_all is not None else ():
        path = folder / name
        if hash_all or path.stat().st_mtime_ns != entry["mtime_ns"]:
            if file_digest(path) != entry["sha256"]:
                return f"{name} changed since the model was written (its SHA-256 differs)"
    return None


@functools.cache
def check(folder: str) -> None:
    """Raise DamagedModel naming the first missing, resized or changed file. A file whose
    modification time differs from the manifest's is hashed, so a copy that kept its contents
    passes and a changed file does not."""
    problem = problem_of(Path(folder), read_manifest(Path(folder)) or {}, hash_all=False)
    if problem:
        raise DamagedModel(f"{folder}: {problem}: {REBUILD_HINT}")


REBUILD_HINT = "rebuild the model (snakemake <folder> --force) or restore the file"


def verify(folder: str | Path) -> str | None:
    """Every file hashed against the manifest; what is wrong, or None."""
    listed = read_manifest(Path(folder))
    if listed is None:
        return f"no {MANIFEST}"
    return problem_of(Path(folder), listed, hash_all=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "verify":
        print("usage: python -m handbook.model_folder verify FOLDER [FOLDER ...]", file=sys.stderr)
        return 2
    failed = 0
    for folder in argv[1:]:
        problem = verify(folder)
        print(f"{folder}: {problem or 'every file as written'}")
        failed += problem is not None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
