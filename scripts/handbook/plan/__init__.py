"""Config -> plan: everything the workflow will build, resolved once, in plain Python.

    python -m handbook.plan [--configfile my.yaml ...] [--scale tiny] [--table pref_align_scan]

prints the resolved plan as JSON: every run (stage, starting model, data, recipe, arguments,
threads, resources, launch command), sweeps expanded, each replacement the scale made, the
reference log-prob groups, the judges and suites at this scale, the tables with the runs and
result files of each row, and the final targets. The workflow builds the same plan when it
parses (workflow/rules/common.smk) and writes it to results/plan.json.

- resolve: build_plan, from the config files to the frozen plan, in one pass;
- core: the plan's runs and what every job asks of them (where a model is, what it needs);
- checks: what is checked before any job runs;
- one module per rule file, each building the typed jobs (handbook.plan.jobs.Job) its rules
  run: data (data.smk, base.smk), train, sampling, eval and judges (eval.smk), tables;
- export: the plan as JSON.

Nothing here imports torch, TRL or Snakemake: building the DAG stays fast and unit tests build
plans from small config dicts. A bad config raises ConfigError naming the config file(s) and key.
"""

from handbook.config import ConfigError
from handbook.plan.core import Plan, Run
from handbook.plan.export import to_dict, write_plan
from handbook.plan.resolve import build_plan

__all__ = ["ConfigError", "Plan", "Run", "build_plan", "to_dict", "write_plan"]
