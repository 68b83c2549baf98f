"""SLURM integration: Snakemake submits real jobs to the local one-node cluster.

bash scripts/slurm/local_cluster.sh start && .venv/bin/pytest tests/test_slurm_cluster.py
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import TINY_CONFIG, make_workdir, run_snakemake
from slurm_fixture import REPO, slurm_cluster_fixture  # noqa: F401  (the slurm_cluster fixture)
from slurm_fixture import snakemake_env as _snakemake_env
from snakemake.cli import parse_args

pytestmark = pytest.mark.slurm

# Two chained rules, so the second job can only be submitted after Snakemake
# has seen the first one finish through its status polling.
SNAKEFILE = textwrap.dedent("""
    rule all:
        input:
            "b.txt",

    rule make_a:
        output:
            "a.txt",
        log:
            "logs/make_a.log",
        shell:
            "echo $SLURM_JOB_ID > {log}; echo a > {output}"

    rule make_b:
        input:
            "a.txt",
        output:
            "b.txt",
        log:
            "logs/make_b.log",
        shell:
            "echo $SLURM_JOB_ID > {log}; cat {input} > {output}; echo b >> {output}"
    """)


@pytest.mark.parametrize("profile", ["slurm", "slurm-local", "default"])
def test_profile_keys_are_real_snakemake_options(profile, monkeypatch, tmp_path):
    # An option name that does not exist makes Snakemake exit with a usage
    # error; catch that here rather than on a cluster.
    monkeypatch.chdir(tmp_path)
    profile_dir = REPO / "profiles" / profile
    _, args = parse_args(["--profile", str(profile_dir), "--workflow-profile", "none"])
    if profile.startswith("slurm"):
        assert args.executor == "slurm"
    if profile == "slurm-local":
        # Without accounting, sacct never reports a job and Snakemake waits forever.
        assert args.slurm_status_command == "squeue"
        assert "slurm_partition" in args.default_resources


def test_two_chained_jobs_run_through_slurm(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(slurm_cluster.profile),
            # The repository's profiles/default must not leak into this run.
            "--workflow-profile",
            "none",
        ],
        cwd=tmp_path,
        env=_snakemake_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output

    assert (tmp_path / "a.txt").read_text() == "a\n"
    assert (tmp_path / "b.txt").read_text() == "a\nb\n"

    job_ids = []
    for rule in ("make_a", "make_b"):
        logged = (tmp_path / "logs" / f"{rule}.log").read_text().strip()
        assert re.fullmatch(r"\d+", logged), f"{rule} log holds {logged!r}, not a job id"
        job_ids.append(logged)
    assert job_ids[0] != job_ids[1]

    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    assert sorted(submitted) == sorted(job_ids), output

    # The cluster keeps finished jobs visible (MinJobAge), so SLURM itself can
    # confirm that both jobs ran to completion.
    states = subprocess.run(
        [
            "squeue",
            "--states=all",
            "--noheader",
            "--format=%i %T",
            "--jobs",
            ",".join(job_ids),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert dict(zip(states[::2], states[1::2])) == dict.fromkeys(job_ids, "COMPLETED")


# The demo chain of tests/config/tiny.yaml cut to what a round trip through the scheduler needs: a
# small world and a few optimizer steps, still every rule from the world to the table.
FAST_CHAIN = {
    "demo_world": {
        "n_towns": 8,
        "corpus_chars": 20000,
        "n_sft": 96,
        "n_sft_test": 16,
        "n_pref": 16,
        "n_pref_test": 8,
        "n_generation": 8,
        "n_eval": 24,
    },
    "runs": {
        "cpt": {"tiny": {"args": {"max_steps": 6, "save_steps": 100}}},
        "sft": {"tiny": {"args": {"max_steps": 6, "save_steps": 100}}},
    },
    "eval": {"demo": {"num_samples": 1, "max_new_tokens": 8, "judge": None}},
    "tables": {
        "chain": {"rows": {"base": ["base/tiny"], "cpt": ["cpt/tiny"], "sft": ["sft/tiny"]}}
    },
}
CHAIN_TABLE = "results/tables/chain.csv"
# One thread per job in both builds: a SLURM job and a local job otherwise get different thread
# counts, and torch may then sum in a different order. It also keeps two parallel jobs from
# oversubscribing the two cores of the test machine.
ONE_THREAD = ("--set-threads", "train_model=1", "eval_demo=1")
SUBMITTED = re.compile(
    r"Job \d+ has been submitted with SLURM jobid (?P<id>\d+) "
    r"\(log: \S+/slurm_logs/rule_(?P<rule>\w+)/(?:(?P<wildcards>[^/\s]+)/)?(?P=id)\.log\)"
)


def build_chain(work: Path, fast: Path, *extra: str):
    # --configfile and --set-threads take every following word: "--" ends them before the target.
    configfiles = ("--configfile", str(TINY_CONFIG), str(fast))
    return run_snakemake(work, *extra, *configfiles, *ONE_THREAD, "--", CHAIN_TABLE, timeout=540)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints before running: jobs per rule."""
    table = re.search(r"Job stats:\njob\s+count\n[- ]+\n((?:\S+\s+\d+\n)+)", output)
    assert table, output
    return {rule: int(n) for rule, n in (line.split() for line in table.group(1).splitlines())}


def slurm_states(job_ids) -> dict[str, str]:
    states = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i %T", "--jobs", ",".join(job_ids)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    return dict(zip(states[::2], states[1::2]))


def read_json(path: Path):
    return json.loads(path.read_text())


