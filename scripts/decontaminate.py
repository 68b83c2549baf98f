"""Check a training dataset's sources against the evaluation prompts of the tables that use it.

    python scripts/decontaminate.py --spec '{"dataset": "demo_sft", "spec": {...},
        "eval_sets": {"demo_eval": {"source": "results/demo_world/eval/test.jsonl",
        "format": "demo"}}, "ngram": 13, "max_fraction": null}' \
        --output results/decontamination/datasets/demo_sft.json

Each source's training split is read as the prepare job reads it (columns kept and renamed), all
of it whatever its weight in the mixture. Writes, per source and evaluation set, how many of the
set's prompts share a run of `ngram` words with a training row, with examples
(handbook.decontamination). A prompt set that is neither a local file nor in the local hub cache
is listed as not checked. With max_fraction set, a share above it fails the job with one line per
overlap, so training waits.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from handbook import decontamination as dc
from handbook import judge_formats as jf
from handbook.data import load_entry, normalise_spec
from handbook.jsonl import read_jsonl
from handbook.provenance import provenance, write_json
from handbook.training import run_main

logger = logging.getLogger("handbook.decontamination")


def eval_rows(entry: dict) -> list[dict]:
    if entry["format"] == "demo":
        return read_jsonl(entry["source"])
    split = entry.get("prompts_split", "train")
    return jf.load_prompts(entry["source"], entry["format"], entry.get("prompts_config"), split)


def build_index(eval_sets: dict, ngram: int) -> tuple[dc.EvalIndex, dict]:
    index, described = dc.EvalIndex(ngram), {}
    for name, entry in eval_sets.items():
        try:
            rows = eval_rows(entry)
        except (OSError, jf.FormatError) as err:
            described[name] = {**entry, "checked": False, "why": str(err), "prompts": 0}
            logger.warning("%s not checked: %s", name, err)
            continue
        index.add(name, dc.prompt_texts(rows, entry["format"]))
        described[name] = {
            **entry,
            "checked": True,
            "prompts": len(rows),
            "short": index.short[name],
        }
    return index, described


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON: dataset, spec, eval_sets, ngram, ...")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    index, described = build_index(spec["eval_sets"], spec["ngram"])
    report = {"dataset": spec["dataset"], "ngram": spec["ngram"], "eval_sets": described}
    report["sources"] = []
    for entry in normalise_spec(spec["dataset"], spec["spec"])["datasets"]:
        ds = load_entry(entry)
        rows, overlaps = dc.scan(index, ds)
        report["sources"].append(
            dc.source_report(entry["id"], entry["split"], rows, index, overlaps)
        )
        found = {name: len(o.contaminated) for name, o in overlaps.items()}
        logger.info(
            "%s (%s, %d rows): contaminated prompts per set %s",
            entry["id"],
            entry["split"],
            rows,
            found,
        )
    failures = dc.over_threshold(report, spec["max_fraction"])
    if failures:
        print("\n".join(f"error: {line}" for line in failures), file=sys.stderr)
        raise SystemExit(1)
    report["provenance"] = provenance(spec)
    write_json(args.output, report)


if __name__ == "__main__":
    run_main(main)
