"""Train the tiny base model's byte-level BPE tokenizer on the CPT corpus.

    python scripts/train_tokenizer.py --corpus results/demo_world/corpus.jsonl \
        --vocab_size 1000 --output_dir results/tokenizers/tiny

The tokenizer carries a Zephyr-style chat template with {% generation %} markers.
"""

from __future__ import annotations

import argparse
import json
import logging

from handbook.modeling import train_tokenizer
from handbook.provenance import write_json, write_provenance
from handbook.training import run_main

logger = logging.getLogger("handbook.tokenizer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="JSONL file with a 'text' column")
    parser.add_argument("--vocab_size", type=int, default=1000)
    parser.add_argument("--model_max_length", type=int, default=512)
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    with open(args.corpus) as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    tokenizer = train_tokenizer(texts, args.vocab_size, args.model_max_length)
    tokenizer.save_pretrained(args.output_dir)
    n_tokens = sum(len(tokenizer(t)["input_ids"]) for t in texts)
    stats = {
        "vocab_size": len(tokenizer),
        "corpus_documents": len(texts),
        "corpus_tokens": n_tokens,
    }
    write_json(f"{args.output_dir}/stats.json", stats)
    write_provenance(args.output_dir, config=vars(args), inputs={"corpus": args.corpus})
    logger.info("tokenizer: %s", stats)


if __name__ == "__main__":
    run_main(main)
