"""Training checkpoints compared over their whole rate range (issue #17): every level of
each, forward pass on Kodak, and the BD-rate between each pair of curves.

    python bench/training/range.py model1=weights/train-checkpoint.safetensors \
        ctx=runs/model2-ctx/last.safetensors noctx=runs/model2-noctx/last.safetensors --images 8
    python bench/training/range.py --plot model1   # BD-rate against model1 over CPU time
    python bench/training/range.py --plot start --only main,groupsfast,groupsdecay   # some of the saved runs

The rate is the likelihoods' (of the rounded latents, as coded, without the container) and
PSNR-RGB is measured on the rounded pixels, averaged over the images; BD-rate as `dcn bench`
computes it (PCHIP in log-rate over the overlapping PSNR range). Real files are `dcn bench`'s
business; this is the quick measure for comparing training runs at equal CPU budgets.
Appends each result to bench/training/range.json (keyed by name and checkpoint step).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from codec.tools.bench.bdrate import bd_rate  # noqa: E402
from codec.train.data import load_rgb  # noqa: E402
from codec.train.export import load_model  # noqa: E402
from codec.train.loop import evaluate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "range.json"


def curve(checkpoint: Path, images: list[np.ndarray]) -> dict:
    model, cfg, step = load_model(checkpoint)
    with safe_open(str(checkpoint), "pt") as f:
        meta = f.metadata()
    levels = tuple(range(len(model.config.lambdas)))
    ev = evaluate(model, images, levels)
    return {"checkpoint": str(checkpoint), "run": Path(checkpoint).parent.name, "step": step, "cpu_minutes": float(meta["cpu_seconds"]) / 60,
            "context": model.config.context, "lambdas": list(model.config.lambdas),
            "bpp": [ev[f"q{lv + 1}_bpp"] for lv in levels], "psnr": [ev[f"q{lv + 1}_psnr"] for lv in levels]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="NAME=CHECKPOINT")
    ap.add_argument("--only", default="", help="with --plot: the saved names to draw, comma-separated (default: all)")
    ap.add_argument("--plot", metavar="ANCHOR", help="plot every saved run's BD-rate against the saved ANCHOR "
                                                      "over CPU minutes (range.png) instead of measuring")
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    ap.add_argument("--images", type=int, default=8, help="kodim01 .. kodimNN")
    args = ap.parse_args()
    if args.plot:
        return plot(args.plot, [n for n in args.only.split(",") if n])
    torch.set_num_threads(1)
    images = [load_rgb(args.kodak / f"kodim{i:02d}.png") for i in range(1, args.images + 1)]
    curves = {}
    for spec in args.runs:
        name, _, path = spec.partition("=")
        curves[name] = curve(Path(path), images)
    names = list(curves)
    print(f"# Whole-range comparison, {time.strftime('%Y-%m-%d')}, kodim01-{args.images:02d}, forward pass\n")
    print("`python bench/training/range.py " + " ".join(args.runs) + f" --images {args.images}`\n")
    for n in names:
        c = curves[n]
        print(f"- **{n}**: step {c['step']}, {c['cpu_minutes']:.1f} CPU min, context {c['context']}, "
              f"{len(c['bpp'])} levels: {min(c['bpp']):.3f}-{max(c['bpp']):.3f} bpp, "
              f"{min(c['psnr']):.2f}-{max(c['psnr']):.2f} dB")
    print("\nBD-rate (%) of each row against each column (negative: fewer bits):\n")
    print("| | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names))
    for a in names:
        cells = [bd_rate(curves[b]["bpp"], curves[b]["psnr"], curves[a]["bpp"], curves[a]["psnr"]) if a != b else 0.0
                 for b in names]
        print(f"| {a} | " + " | ".join("n/a" if np.isnan(v) else f"{v:+.1f}" for v in cells) + " |")
    print("\n| level | lambda | " + " | ".join(f"{n} bpp / dB" for n in names) + " |\n|---|---|"
          + "---|" * len(names))
    for lam in sorted({lam for c in curves.values() for lam in c["lambdas"]}):
        cells = []
        for n in names:
            c = curves[n]
            i = c["lambdas"].index(lam) if lam in c["lambdas"] else None
            cells.append("" if i is None else f"{c['bpp'][i]:.3f} / {c['psnr'][i]:.2f}")
        print(f"| | {lam:g} | " + " | ".join(cells) + " |")
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved.update({f"{n}@{c['step']}": c for n, c in curves.items()})
    RESULTS.write_text(json.dumps(saved, indent=1) + "\n")


def plot(anchor_name: str, only: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    saved = json.loads(RESULTS.read_text())
    anchor = next(c for k, c in saved.items() if k.split("@")[0] == anchor_name)
    runs = {}
    for key, c in saved.items():
        name = key.split("@")[0]
        if c is not anchor and (not only or name in only):
            bd = bd_rate(anchor["bpp"], anchor["psnr"], c["bpp"], c["psnr"])
            runs.setdefault(f"{name} ({c['context']})", set()).add((c["cpu_minutes"], bd))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, pts in sorted(runs.items()):
        ax.plot(*zip(*sorted(pts)), marker="o", label=name)
    ax.axhline(0, color="grey", lw=1, label=f"{anchor_name} ({anchor['cpu_minutes']:.0f} CPU min)")
    ax.axhline(-3, color="grey", ls=":", lw=1, label="release threshold (-3 %)")
    ax.set_xlabel("CPU minutes of the run (after its warm start)")
    ax.set_ylabel(f"BD-rate against {anchor_name} (%), Kodak, forward pass")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS.with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
