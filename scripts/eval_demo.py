"""Evaluate a checkpoint on the demo world's held-out prompts: task accuracy and held-out loss.

    python scripts/eval_demo.py --model results/models/sft/tiny \
        --prompts results/demo_world/eval/test.jsonl \
        --loss_data results/data/demo_sft/tokenized/tiny --output results/eval/sft/tiny/demo.json

Accuracy is exact match of the answer extracted from a greedy generation, in the chat format
(the tokenizer's template) and in a plain "Question: ... Answer:" format, so base models that know
no chat format are compared fairly. With --num_samples > 0, chat replies are also sampled (T=1) to
measure the mix of answer styles that greedy decoding hides and pass@k. --same_knowledge scores a
second prompt set the same way (under "same_knowledge"); --reference adds KL(model || reference) on
the first --kl_samples sampled replies of each prompt of the first set.

With --lm_eval, the demo world's local lm-eval suites run afterwards on the same loaded model, each
written where scripts/eval_lm_harness.py would write it (same JSON): the process that already has
torch, transformers and the model loaded does in seconds what a job of its own would start for.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from handbook import generation
from handbook.demo_eval import chat_prompts, evaluate_set, first_per_prompt
from handbook.jsonl import read_jsonl
from handbook.kl import kl_to_reference
from handbook.lm_harness import SuiteRun, evaluate, prepare, wrap_lm, write_result
from handbook.modeling import load_tokenizer
from handbook.provenance import write_json, write_provenance
from handbook.suites import SuiteError
from handbook.training import RecipeError, run_main

logger = logging.getLogger("handbook.eval")


def heldout_loss(model, path: str, batch_size: int) -> float | None:
    """Mean token loss on the held-out split, on the tokens training optimises (assistant
    tokens)."""
    import torch
    from datasets import load_from_disk

    dsd = load_from_disk(path)
    if "test" not in dsd:
        return None
    total, count = 0.0, 0
    for start in range(0, len(dsd["test"]), batch_size):
        rows = dsd["test"][start : start + batch_size]
        for i, ids in enumerate(rows["input_ids"]):
            mask = rows["assistant_masks"][i] if "assistant_masks" in rows else [1] * len(ids)
            input_ids = torch.tensor([ids])
            labels = torch.tensor([[t if m else -100 for t, m in zip(ids, mask)]])
            with torch.no_grad():
                loss = model(input_ids=input_ids, labels=labels).loss
            n = int((labels[:, 1:] != -100).sum())
            total, count = total + float(loss) * n, count + n
    return total / count if count else None


def suite_runs(text: str | None) -> dict[str, tuple[SuiteRun, str]]:
    """--lm_eval's JSON, {suite: {spec, include_path, limit, output}}, as runs and output paths."""
    import json

    if not text:
        return {}
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecipeError(f"--lm_eval is not valid JSON: {err}") from None
    return {
        name: (
            SuiteRun(
                suite=name,
                suites={name: e["spec"]},
                include_path=e.get("include_path"),
                limit=e.get("limit"),
            ),
            e["output"],
        )
        for name, e in entries.items()
    }


def run_suites(model, model_path: str, suites: dict, prepared: dict, config: dict) -> None:
    for name, (run, output) in suites.items():
        # The tokenizer as lm-eval loads it for a checkpoint folder, so the suite scores as it
        # would in a job of its own.
        lm = wrap_lm(model, model_path, run)
        specs, task_manager, loaded = prepared[name]
        raw = evaluate(lm, run, specs, task_manager, loaded)
        write_result(output, run, model_path, specs, raw, config=config)


def reference_kl(model, tokenizer, sampled: list[dict], args) -> float:
    """KL(model || reference) on the model's sampled replies to the held-out prompts."""
    reference = generation.load_causal_lm(args.reference, dtype="float32")
    prompts = chat_prompts(tokenizer, sampled)
    replies = [s["completion"] for s in sampled]
    return kl_to_reference(model, reference, tokenizer, prompts, replies, args.batch_size)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True, help="JSONL with prompt, task, answer")
    parser.add_argument(
        "--loss_data", default=None, help="tokenized dataset whose test split gives the loss"
    )
    parser.add_argument("--formats", default="chat,plain")
    parser.add_argument(
        "--num_samples", type=int, default=0, help="sampled chat replies per prompt (T=1)"
    )
    parser.add_argument(
        "--same_knowledge",
        default=None,
        help="JSONL of prompts asking the training prompts' items anew, scored the same way",
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="the model this one was trained from: KL(model || reference) on its sampled replies",
    )
    parser.add_argument(
        "--kl_samples", type=int, default=4, help="sampled replies per prompt the KL is taken on"
    )
    parser.add_argument("--max_new_tokens", type=int, default=24)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lm_eval", default=None, help="local lm-eval suites to run on the model too (JSON)"
    )
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    suites = suite_runs(args.lm_eval)
    try:  # every suite checked before the model is loaded
        prepared = {name: prepare(run) for name, (run, _) in suites.items()}
    except SuiteError as err:
        raise RecipeError(str(err)) from None
    torch.manual_seed(args.seed)
    model = generation.load_causal_lm(args.model, dtype="float32")
    tokenizer = load_tokenizer(args.model)
    rows = read_jsonl(args.prompts)
    formats = args.formats.split(",")
    settings = (formats, args.num_samples, args.max_new_tokens, args.batch_size)
    results, samples = evaluate_set(model, tokenizer, rows, *settings)
    if args.same_knowledge:
        rows_again = read_jsonl(args.same_knowledge)
        results["same_knowledge"], more = evaluate_set(model, tokenizer, rows_again, *settings)
        samples += [{**s, "format": f"same_knowledge/{s['format']}"} for s in more]
    if args.reference and "chat_sampled" in results:
        sampled = first_per_prompt(
            [s for s in samples if s["format"] == "chat_sampled"], args.kl_samples
        )
        results["kl_to_reference"] = reference_kl(model, tokenizer, sampled, args)
        logger.info("KL to %s: %.4f", args.reference, results["kl_to_reference"])
    if args.loss_data:
        loss = heldout_loss(model, args.loss_data, args.batch_size)
        results["heldout_loss"] = loss
        results["heldout_perplexity"] = math.exp(loss) if loss is not None else None
    write_json(Path(args.output).with_name(Path(args.output).stem + "_samples.json"), samples)
    write_provenance(Path(args.output).parent, config=vars(args), inputs={"model": args.model})
    write_json(args.output, results)
    try:
        run_suites(model, args.model, suites, prepared, config=vars(args))
    except SuiteError as err:
        raise RecipeError(str(err)) from None


if __name__ == "__main__":
    run_main(main)
