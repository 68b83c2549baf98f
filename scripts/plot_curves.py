"""Plot training curves (loss, reward margin, reward accuracy) from Trainer log histories into one
PNG.

    python scripts/plot_curves.py --title "DPO vs SFT" \
        --histories '{"sft": "results/models/sft/s1/log_history.json",
                      "dpo": "results/models/dpo/d1/log_history.json"}' \
        --groups '{"sft": "sft", "dpo": "dpo"}' --output results/plots/curves.png
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from handbook.plots import plot_training_curves
from handbook.training import run_main

logger = logging.getLogger("handbook.plots")


def load_history(label: str, path: str) -> list[dict]:
    """One log_history.json; a missing or malformed file is one line naming the label and path."""
    try:
        history = json.loads(Path(path).read_text())
    except OSError as err:
        raise SystemExit(f"error: {path} ({label}): {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise SystemExit(f"error: {path} ({label}): not valid JSON: {err}") from None
    if not isinstance(history, list):
        raise SystemExit(
            f"error: {path} ({label}): expected a JSON list of log entries, got "
            f"{type(history).__name__}"
        )
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--histories", required=True, help="JSON object: model label -> path of a log_history.json"
    )
    parser.add_argument("--output", required=True, help="PNG path")
    parser.add_argument("--title", default=None)
    parser.add_argument(
        "--groups", default=None, help="JSON object: model label -> group (one colour per group)"
    )
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    try:
        paths = json.loads(args.histories)
    except json.JSONDecodeError as err:
        parser.error(f"--histories is not valid JSON: {err}")
    if not isinstance(paths, dict) or not paths:
        parser.error("--histories must be a non-empty JSON object: label -> path")
    histories = {label: load_history(label, path) for label, path in paths.items()}
    try:
        panels = plot_training_curves(
            histories,
            args.output,
            title=args.title,
            groups=json.loads(args.groups) if args.groups else None,
        )
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    logger.info("wrote %s with panels: %s", args.output, ", ".join(panels))


if __name__ == "__main__":
    run_main(main)
