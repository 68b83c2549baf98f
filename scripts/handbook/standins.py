"""Stand-ins for what a plan reads from the Hugging Face hub, for the rehearsal scale: the
full-scale plan runs unchanged, offline, on tiny copies placed in local caches under the real ids.

    python scripts/make_standins.py --out results/standins
    HF_HUB_CACHE=results/standins/hub HF_DATASETS_CACHE=results/standins/datasets \
        NLTK_DATA=results/standins/nltk_data HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 snakemake ...

A model's stand-in is a random init of the real architecture class (2 layers, width 64) with a
small byte-level BPE tokenizer that carries the real tokenizer's special tokens under their real
names, its bos/eos/pad/unk roles, whether it starts texts with bos, and its chat template. A
dataset's stand-in has the real configuration, split and column names and types, with a few
hundred synthetic question-answer rows per split. The datasets lm-eval's hub tasks read (ARC,
HellaSwag, TruthfulQA, the 57 MMLU subjects, Winogrande, GSM8K, IFEval) get the columns and value
types their task configs and process_docs functions read, with TASK_ROWS rows in every split
(enough for the suites' few-shot counts) whose answers are valid for the task: a right choice
among the choices, a label that indexes them, instructions IFEval's checks know. MODELS
(handbook.standin_models) and DATASETS (handbook.standin_schemas) hold these facts, one entry per
hub id, and handbook.standin_rows the rows' values; the builder refuses an id the plan reads that
has no entry, a split or configuration the real dataset lacks, and a column the plan selects that
the real dataset does not have. NLTK data a task reads (IFEval's sentence counts read punkt_tab) is
made too: Punkt parameters trained by NLTK's own trainer on the stand-ins' text.

The layouts are the libraries' own caches: a model in <out>/hub/models--<org>--<name>/snapshots/
<sha>/ with refs/main naming <sha> (from_pretrained("<org>/<name>") then loads it offline), a
dataset as datasets' prepared cache, <out>/datasets/<org>___<name>/<config>/0.0.0/<hash>/ with
dataset_info.json and <name>-<split>.arrow (load_dataset falls back to it offline; it does not
read a hub-cache snapshot of a dataset), NLTK data as nltk.download leaves it, <out>/nltk_data/
tokenizers/punkt_tab/english/. Builds are byte-identical: fixed seeds, no timestamps.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from handbook.data import default_config
from handbook.lm_eval_data import TaskData
from handbook.offline import HubDataset, HubModel, Needs
from handbook.provenance import content_hash, package_versions, write_text_atomic
from handbook.standin_models import MODELS, init_model, train_tokenizer
from handbook.standin_rows import KINDS, example, feature, tokenizer_texts
from handbook.standin_schemas import DATASETS, Schema

# Rows in every split of an lm-eval task's dataset: ARC's 25 shots drawn from train, and room
# to spare; a suite asking for more shots gets one row more than it draws.
TASK_ROWS = 30
PARTS = ("hub", "datasets", "nltk_data")  # the caches under the stand-in folder, one per library
MARKER = ".standins"  # written first: a folder without it is not the builder's to replace
MANIFEST = "manifest.json"  # written last: a folder without it is not finished


class StandinError(ValueError):
    """A hub item with no stand-in, or one the stand-in's facts say the real item cannot serve."""


# --- Checks: every item has a stand-in that can serve what the plan reads -----------------------


def schema_of(item: HubDataset) -> Schema:
    configs = DATASETS.get(item.id)
    if configs is None:
        raise StandinError(
            f"dataset {item.id}: no stand-in schema; "
            "add an entry to handbook.standin_schemas.DATASETS"
        )
    config = item.config or "default"
    if config not in configs:
        raise StandinError(
            f"dataset {item.id}: no configuration '{config}' (the stand-in knows {sorted(configs)})"
        )
    return configs[config]


def served(needs: Needs) -> list:
    """Every dataset and task data item the build makes a stand-in for."""
    return [*needs.datasets, *needs.lm_eval]


