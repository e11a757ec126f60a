"""`dcn batch` on a tree with good and bad files, killed and resumed, and in shards."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codec
from codec.tools import batch
from conftest import make_image, run_cli


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    for i in range(20):
        d = src / f"d{i % 3}" / ("deep" if i % 2 else "")
        d.mkdir(parents=True, exist_ok=True)
        make_image(48 + 4 * i, 40, seed=i).save(d / f"img{i:02d}.png")
    make_image(50, 30, mode="RGBA").save(src / "d0" / "alpha.png")
    make_image(60, 44).convert("L").save(src / "d1" / "grey.jpg", quality=95)
    (src / "d2" / "corrupt.png").write_bytes((src / "d0" / "img00.png").read_bytes()[:300])
    (src / "d2" / "notes.jpg").write_text("not an image at all")
    (src / "README.txt").write_text("ignored: not an image extension")
    return src


def outputs(root: Path, suffix: str) -> list[Path]:
    return sorted(root.rglob(f"*{suffix}"))


def test_converts_tree_and_reports_failures(tree, tmp_path):
    dst = tmp_path / "dst"
    r = run_cli("dcn", "batch", tree, dst, "--jobs", "2", "-q", "5")
    assert r.returncode == 1
    assert "failed 2" in r.stdout and "done 22" in r.stdout
    assert "corrupt.png" in r.stderr and "notes.jpg" in r.stderr
    dcns = outputs(dst, ".dcn")
    assert len(dcns) == 22
    assert (dst / "d0" / "deep").exists() or (dst / "d1" / "deep").exists()
    assert not list(dst.rglob(".*.tmp"))
    assert Image.open(dst / "d0" / "alpha.dcn").mode == "RGBA"
    assert Image.open(dst / "d1" / "grey.dcn").mode == "L"

    back = tmp_path / "back"
    r = run_cli("dcn", "batch", dst, back, "--to", "png")
    assert r.returncode == 0, r.stderr
    for dcn_file in dcns[:5]:
        rel = dcn_file.relative_to(dst).with_suffix(".png")
        single = tmp_path / "single.png"
        assert run_cli("dcn", "decode", dcn_file, single).returncode == 0
        assert np.array_equal(np.asarray(Image.open(back / rel)), np.asarray(Image.open(single)))


def test_up_to_date_outputs_are_skipped_unless_forced(tree, tmp_path):
    dst = tmp_path / "dst"
    run_cli("dcn", "batch", tree, dst, "--include", "d0/*")
    first = {p: p.stat().st_mtime_ns for p in outputs(dst, ".dcn")}
    assert first and all(p.relative_to(dst).parts[0] == "d0" for p in first)
    r = run_cli("dcn", "batch", tree, dst, "--include", "d0/*")
    assert "done 0" in r.stdout and f"skipped {len(first)}" in r.stdout
    assert {p: p.stat().st_mtime_ns for p in outputs(dst, ".dcn")} == first
    victim = next(iter(first))
    victim.write_bytes(victim.read_bytes()[:-5])  # damaged: no longer up to date
    r = run_cli("dcn", "batch", tree, dst, "--include", "d0/*")
    assert "done 1" in r.stdout
    r = run_cli("dcn", "batch", tree, dst, "--include", "d0/*", "--force", "--exclude", "*alpha*")
    assert f"done {len(first) - 1}" in r.stdout


def test_dry_run_writes_nothing(tree, tmp_path):
    r = run_cli("dcn", "batch", tree, tmp_path / "dst", "--dry-run")
    assert r.returncode == 0 and "24 to convert" in r.stdout
    assert not (tmp_path / "dst").exists()


def test_killed_run_resumes_cleanly(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(24):
        make_image(320, 240, seed=i).save(src / f"im{i:02d}.png")
    dst = tmp_path / "dst"
    exe = Path(sys.executable).parent / "dcn"
    proc = subprocess.Popen([str(exe), "batch", str(src), str(dst)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(outputs(dst, ".dcn")) < 4:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p: p.stat().st_mtime_ns for p in outputs(dst, ".dcn")}
    assert 4 <= len(before) < 24, "the kill should land mid-run"
    for p in before:  # whatever had its final name was complete
        codec.decode(p.read_bytes())
    r = run_cli("dcn", "batch", src, dst)
    assert r.returncode == 0, r.stderr
    after = outputs(dst, ".dcn")
    assert len(after) == 24
    assert not list(dst.rglob(".*.tmp"))
    for p, mtime in before.items():
        assert p.stat().st_mtime_ns == mtime  # not redone
    for p in after:
        codec.decode(p.read_bytes())


def test_shards_are_disjoint_and_cover_everything(tree, tmp_path):
    jobs = batch.find_jobs(tree, tmp_path / "dst", "dcn", [], [])
    everything = {j.rel for j in jobs}
    for n in (1, 2, 3, 7):
        parts = [{j.rel for j in jobs if batch.in_shard(j.rel, k, n)} for k in range(n)]
        assert set().union(*parts) == everything
        assert sum(len(p) for p in parts) == len(everything)


def test_shard_sources():
    assert batch.parse_shard("2/5", None, {}) == (1, 5)
    assert batch.parse_shard(None, None, {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4",
                                          "SLURM_ARRAY_TASK_MIN": "1"}) == (3, 4)
    assert batch.parse_shard(None, 6, {"JOB_COMPLETION_INDEX": "2"}) == (2, 6)
    assert batch.parse_shard(None, None, {}) == (0, 1)
    with pytest.raises(codec.DCNError):
        batch.parse_shard(None, None, {"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(codec.DCNError):
        batch.parse_shard("0/3", None, {})


def test_shards_from_the_environment_through_the_cli(tree, tmp_path):
    seen = []
    for k in range(3):
        r = run_cli("dcn", "batch", tree, tmp_path / "dst", "--dry-run",
                    env={"SLURM_ARRAY_TASK_ID": str(k), "SLURM_ARRAY_TASK_COUNT": "3"})
        seen += [line for line in r.stdout.splitlines() if line.startswith("convert")]
    assert len(seen) == len(set(seen)) == 24