def test_demo_chain_through_slurm_matches_local_build(slurm_cluster, tmp_path):
    fast = tmp_path / "fast_chain.yaml"
    fast.write_text(yaml.safe_dump(FAST_CHAIN))
    local, cluster = make_workdir(tmp_path / "local"), make_workdir(tmp_path / "slurm")
    # The two builds share no folder and run side by side: the SLURM one mostly waits on polls.
    with ThreadPoolExecutor(max_workers=2) as pool:
        local_run = pool.submit(build_chain, local, fast)
        slurm_run = pool.submit(
            build_chain,
            cluster,
            fast,
            "--profile",
            str(slurm_cluster.profile),
            "--workflow-profile",
            "none",
        )
        local_output = local_run.result().stdout + local_run.result().stderr
        slurm_output = slurm_run.result().stdout + slurm_run.result().stderr

    # Every job of the DAG went through sbatch, each once, none ran on the submitting host.
    planned = job_counts(slurm_output)
    assert planned == job_counts(local_output)
    submitted = [m.groupdict() for m in SUBMITTED.finditer(slurm_output)]
    assert Counter(job["rule"] for job in submitted) == {
        r: n for r, n in planned.items() if r != "total"
    }
    assert len({job["id"] for job in submitted}) == planned["total"] == len(submitted)
    assert "localrule" not in slurm_output
    assert slurm_states(job["id"] for job in submitted) == {
        job["id"]: "COMPLETED" for job in submitted
    }

    # Each model records the SLURM job that built it; the local build records none.
    job_of = {(job["rule"], job["wildcards"]): job["id"] for job in submitted}
    builders = {
        "base/tiny": ("init_model", "tiny"),
        "cpt/tiny": ("train_model", "cpt_tiny"),
        "sft/tiny": ("train_model", "sft_tiny"),
    }
    for ref, builder in builders.items():
        recorded = read_json(cluster / "results/models" / ref / "provenance.json")["slurm_job_id"]
        assert recorded == job_of[builder], ref
        assert read_json(local / "results/models" / ref / "provenance.json")[
            "slurm_job_id"
        ] == os.environ.get("SLURM_JOB_ID")

    # Same data, same weights, same numbers: CPU training with fixed seeds and threads is exact.
    world = "results/demo_world/manifest.json"
    assert read_json(cluster / world)["sha256"] == read_json(local / world)["sha256"]
    for dataset in ("demo_corpus", "demo_sft"):
        summary = f"results/data/{dataset}/tokenized/tiny/summary.json"
        assert read_json(cluster / summary) == read_json(local / summary), summary
    for ref in builders:
        weights = f"results/models/{ref}/model.safetensors"
        digests = {
            hashlib.sha256((work / weights).read_bytes()).hexdigest() for work in (local, cluster)
        }
        assert len(digests) == 1, weights
    table = pd.read_csv(cluster / CHAIN_TABLE)
    pd.testing.assert_frame_equal(table, pd.read_csv(local / CHAIN_TABLE), check_exact=True)
    assert list(table["model"]) == ["base", "cpt", "sft"]
    # Training moved the held-out loss, so equal tables compare real results, not placeholders.
    assert table["heldout_loss"].nunique() == 3 and table["heldout_loss"].notna().all()


def running_training_job(comment_part: str) -> str | None:
    """The SLURM job id of the running job whose comment (rule and wildcards) holds
    `comment_part`."""
    listed = subprocess.run(
        ["squeue", "--noheader", "--states=RUNNING", "--format=%i %k"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return next((line.split()[0] for line in listed.splitlines() if comment_part in line), None)


def test_training_job_cancelled_with_scancel_resumes_when_rebuilt(slurm_cluster, tmp_path):
    """scancel a training job after its first checkpoint; building the target again through SLURM
    resumes from that checkpoint and trains to the end."""
    import time

    chain = json.loads(json.dumps(FAST_CHAIN))
    chain["runs"]["sft"]["tiny"]["args"] = {"max_steps": 150, "save_steps": 10, "logging_steps": 10}
    fast = tmp_path / "fast_chain.yaml"
    fast.write_text(yaml.safe_dump(chain))
    work = make_workdir(tmp_path / "slurm")
    target = "results/models/sft/tiny"
    args = (
        "--profile",
        str(slurm_cluster.profile),
        "--workflow-profile",
        "none",
        "--configfile",
        str(TINY_CONFIG),
        str(fast),
    )
    args += (*ONE_THREAD, "--", target)
    checkpoints = work / "results/checkpoints/sft/tiny"
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(run_snakemake, work, *args, check=False, timeout=540)
        deadline = time.time() + 480
        while (
            not list(checkpoints.glob("checkpoint-*/trainer_state.json"))
            and time.time() < deadline
            and not first.done()
        ):
            time.sleep(0.5)
        job = running_training_job("train_model")
        assert job, "the SFT job was not running after its first checkpoint"
        subprocess.run(["scancel", job], check=True, timeout=30)
        cancelled = first.result()
    assert cancelled.returncode != 0, "the build went on after its training job was cancelled"
    assert slurm_states([job]) == {job: "CANCELLED"}
    assert not (work / target).exists()  # no complete-looking model from the cancelled job
    saved = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert saved and int(saved[-1].name.split("-")[1]) < 150

    run_snakemake(work, *args, timeout=540)
    log = (work / "results/logs/sft/tiny.log").read_text()
    assert re.search(r"Resuming from results/checkpoints/sft/tiny/checkpoint-\d+", log), log[-3000:]
    state = (
        json.loads((work / target / "trainer_state.json").read_text())
        if (work / target / "trainer_state.json").exists()
        else None
    )
    history = json.loads((work / target / "log_history.json").read_text())
    assert max(h["step"] for h in history) == 150 and (state is None or state["global_step"] == 150)
