"""Initialise the tiny Llama-style base model at random, with its tokenizer beside it.

    python scripts/init_model.py --tokenizer results/tokenizers/tiny \
        --arch '{"hidden_size": 128, "num_hidden_layers": 4, "intermediate_size": 384,
                 "num_attention_heads": 4, "num_key_value_heads": 2}' \
        --seed 0 --output_dir results/models/base/tiny

The folder loads with AutoModelForCausalLM / AutoTokenizer.from_pretrained.
"""

from __future__ import annotations

import argparse
import json
import logging

from handbook import model_folder
from handbook.modeling import count_parameters, from_pretrained, init_llama
from handbook.provenance import write_json, write_provenance
from handbook.training import run_main

logger = logging.getLogger("handbook.init")


def main() -> None:
    from transformers import AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--arch", required=True, help="JSON object of LlamaConfig fields")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    tokenizer = from_pretrained(AutoTokenizer, args.tokenizer)
    model = init_llama(tokenizer, json.loads(args.arch), args.seed)
    staging = model_folder.start(args.output_dir)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    stats = {"parameters": count_parameters(model), "vocab_size": len(tokenizer)}
    write_json(staging / "stats.json", stats)
    write_provenance(staging, config=vars(args), inputs={"tokenizer": args.tokenizer})
    model_folder.publish(staging, args.output_dir)
    logger.info("model: %s", stats)


if __name__ == "__main__":
    run_main(main)
