"""What the cost plan knows about a run's model and data, best source first: for a model, a built
or local folder's config.json, the local Hugging Face cache (read offline, never the network),
the base model's `build.arch`, then the shipped table (handbook.costs.known); for data, the
tokenized data's summary.json (measured tokens), the reference log-probs' or prepared data's
(measured rows), then the hub dataset's published rows or a local file's lines, with a stated
tokens-per-row figure. Each answer says where it came from, or why nothing is known."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from handbook import artifacts
from handbook.config import dataset_entries
from handbook.costs import known
from handbook.costs.shapes import ModelShape, shape_from_config
from handbook.hub import split_revision
from handbook.plan.core import Plan, Run
from handbook.plan.sampling import sampling_writing


@dataclass(frozen=True)
class Data:
    """Training rows and their mean tokens (each row capped later at the run's max_length)."""

    rows: float | None  # None: not known
    tokens_per_row: float
    rows_from: str  # where each figure comes from
    tokens_from: str
    measured: bool = False  # tokens counted in a built summary.json, not estimated

    @property
    def source(self) -> str:
        return f"{self.rows_from}; {self.tokens_from}"


def artifact_root(plan: Plan) -> Path:
    """Where the workflow's results/ lives: at tiny scale and rehearsal, its working directory."""
    origin = plan.paths.origin
    return origin / plan.workdir if plan.moves_workdir else origin


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --- models


def model_shape(plan: Plan, ref: str) -> tuple[ModelShape | None, str]:
    """The shape of the base model at the root of `ref`'s chain (training keeps the shape)."""
    base = plan.base_of(ref)
    spec = plan.config["base_models"][base]
    location = spec.get("path") or artifacts.BASE_MODEL.format(base=base)
    if "path" in spec and plan.is_hub(location):
        return hub_shape(location)
    folder = artifact_root(plan) / plan.paths.local(location)
    config = read_json(folder / "config.json")
    if config and (shape := shape_from_config(config)):
        return shape, f"{folder / 'config.json'}"
    arch = (spec.get("build") or {}).get("arch")
    if arch and (shape := shape_from_config({**arch, "vocab_size": spec["build"]["vocab_size"]})):
        return shape, f"base_models.{base}.build.arch (not built yet)"
    return None, f"unknown model: base_models.{base} ({location}) has no config.json yet"


def hub_shape(hub_id: str) -> tuple[ModelShape | None, str]:
    name, revision = split_revision(hub_id)
    cached = cached_config(name, revision)
    if cached and (shape := shape_from_config(cached)):
        return shape, f"{name}: config.json in the local Hugging Face cache"
    if name in known.MODELS:
        config, source = known.MODELS[name]
        return shape_from_config(config), source
    return None, f"unknown model: {name} is neither in the local Hugging Face cache nor known"


def cached_config(name: str, revision: str | None) -> dict | None:
    """config.json of a hub model if the local cache holds it (offline: no request is made)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    path = try_to_load_from_cache(name, "config.json", revision=revision)
    return read_json(Path(path)) if isinstance(path, str) else None


# --- data


def run_data(plan: Plan, run: Run, default_tokens: float) -> Data:
    """The rows a run trains on (its dataset's train split) and their mean tokens: counted in
    built summaries where they exist, else estimated."""
    root = artifact_root(plan)
    if run.method.data == "tokenized":
        path = plan.tokenized_path(run.dataset, run.model)
        train = (read_json(root / path / "summary.json") or {}).get("train", {})
        if train.get("tokens") is not None:
            tokens = train["tokens"] / max(train["rows"], 1)
            return Data(train["rows"], tokens, f"{path}/summary.json", "tokens counted", True)
    estimate = dataset_estimate(plan, run.dataset, default_tokens, pairs=is_paired(run))
    built = [artifacts.PREPARED.format(dataset=run.dataset)]
    if run.method.data == "ref_logps":
        ref = run.reference_model or run.model
        built.insert(0, artifacts.for_model(artifacts.REF_LOGPS, ref, dataset=run.dataset))
    for path in built:
        summary = read_json(root / path / "summary.json") or {}
        rows = (summary.get("splits") or summary).get("train", {}).get("rows")
        if rows is not None:
            rows_from = f"rows: {path}/summary.json"
            return Data(rows, estimate.tokens_per_row, rows_from, estimate.tokens_from)
    return estimate


def is_paired(run: Run) -> bool:
    """Trains on preference pairs: each row is prompt + chosen and prompt + rejected."""
    return run.method.data_format == "preference"


def dataset_estimate(plan: Plan, name: str, default_tokens: float, pairs: bool = False) -> Data:
    """Rows of a configured dataset's train split from its sources (a mixture's weights applied,
    a held-out share taken off), with their mean tokens per row."""
    spec = plan.config["datasets"][name]
    entries = spec["dataset_mixture"]["datasets"] if "dataset_mixture" in spec else None
    weights = [e.get("weight", 1.0) for e in entries] if entries else [1.0]
    found = [source_rows(plan, s, sp[0], default_tokens, pairs) for s, sp in dataset_entries(spec)]
    tokens_from = "; ".join(dict.fromkeys(f.tokens_from for f in found))
    unknown = list(dict.fromkeys(f.rows_from for f in found if f.rows is None))
    if unknown:
        more = f"; and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        tokens = sum(w * f.tokens_per_row for w, f in zip(weights, found)) / sum(weights)
        return Data(None, tokens, "unknown rows: " + "; ".join(unknown[:3]) + more, tokens_from)
    rows = sum(w * f.rows for w, f in zip(weights, found))
    tokens = sum(w * f.rows * f.tokens_per_row for w, f in zip(weights, found)) / max(rows, 1)
    held = (spec.get("dataset_mixture") or spec).get("test_split_size")
    if held and not spec.get("dataset_test_split"):
        rows = rows * (1 - held) if held < 1 else rows - held
    rows_from = "; ".join(dict.fromkeys(f.rows_from for f in found))
    return Data(rows, tokens, rows_from, tokens_from)


def source_rows(plan: Plan, source: str, split: str, default_tokens: float, pairs: bool) -> Data:
    """Rows of one dataset source's split and their mean tokens (rows None when not known)."""
    name, _ = split_revision(source)
    writers = sampling_writing(plan, source)
    if writers:
        return sampled_rows(plan, writers[0], default_tokens, pairs)
    default = (default_tokens, f"{default_tokens:g} tokens/row (costs.tokens_per_row)")
    if not plan.is_hub(source):
        rows = local_rows(artifact_root(plan) / plan.paths.local(source), split)
        rows_from = f"rows: {source} (lines)" if rows is not None else f"{source} is not built yet"
        return Data(rows, default[0], rows_from, default[1])
    stated = known.TOKENS_PER_ROW.get(name)
    tokens = (stated, f"{stated:,} tokens/row (stated for {name})") if stated else default
    if plan.scale == "rehearsal":  # the stand-ins' few rows, known once they are prepared
        return Data(None, tokens[0], f"{name} {split}: a rehearsal stand-in", tokens[1])
    rows = known.ROWS.get((name, split))
    if rows is None:
        return Data(None, tokens[0], f"{name} {split} is not in handbook.costs.known", tokens[1])
    return Data(rows, tokens[0], f"rows: {name} {split} (dataset card)", tokens[1])


def sampled_rows(plan: Plan, spec: dict, default_tokens: float, pairs: bool) -> Data:
    """A set rejection sampling writes, before it exists: at most one row per prompt (a best-of-n
    reply, or one pair), each the prompt and up to max_new_tokens per reply."""
    prompts = spec["prompts"]
    if prompts in plan.config["datasets"]:
        found = dataset_estimate(plan, prompts, default_tokens)
        rows, prompt_tokens = found.rows, found.tokens_per_row
    else:
        rows = local_rows(artifact_root(plan) / plan.paths.local(prompts), "train")
        prompt_tokens = default_tokens
    new = spec.get("max_new_tokens", 256)
    replies = 2 if pairs else 1
    tokens = replies * (prompt_tokens + new)
    tokens_from = f"{replies} x (a prompt of {prompt_tokens:g} + at most {new} new tokens)"
    if rows is None:
        return Data(None, tokens, f"the prompts of {prompts} are not built yet", tokens_from)
    return Data(rows, tokens, f"rows: at most one per prompt of {prompts}", tokens_from)


def local_rows(path: Path, split: str) -> int | None:
    """Lines of a local JSONL file, or of a folder's <split>.jsonl; None when not there."""
    if path.is_dir():
        path = path / f"{split}.jsonl"
    if path.suffix != ".jsonl" or not path.is_file():
        return None
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def measured_mfu(plan: Plan) -> tuple[float | None, str]:
    """The MFU bench/gpu_check.sh measured, if it has run in this checkout (costs.measured_mfu,
    relative to where the plan is built: the GPU check writes it there, whatever the scale)."""
    path = plan.config["costs"]["measured_mfu"]
    found = read_json(plan.paths.origin / path)
    mfu = (found or {}).get("mfu")
    if isinstance(mfu, (int, float)) and not isinstance(mfu, bool) and 0 < mfu <= 1:
        return float(mfu), path
    return None, path
