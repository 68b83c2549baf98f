"""What every training entry point shares, on its own: the device check before any model loads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from handbook.training import RecipeError, check_device


def test_gpus_without_cuda_is_an_error_not_a_cpu_run(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RecipeError, match=r"asks for 8 GPU\(s\) but this machine has no CUDA device; set the run's gpus: 0"):
        check_device(SimpleNamespace(gpus=8))
    check_device(SimpleNamespace(gpus=0))  # a CPU run as configured


def test_gpus_with_cuda_pass(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_device(SimpleNamespace(gpus=8))
