"""scale: tiny applied to the config (hub models, data, suites and prompt sets replaced by their
demo counterparts; the runs they touch cut to a few CPU steps), and the config's local paths made
usable from the scale's own working directory: steps of handbook.plan.resolve."""

from __future__ import annotations

import copy

from handbook.config import Paths, dataset_entries
from handbook.methods import BASE, METHODS


def apply_tiny_scale(config: dict, paths: Paths, error) -> list[str]:
    """scale: tiny, in one pass. Hub base models, datasets, lm-eval suites and judge prompt sets
    are replaced by their demo counterparts ('tiny' in their entries); runs trained from replaced
    models or data, or downstream of such runs, get tiny_scale.args (few steps, CPU) and lose their
    GPUs. Local paths become absolute, as the workflow runs in TINY_WORKDIR. Returns what was
    replaced, one line each."""
    tiny = config["tiny_scale"]
    said = []
    models = {}
    for name, spec in config["base_models"].items():
        if "tiny" in spec or ("path" in spec and paths.is_hub(spec["path"])):
            models[f"{BASE}/{name}"] = spec.get("tiny", tiny["base_model"])
        elif "path" in spec:
            spec["path"] = paths.local(spec["path"])
    for ref, sub in models.items():
        if sub in models:
            raise error(f"base_models.{ref.split('/', 1)[1]}.tiny", f"'{sub}' is replaced itself")
        said.append(f"model {ref} -> {sub}")
    used = {spec.get("dataset") for runs in config["runs"].values() for spec in runs.values()}
    datasets = {}
    for name, spec in config["datasets"].items():
        if "tiny" in spec:
            datasets[name] = spec.pop("tiny")
        elif name in used and any(paths.is_hub(s) for s, _ in dataset_entries(spec)):
            raise error(
                f"datasets.{name}",
                "reads the Hugging Face Hub; give it 'tiny: <demo dataset>' for scale: tiny",
            )
    for name, sub in datasets.items():
        if sub not in config["datasets"] or sub in datasets:
            raise error(
                f"datasets.{name}.tiny", f"'{sub}' is not a dataset used as it is at tiny scale"
            )
        config["datasets"][name] = copy.deepcopy(config["datasets"][sub])
        said.append(f"dataset {name} -> {sub}'s data")
    localise_datasets(config, paths)
    changed = runs_changed_at_tiny_scale(config["runs"], models, set(datasets))
    for ref in sorted(changed):
        stage, run = ref.split("/", 1)
        spec = config["runs"][stage][run]
        if METHODS[stage].data != "model":  # a merge trains nothing: no steps to cut
            # A run's (or its sweep's) tiny_args go last: the demo's own learning rate and steps.
            spec["args"] = {**spec.get("args", {}), **tiny["args"], **spec.get("tiny_args", {})}
            for key, value in METHODS[stage].tiny_args:
                if value is None:
                    spec["args"].pop(key, None)
                else:
                    spec["args"][key] = value
        spec["threads"] = 1  # tiny runs go faster side by side than one after another
        for key in ("gpus", "resources", "accelerate_config", "processes"):
            spec.pop(key, None)
    if changed:
        said.append(f"{len(changed)} runs get {tiny['args']}: {', '.join(sorted(changed))}")
    said += own_tiny_args(config["runs"], changed)
    for spec in [*config["rejection_sampling"].values(), *config.get("iterative_dpo", {}).values()]:
        for key in ("policy", "reward_model") if "reward_model" in spec else ("policy",):
            spec[key] = models.get(spec[key], spec[key])
    for spec in config["rejection_sampling"].values():
        # Sampled on the CPU by transformers, no longer than judge answers at this scale.
        spec["backend"] = "hf"
        spec["max_new_tokens"] = min(
            spec.get("max_new_tokens", tiny["max_new_tokens"]), tiny["max_new_tokens"]
        )
    judge = config["eval"]["demo"].get("judge")
    for key in ("reward_model", "baseline") if judge else ():
        judge[key] = models.get(judge[key], judge[key])
    for name, table in config["tables"].items():
        # A table's own settings at this scale (the scan: demo-world metrics, a finding the
        # stand-ins can test).
        own = table.pop("tiny", {})
        table.update(own)
        if own:
            said.append(f"table {name} takes its tiny settings of {', '.join(own)}")
        rows = table.get("rows")
        for label, row in rows.items() if isinstance(rows, dict) else ():
            if isinstance(row, list):
                rows[label] = [models.get(ref, ref) for ref in row]
        if "runs" in table:
            table["runs"] = [models.get(r, r) if isinstance(r, str) else r for r in table["runs"]]
        for anchor in (table.get("anchors") or {}).values():
            anchor["model"] = models.get(anchor["model"], anchor["model"])
    said += [
        f"lm-eval suite {name} -> {s['tiny']}"
        for name, s in config["suites"].items()
        if s.get("tiny")
    ]
    for name, judge_spec in config["judges"].items():
        judge_spec["max_new_tokens"] = tiny["max_new_tokens"]
        if paths.is_hub(judge_spec["prompts"]):
            said.append(f"{name} prompts {judge_spec['prompts']} -> demo prompts")
        else:
            judge_spec["prompts"] = paths.local(judge_spec["prompts"])
    return said


