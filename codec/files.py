"""Writing outputs so that no half-written file is ever left under its final name.

A temporary beside the output is written, flushed to disk and renamed over it. Its name
says who made it (`.NAME.dcn-HOST-PID-RANDOM.tmp`), so that a later run removes only the
temporaries of processes of this host that are dead, never a user's file or a live
process's (a concurrent run, another shard): `dcn encode`/`decode` beside their output,
`dcn batch` once over its destination (not on every write). An existing output keeps its permissions; an
output that is not a regular file (a device such as /dev/null, a FIFO, a terminal) is
written directly, never replaced.
"""
import os
import re
import socket
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import DCNError

_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:32] or "host"
_TEMP = re.compile(r"^\..+\.dcn-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_temporary(name: str) -> bool:
    """A name atomic_path gives its temporaries."""
    return _TEMP.match(name) is not None


def remove_dead_temporaries(folder: Path, recursive: bool = False) -> int:
    """Remove the temporaries left by killed processes of this host; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    count = 0
    for path in folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"):
        m = _TEMP.match(path.name)
        if m and m["host"] == _HOST and not _alive(int(m["pid"])) and path.is_file():
            path.unlink(missing_ok=True)
            count += 1
    return count


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform opens directories
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _one_line(path: Path, exc: OSError) -> DCNError:
    return DCNError(f"{ascii(str(path))[1:-1]}: cannot write ({exc.strerror or exc})")


@contextmanager
def atomic_path(path: Path):
    """A temporary path beside `path` for the caller to write; flushed and renamed over
    `path` when the block ends without an exception, removed otherwise."""
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)  # replace the target, not the link
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise _one_line(path, exc) from None
    mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.dcn-{_HOST}-{os.getpid()}-",
                                   suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise _one_line(path, exc) from None
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, DCNError):
            raise _one_line(path, exc) from None
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to path without ever leaving a partial file under its name; a path that
    exists and is not a regular file (a device, a FIFO) is written directly."""
    path = Path(path)
    try:
        special = path.exists() and not path.is_file() and not path.is_dir()
    except OSError:
        special = False
    if special:
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise _one_line(path, exc) from None
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
