"""Provenance records: resolved config, package versions, git revision; atomic JSON writes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from conftest import REPO

from handbook.provenance import git_revision, write_json, write_provenance


@dataclass
class Args:
    learning_rate: float = 1e-3
    name: str = "x"


def test_provenance_has_config_versions_and_revision(tmp_path):
    path = write_provenance(tmp_path / "artifact", config={"Args": Args()}, inputs={"data": "d"})
    record = json.loads(path.read_text())
    assert record["config"] == {"Args": {"learning_rate": 1e-3, "name": "x"}}
    assert record["inputs"] == {"data": "d"}
    assert record["packages"]["transformers"] and record["packages"]["trl"] == "1.16.0"
    assert set(record["git"]) == {"commit", "dirty"}
    if (REPO / ".git").exists() and record["git"]["commit"]:
        assert len(record["git"]["commit"]) == 40


def test_git_revision_outside_a_repository(tmp_path):
    assert git_revision(tmp_path) == {"commit": None, "dirty": None}


def test_write_json_leaves_no_temporary_file(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_inputs_are_recorded_with_their_content_hashes_and_the_wall_time(tmp_path):
    from handbook.provenance import content_hash

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"a": 1}\n')
    path = write_provenance(
        tmp_path / "artifact", inputs={"data": str(data), "model": "org/hub-model"}
    )
    record = json.loads(path.read_text())
    first = record["input_hashes"]["data"]
    assert first.startswith("sha256:") and record["input_hashes"]["model"] is None  # a hub id
    assert record["wall_seconds"] >= 0
    (data / "train.jsonl").write_text('{"a": 2}\n')
    assert content_hash(data) != first  # the same folder with other content
    (data / "provenance.json").write_text("{}")
    assert content_hash(data) == content_hash(data)
