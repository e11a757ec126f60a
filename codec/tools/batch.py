"""`dcn batch`: convert a directory tree, in parallel, resumably, safely, in shards.

Outputs mirror the source tree. An output is up to date when it is newer than its
source and valid; only the others are (re)done. Every output is written to a temporary
file in its directory and renamed, so a killed run never leaves a truncated file under
a final name; the next run removes the temporaries a killed run left.
"""
import fnmatch
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DCNError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm",
                  ".pnm", ".tga", ".jp2", ".avif"}
TEMP_GLOB = ".*.tmp"  # what files.atomic_write names its temporaries


@dataclass
class Job:
    src: Path
    dst: Path
    rel: str


@dataclass
class Outcome:
    job: Job
    status: str  # "done", "failed"
    bytes_in: int = 0
    bytes_out: int = 0
    pixels: int = 0
    error: str = ""


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)  # (relative path, reason)
    bytes_in: int = 0
    bytes_out: int = 0
    pixels: int = 0
    seconds: float = 0.0


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
            if path.suffix.lower() not in suffixes or fnmatch.fnmatch(name, TEMP_GLOB):
                continue
            if include and not any(fnmatch.fnmatch(rel, g) for g in include):
                continue
            if any(fnmatch.fnmatch(rel, g) for g in exclude):
                continue
            out = dst / Path(rel).with_suffix("." + to.lstrip("."))
            jobs.append(Job(path, out, rel))
    return jobs


def up_to_date(job: Job, to: str, model=None) -> bool:
    """The output exists, is newer than its source and is valid (a .dcn: made with `model`,
    a registry.ModelInfo)."""
    try:
        if job.dst.stat().st_mtime < job.src.stat().st_mtime:
            return False
        if to == "dcn":  # a valid file, of the model in use
            from ..format import container
            from ..format.limits import max_file_bytes, read_regular
            c = container.read_index(read_regular(job.dst, max_file_bytes()), max_pixels=2 ** 62)
            return model is not None and c.header.fingerprint.hex() == model.fingerprint
        else:
            from PIL import Image
            with Image.open(job.dst) as im:
                im.verify()
        return True
    except Exception:
        return False


def remove_stale_temporaries(dst: Path) -> int:
    count = 0
    if dst.exists():
        for tmp in dst.rglob(TEMP_GLOB):
            tmp.unlink(missing_ok=True)
            count += 1
    return count


def _init_worker(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def convert(job: Job, to: str, quality: float, device: str, max_pixels: int, targets: dict | None = None,
            model=None) -> Outcome:
    """One file; runs in a worker process, where the model stays loaded between files.
    targets: target_size / target_bpp / target_psnr / best_effort for rate control."""
    from ..files import atomic_write
    try:
        job.dst.parent.mkdir(parents=True, exist_ok=True)
        if to == "dcn":
            import codec
            from ..format import container
            data = codec.encode(job.src, quality, device=device, max_pixels=max_pixels, model=model,
                                **(targets or {}))
            header = container.peek_header(data, max_pixels=2 ** 62)
            pixels = header.width * header.height
        else:
            from ..image.io import image_bytes
            from ..pipeline.decode import decode
            image = decode(job.src.read_bytes(), device=device, max_pixels=max_pixels)
            data = image_bytes(image, job.dst)
            pixels = image.width * image.height
        atomic_write(job.dst, data)
        return Outcome(job, "done", job.src.stat().st_size, len(data), pixels)
    except (DCNError, OSError) as exc:
        return Outcome(job, "failed", error=str(exc) or type(exc).__name__)
    except Exception as exc:  # one bad file must not stop the run
        return Outcome(job, "failed", error=f"{type(exc).__name__}: {exc}")


def run(jobs_list: list[Job], to: str, quality: float, device: str, max_pixels: int, workers: int,
        targets: dict | None = None, model=None, progress: bool = True) -> Summary:
    from tqdm import tqdm
    summary = Summary()
    start = time.perf_counter()
    bar = tqdm(total=len(jobs_list), unit="file", disable=not progress, desc="batch")

    def record(o: Outcome) -> None:
        if o.status == "done":
            summary.done += 1
            summary.bytes_in += o.bytes_in
            summary.bytes_out += o.bytes_out
            summary.pixels += o.pixels
        else:
            summary.failed.append((o.job.rel, o.error))
        bar.update(1)

    if workers <= 1:
        for job in jobs_list:
            record(convert(job, to, quality, device, max_pixels, targets, model))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(threads,)) as pool:
            futures = [pool.submit(convert, j, to, quality, device, max_pixels, targets, model) for j in jobs_list]
            for f in as_completed(futures):
                record(f.result())
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
