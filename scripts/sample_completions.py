"""Rejection sampling, step 1: the policy samples k completions per prompt.

    python scripts/sample_completions.py --model results/models/sft/tiny \
        --prompts results/demo_world/prompts/generation.jsonl \
        --output results/samples/sft/tiny/completions.jsonl \
        --num_completions 4 --temperature 1.0 --top_p 1.0 --max_new_tokens 24 --seed 0

Prompt rows have `prompt` (a string) and/or `messages` (the conversation so far; trailing assistant
turns are dropped, so SFT rows work too); `prompt_id`, `task` and `answer` are carried through.
Each output row holds the k completions and the generation settings. `--backend hf` samples with
transformers on any device; `--backend vllm` uses vLLM (GPU) and needs it installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging

from handbook.generation import chat_texts, generate, load_causal_lm
from handbook.jsonl import write_jsonl
from handbook.modeling import best_device, load_tokenizer
from handbook.rejection_sampling import read_prompts
from handbook.training import RecipeError, run_main

logger = logging.getLogger("handbook.sample")


def sample_hf(args, conversations: list[list[dict]]) -> list[list[str]]:
    """k completions per conversation with transformers: bf16 on a GPU, fp32 on CPU."""
    device = best_device()
    model = load_causal_lm(
        args.model, dtype="bfloat16" if device == "cuda" else "float32", device=device
    )
    tokenizer = load_tokenizer(args.model)
    k = args.num_completions
    flat = generate(
        model,
        tokenizer,
        chat_texts(tokenizer, conversations),
        batch_size=max(1, args.batch_size // k),
        max_new_tokens=args.max_new_tokens,
        do_sample=True,
        temperature=args.temperature,
        top_p=args.top_p,
        num_return_sequences=k,
        stop_at_tokenizer_eos=False,
        seed=args.seed,
        progress=logger,
    )
    return [flat[i : i + k] for i in range(0, len(flat), k)]


def sample_vllm(args, conversations: list[list[dict]]) -> list[list[str]]:
    from vllm import LLM, SamplingParams

    llm = LLM(model=args.model, seed=args.seed)
    params = SamplingParams(
        n=args.num_completions,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    # chat() applies the tokenizer's chat template with the generation prompt, as the hf path does.
    outputs = llm.chat(conversations, params, add_generation_prompt=True, use_tqdm=False)
    return [[o.text.strip() for o in out.outputs] for out in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="policy checkpoint (causal LM with a chat template)"
    )
    parser.add_argument("--prompts", required=True, help="JSONL with prompt and/or messages")
    parser.add_argument("--output", required=True, help="JSONL, one row per prompt")
    parser.add_argument("--num_completions", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch_size", type=int, default=64, help="sequences per generate call (hf backend)"
    )
    parser.add_argument(
        "--max_prompts", type=int, default=None, help="use only the first N prompts"
    )
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))
    if args.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise RecipeError(
            "--backend vllm: vllm is not installed in this environment (install it or use "
            "--backend hf)"
        )
    if args.num_completions < 1 or args.temperature <= 0 or not 0 < args.top_p <= 1:
        raise RecipeError("need --num_completions >= 1, --temperature > 0 and 0 < --top_p <= 1")

    rows = read_prompts(args.prompts, args.max_prompts)
    conversations = [row["messages"] for row in rows]
    sample = sample_vllm if args.backend == "vllm" else sample_hf
    completions = sample(args, conversations)
    generation = {
        key: getattr(args, key)
        for key in ("backend", "temperature", "top_p", "max_new_tokens", "seed")
    }
    generation["model"] = args.model
    out = [dict(row, completions=c, generation=generation) for row, c in zip(rows, completions)]
    write_jsonl(args.output, out)
    logger.info(
        "wrote %d prompts x %d completions to %s", len(out), args.num_completions, args.output
    )


if __name__ == "__main__":
    run_main(main)