def own_tiny_args(runs: dict, changed: set[str]) -> list[str]:
    """One line per set of tiny_args that changed runs take over tiny_scale.args (a sweep's runs
    share theirs)."""
    groups: dict[str, list[str]] = {}
    for ref in sorted(changed):
        stage, name = ref.split("/", 1)
        own = runs[stage][name].get("tiny_args")
        if own:
            groups.setdefault(repr(own), []).append(ref)
    return [f"{len(refs)} runs then get {args}: {', '.join(refs)}" for args, refs in groups.items()]


def localise_datasets(config: dict, paths: Paths) -> None:
    """Local dataset sources, usable from a working directory of the scale's own."""
    for spec in config["datasets"].values():
        for entry in spec["dataset_mixture"]["datasets"] if "dataset_mixture" in spec else [spec]:
            key = "id" if "dataset_mixture" in spec else "dataset_name"
            if not paths.is_hub(entry[key]):
                entry[key] = paths.local(entry[key])


def runs_changed_at_tiny_scale(runs: dict, models: dict, datasets: set) -> set[str]:
    """Runs trained from a replaced model or on replaced data, and every run downstream of one.
    Their starting and reference models are switched to the replacements as they are found."""
    changed: set[str] = set()
    order = [(stage, name) for stage, by_name in runs.items() for name in by_name]
    for stage, name in order:
        spec = runs[stage][name]
        for key in ("model", "ref_model", "merge_with"):
            if spec.get(key) in models:
                spec[key] = models[spec[key]]
                changed.add(f"{stage}/{name}")
        if spec.get("dataset") in datasets:
            changed.add(f"{stage}/{name}")

    def downstream(ref: str, seen: frozenset) -> bool:
        stage, _, name = ref.partition("/")
        spec = runs.get(stage, {}).get(name)
        if spec is None or ref in seen:
            return False  # a base model, an unknown ref or a cycle: reported by the checks
        return ref in changed or downstream(spec["model"], seen | {ref})

    return {f"{s}/{n}" for s, n in order if downstream(f"{s}/{n}", frozenset())}


def localise_paths(config: dict, paths: Paths) -> None:
    """Local model and dataset paths of the config, usable from a working directory of its own."""
    for spec in config["base_models"].values():
        if "path" in spec and not paths.is_hub(spec["path"]):
            spec["path"] = paths.local(spec["path"])
    localise_datasets(config, paths)
    for spec in config["judges"].values():
        if not paths.is_hub(spec["prompts"]):
            spec["prompts"] = paths.local(spec["prompts"])
