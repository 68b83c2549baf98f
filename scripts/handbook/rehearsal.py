"""scale: rehearsal, in one pass: the full-scale plan as it stands, with only sizes shrunk.

Recipes, chat templates, loss masking, packing, dataset mixtures with their real split and column
names, and accelerate/DeepSpeed/FSDP configs stay as they are; the hub models and datasets are
tiny stand-ins under their real ids (scripts/make_standins.py), read through the real hub-loading
path with the hub switched off. What changes, and is said one line each: steps and lengths
(rehearsal.args); a run's GPU processes become at most rehearsal.processes CPU processes (gloo)
under the run's own accelerate config, on one node, with gradient accumulation raised so the
global batch stays the recipe's; each job asks the scheduler for the plan's GPUs per node and CPUs,
with small memory and time; flash-attention becomes sdpa; QLoRA and 8-bit optimizers run as LoRA
and AdamW (the training job says so).
"""

from __future__ import annotations

from handbook.batch import configured_processes, recipe_batch
from handbook.methods import METHODS

# Where the stand-ins go, inside the rehearsal's working directory.
STANDINS = "results/standins"
STANDINS_MANIFEST = f"{STANDINS}/manifest.json"
# Rows a mixture holds out for testing, at most (the stand-ins have a few hundred per split).
TEST_ROWS = 20


def apply_rehearsal(config: dict, recipe_settings) -> list[str]:
    """Shrink every run of the config (in place). `recipe_settings(spec)` gives a run's recipe
    values as its trainer resolves them. Returns what changed, one line each."""
    rehearsal = config["rehearsal"]
    said = [f"every run gets {rehearsal['args']}"]
    for stage, by_name in config["runs"].items():
        for name, spec in by_name.items():
            said += shrink_run(f"{stage}/{name}", spec, recipe_settings(spec), rehearsal)
    for name, spec in config["datasets"].items():
        mixture = spec.get("dataset_mixture", spec)
        held_out = mixture.get("test_split_size")
        if isinstance(held_out, int) and held_out > TEST_ROWS:
            mixture["test_split_size"] = TEST_ROWS  # the stand-ins have a few hundred rows
            said.append(f"dataset {name}: test_split_size {held_out} -> {TEST_ROWS} rows")
    for spec in config["rejection_sampling"].values():
        spec["backend"] = "hf"
        spec["max_new_tokens"] = min(
            spec.get("max_new_tokens", rehearsal["max_new_tokens"]), rehearsal["max_new_tokens"]
        )
    for spec in config["judges"].values():
        spec["max_new_tokens"] = rehearsal["max_new_tokens"]
    for spec in config["suites"].values():
        if not spec.get("local"):
            # The real tasks, on the stand-ins' few rows, generating no more than the judges do.
            spec["limit"] = min(
                spec.get("limit") or rehearsal["lm_eval_limit"], rehearsal["lm_eval_limit"]
            )
            spec["max_gen_toks"] = min(
                spec.get("max_gen_toks") or rehearsal["max_new_tokens"], rehearsal["max_new_tokens"]
            )
    said.append(
        f"hub lm-eval suites score {rehearsal['lm_eval_limit']} documents per task and generate at "
        f"most {rehearsal['max_new_tokens']} tokens; judges: the demo reward model"
    )
    return said


def shrink_run(ref: str, spec: dict, settings: dict, rehearsal: dict) -> list[str]:
    """One run at rehearsal size; returns what changed beyond the shared args."""
    stage = ref.split("/", 1)[0]
    resources = spec.setdefault("resources", {})
    gpus, nodes = int(spec.get("gpus", 0)), int(resources.get("nodes", 1))
    planned = configured_processes(gpus, nodes, int(spec.get("processes", 1)))
    said = []
    if METHODS[stage].data != "model":  # a merge trains nothing
        spec.setdefault("global_batch", recipe_batch(settings, planned).size)
        args = {**spec.get("args", {}), **rehearsal["args"], "rehearsal": True}
        # A method's own argument names (GRPO has no max_length): keys it lacks go, its lengths
        # shrink as at tiny scale; counts such as GRPO's generations per prompt stay the recipe's.
        for key, value in METHODS[stage].tiny_args:
            if value is None:
                args.pop(key, None)
            elif key.endswith("_length"):
                args[key] = value
        if str(settings.get("attn_implementation", "")).startswith("flash"):
            args["attn_implementation"] = "sdpa"
            said.append(
                f"{ref}: attn_implementation {settings['attn_implementation']} -> sdpa (no CUDA)"
            )
        processes = min(planned, rehearsal["processes"])
        if processes > 1:
            args["ddp_backend"] = "gloo"
        spec["args"] = args
        spec["processes"] = processes
        spec["recipe_processes"] = planned
        if gpus:
            said.append(
                f"{ref}: {gpus} GPU(s) x {nodes} node(s) -> {processes} CPU process(es) on one "
                f"node (global batch {spec['global_batch']} kept)"
            )
    if gpus:
        spec["request_gpus"] = gpus
    spec["gpus"] = 0
    resources["nodes"] = 1
    resources["mem_mb"] = min(
        int(resources.get("mem_mb", rehearsal["mem_mb"])), rehearsal["mem_mb"]
    )
    resources["runtime"] = min(
        int(resources.get("runtime", rehearsal["runtime"])), rehearsal["runtime"]
    )
    return said
