"""JSON Lines files: one JSON object per line, blank lines ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_jsonl(path: Path | str) -> list[dict]:
    # Split on newlines only: str.splitlines() also breaks at U+2028 and U+0085, which
    # write_jsonl leaves unescaped inside strings (ensure_ascii=False).
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line.strip()]


def write_jsonl(path: Path | str, rows: list[dict]) -> None:
    """Write atomically, so a killed job never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    os.replace(tmp, path)
