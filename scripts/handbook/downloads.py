"""A data file fetched once at a pinned URL and kept only if its SHA-256 is the one the config
names, so the judges' own files (FastChat's judge prompts and reference answers) are used as
published, never shipped here, and a changed upstream file stops the build instead of silently
changing every score.

    python -m handbook.downloads --url URL --sha256 HEX --output results/judges/downloads/NAME
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.request
from pathlib import Path

TIMEOUT_S = 60


class DownloadError(RuntimeError):
    """A download that failed or is not the file the config pins."""


def fetch(url: str, sha256: str, output: Path | str) -> Path:
    """The file at `url` written to `output`, after its hash matched (nothing written if not)."""
    output = Path(output)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            data = response.read()
    except OSError as err:
        raise DownloadError(
            f"{url}: {err}; on a machine without internet, place the file at {output}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise DownloadError(f"{url}: sha256 {digest}, not the pinned {sha256}")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        path = fetch(args.url, args.sha256, args.output)
    except DownloadError as err:
        sys.exit(f"error: {err}")
    print(f"fetched {args.url} -> {path} (sha256 {args.sha256})")


if __name__ == "__main__":
    main()
