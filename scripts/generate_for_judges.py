"""Generate a model's answers to MT-Bench or AlpacaEval prompts, in the files their judges read.

    python scripts/generate_for_judges.py --model results/models/dpo/tiny --format mt_bench \
        --prompts results/judges/prompts/mt_bench_demo.jsonl --model_id dpo-tiny \
        --output results/judges/mt_bench/model_answer/dpo-tiny.jsonl --max_new_tokens 64

    python scripts/generate_for_judges.py --make_demo_prompts results/judges/prompts \
        --eval_prompts results/demo_world/eval/test.jsonl

--prompts is a local .jsonl/.json file or a hub dataset id (with --prompts_config and
--prompts_split). MT-Bench questions are answered turn by turn: each turn is asked with the
model's own earlier answers in the conversation (the tokenizer's chat template). Greedy when
--temperature is 0, sampled otherwise. The settings go to <output stem>.settings.json beside the
answers (FastChat reads only *.jsonl from model_answer/, so the sidecar does not disturb it).
--make_demo_prompts writes mt_bench_demo.jsonl, its judge prompts in FastChat's judge_prompts format
(mt_bench_demo_judge_prompts.jsonl) and alpaca_eval_demo.json from the demo world.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

from handbook import generation
from handbook import judge_formats as jf
from handbook.jsonl import write_jsonl
from handbook.modeling import load_tokenizer
from handbook.provenance import provenance, write_json
from handbook.training import run_main

logger = logging.getLogger("handbook.judges")


def load_prompts(source: str, fmt: str, config: str | None, split: str) -> list[dict]:
    try:
        return jf.load_prompts(source, fmt, config, split)
    except jf.FormatError as err:
        raise SystemExit(f"error: {err}") from None


def generate(model, tokenizer, conversations: list[list[dict]], args) -> list[str]:
    """One reply per conversation: greedy when --temperature is 0, sampled otherwise."""
    do_sample = args.temperature > 0
    return generation.generate(
        model,
        tokenizer,
        generation.chat_texts(tokenizer, conversations),
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        do_sample=do_sample,
        temperature=args.temperature if do_sample else None,
        top_p=args.top_p if do_sample else None,
    )


def answer_mt_bench(model, tokenizer, questions: list[dict], args) -> list[dict]:
    """All questions' first turns in one batch, then all second turns, and so on."""
    answers: dict = {q["question_id"]: [] for q in questions}
    for turn in range(max(len(q["turns"]) for q in questions)):
        asked = [q for q in questions if len(q["turns"]) > turn]
        conversations = []
        for q in asked:
            conversation = []
            for user, assistant in zip(q["turns"][:turn], answers[q["question_id"]]):
                conversation += [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ]
            conversations.append(conversation + [{"role": "user", "content": q["turns"][turn]}])
        for q, reply in zip(asked, generate(model, tokenizer, conversations, args)):
            answers[q["question_id"]].append(reply)
        logger.info("turn %d: %d answers", turn + 1, len(asked))
    return [
        jf.mt_bench_answer(q["question_id"], args.model_id, answers[q["question_id"]])
        for q in questions
    ]


def answer_alpaca_eval(model, tokenizer, prompts: list[dict], args) -> list[dict]:
    replies = generate(
        model, tokenizer, [[{"role": "user", "content": p["instruction"]}] for p in prompts], args
    )
    return [
        jf.alpaca_eval_output(p["instruction"], r, args.model_id, p["dataset"])
        for p, r in zip(prompts, replies)
    ]


def make_demo_prompts(args) -> None:
    rows = jf.read_rows(args.eval_prompts)
    folder = Path(args.make_demo_prompts)
    folder.mkdir(parents=True, exist_ok=True)
    questions = jf.demo_mt_bench_questions(rows, args.n_demo, args.seed)
    write_jsonl(folder / "mt_bench_demo.jsonl", questions)
    write_jsonl(folder / "mt_bench_demo_judge_prompts.jsonl", jf.demo_judge_prompts())
    jf.write_alpaca_eval_outputs(
        folder / "alpaca_eval_demo.json", jf.demo_alpaca_eval_prompts(rows, args.n_demo, args.seed)
    )
    logger.info(
        "wrote %d demo MT-Bench questions and AlpacaEval prompts to %s", len(questions), folder
    )


def settings(args, tokenizer, model) -> dict:
    template = tokenizer.chat_template or ""
    return {
        "format": args.format,
        "model": args.model,
        "model_id": args.model_id,
        "prompts": args.prompts,
        "prompts_config": args.prompts_config,
        "prompts_split": args.prompts_split,
        "do_sample": args.temperature > 0,
        "temperature": args.temperature,
        "top_p": args.top_p if args.temperature > 0 else None,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "dtype": str(model.dtype),
        "device": args.device,
        "chat_template": template,
        "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest(),
        "provenance": provenance(
            config=vars(args), inputs={"model": args.model, "prompts": args.prompts}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder or hub id")
    parser.add_argument("--prompts", help="local .jsonl/.json or hub dataset id")
    parser.add_argument("--prompts_config", default=None)
    parser.add_argument("--prompts_split", default="train")
    parser.add_argument("--format", choices=jf.FORMATS)
    parser.add_argument(
        "--model_id", help="the name the judges report (FastChat: the answer file's stem)"
    )
    parser.add_argument(
        "--output", help="mt_bench: model_answer/<model_id>.jsonl; alpaca_eval: a .json file"
    )
    parser.add_argument("--max_new_tokens", type=int, default=1024)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 means greedy")
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--device_map", default=None, help="auto: spread the model over the visible GPUs"
    )
    parser.add_argument(
        "--make_demo_prompts", default=None, help="write demo prompt files to this folder and stop"
    )
    parser.add_argument("--eval_prompts", default="results/demo_world/eval/test.jsonl")
    parser.add_argument("--n_demo", type=int, default=16)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))
    if args.make_demo_prompts:
        make_demo_prompts(args)
        return
    missing = [
        f"--{k}"
        for k in ("model", "prompts", "format", "model_id", "output")
        if not getattr(args, k)
    ]
    if missing:
        parser.error(f"missing {', '.join(missing)} (or use --make_demo_prompts)")
    if args.format == "mt_bench" and Path(args.output).stem != args.model_id:
        parser.error(
            "FastChat names a model by its answer file: --output must be "
            f"<dir>/{args.model_id}.jsonl"
        )

    import torch

    try:
        prompts = load_prompts(args.prompts, args.format, args.prompts_config, args.prompts_split)
    except jf.FormatError as err:
        raise SystemExit(f"error: {err}") from None
    # Seeded once, not per generate() call: MT-Bench's later turns continue the earlier turns'
    # random stream.
    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer(args.model)
    if not tokenizer.chat_template:
        raise SystemExit(
            f"error: {args.model} has no chat template; judges need chat-formatted answers"
        )
    device_map = args.device_map if args.device == "cuda" else None  # a rehearsal's CPU run
    model = generation.load_causal_lm(
        args.model, dtype=args.dtype, device=args.device, device_map=device_map
    )
    if args.format == "mt_bench":
        jf.write_mt_bench_answers(args.output, answer_mt_bench(model, tokenizer, prompts, args))
    else:
        jf.write_alpaca_eval_outputs(
            args.output, answer_alpaca_eval(model, tokenizer, prompts, args)
        )
    write_json(Path(args.output).with_suffix(".settings.json"), settings(args, tokenizer, model))
    logger.info("wrote %d answers to %s", len(prompts), args.output)


if __name__ == "__main__":
    run_main(main)
