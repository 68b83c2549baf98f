"""Preference optimisation: shared reference log-probs for DPO, unpaired data for KTO.

DPO-family runs in a sweep share one tokenization and one pass of the reference model: the
workflow builds a dataset with `prompt_ids`, `chosen_ids`, `rejected_ids`, `ref_chosen_logps` and
`ref_rejected_logps` once per (reference model, preference dataset), and every run trains on it.
"""

from __future__ import annotations

import logging

from trl import DPOTrainer

logger = logging.getLogger("handbook.preference")

REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


class PrecomputedDPOTrainer(DPOTrainer):
    """DPOTrainer that trains on data already tokenized and scored by the reference model.

    TRL's DPOTrainer always re-tokenizes and, with `precompute_ref_log_probs`, recomputes the
    reference pass. Both steps are skipped when their columns are already present (TRL 1.16).
    """

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if "prompt_ids" in dataset.column_names:
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if all(column in dataset.column_names for column in REF_COLUMNS):
            logger.info("%s: reusing precomputed reference log-probs (%d rows)", name, len(dataset))
            return dataset
        return super()._precompute_ref_logps(dataset, name, batch_size)


def unpair_and_shuffle(dataset, seed: int):
    """Paired preferences -> KTO's unpaired rows (prompt, completion, label), shuffled.

    KTOTrainer samples sequentially (its KL term pairs neighbours in a fixed order); given paired
    data it unpairs it into all chosen rows followed by all rejected rows, so a batch would hold
    one label only. Shuffling with the run's seed mixes labels, and makes seeds differ.
    """
    from trl.data_utils import extract_prompt, unpair_preference_dataset

    if "label" not in dataset.column_names:
        if "prompt" not in dataset.column_names:
            # ultrafeedback layout: the prompt is the shared start of chosen and rejected
            dataset = dataset.map(extract_prompt)
        dataset = unpair_preference_dataset(dataset)
    return dataset.shuffle(seed=seed)


def label_balance(dataset, window: int = 64) -> float:
    """Share of desirable labels in the first `window` rows (0.5 means well mixed)."""
    labels = dataset.select(range(min(window, len(dataset))))["label"]
    return sum(bool(x) for x in labels) / max(1, len(labels))
