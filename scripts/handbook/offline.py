"""What a plan reads from the Hugging Face hub, and a fetch of it for clusters whose compute nodes
have no internet: run the fetch on a login node, then the jobs with HF_HUB_OFFLINE=1.

    python -m handbook.offline list [--table zephyr-7b-beta ...] [--configfile my.yaml ...]
    python -m handbook.offline fetch [--table zephyr-7b-beta ...] [--configfile my.yaml ...]

`list` prints one line per model, dataset, lm-eval task dataset and NLTK data package; `fetch`
downloads them into the caches the jobs read (HF_HOME, HF_HUB_CACHE and HF_DATASETS_CACHE, as the
hub libraries resolve them; NLTK_DATA, else ~/nltk_data). The same list tells
scripts/make_standins.py what to build stand-ins for.

What lm-eval's hub tasks and their scoring read comes from handbook.lm_eval_data.

Nothing here imports torch or Snakemake; the hub libraries are imported by `fetch` only, and
lm-eval (seconds to import, seconds more to index its tasks) only for a plan that uses a hub suite.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from handbook.config import ConfigError, load_config
from handbook.data import default_config, normalise_spec
from handbook.lm_eval_data import NltkData, TaskData, hub_suites, lm_eval_needs, nltk_needs
from handbook.methods import BASE
from handbook.plan.export import models_needed
from handbook.plan.sampling import sampling_writing

# What a model fetch keeps: configs, weights, tokenizer files and chat templates (not the
# duplicate .bin/.pth/.gguf weights many repositories also carry).
MODEL_FILES = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.jinja", "*.txt"]
# huggingface_hub's reading of its boolean environment variables.
TRUE_VALUES = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True, order=True)
class HubModel:
    id: str
    revision: str | None = None  # None: the default branch

    def line(self) -> str:
        return f"model {self.id}@{self.revision or 'main'}"


@dataclass(frozen=True, order=True)
class HubDataset:
    id: str
    config: str | None = None  # None: the dataset's default configuration
    splits: tuple[str, ...] = ()

    def line(self) -> str:
        return f"dataset {self.id} ({self.config or 'default'}) {','.join(self.splits)}"


@dataclass(frozen=True)
class Needs:
    """Everything a plan reads from the hub (and NLTK's data server), sorted, each item once. A new
    kind of item is one more field here and one more fetcher in FETCHERS."""

    models: tuple[HubModel, ...] = ()
    datasets: tuple[HubDataset, ...] = ()
    lm_eval: tuple[TaskData, ...] = ()
    nltk: tuple[NltkData, ...] = ()

    def items(self) -> list:
        return [*self.models, *self.datasets, *self.lm_eval, *self.nltk]


# --- From the plan --------------------------------------------------------------------------------


def dataset_sources(spec: dict) -> list[tuple[str, str | None, list[str]]]:
    """(source, config, splits read from it) for each source of a dataset entry. A mixture's
    test_split is read from every source, as handbook.data.load_mixture does."""
    norm = normalise_spec("", spec)
    test = [norm["test_split"]] if norm["test_split"] else []
    return [(e["id"], e["config"], [e["split"], *test]) for e in norm["datasets"]]


def selected_columns(plan) -> dict[tuple[str, str | None], set[str]]:
    """(hub source, config) -> the columns the prepare step selects from it (keys of a renaming)."""
    selected: dict[tuple[str, str | None], set[str]] = {}
    for name, spec in plan.config["datasets"].items():
        for entry in normalise_spec(name, spec)["datasets"]:
            if plan.is_hub(entry["id"]) and entry["columns"]:
                key = (entry["id"], default_config(entry["config"]))
                selected.setdefault(key, set()).update(entry["columns"])
    return selected


def base_models(plan, refs) -> set[str]:
    """Names of the base models at the roots of these model refs."""
    return {plan.base_of(ref) for ref in refs if ref.startswith(f"{BASE}/") or ref in plan.runs}


def table_needs(plan, tables: list[str]) -> tuple[set[str], set[str]]:
    """(base model names, dataset names) the tables need: their rows, the runs those are trained
    from, the runs' reference and merge models, and for data written by rejection sampling the
    setup's policy, reward model and prompt set."""
    for table in tables:
        if table not in plan.config["tables"]:
            raise plan.error(
                "--table", f"unknown table '{table}' (defined: {sorted(plan.config['tables'])})"
            )
    runs = models_needed(plan, tables)
    refs = set(runs) | {entry.ref for table in tables for entry in plan.tables[table]}
    datasets = set()
    for ref in runs:
        run = plan.runs[ref]
        refs |= {r for r in (run.reference_model, run.merge_with) if r}
        if not run.dataset:
            continue
        datasets.add(run.dataset)
        for source, _, _ in dataset_sources(plan.config["datasets"][run.dataset]):
            for setup in sampling_writing(plan, source):
                refs |= {
                    setup["policy"],
                    *([setup["reward_model"]] if "reward_model" in setup else []),
                }
                if setup["prompts"] in plan.config["datasets"]:
                    datasets.add(setup["prompts"])
    return base_models(plan, refs), datasets


def hub_model(spec: dict) -> HubModel:
    return HubModel(spec["path"], spec.get("revision"))


def judge_prompts(spec: dict) -> HubDataset:
    """A judge's prompt set; 'train' is scripts/generate_for_judges.py's default split."""
    split = spec.get("prompts_split", "train")
    return HubDataset(spec["prompts"], default_config(spec.get("prompts_config")), (split,))


def served_judge_model(plan, judge: str) -> str:
    """The hub model a served judge endpoint loads ('' for an API or a model built here)."""
    from handbook.plan.judges import endpoint_of, is_workflow_model

    serve = (endpoint_of(plan, judge) or {}).get("serve") or {}
    model = serve.get("model", "")
    return "" if is_workflow_model(model) else model


def judge_references(spec: dict) -> HubDataset:
    """AlpacaEval's reference outputs, which its judging job reads."""
    split = spec.get("references_split", "train")
    return HubDataset(spec["references"], default_config(spec.get("references_config")), (split,))


def merge_datasets(found: list[HubDataset]) -> tuple[HubDataset, ...]:
    """One item per (id, config), its splits in the order first read."""
    splits: dict[tuple[str, str | None], list[str]] = {}
    for item in found:
        seen = splits.setdefault((item.id, item.config), [])
        seen += [s for s in item.splits if s not in seen]
    return tuple(sorted(HubDataset(id_, config, tuple(s)) for (id_, config), s in splits.items()))


def hub_needs(plan, tables: list[str] | None = None) -> Needs:
    """What the plan reads from the hub; with `tables`, only what building those tables reads."""
    config = plan.config
    if tables is None:
        models, datasets, judges = (
            set(config["base_models"]),
            list(config["datasets"]),
            list(config["judges"]),
        )
    else:
        models, datasets = table_needs(plan, tables)
        judges = sorted({j for t in tables for j in config["tables"][t].get("judges", [])})
    hub_models = {
        hub_model(config["base_models"][name])
        for name in models
        if "path" in config["base_models"][name]
        and plan.is_hub(config["base_models"][name]["path"])
    }
    hub_models |= {
        HubModel(model, None) for j in judges if plan.is_hub(model := served_judge_model(plan, j))
    }
    found = [
        HubDataset(source, default_config(cfg), tuple(splits))
        for name in sorted(datasets)
        for source, cfg, splits in dataset_sources(config["datasets"][name])
        if plan.is_hub(source)
    ]
    found += [
        judge_prompts(config["judges"][j])
        for j in judges
        if plan.is_hub(config["judges"][j]["prompts"])
    ]
    found += [
        judge_references(config["judges"][j])
        for j in judges
        if plan.is_hub(config["judges"][j].get("references") or "")
    ]
    task_data = lm_eval_needs(plan, hub_suites(plan, tables))
    return Needs(
        models=tuple(sorted(hub_models)),
        datasets=merge_datasets(found),
        lm_eval=task_data,
        nltk=nltk_needs(task_data),
    )


# --- Fetching -------------------------------------------------------------------------------------


def fetch_model(item: HubModel) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(item.id, revision=item.revision, allow_patterns=MODEL_FILES)


def fetch_dataset(item: HubDataset) -> str:
    import datasets

    sizes = [
        f"{split}: {len(datasets.load_dataset(item.id, item.config, split=split))} rows"
        for split in item.splits
    ]
    return ", ".join(sizes)


def fetch_nltk(item: NltkData) -> str:
    """Into NLTK_DATA when set (the folder the jobs must then be given too), else nltk's default."""
    import nltk

    folder = os.environ.get("NLTK_DATA", "").split(os.pathsep)[0] or None
    if not nltk.download(item.name, download_dir=folder, quiet=True, raise_on_error=True):
        raise RuntimeError(f"nltk.download('{item.name}') failed")
    return folder or "nltk's default data folder (~/nltk_data)"


# A task's data is fetched as lm-eval reads it: load_dataset(dataset_path, dataset_name), per split.
FETCHERS = {
    HubModel: fetch_model,
    HubDataset: fetch_dataset,
    TaskData: fetch_dataset,
    NltkData: fetch_nltk,
}


def offline_variable() -> str | None:
    """The environment variable that switches the hub off, if one is set."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").upper() in TRUE_VALUES:
            return name
    return None


def fetch(needs: Needs) -> int:
    """Download every item, one line each; a failed item is reported and the others still run."""
    from datasets import config as datasets_config
    from huggingface_hub import constants

    print(
        f"hub cache: {constants.HF_HUB_CACHE}\ndatasets cache: {datasets_config.HF_DATASETS_CACHE}"
    )
    failed = 0
    for item in needs.items():
        print(f"fetch {item.line()}", flush=True)
        try:
            print(f"  -> {FETCHERS[type(item)](item)}", flush=True)
        except Exception as err:  # the hub clients raise many types; each is one line here
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            print(
                f"error: {item.line()}: {type(err).__name__}: {first}", file=sys.stderr, flush=True
            )
            failed += 1
    if failed:
        print(
            f"error: {failed} of {len(needs.items())} items could not be fetched", file=sys.stderr
        )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    from handbook.plan import build_plan

    parser = argparse.ArgumentParser(
        prog="python -m handbook.offline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=("list", "fetch"))
    parser.add_argument("--table", action="extend", nargs="+", help="only what these tables need")
    parser.add_argument(
        "--configfile",
        action="extend",
        nargs="+",
        default=[],
        help="config files extending config/config.yaml",
    )
    args = parser.parse_args(argv)
    if args.command == "fetch" and offline_variable():
        print(
            f"error: {offline_variable()} is set, so nothing can be fetched: "
            "unset it and run again",
            file=sys.stderr,
        )
        return 2
    try:
        plan = build_plan(load_config(args.configfile), args.configfile)
        needs = hub_needs(plan, args.table)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "list":
        print("\n".join(item.line() for item in needs.items()))
        return 0
    return fetch(needs)


if __name__ == "__main__":
    sys.exit(main())
