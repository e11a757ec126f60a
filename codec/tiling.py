"""Running the big networks tile by tile: memory bounded by the tile size, tiles in
parallel, and the same pixels whatever the thread count.

Each tile is computed with its receptive field's margin of real neighbours, which is then
cropped away, so tiles join without seams (the result equals an untiled run up to float
rounding). Every tile runs single-threaded and the tile grid depends only on the image
size and the tile size, so the output does not depend on how many threads there are.
"""
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Callable

import torch

DEFAULT_TILE = 256  # pixels: bounds memory (24 MP: ~1.2 GB peak); larger tiles were not faster here


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, margin: int,
          scale: Fraction, workers: int | None = None) -> torch.Tensor:
    """fn maps (1, C, h, w) to (1, C', h*scale, w*scale); tile and margin are in input
    elements and must keep every tile's offset a multiple of the network's stride."""
    _, _, h, w = x.shape
    boxes = [(t, l, min(tile, h - t), min(tile, w - l)) for t in range(0, h, tile) for l in range(0, w, tile)]
    workers = workers or torch.get_num_threads()

    def run(box):
        t, l, th, tw = box
        t0, l0 = max(0, t - margin), max(0, l - margin)
        t1, l1 = min(h, t + th + margin), min(w, l + tw + margin)
        y = fn(x[:, :, t0:t1, l0:l1])
        a, b = int((t - t0) * scale), int((l - l0) * scale)
        return box, y[:, :, a:a + int(th * scale), b:b + int(tw * scale)]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if len(boxes) == 1 or workers == 1:
            results = map(run, boxes)
            return _assemble(results, x, scale)
        with ThreadPoolExecutor(min(workers, len(boxes))) as pool:
            return _assemble(pool.map(run, boxes), x, scale)
    finally:
        torch.set_num_threads(threads)


def _assemble(results, x: torch.Tensor, scale: Fraction) -> torch.Tensor:
    out = None
    for (t, l, _, _), y in results:
        if out is None:
            out = y.new_empty((1, y.shape[1], int(x.shape[2] * scale), int(x.shape[3] * scale)))
        a, b = int(t * scale), int(l * scale)
        out[:, :, a:a + y.shape[2], b:b + y.shape[3]] = y
    return out
