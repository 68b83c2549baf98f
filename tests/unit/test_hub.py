"""One check tells hub ids from local paths, for models and datasets alike."""

from __future__ import annotations

from handbook.hub import is_hub_id


def test_hub_ids():
    assert is_hub_id("HuggingFaceH4/ultrachat_200k") and is_hub_id("imdb")
    assert is_hub_id("mistralai/Mistral-7B-v0.1")  # a version suffix is not a file suffix


def test_local_paths_even_when_missing(tmp_path):
    for source in (
        "results/demo_world/sft",
        "data/x.parquet",
        "data/x.jsonl",
        "./x",
        "/abs/x",
        "~/x",
        "a/b/c",
    ):
        assert not is_hub_id(source), source


def test_an_existing_folder_is_local_relative_to_the_launch_directory(tmp_path):
    (tmp_path / "org" / "model").mkdir(parents=True)
    assert is_hub_id("org/model") and not is_hub_id("org/model", root=tmp_path)
