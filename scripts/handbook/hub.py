"""Where a model or dataset comes from: a local path, or an id on the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path

# File suffixes the data loaders read; a source ending in one is a local file even when missing.
LOCAL_SUFFIXES = {".jsonl", ".json", ".parquet", ".csv", ".txt", ".arrow"}


def is_hub_id(source: str, root: str | Path | None = None) -> bool:
    """True for hub ids ('name' or 'org/name'); False for anything that is or names a local path:
    existing (relative to `root` or the working directory), written by the workflow (results/),
    absolute or explicitly relative, with a data-file suffix, or with more than one '/'. A missing
    'data/x.parquet' is a local file (its absence is then a clear missing-input error), never a
    hub request."""
    source = split_revision(str(source))[0]
    path = Path(source).expanduser()
    return not (
        source.startswith(("results/", ".", "/", "~"))
        or path.is_absolute()
        or path.suffix in LOCAL_SUFFIXES
        or source.count("/") > 1
        or path.exists()
        or (root is not None and (Path(root) / path).exists())
    )


def split_revision(source: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'): a hub id may pin a branch, tag or commit. A local
    path keeps its '@' (a folder may be named so)."""
    name, at, revision = source.rpartition("@")
    if not at or not revision or "/" in revision or Path(source).exists():
        return source, None
    if name.startswith(("results/", ".", "/", "~")) or name.count("/") > 1:
        return source, None
    return name, revision
