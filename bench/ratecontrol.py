"""Rate control on Kodak: does --target-size land at or just below the target, does
--target-psnr land at or just above it, and what does the search cost?

    python bench/ratecontrol.py ../shared/data/kodak --out bench/results/ratecontrol-DATE.md

For every image: targets of 0.15, 0.3, 0.6, 1.0 and 1.5 bpp (as sizes in bytes) and two
PSNR targets, the image's own PSNR at two qualities drawn uniformly from [1.5, 7.5] (seeded
by the image's place in the list: reachable, and never a quality the search favours, such
as the ends of its start range); time of each search against the median of 3 plain encodes
of that image. --psnr-only skips the size targets.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import codec
from codec.train.data import list_images
from codec.errors import DCNError
from codec.image.io import load_picture
from codec.image.metrics import psnr_rgb

BPPS = (0.15, 0.3, 0.6, 1.0, 1.5)
PSNR_QUALITIES = (1.5, 7.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--psnr-only", action="store_true", help="only the PSNR targets")
    args = ap.parse_args()
    rows = []
    for index, path in enumerate(list_images(args.images)):
        rgb = load_picture(path, 2 ** 30).rgb
        h, w = rgb.shape[:2]
        plain = []
        for _ in range(3):
            t = time.perf_counter()
            codec.encode(path, quality=4)
            plain.append(time.perf_counter() - t)
        plain_s = statistics.median(plain)

        def psnr_of(data):
            return psnr_rgb(np.asarray(codec.decode(data).convert("RGB")), rgb)

        largest = len(codec.encode(path, quality=8))  # a size target above it gets the quality-8 file
        for bpp in () if args.psnr_only else BPPS:
            target = int(bpp * w * h / 8)
            t = time.perf_counter()
            try:
                data = codec.encode(path, target_size=target)
                took = (time.perf_counter() - t) / plain_s
                rows.append(("size", path.name, bpp, target, len(data), len(data) / target, took, target >= largest))
            except DCNError:
                rows.append(("size", path.name, bpp, target, None, None, (time.perf_counter() - t) / plain_s, False))
        for q in np.round(np.random.default_rng(index).uniform(*PSNR_QUALITIES, 2), 3):
            target = np.floor(psnr_of(codec.encode(path, quality=q)) * 100) / 100  # reachable
            t = time.perf_counter()
            data = codec.encode(path, target_psnr=target)
            took = (time.perf_counter() - t) / plain_s
            rows.append(("psnr", path.name, q, target, psnr_of(data), psnr_of(data) - target, took, False))
        print(path.name, flush=True)
    args.out.write_text(report(rows, " ".join(sys.argv)))
    print(report(rows, " ".join(sys.argv)))


def report(rows, command: str) -> str:
    size = [r for r in rows if r[0] == "size"]
    capped = [r for r in size if r[7]]
    met = [r for r in size if r[4] is not None and not r[7]]
    psnr = [r for r in rows if r[0] == "psnr"]
    lines = [f"# Rate control on {len({r[1] for r in rows})} images, {time.strftime('%Y-%m-%d')}", "",
             f"Command: `{command}`", ""]
    if size:
        lines += ["## --target-size (targets of 0.15, 0.3, 0.6, 1.0, 1.5 bpp)", "",
                  f"- targets met: {len(met)} of {len(size)} (unmet: the smallest file is larger than the target); "
                  f"{len(capped)} more above the largest file (quality 8), which they get",
                  f"- file / target: min {min(r[5] for r in met):.4f}, "
                  f"median {statistics.median(r[5] for r in met):.4f}, "
                  f"max {max(r[5] for r in met):.4f} (must be within 0.97 … 1.0)",
                  f"- within 3% below the target: {sum(0.97 <= r[5] <= 1 for r in met)} of {len(met)}",
                  f"- search time / plain encode: median {statistics.median(r[6] for r in size):.2f}, "
                  f"max {max(r[6] for r in size):.2f}", ""]
    lines += ["## --target-psnr (each image's PSNR at two random qualities in [1.5, 7.5])", "",
              f"- achieved − target (dB): min {min(r[5] for r in psnr):+.3f}, median "
              f"{statistics.median(r[5] for r in psnr):+.3f}, max {max(r[5] for r in psnr):+.3f} "
              "(must be within 0 … 0.15)",
              f"- within 0 … 0.15 dB: {sum(0 <= r[5] <= 0.15 for r in psnr)} of {len(psnr)}",
              f"- search time / plain encode: median {statistics.median(r[6] for r in psnr):.2f}, "
              f"max {max(r[6] for r in psnr):.2f}", "",
              "| target | image | setting | target value | achieved | ratio / Δ | time × plain | above quality 8 |",
              "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append("| " + " | ".join("unmet" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                                      for v in r) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