def check(needs: Needs, columns: dict | None = None) -> None:
    """Fail on the first item without a stand-in, or that reads what the real item lacks."""
    for model in needs.models:
        if model.id not in MODELS:
            raise StandinError(
                f"model {model.id}: no stand-in facts; "
                "add an entry to handbook.standin_models.MODELS"
            )
    for item in needs.nltk:
        if item.name not in NLTK_BUILDERS:
            raise StandinError(
                f"{item.line()}: no stand-in builder; add one to handbook.standins.NLTK_BUILDERS"
            )
    for item in served(needs):
        schema = schema_of(item)
        unknown = [s for s in item.splits if s not in (schema.splits or item.splits)]
        if unknown:
            raise StandinError(
                f"dataset {item.id}: no split '{unknown[0]}' (it has {', '.join(schema.splits)})"
            )
        missing = sorted(
            (columns or {}).get((item.id, default_config(item.config)), set()) - set(schema.columns)
        )
        if missing:
            raise StandinError(
                f"dataset {item.id}: no column '{missing[0]}' (it has {', '.join(schema.columns)})"
            )


# --- Models ------------------------------------------------------------------------------------


def snapshot_sha(item: HubModel) -> str:
    """A commit sha the revision pins, else a fixed one made from the id."""
    if item.revision and re.fullmatch(r"[0-9a-f]{40}", item.revision):
        return item.revision
    return hashlib.sha1(item.id.encode()).hexdigest()


def build_model(item: HubModel, hub: Path) -> dict:
    """Save the stand-in as the hub client caches a download: a snapshot and the refs naming it."""
    facts = MODELS[item.id]
    repo = hub / f"models--{item.id.replace('/', '--')}"
    sha = snapshot_sha(item)
    snapshot = repo / "snapshots" / sha
    tokenizer = train_tokenizer(facts)
    model = init_model(facts, tokenizer)
    tokenizer.save_pretrained(snapshot)
    model.save_pretrained(snapshot)
    for ref in {"main", item.revision or "main"} - {sha}:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(sha)
    return {
        "revision": item.revision or "main",
        "snapshot": str(snapshot.relative_to(hub.parent)),
        "class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "hash": content_hash(snapshot),
    }


# --- Datasets -----------------------------------------------------------------------------------


