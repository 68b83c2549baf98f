"""The alignment handbook's own Zephyr SFT and DPO recipe files, copied in unchanged but for their
data, train at full scale (no tiny replacement) from a local model folder named like the real base.

The SFT file's inline Zephyr chat template has no {% generation %} markers and it does not ask for
assistant-only loss: it trains on every token, as the handbook did. The local folder
`models/Mistral-7B-v0.1` is a tiny Mistral stand-in; the run must load exactly that folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_workdir, run_snakemake

HANDBOOK = REPO / "tests" / "data" / "handbook_recipes" / "zephyr-7b-beta"
PAIRS = REPO / "tests" / "data" / "formats" / "standard_pref.jsonl"


def local_mistral(work: Path) -> Path:
    from handbook.offline import HubModel
    from handbook.standins import build_model

    hub = work / "hub"
    build_model(HubModel("mistralai/Mistral-7B-v0.1", None), hub)
    snapshot = next((hub / "models--mistralai--Mistral-7B-v0.1" / "snapshots").iterdir())
    folder = work / "models" / "Mistral-7B-v0.1"
    shutil.copytree(snapshot, folder)
    shutil.rmtree(hub)
    return folder


def conversations(path: Path, n: int = 64) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} plus {i + 2}?"},
                {"role": "assistant", "content": f"{i} plus {i + 2} is {2 * i + 2}."},
            ]
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def copied_recipe(work: Path, name: str, data: str, columns: list[str], **changes) -> str:
    """A handbook file as a user copies it: its data pointed at a local file, nothing else
    changed."""
    recipe = yaml.safe_load((HANDBOOK / name).read_text())
    recipe.pop("dataset_mixer", None)
    recipe.pop("dataset_splits", None)
    recipe["dataset_mixture"] = {
        "datasets": [{"id": data, "columns": columns}],
        "test_split_size": 8,
    }
    recipe.update(changes)
    target = work / "mine" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(target.relative_to(work))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("handbook_full"))
    model = local_mistral(work)
    chats = conversations(work / "chats.jsonl")
    sft = copied_recipe(
        work,
        "sft/config_full.yaml",
        str(chats),
        ["messages"],
        model_name_or_path=str(model.relative_to(work)),
    )
    dpo = copied_recipe(work, "dpo/config_full.yaml", str(PAIRS), ["prompt", "chosen", "rejected"])
    config = {
        "runs": {
            "sft": {"handbook": {"recipe": sft}},
            "dpo": {"handbook": {"recipe": dpo, "model": "sft/handbook"}},
        }
    }
    (work / "mine.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(
        work,
        "--printshellcmds",
        "results/models/dpo/handbook",
        configfiles=[work / "mine.yaml"],
        timeout=1200,
    )
    return work, proc.stdout + proc.stderr


@pytest.mark.e2e
def test_handbook_sft_then_dpo_train_at_full_scale_from_the_local_model(built):
    work, log = built
    # The recipe's local model path is that path, never a configured model of the same name.
    assert "recipe: runs.sft.handbook: model base/Mistral-7B-v0.1 (models/Mistral-7B-v0.1)" in log
    assert "tiny scale" not in log
    tokenize = (work / "results/logs/data/sft-handbook/tokenize_Mistral-7B-v0.1.log").read_text()
    assert "no {% generation %} markers" in tokenize
    sft_log = (work / "results/logs/sft/handbook.log").read_text()
    assert (
        "loss on every token (assistant_only_loss is false; the data has no assistant masks)"
        in sft_log
    )
    assert "global batch: 16 per device x 1 accumulation x 1 processes = 16" in sft_log
    for stage in ("sft", "dpo"):
        folder = work / "results" / "models" / stage / "handbook"
        assert (folder / "model.safetensors").is_file(), stage
        assert json.loads((folder / "config.json").read_text())["architectures"] == [
            "MistralForCausalLM"
        ]
        assert json.loads((folder / "metrics.json").read_text())["train_loss"] > 0
    # The SFT model carries the recipe's Zephyr template; DPO trained from that model.
    template = json.loads(
        (work / "results/models/sft/handbook/tokenizer_config.json").read_text()
    ).get("chat_template", "")
    template = template or (work / "results/models/sft/handbook/chat_template.jinja").read_text()
    assert "<|' + message['role'] + '|>" in template
    dpo_log = (work / "results/logs/dpo/handbook.log").read_text()
    assert "model_name_or_path = 'results/models/sft/handbook'" in dpo_log
    # The reference pass truncates as the trainer does: the handbook file's max_length (1024) after
    # mapping.
    settings = yaml.safe_load((HANDBOOK / "dpo" / "config_full.yaml").read_text())
    expected = settings.get("max_length", settings.get("max_seq_length", 1024))
    assert f"--max_length {expected}" in log
