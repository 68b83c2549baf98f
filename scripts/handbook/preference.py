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


def prompt_lengths(dataset, tokenizer) -> list[int]:
    """Tokens of each pair's prompt as the chat template renders it: the explicit `prompt`, or the
    turns that chosen and rejected share."""
    import os

    lengths = []
    for row in dataset:
        prompt = row.get("prompt")
        if isinstance(row["chosen"], str):  # TRL's standard format: no chat template
            text = (
                prompt
                if isinstance(prompt, str)
                else os.path.commonprefix([row["chosen"], row["rejected"]])
            )
        else:
            if not isinstance(prompt, list):
                prompt = [m for m, other in zip(row["chosen"], row["rejected"]) if m == other][
                    : len(row["chosen"]) - 1
                ]
            text = (
                tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
                if prompt
                else ""
            )
        lengths.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return lengths


def check_prompt_room(
    lengths: list[int], max_length: int, truncation_mode: str, where: str
) -> None:
    """Truncating from the end (keep_start), a prompt of max_length tokens or more leaves nothing
    of either reply: the pair trains on nothing, silently. A few such rows (long documents in a
    hub set) are said in the log; when they are most of the data, max_length is wrong: an error."""
    from handbook.data import DataError

    if truncation_mode != "keep_start" or max_length is None:
        return
    too_long = [i for i, n in enumerate(lengths) if n >= max_length]
    if too_long and len(too_long) * 2 <= len(lengths):
        logger.warning(
            "%s: %d of %d prompts fill max_length %d: those pairs train on nothing",
            where,
            len(too_long),
            len(lengths),
            max_length,
        )
    elif too_long:
        i = too_long[0]
        raise DataError(
            f"{where}: row {i}: the prompt has {lengths[i]} tokens and max_length is {max_length}, "
            f"so nothing of the replies is left ({len(too_long)} rows like it); raise max_length "
            "or use truncation_mode: keep_end"
        )


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
