"""Prepare a dataset from its config entry: load sources, mix by weight, keep columns, split.

    python scripts/prepare_data.py --name demo_sft \
        --spec '{"dataset_name": "results/demo_world/sft", "dataset_test_split": "test"}' \
        --output_dir results/data/demo_sft/prepared

Sources are hub ids or local JSONL/JSON/parquet/CSV files or folders. Writes a DatasetDict
(train, and test when the spec gives one) with summary.json and provenance.json.
"""

from __future__ import annotations

import argparse
import json
import logging

from handbook.data import load_mixture, summarise
from handbook.provenance import write_json, write_provenance
from handbook.training import run_main

logger = logging.getLogger("handbook.data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--spec", required=True, help="JSON object: the dataset's config entry")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    # Map results go to a temporary folder, never into a source folder that another job wrote.
    import datasets

    datasets.disable_caching()
    logger.info("dataset %s: %s", args.name, spec)

    dsd = load_mixture(args.name, spec)
    dsd.save_to_disk(args.output_dir)
    summary = summarise(dsd)
    write_json(f"{args.output_dir}/summary.json", summary)
    write_provenance(args.output_dir, config={"name": args.name, "spec": spec})
    logger.info("prepared %s: %s", args.name, summary)


if __name__ == "__main__":
    run_main(main)
