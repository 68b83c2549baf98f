"""Model folders published whole with a manifest, damaged ones named; checkpoints that cannot be
read are skipped for the one before; a job's launcher is the shell's last act."""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest
import torch
from safetensors.torch import save_file

from handbook import model_folder
from handbook.checkpoints import clean_checkpoint_dir, last_checkpoint, unreadable_file
from handbook.device_check import main as device_check
from handbook.launch import exec_form


def written(tmp_path):
    final = tmp_path / "models" / "sft" / "x"
    staging = model_folder.start(final)
    save_file({"w": torch.arange(6.0)}, str(staging / "model.safetensors"))
    (staging / "config.json").write_text('{"model_type": "llama"}')
    assert not final.exists()  # nothing at the final name until it is complete
    model_folder.publish(staging, final)
    return final


def test_a_published_folder_lists_its_files_and_leaves_no_staging(tmp_path):
    final = written(tmp_path)
    listed = json.loads((final / "manifest.json").read_text())["files"]
    assert sorted(listed) == ["config.json", "model.safetensors"]
    assert listed["config.json"]["size"] == len('{"model_type": "llama"}')
    assert not model_folder.staging(final).exists()
    assert model_folder.missing_or_resized(final) is None and model_folder.verify(final) is None
    model_folder.check(str(final))


def test_a_deleted_or_cut_short_file_is_named(tmp_path):
    final = written(tmp_path)
    weights = final / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:10])
    assert model_folder.missing_or_resized(final).startswith("model.safetensors has 10 bytes")
    weights.unlink()
    assert model_folder.missing_or_resized(final) == "model.safetensors is missing"
    assert model_folder.damaged([final, tmp_path / "unbuilt"]) == [
        f"{final}: model.safetensors is missing: {model_folder.REBUILD_HINT}"
    ]
    with pytest.raises(model_folder.DamagedModel, match="model.safetensors is missing: rebuild"):
        model_folder.check(str(final))


def test_a_changed_file_of_the_same_size_is_found_and_a_faithful_copy_passes(tmp_path):
    final = written(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(final, copy, copy_function=shutil.copy)  # new modification times
    model_folder.check(str(copy))  # hashed, and equal
    config = final / "config.json"
    config.write_text('{"model_type": "gpt2!"}')
    os.utime(config, ns=(1, 1))
    with pytest.raises(model_folder.DamagedModel, match="config.json changed since"):
        model_folder.check(str(final))
    assert "config.json changed" in model_folder.verify(final)
    assert model_folder.main(["verify", str(final)]) == 1


def checkpoint(folder, step: int):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    torch.save({"state": torch.zeros(2000)}, path / "optimizer.pt")
    save_file({"w": torch.zeros(100)}, str(path / "model.safetensors"))
    return path


def cut_short(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_an_unreadable_newest_checkpoint_is_named_and_the_one_before_resumes(tmp_path, caplog):
    folder = tmp_path / "checkpoints"
    older, newer = checkpoint(folder, 50), checkpoint(folder, 100)
    (folder / "fingerprint.txt").write_text("abc\n")
    cut_short(newer / "optimizer.pt")
    assert unreadable_file(newer).startswith("optimizer.pt: BadZipFile")
    assert unreadable_file(older) is None
    with caplog.at_level(logging.WARNING, logger="handbook"):
        clean_checkpoint_dir(str(folder), "abc")
    assert [r.getMessage() for r in caplog.records] == [
        f"Checkpoint {newer} cannot be read (optimizer.pt: BadZipFile: File is not a zip file): "
        "removed, resuming from the one before it"
    ]
    assert last_checkpoint(str(folder)) == str(older)


def test_a_cut_short_safetensors_file_makes_a_checkpoint_unreadable(tmp_path):
    only = checkpoint(tmp_path, 10)
    cut_short(only / "model.safetensors")
    assert unreadable_file(only).startswith("model.safetensors: SafetensorError")
    clean_checkpoint_dir(str(tmp_path), "fp")  # another fingerprint: all removed anyway
    assert last_checkpoint(str(tmp_path)) is None


@pytest.mark.parametrize(
    "command, expected",
    [
        ("python", "exec python"),
        (
            "OMP_NUM_THREADS=1 ACCELERATE_USE_CPU=true accelerate launch --num_processes 2",
            "OMP_NUM_THREADS=1 ACCELERATE_USE_CPU=true exec accelerate launch --num_processes 2",
        ),
        (
            "OMP_NUM_THREADS=4 srun --nodes 2 bash -c 'exec accelerate launch' accelerate",
            "OMP_NUM_THREADS=4 exec srun --nodes 2 bash -c 'exec accelerate launch' accelerate",
        ),
    ],
)
def test_the_launcher_replaces_the_job_shell(command, expected):
    assert exec_form(command) == expected


def test_the_device_check_passes_cpu_jobs_and_stops_gpu_ones_without_cuda(capsys):
    assert device_check(["--global_batch", "16", "--gpus", "0", "--num_train_epochs", "2"]) == 0
    if torch.cuda.is_available():
        return
    assert device_check(["--gpus", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: the run asks for 1 GPU(s) but torch")
