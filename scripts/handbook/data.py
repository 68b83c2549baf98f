"""Datasets: the handbook's `dataset_mixture` and `dataset_name` forms, local files or hub ids.

A spec is one entry of the config's `datasets:` section. Sources are hub ids or local JSONL/JSON/
parquet/CSV files, folders of such files (splits named by file, e.g. train.jsonl), or folders
written by `Dataset.save_to_disk`. Every problem is raised as a DataError whose message names the
dataset, the source and the column or row, so it can be printed as one line.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from handbook.hub import is_hub_id

LOCAL_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
ROLES = {"system", "user", "assistant"}
# Columns that are strings in TRL's standard format and message lists in its conversational one.
EITHER_FORM = ("prompt", "completion", "chosen", "rejected")
# TRL's dataset formats, by the columns that make them.
FORMAT_COLUMNS = {
    "language modelling": "text or messages",
    "prompt-completion": "prompt, completion",
    "preference": "chosen, rejected, and an optional prompt",
    "unpaired preference": "prompt, completion, label",
    "prompt-only": "prompt",
}
# Anthropic HH's transcripts: "\n\nHuman: ...\n\nAssistant: ..." in one string.
HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ ]?")
HH_ROLES = {"Human": "user", "Assistant": "assistant"}


class DataError(ValueError):
    """A dataset or spec problem, with a message that names where it is."""


def normalise_spec(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Both handbook forms become one mixture: {datasets: [...], seed, test_split_size,
    test_split}."""
    if "dataset_mixture" in spec:
        mix = dict(spec["dataset_mixture"])
        entries = mix.get("datasets") or []
        if not entries:
            raise DataError(f"dataset '{name}': dataset_mixture.datasets is empty")
        return {
            "datasets": [
                {
                    "id": e["id"],
                    "config": e.get("config"),
                    "split": e.get("split", "train"),
                    "columns": e.get("columns"),
                    "weight": float(e.get("weight", 1.0)),
                }
                for e in entries
            ],
            "seed": mix.get("seed", 0),
            "test_split_size": mix.get("test_split_size"),
            "test_split": mix.get("test_split"),
            "format": spec.get("format"),
        }
    if "dataset_name" in spec:
        return {
            "datasets": [
                {
                    "id": spec["dataset_name"],
                    "config": spec.get("dataset_config"),
                    "split": spec.get("dataset_train_split", "train"),
                    "columns": spec.get("columns"),
                    "weight": 1.0,
                }
            ],
            "seed": spec.get("seed", 0),
            "test_split_size": spec.get("test_split_size"),
            "test_split": spec.get("dataset_test_split"),
            "format": spec.get("format"),
        }
    raise DataError(f"dataset '{name}': needs 'dataset_mixture' or 'dataset_name'")


def default_config(config: str | None) -> str | None:
    """'default' names the configuration a dataset without named ones has: the same as none."""
    return None if config in (None, "default") else config


