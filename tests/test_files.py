"""Writing outputs (codec/files.py): never a half-written file under the final name, never a
special file replaced, the existing file's permissions kept, errors on one line."""
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from codec.errors import DCNError
from codec.files import _HOST, atomic_write, is_temporary, remove_dead_temporaries
from conftest import run_cli


def test_permissions_of_an_existing_output_are_kept(tmp_path):
    """A 0600 output used to become 0644."""
    out = tmp_path / "secret.dcn"
    out.write_bytes(b"old")
    out.chmod(0o600)
    atomic_write(out, b"new")
    assert out.read_bytes() == b"new" and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_symlinked_output_replaces_its_target_not_the_link(tmp_path):
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    atomic_write(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_written_not_replaced(tmp_path):
    """`dcn encode x.png /dev/null` used to replace /dev/null (as root) by a regular file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write(fifo, b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(fifo.stat().st_mode)
    atomic_write(Path("/dev/null"), b"discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_encode_to_dev_null_works(sample_png):
    r = run_cli("dcn", "encode", sample_png, "/dev/null")
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_killed_writers_temporaries_are_cleaned_by_the_next_write(tmp_path, sample_png):
    """encode/decode killed mid-write left *.tmp files that only batch removed."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f".out.dcn.dcn-{_HOST}-{dead.pid}-k1ll3d.tmp"
    left.write_bytes(b"partial")
    users = tmp_path / ".mine.tmp"
    users.write_bytes(b"keep")
    assert is_temporary(left.name) and not is_temporary(users.name)
    assert run_cli("dcn", "encode", sample_png, tmp_path / "other.dcn").returncode == 0
    assert not left.exists() and users.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.tmp", "other.dcn"]  # no temporary of its own
    assert remove_dead_temporaries(tmp_path / "missing") == 0


def test_write_errors_name_the_output_on_one_line(tmp_path):
    """Not an internal .tmp name, and a newline in a path does not break the line (the
    parent here is a file, which fails for root too)."""
    parent = tmp_path / "not a\nfolder"
    parent.write_bytes(b"")
    with pytest.raises(DCNError) as info:
        atomic_write(parent / "out.dcn", b"x")
    message = str(info.value)
    assert "\n" not in message and "out.dcn" in message and ".tmp" not in message and "cannot write" in message


def test_cli_errors_are_one_line_whatever_the_path(sample_png, tmp_path):
    out = tmp_path / "no\nsuch" / "x.dcn"
    r = run_cli("dcn", "encode", sample_png, out)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "\\n" in r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_disk_full_is_one_line_naming_the_file():
    with pytest.raises(DCNError, match=r"^/dev/full: cannot write \(No space left on device\)$"):
        atomic_write(Path("/dev/full"), b"x" * 100000)
