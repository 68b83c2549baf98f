"""Tokenize a prepared dataset once per tokenizer, applying its chat template.

    python scripts/tokenize_data.py --prepared results/data/demo_sft/prepared \
        --tokenizer results/models/base/tiny --output_dir results/data/demo_sft/tokenized/tiny

Chat data (`messages`) becomes `input_ids` and `assistant_masks` (for assistant-only loss); text
becomes `input_ids` ending in EOS. Every run that trains on this data with this tokenizer reuses it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from handbook.data import DataError, summarise
from handbook.modeling import from_pretrained
from handbook.provenance import write_json, write_provenance
from handbook.recipes import RecipeFileError, chat_template_from
from handbook.tokenization import tokenize_splits
from handbook.training import run_main

logger = logging.getLogger("handbook.tokenize")


def main() -> None:
    import datasets
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    # Map results go to a temporary folder, not beside the upstream prepared data they read
    # (a finished output of another job).
    datasets.disable_caching()

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", required=True)
    parser.add_argument("--tokenizer", required=True, help="local folder or hub id")
    parser.add_argument(
        "--chat_template",
        default=None,
        help="Jinja file, or a recipe with an inline chat_template, replacing the tokenizer's",
    )
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    tokenizer = from_pretrained(AutoTokenizer, args.tokenizer)
    if args.chat_template:
        try:
            tokenizer.chat_template = chat_template_from(args.chat_template)
        except RecipeFileError as err:
            raise DataError(str(err)) from None
    dsd = load_from_disk(args.prepared)
    name = Path(args.prepared).parent.name
    tokenized = tokenize_splits(
        dsd, tokenizer, name, template_source=args.chat_template or args.tokenizer
    )
    tokenized.save_to_disk(args.output_dir)
    summary = summarise(tokenized)
    write_json(f"{args.output_dir}/summary.json", summary)
    write_provenance(args.output_dir, config=vars(args), inputs={"prepared": args.prepared})
    logger.info("tokenized %s: %s", name, summary)


if __name__ == "__main__":
    run_main(main)
