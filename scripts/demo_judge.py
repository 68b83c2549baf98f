"""The tiny-scale stand-in for an external judge: the demo reward model scores judge answers.

    python scripts/demo_judge.py --format mt_bench --reward_model results/models/rm/tiny \
        --prompts results/judges/prompts/mt_bench_demo.jsonl \
        --answers results/judges/mt_bench/model_answer/dpo-tiny.jsonl ... \
        --output results/judges/mt_bench/demo_judgment/pref_align_scan.jsonl

    python scripts/demo_judge.py --format alpaca_eval --reward_model results/models/rm/tiny \
        --answers results/judges/alpaca_eval/model_outputs/dpo-tiny.json ... \
        --baseline results/judges/alpaca_eval/model_outputs/sft-tiny.json \
        --output results/judges/alpaca_eval/demo_judgment/zephyr.csv

MT-Bench: every answered turn (with the conversation before it) gets the reward model's score, in
FastChat's single-answer judgment format (model_judgment/<judge>_single.jsonl); a model's score
is their mean, as FastChat's show_result computes it, but on the reward model's scale, not 1-10.
AlpacaEval: each output is compared with the baseline's output to the same instruction (a win
counts 1, a tie 0.5), written as alpaca_eval's leaderboard.csv (win_rate in percent).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from handbook import judge_formats as jf
from handbook.jsonl import write_jsonl
from handbook.reward_scoring import load_reward_model, score_conversations
from handbook.training import run_main

logger = logging.getLogger("handbook.judges")


def judge_mt_bench(model, tokenizer, args) -> None:
    questions = jf.normalise_prompts(jf.read_rows(args.prompts), "mt_bench", args.prompts)
    keys, conversations = [], []
    for path in args.answers:
        answers = jf.read_mt_bench_answers(path)
        model_id = Path(path).stem
        for question_id, turn, conversation in jf.mt_bench_turns(questions, answers):
            keys.append((question_id, model_id, turn))
            conversations.append(conversation)
    scores = score_conversations(model, tokenizer, conversations, args.batch_size)
    judge = f"reward-model:{args.reward_model}"
    write_jsonl(
        args.output, [jf.mt_bench_judgment(q, m, t, s, judge) for (q, m, t), s in zip(keys, scores)]
    )
    logger.info("scored %d answer turns of %d models", len(scores), len(args.answers))


def judge_alpaca_eval(model, tokenizer, args) -> None:
    if not args.baseline:
        raise SystemExit(
            "error: --format alpaca_eval needs --baseline (the outputs to compare against)"
        )
    baseline = {o["instruction"]: o["output"] for o in jf.read_alpaca_eval_outputs(args.baseline)}

    def chat(instruction, output):
        return [{"role": "user", "content": instruction}, {"role": "assistant", "content": output}]

    rows = {}
    for path in args.answers:
        outputs = [o for o in jf.read_alpaca_eval_outputs(path) if o["instruction"] in baseline]
        if not outputs:
            raise SystemExit(f"error: {path} shares no instruction with {args.baseline}")
        ours = score_conversations(
            model,
            tokenizer,
            [chat(o["instruction"], o["output"]) for o in outputs],
            args.batch_size,
        )
        theirs = score_conversations(
            model,
            tokenizer,
            [chat(o["instruction"], baseline[o["instruction"]]) for o in outputs],
            args.batch_size,
        )
        outcomes = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(ours, theirs)]
        rows[outputs[0]["generator"]] = jf.alpaca_eval_row(
            outcomes, [len(o["output"]) for o in outputs]
        )
    jf.write_alpaca_eval_leaderboard(args.output, rows)
    logger.info(
        "win rates against %s: %s",
        args.baseline,
        {k: round(v["win_rate"], 2) for k, v in rows.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=jf.FORMATS, required=True)
    parser.add_argument("--reward_model", required=True)
    parser.add_argument(
        "--answers", nargs="+", required=True, help="answer files from generate_for_judges.py"
    )
    parser.add_argument("--prompts", help="mt_bench: the questions the answers reply to")
    parser.add_argument("--baseline", help="alpaca_eval: the baseline generator's outputs")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))
    if args.format == "mt_bench" and not args.prompts:
        parser.error("--format mt_bench needs --prompts")

    model, tokenizer = load_reward_model(args.reward_model)
    try:
        if args.format == "mt_bench":
            judge_mt_bench(model, tokenizer, args)
        else:
            judge_alpaca_eval(model, tokenizer, args)
    except jf.FormatError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    run_main(main)
