#!/usr/bin/env bash
# One command for a borrowed GPU machine (the `device` tool, whose python3 already holds a
# CUDA build of torch, typer, safetensors, tqdm, pytest and hypothesis, and can fetch
# nothing): resume the committed model-2 run there for MINUTES of wall time, bring the
# checkpoint back under $OUT, and run the CUDA decode tests.
#
# Before, here (once): constriction for the tests travels as a wheel (device/README.md):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl constriction==0.4.1
# The working tree that travels is capped at 64 MiB and this repository's tracked files are
# ~76 MB (2026-12-02; the two N=128 legacy decoders are 29 MB of it, and the run needs
# neither them nor the conformance files): move them out of the tree for the call and back
# after it (mv weights/hyperprior-128-192-v? /tmp/), or the call is refused.
# The training data does not travel either (../shared stays behind, 166 MB): copy a subset
# into an excluded folder, e.g. data/ (echo /data/ >> .git/info/exclude), carry it, and set
# DATA=data/train in the command.
# Then: device run with carry [".whl", "data"]: DATA=data/train bash bench/training/gpu.sh 8
# Afterwards, here: cp <files_at>/last.safetensors weights/train-checkpoint.safetensors and
# <files_at>/log.csv weights/train-log.csv, then resume as weights/README.md says (run 6).
# The run's clock on a GPU is wall time (codec/train/loop.py): its minutes add to the budget.
set -uo pipefail
MINUTES=${1:-8}
OUT=${OUT:-/tmp/out}
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=$PWD:/tmp/site
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())" || exit 1
mkdir -p runs/gpu "$OUT"
cp weights/train-checkpoint.safetensors runs/gpu/last.safetensors
cp weights/train-log.csv runs/gpu/log.csv
# The architecture, levels and seed come from the checkpoint; batch 32 of 256-px crops is
# what a GPU affords (crops stay a pure function of seed and index). The budget is the
# run's total: what it has plus MINUTES.
PREV=$(python3 -c "from safetensors import safe_open; f = safe_open('runs/gpu/last.safetensors', 'pt'); print(float(f.metadata()['cpu_seconds']) / 60)")
timeout $((MINUTES * 60 + 120)) python3 -m codec.train "${DATA:-../shared/data/train}" --out runs/gpu --resume \
    --steps 100000000 --batch 32 --crop 256 --workers 4 --ckpt-every 200 --eval-every 1000000000 \
    --minutes "$(python3 -c "print($PREV + $MINUTES)")" 2>&1 | tail -c 2000 > "$OUT/train.txt"
cp runs/gpu/last.safetensors runs/gpu/log.csv "$OUT"/
python3 -m pytest -q -p no:cacheprovider tests/test_exactness.py tests/test_context.py tests/test_conformance.py \
    2>&1 | tail -15 > "$OUT/cuda-tests.txt"
