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

from handbook.batch import recipe_batch
from handbook.methods import METHODS
from handbook.standins import LEFT_OUT

# Where the stand-ins go, inside the rehearsal's working directory.
STANDINS = "results/standins"
STANDINS_MANIFEST = f"{STANDINS}/manifest.json"
# Rows a mixture holds out for testing, at most (the stand-ins have a few hundred per split).
TEST_ROWS = 20
# lm-eval tasks whose data has no stand-in (handbook.standins.LEFT_OUT says why): tables at
# rehearsal leave out the suites made of them.
NO_STANDIN_TASKS = {"ifeval": LEFT_OUT["google/IFEval"]}


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
        spec["max_new_tokens"] = min(spec.get("max_new_tokens", rehearsal["max_new_tokens"]), rehearsal["max_new_tokens"])
    for spec in config["judges"].values():
        spec["max_new_tokens"] = rehearsal["max_new_tokens"]
    for name, spec in config["suites"].items():
        if not spec.get("local") and not spec.get("limit"):
            spec["limit"] = rehearsal["lm_eval_limit"]  # the real tasks, on the stand-ins' few rows
    said.append(f"hub lm-eval suites score {rehearsal['lm_eval_limit']} documents per task; judges: the demo reward model")
    said += leave_out_suites_without_standins(config)
    return said


def leave_out_suites_without_standins(config: dict) -> list[str]:
    """Tables drop the suites (and their metrics) none of whose tasks has stand-in data."""
    missing = {}  # suite -> why
    for name, spec in config["suites"].items():
        tasks = [task_name(t) for t in spec.get("tasks", [])]
        if not spec.get("local") and tasks and all(t in NO_STANDIN_TASKS for t in tasks):
            missing[name] = NO_STANDIN_TASKS[tasks[0]]
    said = []
    for table, spec in config["tables"].items():
        dropped = [s for s in spec.get("suites", []) if s in missing]
        if dropped:
            spec["suites"] = [s for s in spec["suites"] if s not in missing]
            spec["metrics"] = [m for m in spec.get("metrics", []) if not any(m == s or m.startswith(f"{s}_") for s in dropped)]
            said.append(f"table {table}: suite(s) {', '.join(dropped)} left out ({missing[dropped[0]]})")
    return said


def task_name(task) -> str:
    return task["task"] if isinstance(task, dict) else str(task)


def shrink_run(ref: str, spec: dict, settings: dict, rehearsal: dict) -> list[str]:
    """One run at rehearsal size; returns what changed beyond the shared args."""
    stage = ref.split("/", 1)[0]
    resources = spec.setdefault("resources", {})
    gpus, nodes = int(spec.get("gpus", 0)), int(resources.get("nodes", 1))
    planned = gpus * nodes if gpus else int(spec.get("processes", 1))
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
            said.append(f"{ref}: attn_implementation {settings['attn_implementation']} -> sdpa (no CUDA)")
        processes = min(planned, rehearsal["processes"])
        if processes > 1:
            args["ddp_backend"] = "gloo"
        spec["args"] = args
        spec["processes"] = processes
        spec["recipe_processes"] = planned
        if gpus:
            said.append(
                f"{ref}: {gpus} GPU(s) x {nodes} node(s) -> {processes} CPU process(es) on one node "
                f"(global batch {spec['global_batch']} kept)"
            )
    if gpus:
        spec["request_gpus"] = gpus
    spec["gpus"] = 0
    resources["nodes"] = 1
    resources["mem_mb"] = min(int(resources.get("mem_mb", rehearsal["mem_mb"])), rehearsal["mem_mb"])
    resources["runtime"] = min(int(resources.get("runtime", rehearsal["runtime"])), rehearsal["runtime"])
    return said
