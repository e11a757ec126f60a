#!/usr/bin/env bash
# One command for a borrowed GPU machine (the `device` tool): resume the committed model-2
# run there for MINUTES of wall time, bring the checkpoint back under $OUT, and run the CUDA
# decode tests. The lr schedule follows the run's own clock (wall time on a GPU).
#
#   device run: bash bench/training/gpu.sh 8      # 8 minutes of training, then the tests
#
# Afterwards, on the CPU machine: cp $OUT/last.safetensors weights/train-checkpoint.safetensors
# and cp $OUT/log.csv weights/train-log.csv, then resume as weights/README.md says (run 6).
set -euo pipefail
MINUTES=${1:-8}
OUT=${OUT:-/tmp/out}
cd "$(dirname "$0")/../.."
python3 -m venv /tmp/venv && . /tmp/venv/bin/activate
pip install -q torch==2.13.0 2>/dev/null || pip install -q torch  # a CUDA build where the CPU file is absent
pip install -q -e '.[test]'
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
mkdir -p runs/gpu "$OUT"
cp weights/train-checkpoint.safetensors runs/gpu/last.safetensors
cp weights/train-log.csv runs/gpu/log.csv
# The run's config (architecture, levels, seed) comes from the checkpoint; batch 32 of
# 256-px crops is what a GPU affords (the crops stay a pure function of seed and index).
PREV=$(python -c "from safetensors import safe_open; f = safe_open('runs/gpu/last.safetensors', 'pt'); print(float(f.metadata()['cpu_seconds']) / 60)")
timeout $((MINUTES * 60 + 120)) python -m codec.train ../shared/data/train --out runs/gpu --resume \
    --steps 100000000 --batch 32 --crop 256 --workers 4 --ckpt-every 200 --eval-every 1000000000 \
    --minutes "$(python -c "print($PREV + $MINUTES)")" || true
cp runs/gpu/last.safetensors runs/gpu/log.csv "$OUT"/
python -m pytest -q tests/test_exactness.py tests/test_context.py tests/test_conformance.py 2>&1 | tail -5 | tee "$OUT/cuda-tests.txt"
