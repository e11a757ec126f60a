"""Running the big networks block by block: memory bounded by the block size, blocks in
parallel, and the same pixels whatever the thread count.

A block is a unit of computation only (the file's coding tiles are another thing: they
are what decodes on its own). Each block is computed with its receptive field's margin of
real neighbours, which is then cropped away, so blocks join without seams (the result
equals an unblocked run up to float rounding). Every block runs single-threaded and the
block grid depends only on the image size and the block size, so the output does not
depend on how many threads there are.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Callable

import torch


def balanced(length: int, tile: int, stride: int) -> int:
    """The tile length that splits `length` into as many tiles as `tile` would, of equal
    size (a multiple of stride): no thin leftover tile that idles a core."""
    count = -(-length // tile)
    return -(-length // count // stride) * stride if count > 1 else length


def blockwise(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, margin: int,
          scale: Fraction, workers: int | None = None, stride: int = 1, progress: str = "") -> torch.Tensor:
    """fn maps (1, C, h, w) to (1, C', h*scale, w*scale). tile (the block side, at most) and
    margin are in input elements; block offsets are multiples of stride (the network's own stride).
    progress: a label for a progress bar, shown when the work lasts over a second."""
    _, _, h, w = x.shape
    th, tw = balanced(h, tile, stride), balanced(w, tile, stride)
    boxes = [(t, l, min(th, h - t), min(tw, w - l)) for t in range(0, h, th) for l in range(0, w, tw)]

    def run(box):
        t, l, th, tw = box
        t0, l0 = max(0, t - margin), max(0, l - margin)
        t1, l1 = min(h, t + th + margin), min(w, l + tw + margin)
        y = fn(x[:, :, t0:t1, l0:l1])
        a, b = int((t - t0) * scale), int((l - l0) * scale)
        return box, y[:, :, a:a + int(th * scale), b:b + int(tw * scale)]

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(boxes), desc=progress, unit="block", delay=1.0, leave=False)
    try:
        return _assemble(_run_each(run, boxes, workers), x, scale, bar)
    finally:
        if bar is not None:
            bar.close()


def parallel_map(fn: Callable, items, workers: int | None = None) -> list:
    """[fn(item) for item in items], in a thread pool with torch single-threaded inside,
    so the items (coding tiles, blocks) share the cores instead of each op sharing them."""
    return list(_run_each(fn, list(items), workers))


_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of `workers` threads, kept for the process: a decode calls for one three
    times, and starting threads each time cost ~10 ms of a 0.2 s Kodak decode."""
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="dcn")
    return _pools[workers]


os.register_at_fork(after_in_child=_pools.clear)  # a forked child has none of its parent's threads


def _run_each(fn: Callable, items: list, workers: int | None):
    """fn over items in order, as they finish, each call single-threaded and without autograd."""
    workers = min(workers or torch.get_num_threads(), len(items))
    fn = torch.no_grad()(fn)  # grad mode is per thread: the pool's threads would record graphs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # also when sequential: a convolution's float sums depend on its thread count
    try:
        yield from map(fn, items) if workers <= 1 else _pool(workers).map(fn, items)
    finally:
        torch.set_num_threads(threads)


def _assemble(results, x: torch.Tensor, scale: Fraction, bar=None) -> torch.Tensor:
    out = None
    for (t, l, _, _), y in results:
        if bar is not None:
            bar.update(1)
        if out is None:  # in the blocks' layout: channels-last blocks make a channels-last image
            layout = torch.channels_last if y.shape[1] > 1 and y.stride(1) == 1 else torch.contiguous_format
            out = torch.empty((1, y.shape[1], int(x.shape[2] * scale), int(x.shape[3] * scale)), dtype=y.dtype,
                              device=y.device, memory_format=layout)
        a, b = int(t * scale), int(l * scale)
        out[:, :, a:a + y.shape[2], b:b + y.shape[3]] = y
    return out
