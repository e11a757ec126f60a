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
from codec.tools import batch_plan as plan
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


def test_nothing_to_convert_is_said_and_makes_nothing(tree, tmp_path):
    """The wrong folder, or filters that match nothing: one warning line, exit 0 (a scheduled
    run over an empty folder is not a failure), and no destination folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("dcn", "batch", empty, tmp_path / "dst")
    assert r.returncode == 0 and r.stderr.strip() == f"dcn: warning: nothing to convert: no images under {empty}"
    r = run_cli("dcn", "batch", tree, tmp_path / "dst", "--to", "png")
    assert r.returncode == 0 and r.stderr.strip() == f"dcn: warning: nothing to convert: no .dcn files under {tree}"
    r = run_cli("dcn", "batch", tree, tmp_path / "dst", "--include", "*.tif")
    assert r.stderr.strip().endswith(f"no images under {tree} matching --include/--exclude")
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
    jobs = plan.find_jobs(tree, tmp_path / "dst", "dcn", [], [])
    everything = {j.rel for j in jobs}
    for n in (1, 2, 3, 7):
        parts = [{j.rel for j in jobs if plan.in_shard(j.rel, k, n)} for k in range(n)]
        assert set().union(*parts) == everything
        assert sum(len(p) for p in parts) == len(everything)


def test_shards_from_the_environment_through_the_cli(tree, tmp_path):
    seen = []
    for k in range(3):
        r = run_cli("dcn", "batch", tree, tmp_path / "dst", "--dry-run",
                    env={"SLURM_ARRAY_TASK_ID": str(k), "SLURM_ARRAY_TASK_COUNT": "3"})
        seen += [line for line in r.stdout.splitlines() if line.startswith("convert")]
    assert len(seen) == len(set(seen)) == 24


def small_tree(root: Path, n: int, size=(64, 48)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        make_image(*size, seed=i).save(root / f"im{i:02d}.png")
    return root


def test_sources_that_share_an_output_are_refused_not_lost(tmp_path):
    """x.png, x.jpg and X.PNG all make x.dcn: one photo used to be lost with "failed 0"."""
    src = small_tree(tmp_path / "src", 2)
    make_image(40, 30, seed=7).save(src / "x.png")
    make_image(40, 30, seed=8).save(src / "x.jpg")
    make_image(40, 30, seed=9).save(src / "X.PNG")
    dst = tmp_path / "dst"
    r = run_cli("dcn", "batch", src, dst)
    assert r.returncode == 1 and "done 2" in r.stdout and "failed 3" in r.stdout
    assert r.stderr.count("X.PNG, x.jpg, x.png would all write") == 3 and "rename one" in r.stderr
    assert sorted(p.name for p in dst.glob("*.dcn")) == ["im00.dcn", "im01.dcn"]


def test_files_in_the_source_tree_are_never_overwritten(tmp_path):
    """`dcn batch SRC SRC --to png` overwrote the original lossless PNGs with lossy decodes."""
    src = small_tree(tmp_path / "src", 2)
    original = (src / "im00.png").read_bytes()
    (src / "im00.dcn").write_bytes(codec.encode(make_image(64, 48, seed=5), quality=1))
    r = run_cli("dcn", "batch", src, src, "--to", "png")
    assert r.returncode == 1 and "not overwritten" in r.stderr
    assert (src / "im00.png").read_bytes() == original
    # what batch itself wrote there is its own: a rerun with other settings may replace it
    (src / "im01.png").unlink()
    (src / "im01.dcn").write_bytes(codec.encode(make_image(64, 48, seed=6), quality=1))
    r = run_cli("dcn", "batch", src, src, "--to", "png", "--include", "im01*")
    assert r.returncode == 0 and "done 1" in r.stdout
    r = run_cli("dcn", "batch", src, src, "--to", "png", "--include", "im01*", "--force")
    assert r.returncode == 0 and "done 1" in r.stdout


def test_only_dead_processes_temporaries_are_removed(tmp_path):
    """Batch used to delete every .*.tmp under DST: the user's own files, and the live
    temporaries of a concurrent run or shard."""
    from codec.files import _HOST
    src, dst = small_tree(tmp_path / "src", 1), tmp_path / "dst"
    dst.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = dst / ".user-notes.tmp"
    live = dst / f".im00.dcn.dcn-{_HOST}-{os.getpid()}-abc123.tmp"  # this test process is alive
    other = dst / f".im00.dcn.dcn-otherhost-{dead.pid}-abc123.tmp"  # another machine's: not ours to judge
    gone = dst / "sub" / f".x.dcn.dcn-{_HOST}-{dead.pid}-abc123.tmp"
    gone.parent.mkdir()
    for p in (mine, live, other, gone):
        p.write_text("x")
    assert run_cli("dcn", "batch", src, dst).returncode == 0
    assert mine.exists() and live.exists() and other.exists() and not gone.exists()


def test_up_to_date_means_same_source_content_and_same_settings(tmp_path):
    src, dst = small_tree(tmp_path / "src", 3), tmp_path / "dst"
    assert "done 3" in run_cli("dcn", "batch", src, dst, "-q", "2").stdout
    assert "skipped 3" in run_cli("dcn", "batch", src, dst, "-q", "2").stdout
    r = run_cli("dcn", "batch", src, dst, "-q", "7.5")  # used to be "skipped (up to date)"
    assert "done 3" in r.stdout
    assert container_quality(dst / "im00.dcn") == 7.5
    r = run_cli("dcn", "batch", src, dst, "--target-size", "2KB")
    assert "done 3" in r.stdout and (dst / "im00.dcn").stat().st_size <= 2000
    assert "skipped 3" in run_cli("dcn", "batch", src, dst, "--target-size", "2KB").stdout
    # a source replaced by another file with an older time (cp -p) is redone...
    other = tmp_path / "other.png"
    make_image(64, 48, seed=99).save(other)
    os.utime(other, (1_000_000, 1_000_000))
    os.replace(other, src / "im01.png")
    # ...and one edited so that it is newer than its output too (the mtime rule)
    make_image(64, 48, seed=98).save(src / "im02.png")
    r = run_cli("dcn", "batch", src, dst, "--target-size", "2KB")
    assert "done 2" in r.stdout and "skipped 1" in r.stdout
    # touching a source without changing it is not a change
    os.utime(src / "im00.png")
    assert "skipped 3" in run_cli("dcn", "batch", src, dst, "--target-size", "2KB").stdout


def container_quality(path: Path) -> float:
    from codec.format import container
    return container.peek_header(path.read_bytes()).quality


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_for(condition, timeout: float = 120) -> bool:
    """Poll a condition (not a clock: the timeout only stops a test that would hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_worker_is_replaced_and_the_run_finishes(tmp_path):
    """SIGKILL of one worker (what the OOM killer does) used to end the batch in a
    BrokenProcessPool traceback with most files unconverted."""
    src, dst = small_tree(tmp_path / "src", 12, (160, 120)), tmp_path / "dst"
    exe = Path(sys.executable).parent / "dcn"
    proc = subprocess.Popen([str(exe), "batch", str(src), str(dst), "--jobs", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: len(_children(proc.pid)) >= 2 and len(outputs(dst, ".dcn")) >= 1)
    os.kill(_children(proc.pid)[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err and "done 12" in out, (out, err)
    assert proc.returncode == 0
    for p in outputs(dst, ".dcn"):
        codec.decode(p.read_bytes())


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_parent_dies(tmp_path, sig):
    src, dst = small_tree(tmp_path / "src", 12, (160, 120)), tmp_path / "dst"
    exe = Path(sys.executable).parent / "dcn"
    proc = subprocess.Popen([str(exe), "batch", str(src), str(dst), "--jobs", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: len(_children(proc.pid)) >= 2)
    workers = _children(proc.pid)
    os.kill(proc.pid, sig)
    proc.wait()
    assert _wait_for(lambda: not any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers), 30)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