def check_file(path: Path) -> None:
    """A local JSON Lines or JSON file that is empty, not UTF-8 or cut short fails here, naming the
    file and line, rather than deep inside the dataset loader."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise DataError(f"{path}: empty file")
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(
                        f"{path}: line {number}: not valid JSON, truncated? ({err.msg})"
                    ) from None


def load_files(builder: str, files: list[str], source: str):
    import datasets

    for file in files:
        if builder == "json":
            check_file(Path(file))
    try:
        return datasets.load_dataset(builder, data_files=files, split="train")
    except Exception as err:  # the builders raise many types; all mean the file cannot be read
        first = str(err).splitlines()[0] if str(err) else ""
        raise DataError(
            f"{source}: cannot be read as {builder} ({type(err).__name__}: {first})"
        ) from None


def load_source(source: str, config: str | None, split: str):
    import datasets

    path = Path(source).expanduser()
    if path.is_file():
        builder = LOCAL_BUILDERS.get(path.suffix)
        if builder is None:
            raise DataError(
                f"{source}: unsupported file type '{path.suffix}' (use {sorted(LOCAL_BUILDERS)})"
            )
        if split not in ("train", None):
            raise DataError(f"{source}: a single file has one split, 'train' (asked for '{split}')")
        return load_files(builder, [str(path)], source)
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise DataError(f"{source}: no split '{split}' (has {sorted(loaded)})")
                return loaded[split]
            return loaded
        files = [p for p in sorted(path.iterdir()) if p.suffix in LOCAL_BUILDERS]
        by_split = {}
        for p in files:
            by_split.setdefault(p.name.split(".")[0].split("-")[0], []).append(str(p))
        if split not in by_split:
            raise DataError(
                f"{source}: no file for split '{split}' (found splits {sorted(by_split)})"
            )
        builder = LOCAL_BUILDERS[Path(by_split[split][0]).suffix]
        return load_files(builder, by_split[split], source)
    if not is_hub_id(source):
        raise DataError(f"{source}: no such file or folder")
    try:
        return datasets.load_dataset(source, config, split=split)
    except Exception as err:  # the hub client raises many types; all mean the same to a user
        raise DataError(
            f"{source}: could not load split '{split}' from the Hugging Face hub "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err


def check_rows(ds, source: str, columns: list[str]) -> None:
    """Fail on the first malformed row, naming source, row and column. Prompt, completion, chosen
    and rejected are strings (TRL's standard format) or message lists (conversational), as row 0
    is."""
    for column in columns:
        values = ds[column]
        if column == "messages":
            for i, messages in enumerate(values):
                check_messages(messages, f"{source}: row {i}, column '{column}'")
        elif column in EITHER_FORM and values:
            conversational = isinstance(values[0], list)
            for i, value in enumerate(values):
                where = f"{source}: row {i}, column '{column}'"
                if conversational:
                    check_messages(value, where, needs_assistant=column != "prompt")
                elif not isinstance(value, str) or (column != "prompt" and not value.strip()):
                    got = "a list" if isinstance(value, list) else repr(value)[:40]
                    raise DataError(
                        f"{where}: expected a non-empty string like row 0 "
                        f"(TRL's standard format), got {got}"
                    )
        elif column == "text":
            for i, value in enumerate(values):
                if not isinstance(value, str) or not value.strip():
                    raise DataError(
                        f"{source}: row {i}, column '{column}': expected a non-empty string"
                    )


def check_messages(messages: Any, where: str, needs_assistant: bool = True) -> None:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: expected a non-empty list of {{role, content}} messages")
    for j, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise DataError(f"{where}: message {j} needs 'role' and 'content'")
        if message["role"] not in ROLES:
            raise DataError(
                f"{where}: message {j} has role '{message['role']}' "
                f"(expected one of {sorted(ROLES)})"
            )
        if not isinstance(message["content"], str):
            raise DataError(f"{where}: message {j} content is not a string")
        if j and message["role"] == messages[j - 1]["role"]:
            raise DataError(
                f"{where}: messages {j - 1} and {j} are both '{message['role']}' "
                "(roles must alternate)"
            )
    if needs_assistant and not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where}: no assistant message")


def check_pairs_differ(ds, source: str) -> None:
    """A pair whose chosen and rejected replies are the same teaches nothing and breaks some
    losses."""
    if "chosen" in ds.column_names and "rejected" in ds.column_names:
        for i, (chosen, rejected) in enumerate(zip(ds["chosen"], ds["rejected"])):
            if chosen == rejected:
                raise DataError(f"{source}: row {i}: 'chosen' and 'rejected' are the same")


def dataset_format(columns) -> str:
    """Which of TRL's dataset formats a set of columns makes."""
    have = set(columns)
    if {"prompt", "completion", "label"} <= have:
        return "unpaired preference"
    if {"chosen", "rejected"} <= have:
        return "preference"
    if {"prompt", "completion"} <= have:
        return "prompt-completion"
    if have & {"text", "messages"}:
        return "language modelling"
    if "prompt" in have:
        return "prompt-only"
    return "unknown"


def check_format(columns, accepted: tuple[str, ...], who: str, where: str) -> str:
    """One line when the data is in a format the stage cannot train on, naming the ones it takes."""
    found = dataset_format(columns)
    if found not in accepted:
        takes = "; ".join(f"{f} ({FORMAT_COLUMNS[f]})" for f in accepted)
        what = "are in none of TRL's formats" if found == "unknown" else f"make {found} data"
        raise DataError(f"{where}: columns {sorted(columns)} {what}; {who} takes {takes}")
    return found


def hh_to_messages(text: Any, where: str) -> list[dict[str, str]]:
    """A Human/Assistant transcript as a conversation."""
    if not isinstance(text, str):
        raise DataError(f"{where}: expected a Human/Assistant transcript string (format: hh)")
    pieces = HH_TURN.split(text)
    if len(pieces) < 3 or pieces[0].strip():
        raise DataError(
            f"{where}: not a Human/Assistant transcript (it must start with '\\n\\nHuman: ')"
        )
    return [
        {"role": HH_ROLES[role], "content": content.strip()}
        for role, content in zip(pieces[1::2], pieces[2::2])
    ]


def from_hh(ds, source: str):
    """Anthropic HH rows (chosen and rejected transcripts) as conversational preference pairs."""
    missing = [c for c in ("chosen", "rejected") if c not in ds.column_names]
    if missing:
        raise DataError(
            f"{source}: format hh needs a {missing[0]!r} column (has {ds.column_names})"
        )

    def convert(row, i):
        return {
            c: hh_to_messages(row[c], f"{source}: row {i}, column '{c}'")
            for c in ("chosen", "rejected")
        }

    return ds.map(convert, with_indices=True, desc=f"HH transcripts -> conversations ({source})")


def check_same_columns(name: str, entries: list[dict], parts: list) -> None:
    columns = [sorted(p.column_names) for p in parts]
    if any(c != columns[0] for c in columns):
        detail = "; ".join(f"{e['id']}: {c}" for e, c in zip(entries, columns))
        raise DataError(
            f"dataset '{name}': sources have different columns ({detail}); "
            "set 'columns' to the shared ones"
        )


def keep_columns(ds, columns: list[str], renames: dict[str, str]):
    """The columns a dataset entry keeps, renamed where its `columns` mapping says so."""
    ds = ds.select_columns(columns)
    renames = {old: new for old, new in renames.items() if old != new}
    return ds.rename_columns(renames) if renames else ds


def load_entry(entry: dict[str, Any]):
    """One source of a normalised mixture (normalise_spec), its split with the columns the entry
    keeps, renamed; a column it names that the source lacks is an error naming both."""
    source = entry["id"]
    ds = load_source(source, entry["config"], entry["split"])
    renames = entry["columns"] if isinstance(entry["columns"], dict) else {}
    columns = list(entry["columns"] or ds.column_names)
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(f"{source}: column {missing[0]!r} not found (has {ds.column_names})")
    return keep_columns(ds, columns, renames)


def load_mixture(name: str, spec: dict[str, Any]):
    """Load, subsample by weight, keep columns, check rows, concatenate, shuffle and split."""
    import datasets

    norm = normalise_spec(name, spec)
    seed = norm["seed"]
    parts, test_parts = [], []
    for entry in norm["datasets"]:
        source, weight = entry["id"], entry["weight"]
        if not 0 < weight <= 1:
            raise DataError(f"dataset '{name}': source {source}: weight {weight} must be in (0, 1]")
        ds = load_entry(entry)
        renames = entry["columns"] if isinstance(entry["columns"], dict) else {}
        columns = list(ds.column_names)
        if len(ds) == 0:
            raise DataError(f"{source}: no rows in split '{entry['split']}'")
        if norm["format"] == "hh":
            ds = from_hh(ds, source)
        check_rows(ds, source, columns)
        check_pairs_differ(ds, source)
        if weight < 1:
            ds = ds.shuffle(seed=seed).select(range(int(len(ds) * weight)))
        parts.append(ds)
        if norm["test_split"]:
            test = keep_columns(
                load_source(source, entry["config"], norm["test_split"]),
                list(renames or columns),
                renames,
            )
            if norm["format"] == "hh":
                test = from_hh(test, f"{source} ({norm['test_split']})")
            check_rows(test, f"{source} ({norm['test_split']})", columns)
            check_pairs_differ(test, f"{source} ({norm['test_split']})")
            test_parts.append(test)
    check_same_columns(name, norm["datasets"], parts)
    try:
        train = datasets.concatenate_datasets(parts).shuffle(seed=seed)
    except ValueError as err:
        raise DataError(f"dataset '{name}': sources do not share column types ({err})") from err
    if test_parts:
        return datasets.DatasetDict(train=train, test=datasets.concatenate_datasets(test_parts))
    size = norm["test_split_size"]
    if size:
        if isinstance(size, float) and not 0 < size < 1:
            raise DataError(
                f"dataset '{name}': test_split_size {size} must be a fraction in (0, 1) "
                "or a row count"
            )
        # datasets rounds a fraction's test rows up (and its training rows down).
        test_rows = math.ceil(size * len(train)) if isinstance(size, float) else size
        if test_rows >= len(train):
            raise DataError(
                f"dataset '{name}': test_split_size {size} leaves no training rows "
                f"(the data has {len(train)})"
            )
        return train.train_test_split(test_size=size, seed=seed)
    return datasets.DatasetDict(train=train)


def summarise(dsd) -> dict[str, Any]:
    summary = {}
    for split, ds in dsd.items():
        entry = {"rows": len(ds), "columns": list(ds.column_names)}
        if "input_ids" in ds.column_names:
            lengths = [len(x) for x in ds["input_ids"]]
            entry.update(tokens=sum(lengths), max_length=max(lengths, default=0))
        summary[split] = entry
    return summary
