"""What the bench scripts share: the repository, a finished demo's results, the jobs'
environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


def env() -> dict:
    """The environment the workflow's jobs run in: offline, the shared package importable."""
    out = dict(
        os.environ,
        PYTHONPATH=str(REPO / "scripts"),
        TRL_EXPERIMENTAL_SILENCE="1",
        OMP_NUM_THREADS="2",
    )
    out.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out['PATH']}"
    return out


def export_jsonl(prepared: Path, folder: Path) -> Path:
    """A prepared dataset's splits as train.jsonl / test.jsonl, the way `trl` reads a local
    dataset."""
    from datasets import load_from_disk

    folder.mkdir(parents=True, exist_ok=True)
    for split, ds in load_from_disk(str(prepared)).items():
        ds.to_json(str(folder / f"{split}.jsonl"), lines=True)
    return folder
