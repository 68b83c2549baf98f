"""What judging a table costs before any answer exists: the calls each judge endpoint gets (the
table's chat models and anchors x the prompt set's questions x turns) and the completion tokens
they may cost. Prompt tokens depend on the answers, so the judging job estimates them before its
first call (scripts/judge.py logs it; --dry_run prints it)."""

from __future__ import annotations

from pathlib import Path

from handbook import judge_formats
from handbook.costs.lookup import artifact_root
from handbook.plan.core import Plan
from handbook.plan.judges import endpoint_name, judge_prompts, judged_by_endpoint

# Published sizes of the hub prompt sets (MT-Bench: 80 two-turn questions; AlpacaEval: 805).
KNOWN_SETS = {"HuggingFaceH4/mt_bench_prompts": (80, 2), "tatsu-lab/alpaca_eval": (805, 1)}


def prompt_set_size(plan: Plan, judge: str) -> tuple[int, int] | None:
    """(prompts, turns per prompt) of a judge's prompt set: a local file counted, a hub set's
    published size, or None when neither is known (not built yet)."""
    source = judge_prompts(plan, judge)
    if plan.is_hub(source):
        return KNOWN_SETS.get(source)
    path = artifact_root(plan) / source
    if not Path(path).is_file():
        return None
    fmt = plan.config["judges"][judge]["format"]
    rows = judge_formats.normalise_prompts(judge_formats.read_rows(path), fmt, str(path))
    turns = max(len(r.get("turns", [None])) for r in rows)
    return len(rows), turns


def judging_lines(plan: Plan, table: str) -> list[str]:
    """One line per judge of the table that an endpoint judges here."""
    lines = []
    for judge in plan.config["tables"][table].get("judges", []):
        if not judged_by_endpoint(plan, judge):
            continue
        key = f"answers:{judge}"
        models = len({e.files[key] for e in plan.tables[table] if key in e.files})
        name = endpoint_name(plan, judge)
        endpoint = plan.config["judge_endpoints"][name]
        model = endpoint.get("model") or endpoint["serve"]["model"]
        size = prompt_set_size(plan, judge)
        head = f"judging {judge}: endpoint {name} ({model}), {models} models"
        if size is None:
            lines.append(f"{head}; its prompt set is not built yet, so the calls are not known")
            continue
        prompts, turns = size
        calls = models * prompts * turns
        most = calls * int(endpoint.get("max_tokens", 2048))
        lines.append(
            f"{head} x {prompts} prompts x {turns} turns = {calls:,} calls, at most {most:,} "
            "completion tokens (the job estimates prompt tokens before its first call)"
        )
    return lines
