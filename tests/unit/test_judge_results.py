"""What a table reads from verdict summaries: scores and parse failures per model, the judge's
notes, published numbers checked against their tolerance, anchors' drift, and the strict mode."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from handbook import judge_results as jr
from handbook.tables import label_table

REPO = Path(__file__).resolve().parents[2]


def summary(tmp_path: Path, models: dict) -> str:
    path = tmp_path / "verdicts.json"
    record = {
        "benchmark": "mt_bench",
        "models": models,
        "judge": {"name": "local", "temperature": 0},
        "judge_model_reported": "judge-7b",
        "date": "2026-12-07T10:00:00+00:00",
        "temperature": 0,
        "prompt_hash": "sha256:" + "a" * 64,
        "requests_made": 4,
        "cache_hits": 2,
    }
    path.write_text(json.dumps(record))
    return str(path)


def runs(verdicts: str, labels: dict[str, list[str]]) -> list[dict]:
    return [
        {
            "label": label,
            "ref": f"dpo/{model}",
            "params": {"anchor": True} if label == "anchor" else {},
            "model_id": f"dpo-{model}",
            "files": {"answers:mt_bench": "a.jsonl", "judgment:mt_bench": verdicts},
        }
        for label, models in labels.items()
        for model in models
    ]


SPEC = {
    "name": "t",
    "judges": {"mt_bench": {"format": "mt_bench", "prompts": "p", "judge": "local (judge-7b)"}},
    "metrics": ["mt_bench"],
}


def test_scores_and_parse_failures_per_model_and_a_model_without_a_parsed_verdict(tmp_path):
    verdicts = summary(
        tmp_path,
        {
            "dpo-a": {"score": 7.0, "n_judged": 4, "n_parse_failures": 1},
            "dpo-b": {"score": None, "n_judged": 4, "n_parse_failures": 4},
        },
    )
    table, shown = label_table(SPEC, runs(verdicts, {"ours": ["a"], "theirs": ["b"]}))
    table = table.set_index("model")
    assert (
        table.loc["ours", "mt_bench"] == 7.0 and table.loc["ours", "mt_bench/parse_failures"] == 1
    )
    assert math.isnan(table.loc["theirs", "mt_bench"])  # every verdict failed: no score, not 0
    assert table.loc["theirs", "mt_bench/parse_failures"] == 4
    assert shown == ["mt_bench", "mt_bench/parse_failures"]
    note = jr.judge_note("mt_bench", json.loads(Path(verdicts).read_text()))
    assert "model `judge-7b` as its server reported it, on 2026-12-07" in note
    assert "8 verdicts, 5 failed to parse" in note and "4 requests made, 2 answered from" in note


def test_published_numbers_are_checked_against_their_tolerance_at_full_scale_only(tmp_path):
    verdicts = summary(
        tmp_path,
        {"dpo-a": {"score": 7.1}, "dpo-b": {"score": 7.5}, "dpo-c": {"score": 6.0}},
    )
    spec = {
        **SPEC,
        "published": [
            {
                "label": "paper",
                "source": "s",
                "values": {"mt_bench": 7.34},
                "reproduced_by": "ours",
                "tolerance": {"mt_bench": 0.3},
            },
            {
                "label": "paper (std)",
                "source": "s",
                "values": {"mt_bench": 7.34},
                "reproduced_by": "ours",
                "tolerance": {"mt_bench": {"std": 1}},
            },
            {
                "label": "far",
                "source": "s",
                "values": {"mt_bench": 7.34},
                "reproduced_by": "low",
                "tolerance": {"mt_bench": 0.3},
            },
        ],
    }
    table, _ = label_table(spec, runs(verdicts, {"ours": ["a", "b"], "low": ["c"]}))
    checks = jr.reproduction_checks(table, spec["published"], "full")
    # ours: 7.3 ± 0.28 (two seeds): within 0.3 of 7.34, and within one std
    assert [c["reproduced"] for c in checks] == [True, True, False]
    assert checks[0]["ours"] == pytest.approx(7.3) and checks[1]["std"] == pytest.approx(
        0.2828, 1e-3
    )
    lines = [jr.reproduction_line(c, "full") for c in checks]
    assert lines[0].endswith(": reproduced") and lines[2].endswith(": NOT reproduced")
    assert "mt_bench of low: 6 against 7.34 published (far, tolerance ±0.3)" in lines[2]
    marked = jr.mark_reproduced(table, checks).set_index("model")
    assert marked.loc["paper", "reproduced"] == "mt_bench: yes;"
    assert marked.loc["far", "reproduced"] == "mt_bench: no;"
    tiny = jr.reproduction_checks(table, spec["published"], "tiny")
    assert all(c["reproduced"] is None for c in tiny)
    assert "not checked at scale tiny" in jr.reproduction_line(tiny[0], "tiny")


def test_an_anchor_shows_the_judges_drift_beside_its_published_row(tmp_path):
    verdicts = summary(tmp_path, {"dpo-a": {"score": 7.0}, "dpo-z": {"score": 6.9}})
    spec = {**SPEC, "anchors": {"anchor": {"model": "base/z", "published": {"mt_bench": 7.34}}}}
    table, _ = label_table(spec, runs(verdicts, {"ours": ["a"], "anchor": ["z"]}))
    stages = dict(zip(table["model"], table["stage"]))
    assert stages["anchor"] == "anchor" and stages["anchor (published)"] == "published"
    [line] = jr.anchor_lines(table, spec["anchors"])
    assert "anchor anchor: mt_bench 6.9 here against 7.34 published" in line
    assert "this judge scores it 0.44 lower" in line


def test_strict_reproduction_fails_the_table_job_naming_the_cell(tmp_path):
    verdicts = summary(tmp_path, {"dpo-c": {"score": 6.0}})
    published = [
        {
            "label": "far",
            "source": "s",
            "values": {"mt_bench": 7.34},
            "reproduced_by": "low",
            "tolerance": {"mt_bench": 0.3},
        }
    ]
    out = {ext: str(tmp_path / f"t.{ext}") for ext in ("csv", "md", "png")}

    def make(strict: bool):
        spec = {"table": {**SPEC, "rows": {"low": []}, "published": published,
                          "strict_reproduction": strict, "scale": "full"},
                "runs": runs(verdicts, {"low": ["c"]})}  # fmt: skip
        return subprocess.run(
            [sys.executable, str(REPO / "scripts/make_table.py"), "--spec", json.dumps(spec)]
            + [a for ext, path in out.items() for a in (f"--{ext}", path)],
            capture_output=True,
            text=True,
        )

    lenient = make(False)
    assert lenient.returncode == 0, lenient.stderr
    markdown = Path(out["md"]).read_text()
    assert "mt_bench of low: 6 against 7.34 published (far, tolerance ±0.3): NOT reproduced" in (
        markdown
    )
    assert pd.read_csv(out["csv"]).set_index("model").loc["far", "reproduced"] == "mt_bench: no;"
    strict = make(True)
    assert strict.returncode != 0
    assert "error: table t: not reproduced: mt_bench of low" in strict.stderr + strict.stdout
