"""Recipe families at tiny scale, through the workflow, in one build; and data and recipes as users
bring them: a handbook recipe file copied in as it is, a preference set in TRL's standard (string)
format and one in Anthropic's HH transcript format, each trained by DPO.

Every family's own table builds at scale rehearsal in tests/workflow/test_rehearsal_tables.py
(their real recipes and launchers on stand-ins of their models and data). Here, at tiny scale (the
demo model and data in their place), one family whose chain shows what tiny scale replaces:
Zephyr-141B (ORPO with FSDP, flash-attention and an 8-bit optimizer).
The chains run with tests/config/families.yaml (small demo world, untrained tiny Llama, two steps
per run), batched into one Snakemake call so shared data and models are built once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, make_workdir, run_snakemake

from handbook.config import load_config
from handbook.plan import build_plan

CONFIG = REPO / "tests" / "config" / "families.yaml"
HANDBOOK_SFT = (
    REPO / "tests" / "data" / "handbook_recipes" / "zephyr-7b-beta" / "sft" / "config_full.yaml"
)
FORMATS = REPO / "tests" / "data" / "formats"
TINY_FAMILIES = ("zephyr-141b-A35b",)


def family_runs() -> dict[str, list[str]]:
    """family -> the runs its family.yaml defines, as the tiny-scale plan resolves them."""
    plan = build_plan(load_config([CONFIG], {"scale": "tiny"}), [CONFIG], origin=REPO)
    # Iterative DPO's rounds need a policy that gets some answers right to make pairs; the models
    # here are untrained (tests/workflow/test_online.py trains one and builds rounds).
    rounds = {ref for refs in plan.rounds.values() for ref in refs}
    runs: dict[str, list[str]] = {}
    for ref in sorted(set(plan.runs) - rounds, key=list(plan.runs).index):
        source = plan.sources.get(f"runs.{ref.replace('/', '.', 1)}", "")
        if source.endswith("family.yaml") and Path(source).parent.name in TINY_FAMILIES:
            runs.setdefault(Path(source).parent.name, []).append(ref)
    return runs


def user_config(work: Path) -> Path:
    """A handbook recipe copied in unchanged but for its data, and two preference sets in the
    formats users bring."""
    recipe = yaml.safe_load(HANDBOOK_SFT.read_text())
    recipe["dataset_mixture"] = {
        "datasets": [{"id": "results/demo_world/sft/train.jsonl", "columns": ["messages"]}],
        "test_split_size": 8,
    }
    (work / "mine" / "sft").mkdir(parents=True)
    (work / "mine" / "sft" / "config_full.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    extra = {
        "datasets": {
            "standard_pairs": {
                "dataset_name": str(FORMATS / "standard_pref.jsonl"),
                "test_split_size": 8,
            },
            "hh_pairs": {
                "dataset_name": str(FORMATS / "hh_pref.jsonl"),
                "format": "hh",
                "test_split_size": 8,
            },
        },
        "runs": {
            "sft": {"handbook": {"recipe": "mine/sft/config_full.yaml"}},
            "dpo": {
                "standard": {
                    "model": "sft/tiny",
                    "dataset": "standard_pairs",
                    "recipe": "config/recipes/demo/dpo/tiny.yaml",
                    "args": {"max_steps": 2, "max_length": 64},
                },
                "hh": {
                    "model": "sft/tiny",
                    "dataset": "hh_pairs",
                    "recipe": "config/recipes/demo/dpo/tiny.yaml",
                    "args": {"max_steps": 2, "max_length": 64},
                },
            },
        },
    }
    path = work / "mine.yaml"
    path.write_text(yaml.safe_dump(extra))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("families"))
    mine = user_config(work)
    runs = family_runs()
    targets = [f"results/models/{ref}" for refs in runs.values() for ref in refs]
    targets += [
        "results/models/sft/handbook",
        "results/models/dpo/standard",
        "results/models/dpo/hh",
        # A paper table at tiny scale, judged by the served demo judge on localhost.
        "results/tables/zephyr-7b-beta.md",
    ]
    proc = run_snakemake(
        work, *targets, "--config", "scale=tiny", configfiles=[CONFIG, mine], timeout=3000
    )
    return work / "results" / "tiny", runs, proc.stdout + proc.stderr


def test_family_chains_train_at_tiny_scale(built):
    root, runs, _ = built
    assert sorted(runs) == sorted(TINY_FAMILIES)
    for family, refs in runs.items():
        for ref in refs:
            model = root / "results" / "models" / ref
            assert (model / "model.safetensors").is_file(), (family, ref)
            assert (model / "README.md").is_file(), (family, ref)
            metrics = json.loads((model / "metrics.json").read_text())
            if ref.startswith("merge/"):  # a merge trains nothing
                assert metrics["weight"] == 0.9 and metrics["merged_with"].endswith(
                    "sft/smollm3-mid"
                ), metrics
            elif ref.startswith(
                "grpo/"
            ):  # all-equal rewards in a group give a zero loss: look at the rewards
                history = json.loads((model / "log_history.json").read_text())
                assert any("reward" in entry for entry in history), (family, ref)
            else:
                assert metrics["train_loss"] > 0, (family, ref)


def test_tiny_scale_says_what_it_replaced(built):
    root, _, log = built
    plan = build_plan(load_config([CONFIG], {"scale": "tiny"}), [CONFIG], origin=REPO)
    full = build_plan(load_config([]), origin=REPO).config["base_models"]
    hub_bases = [name for name, spec in full.items() if "path" in spec]
    assert len(hub_bases) >= 10, hub_bases
    for name in hub_bases:
        assert f"tiny scale: model base/{name} -> " in log, name
    assert any(line.startswith("dataset ultrafeedback_binarized -> ") for line in plan.replacements)
    # bitsandbytes optimizers and flash attention have CPU stand-ins, each said in the job's log.
    orpo = (root / "results" / "logs" / "orpo" / "zephyr-141b-A35b.log").read_text()
    assert (
        "optim adamw_bnb_8bit needs" in orpo
        and "tiny scale trains with adamw_torch instead" in orpo
    )
    assert "No CUDA device: training in fp32" in orpo


def test_handbook_recipe_copied_in_trains_with_its_keys_mapped(built):
    root, _, log = built
    assert "recipe: runs.sft.handbook: dataset 'sft-handbook' from mine/sft/config_full.yaml" in log
    assert (
        "recipe: runs.sft.handbook: model base/Mistral-7B-v0.1 (mistralai/Mistral-7B-v0.1)" in log
    )
    job_log = (root / "results" / "logs" / "sft" / "handbook.log").read_text()
    for note in (
        "torch_dtype -> dtype",
        "max_seq_length -> max_length",
        "warmup_ratio -> warmup_steps",
        "overwrite_output_dir: dropped",
        "push_to_hub: true -> false",
        "report_to: ['wandb'] -> 'none'",
    ):
        assert note in job_log, note
    assert (root / "results" / "models" / "sft" / "handbook" / "model.safetensors").is_file()


@pytest.mark.parametrize("run", ["standard", "hh"])
def test_standard_and_hh_preference_sets_train_dpo(built, run):
    root, _, _ = built
    model = root / "results" / "models" / "dpo" / run
    assert (model / "model.safetensors").is_file()
    prepared = json.loads(
        (root / "results" / "data" / f"{run}_pairs" / "prepared" / "summary.json").read_text()
    )
    assert prepared["train"]["rows"] == 56 and prepared["test"]["rows"] == 8


def test_the_zephyr_table_is_judged_at_tiny_scale_by_a_judge_served_on_localhost(built):
    """Its answers, the anchor's included, go to the demo SFT model served by `transformers
    serve`; the table names the model id the server reported and counts the verdicts that did
    not parse, and says its published numbers are not checked at this scale."""
    root, _, _ = built
    markdown = (root / "results/tables/zephyr-7b-beta.md").read_text()
    assert "judged by endpoint `demo_served`, model `results/models/sft/tiny` as its" in markdown
    assert "failed to parse" in markdown and "mt_bench/parse_failures" in markdown
    assert "not checked at scale tiny" in markdown
    table = pd.read_csv(root / "results/tables/zephyr-7b-beta.csv").set_index("model")
    assert table.loc["zephyr-7b-beta (HF checkpoint)", "stage"] == "anchor"
    assert (table["mt_bench/judged"].dropna() == 32).all() and table["mt_bench/judged"].count() == 5
