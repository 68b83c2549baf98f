"""JSON Lines files: one JSON object per line, blank lines ignored."""

from __future__ import annotations

import json
from pathlib import Path

from handbook.provenance import write_text_atomic


def read_jsonl(path: Path | str) -> list[dict]:
    # Split on newlines only: str.splitlines() also breaks at U+2028 and U+0085, which
    # write_jsonl leaves unescaped inside strings (ensure_ascii=False).
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line.strip()]


def write_jsonl(path: Path | str, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
