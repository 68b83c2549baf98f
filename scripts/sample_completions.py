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
import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

from handbook.data import DataError
from handbook.training import RecipeError, run_main

logger = logging.getLogger("handbook.sample")


def read_prompts(path: str, limit: int | None = None) -> list[dict]:
    """Prompt rows with `messages` ending on a user turn and a stable `prompt_id`."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: no such file")
    rows = []
    for i, line in enumerate(file.read_text().splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        messages = list(row.get("messages") or [])
        while messages and messages[-1].get("role") == "assistant":
            messages.pop()
        if not messages:
            if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
                raise DataError(f"{path}: row {i}: needs a 'prompt' string or 'messages' with a user turn")
            messages = [{"role": "user", "content": row["prompt"]}]
        prompt = row.get("prompt") if isinstance(row.get("prompt"), str) else messages[-1]["content"]
        prompt_id = row.get("prompt_id") or hashlib.sha256(prompt.encode()).hexdigest()
        rows.append(
            {
                "prompt_id": prompt_id,
                "prompt": prompt,
                "messages": messages,
                "task": row.get("task"),
                "answer": row.get("answer"),
            }
        )
        if limit and len(rows) == limit:
            break
    if not rows:
        raise DataError(f"{path}: no prompts")
    return rows


def sample_hf(args, conversations: list[list[dict]]) -> list[list[str]]:
    """Batched sampling with left padding, so every prompt's last token sits at the end of its row."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    k = args.num_completions
    per_batch = max(1, args.batch_size // k)
    torch.manual_seed(args.seed)
    completions = []
    for start in range(0, len(texts), per_batch):
        # The template already holds any special tokens; adding them again would double a BOS.
        batch = tokenizer(texts[start : start + per_batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **batch.to(device),
                do_sample=True,
                temperature=args.temperature,
                top_p=args.top_p,
                top_k=None,
                max_new_tokens=args.max_new_tokens,
                num_return_sequences=k,
                pad_token_id=tokenizer.pad_token_id,
            )
        decoded = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        completions += [[text.strip() for text in decoded[i : i + k]] for i in range(0, len(decoded), k)]
        logger.info("sampled %d/%d prompts", min(start + per_batch, len(texts)), len(texts))
    return completions


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


def write_jsonl(path: str, rows: list[dict]) -> None:
    """Write atomically, so a killed job never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="policy checkpoint (causal LM with a chat template)")
    parser.add_argument("--prompts", required=True, help="JSONL with prompt and/or messages")
    parser.add_argument("--output", required=True, help="JSONL, one row per prompt")
    parser.add_argument("--num_completions", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch_size", type=int, default=64, help="sequences per generate call (hf backend)")
    parser.add_argument("--max_prompts", type=int, default=None, help="use only the first N prompts")
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))
    if args.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise RecipeError("--backend vllm: vllm is not installed in this environment (install it or use --backend hf)")
    if args.num_completions < 1 or args.temperature <= 0 or not 0 < args.top_p <= 1:
        raise RecipeError("need --num_completions >= 1, --temperature > 0 and 0 < --top_p <= 1")

    rows = read_prompts(args.prompts, args.max_prompts)
    conversations = [row["messages"] for row in rows]
    sample = sample_vllm if args.backend == "vllm" else sample_hf
    completions = sample(args, conversations)
    generation = {key: getattr(args, key) for key in ("backend", "temperature", "top_p", "max_new_tokens", "seed")}
    generation["model"] = args.model
    out = [dict(row, completions=c, generation=generation) for row, c in zip(rows, completions)]
    write_jsonl(args.output, out)
    logger.info("wrote %d prompts x %d completions to %s", len(out), args.num_completions, args.output)


if __name__ == "__main__":
    run_main(main)
