#!/usr/bin/env bash
# One command for a machine with a GPU: bf16 and flash-attention on a small Llama-architecture
# model, SFT and DPO throughput and MFU through TRL's trainers, vLLM sampling and QLoRA through
# bitsandbytes when they are installed. Offline: the model and data are built here. Under 8
# minutes on one data-centre GPU. Without a GPU it says so and exits 0.
#
#   bash bench/gpu_check.sh            (from the repository root, with the project's venv or env)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA device on this machine; nothing to check"
    exit 0
fi
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec timeout 480 "$PYTHON" bench/gpu_check.py "$@"
