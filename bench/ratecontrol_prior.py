"""Fit the PSNR search's curve model (codec.ratecontrol.PsnrCurve) to the shipped weights.

    python bench/ratecontrol_prior.py ../shared/data/train --out bench/results/ratecontrol-prior-DATE.md

PSNR-RGB against quality (1 to 8 in steps of 0.25) of every 97th training image (never
Kodak: Kodak is where the search is measured), then a least-squares fit of
log(dp/dq) = A + B q + C p, and P, the median PSNR at PsnrCurve.START_Q (where the
search starts from). The constants only steer the search (how many probes it
needs), never what it returns, so stale constants after new weights cost time, not
correctness; refit them when the weights change.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from codec.train.data import list_images
from codec.pipeline.encode import prepare
from codec.pipeline.ratecontrol import PsnrCurve, psnr_at

QUALITIES = np.arange(1.0, 8.001, 0.25)


def curve(path: Path) -> np.ndarray:
    a = prepare(path, device="cpu")
    return np.array([psnr_at(a, q) for q in QUALITIES])


def fit(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(A, B, C) and the relative errors of the fitted slopes."""
    q = np.concatenate([QUALITIES] * len(curves))
    p = np.concatenate(curves)
    slope = np.concatenate([np.gradient(c, QUALITIES) for c in curves])
    design = np.stack([np.ones_like(q), q, p], 1)
    coef, *_ = np.linalg.lstsq(design, np.log(np.maximum(slope, 0.02)), rcond=None)
    return coef, np.exp(design @ coef) / slope - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=14)
    args = ap.parse_args()
    paths = list_images(args.images)[3::97][:args.count]
    curves = []
    for path in paths:
        curves.append(curve(path))
        print(path.name, np.round(curves[-1][::4], 2), flush=True)
    (a, b, c), err = fit(curves)
    lines = [f"# PSNR search prior, {time.strftime('%Y-%m-%d')}", "", f"Command: `{' '.join(sys.argv)}`", "",
             f"{len(paths)} training images; fit of log(dp/dq) = A + B q + C p:", "",
             f"    A, B, C = {a:.4g}, {b:.4g}, {c:.5g}",
             f"    P = {np.median([np.interp(PsnrCurve.START_Q, QUALITIES, c_) for c_ in curves]):.2f}", "",
             f"Relative error of the fitted slope: median {np.median(np.abs(err)):.2f}, "
             f"90th percentile {np.percentile(np.abs(err), 90):.2f}.", "",
             "| image | " + " | ".join(f"q{q:g}" for q in QUALITIES[::4]) + " |",
             "|---" * (1 + len(QUALITIES[::4])) + "|"]
    lines += [f"| {p.name} | " + " | ".join(f"{v:.2f}" for v in c_[::4]) + " |" for p, c_ in zip(paths, curves)]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