def split_counts(needs: Needs, rows: int) -> dict[tuple[str, str | None], dict[str, int]]:
    """(id, config) -> rows of each split built: `rows` in a plan dataset's splits (a fifth in test
    splits), at least TASK_ROWS (or one more than the most shots drawn) where lm-eval reads it."""
    counts: dict[tuple[str, str | None], dict[str, int]] = {}
    for item in served(needs):
        schema = schema_of(item)
        split_count = counts.setdefault((item.id, item.config), {})
        for split in item.splits if schema.splits is None else schema.splits:
            if isinstance(item, TaskData):
                count = max(TASK_ROWS, item.fewshot + 1)
            elif split.startswith("test") or split in ("validation", "eval"):
                count = max(1, rows // 5)
            else:
                count = rows
            split_count[split] = max(split_count.get(split, 0), count)
    return counts


def split_rows(item: HubDataset | TaskData, schema: Schema, split: str, count: int) -> list[dict]:
    """The split's rows: its own run of examples (a fixed offset from its name)."""
    offset = int(hashlib.sha1(f"{item.id}/{item.config}/{split}".encode()).hexdigest()[:6], 16)
    rows = []
    for i in range(count):
        ex = {**example(offset + i), "split": split, "config": item.config}
        rows.append({col: KINDS[kind][1](ex) for col, kind in schema.columns.items()})
    return rows


def dataset_folder(datasets_cache: Path, item: HubDataset) -> Path:
    """Where load_dataset looks for a prepared copy of the dataset offline (datasets' own
    naming)."""
    from datasets.naming import camelcase_to_snakecase

    *namespace, name = item.id.split("/")
    digest = hashlib.sha1(f"{item.id}/{item.config}".encode()).hexdigest()[:16]
    dataset = "___".join([*namespace, camelcase_to_snakecase(name)])
    return datasets_cache / dataset / (item.config or "default") / "0.0.0" / digest


def build_dataset(
    item: HubDataset | TaskData, datasets_cache: Path, counts: dict[str, int]
) -> dict:
    """Write each split (`counts` rows) as datasets' Arrow files, then the dataset_info.json naming
    them."""
    import datasets
    from datasets.arrow_writer import ArrowWriter
    from datasets.naming import camelcase_to_snakecase, filename_prefix_for_split

    schema = schema_of(item)
    name = camelcase_to_snakecase(item.id.split("/")[-1])
    folder = dataset_folder(datasets_cache, item)
    folder.mkdir(parents=True, exist_ok=True)
    features = datasets.Features(
        {col: feature(KINDS[kind][0]) for col, kind in schema.columns.items()}
    )
    splits = datasets.SplitDict(dataset_name=name)
    for split, count in counts.items():
        writer = ArrowWriter(
            features=features, path=str(folder / f"{filename_prefix_for_split(name, split)}.arrow")
        )
        for row in split_rows(item, schema, split, count):
            writer.write(row)
        written, size = writer.finalize()
        writer.close()
        splits.add(
            datasets.SplitInfo(name=split, num_bytes=size, num_examples=written, dataset_name=name)
        )
    info = datasets.DatasetInfo(
        features=features,
        splits=splits,
        config_name=item.config or "default",
        dataset_name=name,
        version="0.0.0",
        builder_name="parquet",
    )
    info.write_to_directory(str(folder))
    return {
        "path": str(folder.relative_to(datasets_cache.parent)),
        "splits": {split: splits[split].num_examples for split in splits},
        "hash": content_hash(folder),
    }


# --- NLTK data ----------------------------------------------------------------------------------


def build_punkt_tab(nltk_data: Path) -> dict:
    """English Punkt parameters trained by NLTK's own trainer on the stand-ins' text, written in the
    punkt_tab layout nltk.download leaves (PunktTokenizer reads them back)."""
    from nltk.tabdata import TabEncoder
    from nltk.tokenize.punkt import PunktTrainer

    trainer = PunktTrainer()
    trainer.train(" ".join(tokenizer_texts()), finalize=True)
    params = trainer.get_params()
    folder = nltk_data / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True, exist_ok=True)
    encode = TabEncoder()
    files = {
        "collocations.tab": encode.tups2tab(sorted(params.collocations)),
        "sent_starters.txt": encode.set2txt(sorted(params.sent_starters)),
        "abbrev_types.txt": encode.set2txt(sorted(params.abbrev_types)),
        "ortho_context.tab": encode.ivdict2tab(dict(sorted(params.ortho_context.items()))),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return {"path": str(folder.relative_to(nltk_data.parent)), "hash": content_hash(folder)}


NLTK_BUILDERS = {"punkt_tab": build_punkt_tab}


# --- The whole set ------------------------------------------------------------------------------


def claim(out: Path) -> None:
    """Make `out` the builder's (marked) and unfinished (no manifest), emptying an earlier build."""
    # hub/, datasets/ and nltk_data/ may exist already: the libraries make their folders when the
    # jobs' environment points them there; the builder empties them below.
    foreign = [p for p in out.iterdir() if p.name not in PARTS] if out.exists() else []
    if foreign and not (out / MARKER).exists():
        raise StandinError(
            f"{out}: not empty and not a stand-in folder (no {MARKER}); choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "stand-ins of hub models and datasets, made by scripts/make_standins.py\n"
    )
    (out / MANIFEST).unlink(missing_ok=True)
    for part in PARTS:
        shutil.rmtree(out / part, ignore_errors=True)


def build(needs: Needs, out: str | Path, rows: int = 300, columns: dict | None = None) -> dict:
    """Every stand-in `needs` lists, under `out`; a dataset both the plan and lm-eval read is built
    once with the splits and rows of both. The manifest last, so a half-built folder never looks
    finished. Returns the manifest."""
    from transformers.utils import logging as transformers_logging

    check(needs, columns)
    transformers_logging.disable_progress_bar()  # one bar per saved model says nothing here
    out = Path(out)
    claim(out)
    counts = split_counts(needs, rows)
    items = {}
    # The first reader of an (id, config) names it; counts hold all splits.
    for item in served(needs):
        items.setdefault((item.id, item.config), item)
    manifest = {
        "rows": rows,
        "task_rows": TASK_ROWS,
        "environment": {
            "HF_HUB_CACHE": "hub",
            "HF_DATASETS_CACHE": "datasets",
            "NLTK_DATA": "nltk_data",
        },
        "packages": package_versions(["transformers", "tokenizers", "datasets", "torch", "nltk"]),
        "models": {m.id: build_model(m, out / "hub") for m in needs.models},
        "datasets": {
            f"{item.id} ({item.config or 'default'})": build_dataset(
                item, out / "datasets", counts[key]
            )
            for key, item in items.items()
        },
        "nltk": {item.name: NLTK_BUILDERS[item.name](out / "nltk_data") for item in needs.nltk},
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
