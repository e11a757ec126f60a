"""Training: exact resume, identical replicas under DistributedDataParallel, and export
to weights the codec can use."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import codec
from codec.errors import DCNError
from codec.model import ModelConfig
from codec.train import TrainConfig, run
from conftest import make_image

TINY = ModelConfig(n=8, m=12)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    for i in range(6):
        (d / f"sub{i % 2}").mkdir(exist_ok=True)
        make_image(96 + 8 * i, 80, seed=i).save(d / f"sub{i % 2}" / f"img{i}.png")
    return d


def config(data, out, steps, **kw):
    base = dict(data=str(data), out=str(out), steps=steps, batch=2, crop=64, workers=0, holdout=1,
                eval_every=3, ckpt_every=100, model=TINY, warmup=2)
    base.update(kw)
    return TrainConfig(**base)


def weights(path: Path) -> dict:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def test_resume_is_exact(image_dir, tmp_path):
    run(config(image_dir, tmp_path / "straight", 7), progress=False)
    run(config(image_dir, tmp_path / "split", 4), progress=False)
    run(config(image_dir, tmp_path / "split", 7, workers=1), resume=True, progress=False)
    a = weights(tmp_path / "straight" / "last.safetensors")
    b = weights(tmp_path / "split" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = (tmp_path / "split" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) == 8  # header + 7 steps
    assert "q4_psnr" in (tmp_path / "straight" / "log.csv").read_text()  # held-aside evaluation ran


def test_replicas_stay_identical_under_torchrun(image_dir, tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           str(worker), str(image_dir), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    start = load_file(str(tmp_path / "start.safetensors"))
    assert any(not torch.equal(a[k], start[k]) for k in a)  # they did train


def test_export_gives_working_weights(image_dir, tmp_path):
    run(config(image_dir, tmp_path / "run", 3), progress=False)
    r = subprocess.run([sys.executable, "-m", "codec", "export", str(tmp_path / "run" / "last.safetensors"),
                        "--out", str(tmp_path / "w"), "--calibration", str(image_dir)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    img = make_image(70, 50)
    data = codec.encode(img, quality=5, weights_dir=tmp_path / "w")
    out = codec.decode(data, weights_dir=tmp_path / "w")
    assert out.size == (70, 50)
    with pytest.raises(DCNError, match="other weights"):
        codec.decode(data)  # the shipped weights are not these
