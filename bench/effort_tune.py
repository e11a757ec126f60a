"""Tuning a refinement schedule (codec/pipeline/effort.py) on a few Kodak images: the
BD-rate of effort 1, run with the given phases, against effort 0, at four qualities, and
the median encode time (in this process: one torch thread unless --threads).

    python bench/effort_tune.py ../shared/data/kodak --phases "8,0,0.02" [--phases "24,1,0.03" ...]
        [--images 01,05,13,20,23] [--qualities 2,4,7,11]

A phase is STEPS,NOISY,LEARNING_RATE (NOISY 1: stochastic Gumbel annealing, 0: the same
annealed rounding without noise); several --phases are the ways a level tries, the
cheapest file kept. Rates are whole files, PSNR-RGB as `dcn bench` measures it; BD-rate
over the per-quality means, as `dcn bench` computes it.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import codec
from codec.image.metrics import psnr_rgb
from codec.pipeline import effort
from codec.tools.bench.bdrate import bd_rate


def parse_phases(text: str) -> tuple:
    return tuple(effort.Phase(int(s), bool(int(n)), float(lr)) for s, n, lr in (p.split(",") for p in text.split(";")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kodak", type=Path)
    ap.add_argument("--phases", action="append", required=True, help="STEPS,NOISY,LR[;STEPS,NOISY,LR...]")
    ap.add_argument("--images", default="01,05,13,20,23")
    ap.add_argument("--qualities", default="2,4,7,11")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    effort.LEVELS[1] = tuple(parse_phases(p) for p in args.phases)
    qualities = [float(q) for q in args.qualities.split(",")]
    images = [np.asarray(Image.open(args.kodak / f"kodim{i}.png").convert("RGB")) for i in args.images.split(",")]
    curves, times = {0: ([], []), 1: ([], [])}, []
    for level in (0, 1):
        for q in qualities:
            bpps, psnrs = [], []
            for rgb in images:
                t = time.perf_counter()
                data = codec.encode(rgb, quality=q, effort=level)
                if level:
                    times.append(time.perf_counter() - t)
                bpps.append(8 * len(data) / (rgb.shape[0] * rgb.shape[1]))
                psnrs.append(psnr_rgb(rgb, np.asarray(codec.decode(data))))
            curves[level][0].append(np.mean(bpps))
            curves[level][1].append(np.mean(psnrs))
    bd = bd_rate(curves[0][0], curves[0][1], curves[1][0], curves[1][1])
    print(f"phases {' | '.join(args.phases)}: BD-rate vs effort 0 {bd:+.2f} %, median encode {np.median(times):.2f} s "
          f"({args.threads} thread{'s' if args.threads > 1 else ''}, images {args.images}, qualities {args.qualities})")


if __name__ == "__main__":
    main()
