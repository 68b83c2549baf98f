"""The order a build starts its ready jobs in: each rule's Snakemake `priority:` (higher first).

Left to itself, Snakemake picks among ready jobs by their input sizes, with no regard to what waits
on them. On two cores that cost the demo minutes: its reward model, which every win-rate job and
the rejection-sampling chain wait for, trained after nine other runs and their evaluations, and
the reference log-probs that six DPO runs need came after those. So jobs are ranked by what they
unblock, the order being the same for every rule of a kind:

- what many jobs wait for first (a reward model, reference log-probs), since each frees several;
- then the data, samples and scores a training run reads;
- then training, the longest jobs, so that the short ones fill the cores at the end;
- then evaluation, then judging (which waits for evaluated replies), then tables and plots.

A cluster's scheduler takes submitted jobs as they come; the order only decides which ready job
is submitted first, and changes no result.
"""

from __future__ import annotations

from handbook.methods import METHODS

UNBLOCKS_MANY = 50  # a reward model, reference log-probs
FEEDS_TRAINING = 40  # datasets, samples, scores and best-of-n sets
TRAINING = 30
EVALUATION = 20
JUDGING = 10
REPORTING = 0  # tables and plots: Snakemake's default


def training(stage: str) -> int:
    """A reward model scores samples and judges win rates, so more jobs wait on it than on a
    policy."""
    return UNBLOCKS_MANY if METHODS[stage].reward_model else TRAINING
