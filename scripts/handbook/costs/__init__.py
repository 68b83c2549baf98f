"""The cost plan: what each job of a plan costs before it runs.

    python -m handbook.plan --costs [--table T] [--scale S] [--configfile my.yaml ...]

prints per job the training tokens (counted in the tokenized data's summary.json once built,
else estimated from rows x a stated tokens-per-row figure, marked ~), optimizer steps from the
global batch, FLOPs (6·N·tokens with N from the model's config, plus reference passes and
generation), GPU-hours at the configured MFU (the GPU check's measured one once it has run),
wall time against the job's time limit and memory per GPU at its ZeRO/FSDP stage and precision,
with totals per table and a warning for a job over its time limit or its GPU's memory.
scripts/plan_costs.py writes the same as results/plan_costs.md and .csv.

- shapes: a model's shape and parameter counts; known: the shipped facts (hub models' shapes,
  hub datasets' rows and tokens per row);
- lookup: where each figure comes from (built artifacts, the local hub cache, the tables);
- memory, estimate: one job's memory per GPU, tokens, steps, FLOPs and hours;
- collect: the jobs of a table, costed once, totals and warnings; report: text, Markdown, CSV.

Nothing here imports torch or reaches the network. Formulas and the hand computation it is
checked against: docs/costs.md.
"""

from handbook.costs.collect import TableCosts, plan_costs
from handbook.costs.report import as_csv, as_markdown, as_text

__all__ = ["TableCosts", "as_csv", "as_markdown", "as_text", "plan_costs"]
