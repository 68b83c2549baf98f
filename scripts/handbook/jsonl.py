"""JSON Lines files: one JSON object per line, blank lines ignored."""

from __future__ import annotations

import json
from pathlib import Path

from handbook.provenance import write_text_atomic


def read_jsonl(path: Path | str) -> list[dict]:
    # Split on newlines only: str.splitlines() also breaks at U+2028 and U+0085, which
    # write_jsonl leaves unescaped inside strings (ensure_ascii=False).
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line.strip()]


def jsonl_text(rows: list[dict], *, sort_keys: bool = False, ensure_ascii: bool = False) -> str:
    """The rows as JSON Lines text, every line ending in a newline. Keys in the rows' order unless
    `sort_keys`; non-ASCII characters written as they are unless `ensure_ascii` escapes them."""
    return "".join(
        json.dumps(row, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n" for row in rows
    )


def write_jsonl(
    path: Path | str, rows: list[dict], *, sort_keys: bool = False, ensure_ascii: bool = False
) -> None:
    """Write the rows (as `jsonl_text` renders them) whole or not at all, making the folder."""
    write_text_atomic(path, jsonl_text(rows, sort_keys=sort_keys, ensure_ascii=ensure_ascii))
