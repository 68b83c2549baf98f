"""What every training entry point shares, on its own: the device check before any model loads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from handbook.training import RecipeError, check_device


def test_gpus_without_cuda_is_an_error_not_a_cpu_run(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # On a GPU node the cause is the job's Python (the submit host's CPU-only torch): the message
    # says so.
    with pytest.raises(
        RecipeError,
        match=r"asks for 8 GPU\(s\) but torch .* sees no CUDA device: on a GPU node, run Snakemake "
        r"with --sdm conda",
    ):
        check_device(SimpleNamespace(gpus=8))
    check_device(SimpleNamespace(gpus=0))  # a CPU run as configured


def test_gpus_with_cuda_pass(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_device(SimpleNamespace(gpus=8))


def test_a_corrupt_or_missing_model_is_one_line_naming_it(tmp_path):
    from transformers import AutoModelForCausalLM

    from handbook.modeling import ModelError, from_pretrained

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, '
        '"num_attention_heads": 1, "intermediate_size": 8, "vocab_size": 10}'
    )
    (folder / "model.safetensors").write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(
        ModelError, match=rf"^{folder}: cannot load AutoModelForCausalLM \(\w+: .+\)$"
    ):
        from_pretrained(AutoModelForCausalLM, str(folder), use_safetensors=True)
    missing = str(tmp_path / "typo")
    with pytest.raises(ModelError, match=rf"^{missing}: no such model folder"):
        from_pretrained(AutoModelForCausalLM, missing)


def test_trust_remote_code_in_a_recipe_reaches_the_model_loader(tmp_path, monkeypatch):
    from trl import SFTConfig

    from handbook.training import start_run

    recipe = tmp_path / "r.yaml"
    recipe.write_text("trust_remote_code: true\nlearning_rate: 1.0e-4\n")
    argv = [
        "sft.py",
        "--config",
        str(recipe),
        "--output_dir",
        str(tmp_path / "out"),
        "--checkpoint_dir",
        str(tmp_path / "ck"),
    ]
    monkeypatch.setattr("sys.argv", argv)
    (_, _, model_args), final_dir = start_run(SFTConfig)
    assert model_args.trust_remote_code is True and final_dir == str(tmp_path / "out")
