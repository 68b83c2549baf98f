"""Our SFT and DPO entry points against plain `trl sft` / `trl dpo`, side by side in one run.

    .venv/bin/python bench/trl_vs_ours.py [--repeat 3] [--sft_steps 60] [--dpo_steps 30]

Needs a finished demo (`make demo`): the CPT and SFT models, the prepared demo data. Every variant
trains the same model on the same data with the same recipe
(config/recipes/demo/{sft,dpo}/tiny.yaml) and the same step count, one after another, `--repeat`
times:

- ours: scripts/sft.py on the workflow's tokenized data, scripts/dpo.py on the shared reference
  log-probs. The whole stage of a single run also counts the jobs it depends on that a sweep
  shares: tokenize_data.py (SFT) and ref_logps.py (DPO).
- trl, our device settings: `trl sft` / `trl dpo --config <recipe>` with bf16 and gradient
  checkpointing off, as our entry points set them on a machine without CUDA.
- trl, its defaults: the recipe without its device settings (bf16, gradient checkpointing), so
  TRL's own defaults apply; on a CPU it stops at once.

Throughput is tokens per second from the trainer's logs (the `num_tokens` it counts over
`train_runtime`) for SFT, training samples per second for DPO (its logs count no tokens); the
whole stage is wall time from process start to the saved model. Prints medians, ranges and ratios.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, RESULTS, env, export_jsonl

SFT_RECIPE = REPO / "config/recipes/demo/sft/tiny.yaml"
DPO_RECIPE = REPO / "config/recipes/demo/dpo/tiny.yaml"
CPU_SETTINGS = ["--bf16", "False", "--gradient_checkpointing", "False"]
DEVICE_KEYS = ("bf16", "fp16", "gradient_checkpointing")


def recipe_for(variant: str, recipe: Path, scratch: Path) -> Path:
    """The recipe as it is, or without its device settings for TRL's defaults."""
    if variant != "trl-defaults":
        return recipe
    import yaml

    settings = {k: v for k, v in yaml.safe_load(recipe.read_text()).items() if k not in DEVICE_KEYS}
    path = scratch / f"defaults-{recipe.parent.name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def timed(cmd: list[str]) -> tuple[float, str, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True)
    return time.perf_counter() - start, proc.stdout + proc.stderr, proc.returncode


def logged(output: str, key: str) -> float | None:
    """The last value of `key` in the trainer's printed log dicts."""
    found = re.findall(rf"'{re.escape(key)}': '?([0-9.eE+-]+)", output)
    return float(found[-1]) if found else None


# Per stage: its recipe, starting model, the shared job ours runs first (script, data argument,
# data), the entry point that trains, and what the throughput counts (None: samples/s).
STAGES = {
    "sft": (
        SFT_RECIPE,
        "models/cpt/tiny",
        ("tokenize_data.py", "--prepared", "data/demo_sft/prepared"),
        "sft.py",
        "num_tokens",
    ),
    "dpo": (
        DPO_RECIPE,
        "models/sft/tiny",
        ("ref_logps.py", "--dataset_path", "data/demo_pref/prepared"),
        "dpo.py",
        None,
    ),
}


def run_stage(stage: str, variant: str, steps: int, scratch: Path) -> dict:
    """One training run of a stage, ours (with its shared job) or `trl <stage>`, timed."""
    recipe, model, (shared_script, data_flag, data), script, token_key = STAGES[stage]
    model = str(RESULTS / model)
    out = scratch / f"{stage}-{variant}"
    shutil.rmtree(out, ignore_errors=True)
    if variant == "ours":
        shared = scratch / f"{stage}-shared"
        shutil.rmtree(shared, ignore_errors=True)
        model_flag = "--tokenizer" if stage == "sft" else "--model_name_or_path"
        extra = [] if stage == "sft" else ["--config", str(recipe)]
        shared_s, log, rc = timed(
            [
                sys.executable,
                f"scripts/{shared_script}",
                *extra,
                data_flag,
                str(RESULTS / data),
                model_flag,
                model,
                "--output_dir",
                str(shared),
            ]
        )
        assert rc == 0, log[-2000:]
        cmd = [
            sys.executable,
            f"scripts/{script}",
            "--config",
            str(recipe),
            "--model_name_or_path",
            model,
            "--dataset_path",
            str(shared),
            "--checkpoint_dir",
            str(out / "ck"),
            "--output_dir",
            str(out / "model"),
        ]
    else:
        shared_s = 0.0
        cmd = [
            "trl",
            stage,
            "--config",
            str(recipe_for(variant, recipe, scratch)),
            "--model_name_or_path",
            model,
            "--dataset_name",
            str(scratch / f"{stage}-jsonl"),
            "--output_dir",
            str(out),
        ]
        cmd += CPU_SETTINGS if variant == "trl" else []
    wall, log, rc = timed(
        cmd + ["--max_steps", str(steps), "--save_strategy", "no", "--report_to", "none"]
    )
    return result(rc, log, wall, shared_s, token_key)


