"""`dcn batch`: convert a directory tree, in parallel, resumably, safely, in shards.

Which files are converted and which are up to date is decided in batch_plan.py; this
module runs the conversions. Every output is written to a temporary file in its
directory and renamed, so a killed run never leaves a truncated file under a final name;
the next run removes the temporaries of dead processes only (files.py).
"""
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from ..errors import DCNError
from .batch_plan import Job, write_record


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


_started = None  # in a worker: the queue on which it says which file it starts


def _init_worker(threads: int, started, parent: int) -> None:
    """A worker: its thread count, its start queue, and a watchdog that ends it when the
    parent dies (SIGKILL or SIGTERM of `dcn batch` must not leave workers behind)."""
    global _started
    import threading
    import torch
    torch.set_num_threads(threads)
    _started = started

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _convert_reporting(job: Job, *args) -> Outcome:
    _started.put(job.rel)
    return convert(job, *args)


def convert(job: Job, to: str, quality: float, device: str, max_pixels: int, options: dict | None = None,
            model=None, settings: dict | None = None) -> Outcome:
    """One file; runs in a worker process, where the model stays loaded between files.
    options: the encoder's effort, and target_size / target_bpp / target_psnr / best_effort for rate control
    (to .dcn), or the image writer's png_compress (from .dcn);
    settings: what the output's record says it was made with (None: no record)."""
    from ..files import atomic_write
    try:
        job.dst.parent.mkdir(parents=True, exist_ok=True)
        if to == "dcn":
            import codec
            from ..format import container
            data = codec.encode(job.src, quality, device=device, max_pixels=max_pixels, model=model,
                                **(options or {}))
            header = container.peek_header(data, max_pixels=2 ** 62)
            pixels = header.width * header.height
        else:
            from ..image.io import image_bytes
            from ..pipeline.decode import decode
            image = decode(job.src.read_bytes(), device=device, max_pixels=max_pixels)
            data = image_bytes(image, job.dst, **(options or {}))
            pixels = image.width * image.height
        atomic_write(job.dst, data)
        if settings is not None and job.record is not None:
            write_record(job, settings)
        return Outcome(job, "done", job.src.stat().st_size, len(data), pixels)
    except (DCNError, OSError) as exc:
        return Outcome(job, "failed", error=str(exc) or type(exc).__name__)
    except Exception as exc:  # one bad file must not stop the run
        return Outcome(job, "failed", error=f"{type(exc).__name__}: {exc}")


def _pool_run(jobs: list[Job], workers: int, threads: int, args: tuple, record) -> tuple[list[Job], list[Job]]:
    """Run jobs in a process pool. If a worker dies (the OOM killer's SIGKILL), the pool
    breaks; returns the files not begun, and those begun but not finished (the dead
    worker's, and its siblings', which the pool ended too)."""
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool
    started = multiprocessing.SimpleQueue()
    finished, broken = set(), False
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(threads, started, os.getpid())) as pool:
        futures = {pool.submit(_convert_reporting, j, *args): j for j in jobs}
        for f in as_completed(futures):
            try:
                outcome = f.result()
            except BrokenProcessPool:
                broken = True
                continue
            finished.add(futures[f].rel)
            record(outcome)
    if not broken:
        return [], []
    begun = set()
    while not started.empty():
        begun.add(started.get())
    unfinished = [j for j in jobs if j.rel not in finished]
    return [j for j in unfinished if j.rel not in begun], [j for j in unfinished if j.rel in begun]


def run(jobs_list: list[Job], to: str, quality: float, device: str, max_pixels: int, workers: int,
        options: dict | None = None, model=None, progress: bool = True, settings: dict | None = None) -> Summary:
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

    args = (to, quality, device, max_pixels, options, model, settings)
    if workers <= 1:
        for job in jobs_list:
            record(convert(job, *args))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        pending = list(jobs_list)
        while pending:  # a new pool whenever a worker dies, for the files not begun
            pending, suspects = _pool_run(pending, workers, threads, args, record)
            for job in suspects:  # again, alone: a second death is this file's own
                if _pool_run([job], 1, threads, args, record) != ([], []):
                    record(Outcome(job, "failed", error="its worker process died twice (killed, e.g. out of memory)"))
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
