"""Win rate of a policy against a baseline on the same prompts, judged by a reward model.

    python scripts/judge_winrate.py --reward_model results/models/rm/tiny \
        --samples results/eval/dpo/demo_dpo-seed1/demo_samples.json \
        --baseline results/eval/sft/tiny/demo_samples.json \
        --output results/eval/dpo/demo_dpo-seed1/winrate.json

Both sample files come from scripts/eval_demo.py; sampled chat replies are compared pairwise
(the i-th sample of a prompt against the baseline's i-th): a win counts 1, a tie 0.5.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from handbook.demo_eval import first_per_prompt
from handbook.provenance import write_json
from handbook.reward_scoring import load_reward_model, score_conversations
from handbook.training import run_main

logger = logging.getLogger("handbook.judge")


def paired_replies(samples: list[dict], baseline: list[dict], fmt: str, per_prompt: int = 0):
    """(prompt, policy reply, baseline reply) for every sample both files have, at most
    `per_prompt` of each prompt (0: all)."""

    def index(rows):
        out = {}
        for row in first_per_prompt([r for r in rows if r["format"] == fmt], per_prompt):
            out.setdefault(row["prompt_id"], []).append(row)
        return out

    ours, theirs = index(samples), index(baseline)
    pairs = []
    for prompt_id, rows in ours.items():
        for mine, other in zip(rows, theirs.get(prompt_id, [])):
            pairs.append((mine["prompt"], mine["completion"], other["completion"]))
    return pairs


def win_rate(policy_scores: list[float], baseline_scores: list[float]) -> float:
    outcomes = [
        1.0 if p > b else 0.5 if p == b else 0.0 for p, b in zip(policy_scores, baseline_scores)
    ]
    return sum(outcomes) / len(outcomes) if outcomes else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reward_model", required=True)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument(
        "--format", default="chat_sampled", help="which replies to compare (chat_sampled or chat)"
    )
    parser.add_argument(
        "--per_prompt",
        type=int,
        default=4,
        help="replies of each prompt judged (the first ones; 0: all): 4 of the 16 sampled "
        "measure the win rate to about a hundredth",
    )
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    logger.info("arguments: %s", vars(args))

    samples = json.loads(Path(args.samples).read_text())
    baseline = json.loads(Path(args.baseline).read_text())
    pairs = paired_replies(samples, baseline, args.format, args.per_prompt)
    if not pairs:
        raise SystemExit(
            f"error: {args.samples} and {args.baseline} share no '{args.format}' replies"
        )
    model, tokenizer = load_reward_model(args.reward_model)

    def conversations(index):
        return [
            [{"role": "user", "content": p[0]}, {"role": "assistant", "content": p[index]}]
            for p in pairs
        ]

    ours = score_conversations(model, tokenizer, conversations(1), args.batch_size)
    theirs = score_conversations(model, tokenizer, conversations(2), args.batch_size)
    result = {
        "win_rate": win_rate(ours, theirs),
        "n": len(pairs),
        "mean_reward": sum(ours) / len(ours),
        "baseline_mean_reward": sum(theirs) / len(theirs),
        "format": args.format,
        "reward_model": args.reward_model,
        "baseline": args.baseline,
    }
    write_json(args.output, result)
    logger.info("win rate: %s", result)


if __name__ == "__main__":
    run_main(main)