def result(rc: int, log: str, wall: float, shared: float, token_key: str | None) -> dict:
    if rc != 0:
        lines = [line for line in log.strip().splitlines() if line.strip()]
        return {"ok": False, "error": lines[-1][:160] if lines else f"exit {rc}"}
    runtime = logged(log, "train_runtime")
    rate = (
        logged(log, token_key) / runtime if token_key else logged(log, "train_samples_per_second")
    )
    return {
        "ok": True,
        "rate": rate,
        "train_wall": wall,
        "stage_wall": wall + shared,
        "loss": logged(log, "train_loss"),
    }


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"


def report(name: str, unit: str, runs: dict[str, list[dict]]) -> None:
    print(f"\n{name}: median (range) over {len(runs['ours'])} runs")
    print(f"  {'variant':<22} {unit:>24} {'training wall s':>24} {'whole stage s':>24}")
    for variant, label in (
        ("ours", "ours"),
        ("trl", "trl, our device settings"),
        ("trl-defaults", "trl, its defaults"),
    ):
        items = runs[variant]
        if not all(r["ok"] for r in items):
            print(f"  {label:<22} does not run: {next(r['error'] for r in items if not r['ok'])}")
            continue
        print(
            f"  {label:<22} {describe([r['rate'] for r in items]):>24} "
            f"{describe([r['train_wall'] for r in items]):>24} "
            f"{describe([r['stage_wall'] for r in items]):>24}"
        )
    ours, trl = runs["ours"], runs["trl"]
    if all(r["ok"] for r in ours + trl):
        rate = statistics.median(r["rate"] for r in ours) / statistics.median(
            r["rate"] for r in trl
        )
        stage = statistics.median(r["stage_wall"] for r in ours) / statistics.median(
            r["stage_wall"] for r in trl
        )
        print(
            f"  ratio ours / trl: throughput {rate:.2f} (target >= 1.0), whole stage wall "
            f"{stage:.2f}"
        )
        print(
            f"  final train loss: ours {statistics.median(r['loss'] for r in ours):.4f}, "
            f"trl {statistics.median(r['loss'] for r in trl):.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sft_steps", type=int, default=60)
    parser.add_argument("--dpo_steps", type=int, default=30)
    args = parser.parse_args()
    for needed in (
        "models/cpt/tiny",
        "models/sft/tiny",
        "data/demo_sft/prepared",
        "data/demo_pref/prepared",
    ):
        if not (RESULTS / needed).exists():
            raise SystemExit(f"results/{needed} is missing: build the demo first (make demo)")
    scratch = Path(tempfile.mkdtemp(prefix="bench_trl_"))
    export_jsonl(RESULTS / "data/demo_sft/prepared", scratch / "sft-jsonl")
    export_jsonl(RESULTS / "data/demo_pref/prepared", scratch / "dpo-jsonl")
    variants = ("ours", "trl", "trl-defaults")
    sft = {v: [] for v in variants}
    dpo = {v: [] for v in variants}
    for rep in range(
        args.repeat
    ):  # interleaved, so drift in the machine's speed hits every variant
        for variant in (
            variants if rep == 0 else variants[:2]
        ):  # TRL's defaults stop at once on a CPU
            sft[variant].append(run_stage("sft", variant, args.sft_steps, scratch))
            dpo[variant].append(run_stage("dpo", variant, args.dpo_steps, scratch))
    report(f"SFT, {args.sft_steps} steps", "tokens/s", sft)
    report(f"DPO, {args.dpo_steps} steps", "samples/s", dpo)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
