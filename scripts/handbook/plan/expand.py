"""Sweeps and iterative DPO's rounds expanded into runs (and, for rounds, sampling setups and
datasets) of the config: steps of handbook.plan.resolve."""

from __future__ import annotations

import copy
import itertools

from handbook import artifacts


def run_name(sweep: str, combo: dict) -> str:
    """Readable run names: strings as they are, numbers after their key
    (dpo-sigmoid-beta0.1-seed1)."""
    parts = [sweep]
    for key, value in combo.items():
        if isinstance(value, list):
            parts.append("+".join(str(v) for v in value))
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{key}{value}")
    return "-".join(parts)


def expand_sweeps(
    config: dict, error, tiny: bool = False, seeded: bool = False
) -> dict[str, list[str]]:
    """Each sweep's grid becomes runs sharing the sweep's model, dataset and recipe. At tiny scale
    a sweep's tiny_grid, when it has one, replaces its grid (a 60-run scan as a few cells); with
    `seeded` (scale: tiny, not rehearsal) its tiny_seeds become the grid's seed axis."""
    sweeps = {}
    for sweep, spec in config["sweeps"].items():
        grid = spec.get("tiny_grid", spec["grid"]) if tiny else spec["grid"]
        if seeded and "tiny_seeds" in spec:
            grid = {**grid, "seed": spec["tiny_seeds"]}
        keys = list(grid)
        runs = config["runs"].setdefault(spec["stage"], {})
        names = []
        for values in itertools.product(*(grid[k] for k in keys)):
            combo = dict(zip(keys, values))
            name = run_name(sweep, combo)
            if name in runs:
                owner = runs[name].get("sweep")
                detail = (
                    "is already defined in runs"
                    if owner is None
                    else f"comes twice out of sweep '{owner}'"
                )
                raise error(f"sweeps.{sweep}", f"run '{spec['stage']}/{name}' {detail}")
            run = {
                k: copy.deepcopy(v)
                for k, v in spec.items()
                if k not in ("stage", "grid", "tiny_grid", "tiny_seeds", "args")
            }
            run["args"] = {**spec.get("args", {}), **combo}
            run["sweep"] = sweep
            runs[name] = run
            names.append(name)
        sweeps[sweep] = names
    return sweeps


# Keys of an iterative_dpo entry that go to each round's sampling job, and to each round's DPO run.
ROUND_SAMPLING_KEYS = (
    "prompts",
    "reward_model",
    "verifiers",
    "verifier_weights",
    "num_completions",
    "temperature",
    "top_p",
    "max_new_tokens",
    "backend",
)
ROUND_RUN_KEYS = (
    "recipe",
    "args",
    "gpus",
    "processes",
    "threads",
    "global_batch",
    "accelerate_config",
    "resources",
)


def round_name(name: str, k: int) -> str:
    return f"{name}-r{k}"


def round_number(ref: str) -> int:
    """k of a round's model ref (dpo/<chain>-r<k>)."""
    return int(ref.rsplit("-r", 1)[1])


def chains(name: str, spec: dict) -> list[tuple[str, int, dict]]:
    """An iterative_dpo entry's chains of rounds: (chain name, first round's sampling seed, DPO run
    args). With `seeds`, one chain per seed, <name>-seed<s>, sampling from seed s on and training
    with seed s; else the entry itself."""
    args = spec.get("args", {})
    if "seeds" not in spec:
        return [(name, spec.get("seed", 0), args)]
    return [(f"{name}-seed{s}", s, {**args, "seed": s}) for s in spec["seeds"]]


def expand_rounds(config: dict, error) -> dict[str, list[str]]:
    """Each iterative_dpo entry becomes, per round k, a rejection-sampling setup that samples round
    k-1's policy, the dataset of its on-policy pairs, and the DPO run dpo/<name>-r<k> trained from
    round k-1's policy on them (per seed with `seeds`: dpo/<name>-seed<s>-r<k>). A round depends
    only on the rounds before it, so adding a round leaves the others' jobs as they were. Returns
    name -> the rounds' model refs, chain after chain. Its scorer is checked with the sampling
    setups' (handbook.plan.checks.check_sampling), naming the entry's key."""
    rounds = {}
    for name, spec in config.get("iterative_dpo", {}).items():
        where = f"iterative_dpo.{name}"
        runs = config["runs"].setdefault("dpo", {})
        refs = []
        for chain, seed, args in chains(name, spec):
            policy = spec["policy"]
            for k in range(1, spec["rounds"] + 1):
                round_ = round_name(chain, k)
                if (
                    round_ in runs
                    or round_ in config["rejection_sampling"]
                    or round_ in config["datasets"]
                ):
                    raise error(where, f"round {k} would be '{round_}', which is already defined")
                sampling = {
                    key: copy.deepcopy(spec[key]) for key in ROUND_SAMPLING_KEYS if key in spec
                }
                config["rejection_sampling"][round_] = {
                    "policy": policy,
                    **sampling,
                    "seed": seed + k - 1,
                }
                config["datasets"][round_] = {
                    "dataset_name": artifacts.SAMPLING.format(name=round_) + "/on_policy_pairs",
                    "dataset_test_split": "test",
                    "columns": ["chosen", "rejected"],
                }
                settings = {key: copy.deepcopy(spec[key]) for key in ROUND_RUN_KEYS if key in spec}
                if args:
                    settings["args"] = copy.deepcopy(args)
                runs[round_] = {"model": policy, "dataset": round_, **settings}
                policy = f"dpo/{round_}"
                refs.append(policy)
        rounds[name] = refs
    return rounds
