"""Where a finished build's job time goes: start-up against work, and peak memory, per rule.

    .venv/bin/python bench/demo_jobs.py [--results results]

Reads every job's benchmark file (results/benchmarks/<job>.tsv: wall seconds, peak resident
memory) and the timing lines of its log (results/logs/<job>.log, written by
handbook.provenance.log_startup: seconds from the job's start to `main`, to `model loaded` and to
`end`). A job's start-up is the time before its first model is loaded (the process is then ready to
train, generate or score); for jobs that load no model, the time before `main` (shell, interpreter,
imports). Prints per rule: jobs, summed wall seconds, summed start-up and its share, the largest
peak RSS; then the build's totals.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

# Job log paths (under results/logs/) -> rule, in the order the workflow's rules declare them.
RULES = [
    (r"demo_world$", "make_demo_world"),
    (r"base/[^/]+_tokenizer$", "train_tokenizer"),
    (r"base/[^/]+_init$", "init_model"),
    (r"data/[^/]+/prepare$", "prepare_dataset"),
    (r"data/[^/]+/tokenize_[^/]+$", "tokenize_dataset"),
    (r"ref_logps/", "compute_ref_logps"),
    (r"eval/[^/]+/[^/]+_lm_eval_[^/]+$", "lm_eval"),
    (r"eval/[^/]+/[^/]+_winrate$", "judge_winrate"),
    (r"eval/rm/[^/]+$", "eval_reward"),
    (r"eval/[^/]+/[^/]+$", "eval_demo"),
    (r"lm_eval_tasks/", "lm_eval_tasks"),
    (r"judges/demo_prompts$", "judge_demo_prompts"),
    (r"judges/[^/]+/demo_judgment_", "demo_judge"),
    (r"judges/", "judge_answers"),
    (r"rejection_sampling/[^/]+/sample$", "sample_completions"),
    (r"rejection_sampling/[^/]+/score$", "score_samples"),
    (r"rejection_sampling/[^/]+/sets$", "make_bon_sets"),
    (r"tables/", "make_table"),
    (r"plots/", "plot_curves"),
    (r"^[a-z]+/[^/]+$", "train_model"),
]
TIMING = re.compile(r"timing: ([0-9.]+) s from job start to (.+)$")


def rule_of(job: str) -> str:
    return next((rule for pattern, rule in RULES if re.search(pattern, job)), "other")


def timings(log: Path) -> dict[str, float]:
    found = {}
    if log.is_file():
        for line in log.read_text(errors="replace").splitlines():
            match = TIMING.search(line)
            if match:
                found.setdefault(match.group(2).strip(), float(match.group(1)))
    return found


def jobs(results: Path) -> list[dict]:
    """One record per job: rule, wall seconds, start-up seconds, peak RSS (MB)."""
    out = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        job = str(tsv.relative_to(results / "benchmarks").with_suffix(""))
        with tsv.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        marks = timings(results / "logs" / f"{job}.log")
        startup = marks.get("model loaded", marks.get("main"))
        out.append(
            {
                "job": job,
                "rule": rule_of(job),
                "seconds": float(row["s"]),
                "startup": startup,
                "model": "model loaded" in marks,
                "max_rss_mb": float(row["max_rss"])
                if row.get("max_rss", "NA") not in ("NA", "-", "")
                else None,
            }
        )
    return out


def summarise(records: list[dict]) -> None:
    by_rule: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_rule[record["rule"]].append(record)
    print(
        f"{'rule':<20} {'jobs':>4} {'wall s':>8} {'start-up s':>10} {'share':>6} "
        f"{'peak RSS MB':>11}  start-up ends at"
    )
    total = startup = 0.0
    unmarked = []
    for rule, items in sorted(by_rule.items(), key=lambda kv: -sum(r["seconds"] for r in kv[1])):
        wall = sum(r["seconds"] for r in items)
        marked = [r for r in items if r["startup"] is not None]
        unmarked += [r["job"] for r in items if r["startup"] is None]
        up = sum(min(r["startup"], r["seconds"]) for r in marked)
        rss = max((r["max_rss_mb"] or 0) for r in items)
        moment = "model loaded" if any(r["model"] for r in items) else "main"
        total += wall
        startup += up
        print(
            f"{rule:<20} {len(items):>4} {wall:>8.1f} {up:>10.1f} {up / wall if wall else 0:>6.1%} "
            f"{rss:>11.0f}  {moment}"
        )
    print(
        f"{'all jobs':<20} {len(records):>4} {total:>8.1f} {startup:>10.1f} "
        f"{startup / total if total else 0:>6.1%}"
    )
    if unmarked:
        print(f"jobs without timing lines (counted as work): {len(unmarked)}, e.g. {unmarked[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="a finished build's results/ folder")
    args = parser.parse_args()
    records = jobs(Path(args.results))
    if not records:
        raise SystemExit(
            f"{args.results}/benchmarks: no benchmark files (build the demo first: make demo)"
        )
    summarise(records)


if __name__ == "__main__":
    main()
