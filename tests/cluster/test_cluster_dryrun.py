"""Cluster dry runs: the Zephyr-7B-beta runs (config.yaml) planned through profiles/slurm, no
cluster needed.

    .venv/bin/pytest tests/test_cluster_dryrun.py

The working directory gets the repository's config/ and profiles/, so Snakemake sees what it sees
from the repository root; the cluster profile is passed as the docs say, `--workflow-profile
profiles/slurm`, in place of profiles/default (whose `cores: all` would cap every job's threads at
this 2-core machine's).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_workdir, run_snakemake

from handbook import launch

TARGET = "results/models/dpo/zephyr-7b-beta"
PROFILE_ARGS = ("--workflow-profile", "profiles/slurm")


def cluster_workdir(path: Path) -> Path:
    work = make_workdir(path)
    if not (work / "profiles").exists():
        (work / "profiles").symlink_to(REPO / "profiles")
    return work


def plan(work: Path, *configfiles: Path) -> tuple[list[dict], str]:
    """Dry-run the target; every planned job as {rule, output, resources, shell}."""
    # --configfile takes every following word as a file: a flag ends the list before the target.
    extra = ["--configfile", *map(str, configfiles)] if configfiles else []
    proc = run_snakemake(work, *PROFILE_ARGS, *extra, "-n", "-p", TARGET, cores=None)
    output = proc.stdout + proc.stderr
    jobs = []
    for block in re.split(r"\n(?=\[[^\]\n]+\]\n(?:local)?rule )", output)[1:]:
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M).group(1)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs.append(
            {
                "rule": rule,
                "output": re.search(r"^\s+output: (.*)$", block, re.M).group(1),
                "resources": dict(item.split("=", 1) for item in resources.split(", ")),
                "shell": shell.group(1) if shell else "",
            }
        )
    assert jobs, output
    return jobs, output


def training_jobs(jobs: list[dict]) -> dict[str, dict]:
    return {job["output"]: job for job in jobs if job["rule"] == "train_model"}


@pytest.fixture(scope="module")
def one_node(tmp_path_factory):
    return plan(cluster_workdir(tmp_path_factory.mktemp("dryrun") / "work"))


def test_slurm_profile_gives_each_job_the_cpus_its_processes_need(one_node, tmp_path, monkeypatch):
    jobs, output = one_node
    assert "Using workflow specific profile profiles/slurm" in output
    from snakemake.cli import parse_args

    monkeypatch.chdir(cluster_workdir(tmp_path / "work"))
    argv = ["--snakefile", str(REPO / "workflow" / "Snakefile"), "-n", TARGET]
    _, args = parse_args([*argv, *PROFILE_ARGS])
    assert args.executor == "slurm" and args.retries == 2 and args.cores == 1024
    # On this 2-core machine the 8-GPU jobs still ask for 4 CPUs per process, as the plan says;
    # the other jobs ask for their threads (the profile sets no cpus_per_task for every rule).
    defaults = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())[
        "default-resources"
    ]
    assert "cpus_per_task" not in defaults
    for job in jobs:
        if job["rule"] == "train_model":
            assert job["resources"]["cpus_per_task"] == "32", job
            assert " && OMP_NUM_THREADS=32 " in job["shell"], job["shell"]
            assert "OMP_NUM_THREADS=4 exec accelerate launch" in job["shell"], job["shell"]
        else:
            assert "cpus_per_task" not in job["resources"], job
    assert "RuntimeWarning" not in output and "Warning" not in output


def test_zephyr_chain_pulls_in_no_demo_job(one_node):
    jobs, _ = one_node
    assert sorted(job["rule"] for job in jobs) == sorted(
        [
            "prepare_dataset",
            "prepare_dataset",
            "tokenize_dataset",
            "compute_ref_logps",
            "train_model",
            "train_model",
        ]
    )
    for job in jobs:
        assert "demo" not in job["output"] and "tiny" not in job["output"], job
    outputs = {job["output"] for job in jobs}
    assert "results/data/ultrachat_200k/tokenized/mistral-7b" in outputs
    assert "results/ref_logps/ultrafeedback_binarized/sft/zephyr-7b-beta" in outputs


def test_training_jobs_ask_for_eight_gpus_and_launch_eight_processes(one_node):
    jobs, _ = one_node
    training = training_jobs(jobs)
    assert sorted(training) == [
        "results/models/dpo/zephyr-7b-beta",
        "results/models/sft/zephyr-7b-beta",
    ]
    for job in training.values():
        assert job["resources"]["gpu"] == "8" and job["resources"]["nodes"] == "1", job
        assert (
            "accelerate launch --config_file config/accelerate/zero3.yaml --num_processes 8 "
            in job["shell"]
        )
        assert "srun" not in job["shell"] and "--num_machines" not in job["shell"]
    sft, dpo = (
        training["results/models/sft/zephyr-7b-beta"],
        training["results/models/dpo/zephyr-7b-beta"],
    )
    assert sft["resources"]["runtime"] == "1440" and sft["resources"]["mem_mb"] == "256000"
    assert "--model_name_or_path mistralai/Mistral-7B-v0.1 " in sft["shell"]
    assert "--config config/recipes/zephyr-7b-beta/sft/full.yaml " in sft["shell"]
    assert "--model_name_or_path results/models/sft/zephyr-7b-beta " in dpo["shell"]
    assert (
        "--dataset_path results/ref_logps/ultrafeedback_binarized/sft/zephyr-7b-beta "
        in dpo["shell"]
    )
    # CPU-only steps stay off the GPU partition's books.
    for job in jobs:
        if job["rule"] in ("prepare_dataset", "tokenize_dataset"):
            assert job["resources"].get("gpu", "0") == "0", job


def fake_slurm_bin(folder: Path) -> Path:
    """srun, scontrol, accelerate and python stand-ins that run one 'node' after another and
    record argv."""
    folder.mkdir()
    (folder / "srun").write_text(
        "#!/bin/bash\n"
        "while [[ $1 == --* ]]; do\n"
        "  case $1 in --nodes) nodes=$2; shift ;; --ntasks | --ntasks-per-node) shift ;; esac;"
        " shift\n"
        "done\n"
        'for ((id = 0; id < nodes; id++)); do SLURM_NODEID=$id "$@" || exit; done\n'
    )
    (folder / "scontrol").write_text(
        '#!/bin/bash\n[ "$*" = "show hostnames gpu-[07-08]" ] || exit 98\n'
        "echo gpu-07\necho gpu-08\n"
    )
    (folder / "accelerate").write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"
    )
    # A GPU node's Python, whose CUDA check (python -m handbook.device_check) passes.
    (folder / "python").write_text("#!/bin/bash\nexit 0\n")
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


def test_two_nodes_start_one_launcher_per_node(tmp_path):
    two_nodes = tmp_path / "two_nodes.yaml"
    spec = {"resources": {"nodes": 2}}
    two_nodes.write_text(
        yaml.safe_dump({"runs": {"sft": {"zephyr-7b-beta": spec}, "dpo": {"zephyr-7b-beta": spec}}})
    )
    jobs, _ = plan(cluster_workdir(tmp_path / "work"), two_nodes)
    training = training_jobs(jobs)
    assert len(training) == 2
    for job in training.values():
        assert job["resources"]["nodes"] == "2" and job["resources"]["gpu"] == "16", job
        assert (
            " srun --nodes 2 --ntasks-per-node 1 --ntasks 2 --overlap --kill-on-bad-exit=1 "
            "bash -c '" in job["shell"]
        )
        assert "--num_processes 16 --num_machines 2 " in job["shell"]
        assert '--machine_rank "$SLURM_NODEID"' in job["shell"]

    # Run the DPO job's command as printed, with stand-ins for the SLURM tools: bash must hand each
    # node's launcher its own rank, the first host and the training script's arguments intact.
    dpo = training["results/models/dpo/zephyr-7b-beta"]
    scratch = tmp_path / "node"
    (scratch / "results/logs/dpo").mkdir(parents=True)
    env = dict(os.environ, SLURM_JOB_NODELIST="gpu-[07-08]")
    env["PATH"] = f"{fake_slurm_bin(tmp_path / 'bin')}{os.pathsep}{env['PATH']}"
    # As Snakemake runs it: after the job prefix, under bash's strict mode.
    prefix = launch.job_prefix(REPO / "scripts").format()  # Snakemake formats it once
    command = f"set -euo pipefail; {prefix}{dpo['shell']}"
    subprocess.run(["bash", "-c", command], cwd=scratch, env=env, check=True, timeout=60)
    launches = [
        json.loads(line)
        for line in (scratch / "results/logs/dpo/zephyr-7b-beta.log").read_text().splitlines()
    ]
    assert len(launches) == 2
    for rank, argv in enumerate(launches):
        options = dict(zip(argv[1:13:2], argv[2:13:2]))
        assert argv[0] == "launch" and options == {
            "--config_file": "config/accelerate/zero3.yaml",
            "--num_processes": "16",
            "--num_machines": "2",
            "--machine_rank": str(rank),
            "--main_process_ip": "gpu-07",
            "--main_process_port": "29500",
        }
        assert argv[13].endswith("scripts/dpo.py")
        assert argv[14:] == [
            "--config",
            "config/recipes/zephyr-7b-beta/dpo/full.yaml",
            "--model_name_or_path",
            "results/models/sft/zephyr-7b-beta",
            "--dataset_path",
            "results/ref_logps/ultrafeedback_binarized/sft/zephyr-7b-beta",
            "--checkpoint_dir",
            "results/checkpoints/dpo/zephyr-7b-beta",
            "--output_dir",
            "results/models/dpo/zephyr-7b-beta",
            "--stage",
            "dpo",
            # The recipe's 8 per device x 2 accumulation on the 16 GPUs the config gives the run.
            "--global_batch",
            "256",
            "--gpus",
            "16",
        ]


def test_every_family_chain_asks_slurm_for_its_published_resources(tmp_path):
    """All recipe families' tables at full scale, dry run through profiles/slurm: each training job
    asks for the GPUs, nodes and time its run declares and launches one process per GPU."""
    from handbook.config import load_config
    from handbook.plan import build_plan, to_dict

    full = build_plan(load_config([]), origin=REPO)
    families = sorted(
        {Path(f).parent.name for f in to_dict(full)["family_files"] if f.endswith("/family.yaml")}
    )
    tables = [
        f"results/tables/{key.split('.', 1)[1]}.md"
        for key, source in full.sources.items()
        if key.startswith("tables.") and source.endswith("/family.yaml")
    ]
    assert len(families) >= 10 and len(tables) >= len(families), (families, tables)
    proc = run_snakemake(
        cluster_workdir(tmp_path / "work"), *PROFILE_ARGS, "-n", "-p", *tables, cores=None
    )
    jobs = re.split(r"\n(?=\[[^\]\n]+\]\n(?:local)?rule )", proc.stdout + proc.stderr)[1:]
    training, reference = {}, {}
    for block in jobs:
        if re.search(r"^(?:local)?rule compute_ref_logps:", block, re.M):
            output = re.search(r"^\s+output: (.*)$", block, re.M).group(1)
            reference[output] = dict(
                i.split("=", 1)
                for i in re.search(r"^\s+resources: (.*)$", block, re.M).group(1).split(", ")
            )
        if re.search(r"^(?:local)?rule train_model:", block, re.M):
            output = re.search(r"^\s+output: (.*)$", block, re.M).group(1)
            resources = dict(
                i.split("=", 1)
                for i in re.search(r"^\s+resources: (.*)$", block, re.M).group(1).split(", ")
            )
            training[output] = (
                resources,
                re.search(r"^Shell command: (.*)$", block, re.M).group(1),
            )
    expected = {f"results/models/{ref}": run for ref, run in full.runs.items()}
    assert {o for o, run in expected.items() if run.gpus_per_node} <= set(training) <= set(expected)
    for output, (resources, shell) in training.items():
        run = expected[output]
        assert resources["gpu"] == str(run.gpus_per_node * run.nodes) and resources["nodes"] == str(
            run.nodes
        ), output
        assert resources["runtime"] == str(run.runtime) and resources["mem_mb"] == str(
            run.mem_mb
        ), output
        launch = (
            f"--num_processes {run.gpus_per_node * run.nodes} " if run.gpus_per_node else "python "
        )
        assert launch in shell, (output, shell)
        assert (f"srun --nodes {run.nodes} " in shell) == (run.nodes > 1), (output, shell)
    # A reference pass gets the time of the longest run it serves (SmolLM3's APO: a day), one GPU.
    apo_ref = reference["results/ref_logps/smollm3-pref/sft/smollm3"]
    assert apo_ref["gpu"] == "1" and apo_ref["runtime"] == str(full.runs["dpo/smollm3-apo"].runtime)
    # The released SmolLM3 is a merge: a CPU job after APO, reading the mid-training model.
    merge, shell = training["results/models/merge/smollm3"]
    assert merge["gpu"] == "0" and "--dataset_path results/models/sft/smollm3-mid " in shell
    # The published setups: Zephyr-141B's ORPO on 4 nodes of 8 GPUs with FSDP; QLoRA on one GPU.
    orpo, shell = training["results/models/orpo/zephyr-141b-A35b"]
    assert orpo["gpu"] == "32" and orpo["nodes"] == "4"
    assert "--config_file config/accelerate/fsdp.yaml --num_processes 32 --num_machines 4 " in shell
    assert training["results/models/dpo/zephyr-7b-beta-qlora"][0]["gpu"] == "1"
    # The online family: GRPO on 8 GPUs; each round of iterative DPO samples the previous round's
    # policy with vLLM on one GPU and scores with the verifier on the CPU.
    grpo, shell = training["results/models/grpo/qwen2.5-1.5b-gsm8k"]
    assert grpo["gpu"] == "8" and "--num_processes 8 " in shell
    assert "$HANDBOOK_SCRIPTS/grpo.py" in shell
    sampling = {}
    for block in jobs:
        rule = re.search(r"^(?:local)?rule (sample_completions|score_samples):", block, re.M)
        if rule and "rejection_sampling/qwen2.5-1.5b-gsm8k-r2/" in re.search(
            r"^\s+output: (.*)$", block, re.M
        ).group(1):
            resources = dict(
                i.split("=", 1)
                for i in re.search(r"^\s+resources: (.*)$", block, re.M).group(1).split(", ")
            )
            sampling[rule.group(1)] = (
                resources,
                re.search(r"^Shell command: (.*)$", block, re.M).group(1),
            )
    resources, shell = sampling["sample_completions"]
    assert resources["gpu"] == "1" and "--model results/models/dpo/qwen2.5-1.5b-gsm8k-r1 " in shell
    assert "--backend vllm" in shell and "--prompts results/data/gsm8k/prepared " in shell
    resources, shell = sampling["score_samples"]
    assert resources["gpu"] == "0" and "--verifiers final_number " in shell
