"""What `dcn batch` converts and what it leaves alone: the rules, apart from the workers.

Outputs mirror the source tree. Each output has a record in DST/.dcn-batch/ (its source's
size, time and SHA-256, the settings, the output's size and time): an output is up to
date when its record says it was made from the same source content with the same
settings and it is unchanged since; only the others are (re)done. Sources that would
write the same output are failed, not converted; a file in the source tree that this
tool did not write is never overwritten. A file's shard depends only on its path.
"""
import fnmatch
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DCNError
from ..files import is_temporary

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm",
                  ".pnm", ".tga", ".jp2", ".avif"}


RECORDS = ".dcn-batch"  # the folder of output records under DST


@dataclass
class Job:
    src: Path
    dst: Path
    rel: str
    record: Path | None = None  # where the output's record lives (find_jobs sets it)


def parse_shard(shard: str | None, shard_count: int | None, env=os.environ) -> tuple[int, int]:
    """(index from 0, count). From --shard K/N (K from 1), else a Slurm array task, else a
    Kubernetes indexed job (JOB_COMPLETION_INDEX, with --shard-count); else (0, 1)."""
    if shard:
        try:
            k, n = (int(v) for v in shard.split("/"))
        except ValueError:
            raise DCNError(f"--shard {shard!r}: expected K/N, e.g. 2/8") from None
        if not 1 <= k <= n:
            raise DCNError(f"--shard {shard!r}: K must be between 1 and N")
        return k - 1, n
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        index = _env_int(env, "SLURM_ARRAY_TASK_ID") - _env_int(env, "SLURM_ARRAY_TASK_MIN", "0")
        return _in_range(index, _env_int(env, "SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN")
    if "JOB_COMPLETION_INDEX" in env:
        count = shard_count or _env_int(env, "DCN_SHARD_COUNT", "0")
        if not count:
            raise DCNError("JOB_COMPLETION_INDEX is set: give the number of shards with --shard-count")
        return _in_range(_env_int(env, "JOB_COMPLETION_INDEX"), count, "JOB_COMPLETION_INDEX")
    return 0, 1


def _env_int(env, name: str, default: str | None = None) -> int:
    try:
        return int(env.get(name, default))
    except (TypeError, ValueError):
        raise DCNError(f"{name}={env.get(name)!r}: not an integer") from None


def _in_range(index: int, count: int, what: str) -> tuple[int, int]:
    """A shard outside 0..count-1 would silently process nothing."""
    if count < 1 or not 0 <= index < count:
        raise DCNError(f"shard {what} = {index} of {count}: must be 0 to {count - 1}" if count >= 1
                       else f"shard count {count}: must be at least 1")
    return index, count


def in_shard(rel: str, index: int, count: int) -> bool:
    """A file's shard depends only on its relative path: stable across machines and runs."""
    return zlib.crc32(rel.encode()) % count == index


def find_jobs(src: Path, dst: Path, to: str, include: list[str], exclude: list[str]) -> list[Job]:
    src, dst = src.resolve(), dst.resolve()
    suffixes = {".dcn"} if to != "dcn" else IMAGE_SUFFIXES
    jobs = []
    for root, dirs, files in os.walk(src):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if (root_path / d).resolve() != dst)
        for name in sorted(files):
            path = root_path / name
            rel = path.relative_to(src).as_posix()
            if path.suffix.lower() not in suffixes or is_temporary(name):
                continue
            if include and not any(fnmatch.fnmatch(rel, g) for g in include):
                continue
            if any(fnmatch.fnmatch(rel, g) for g in exclude):
                continue
            out = dst / Path(rel).with_suffix("." + to.lstrip("."))
            out_rel = out.relative_to(dst).as_posix()
            record = dst / RECORDS / (hashlib.sha1(out_rel.encode()).hexdigest()[:20] + ".json")
            jobs.append(Job(path, out, rel, record))
    return jobs


def collisions(jobs: list[Job]) -> dict[str, str]:
    """rel -> why, for the sources that would write the same output as another (x.png,
    x.jpg and X.PNG all make x.dcn; compared without case, as some file systems do)."""
    by_output: dict[str, list[Job]] = {}
    for j in jobs:
        by_output.setdefault(str(j.dst).casefold(), []).append(j)
    why = {}
    for group in by_output.values():
        if len(group) > 1:
            names = ", ".join(j.rel for j in group)
            for j in group:
                why[j.rel] = f"{names} would all write {group[0].dst.name}: not converted (rename one)"
    return why


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_record(job: Job) -> dict | None:
    try:
        record = json.loads(job.record.read_text())
        return record if isinstance(record, dict) and record.get("output") == job.dst.name else None
    except (OSError, ValueError, AttributeError):
        return None


def up_to_date(job: Job, settings: dict) -> bool:
    """The output is unchanged since this tool wrote it from the same source content with
    the same settings."""
    record = _read_record(job)
    if record is None or record.get("settings") != settings:
        return False
    try:
        out, src = job.dst.stat(), job.src.stat()
    except OSError:
        return False
    if (out.st_size, out.st_mtime_ns) != (record.get("output_size"), record.get("output_mtime_ns")):
        return False  # edited, damaged or replaced since
    if src.st_size != record.get("source_size"):
        return False
    if src.st_mtime_ns == record.get("source_mtime_ns"):
        return True
    return _sha256(job.src) == record.get("source_sha256")  # touched, or replaced (cp -p): the content decides


def foreign_output(job: Job, src_root: Path) -> bool:
    """The output exists in the source tree and this tool did not write it: never overwrite."""
    return (job.dst.exists() and _read_record(job) is None
            and job.dst.resolve().is_relative_to(Path(src_root).resolve()))


def write_record(job: Job, settings: dict) -> None:
    from ..files import atomic_write
    src, out = job.src.stat(), job.dst.stat()
    record = {"output": job.dst.name, "source": job.rel, "source_size": src.st_size,
              "source_mtime_ns": src.st_mtime_ns, "source_sha256": _sha256(job.src), "settings": settings,
              "output_size": out.st_size, "output_mtime_ns": out.st_mtime_ns}
    job.record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(job.record, (json.dumps(record, indent=1) + "\n").encode())
