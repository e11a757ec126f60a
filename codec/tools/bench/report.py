"""Benchmark outputs: JSON per codec, BD-rate table (Markdown), RD plot."""
import json
from pathlib import Path

import numpy as np

from .bdrate import bd_rate
from .metrics import ms_ssim_db


def write_json(curves: dict, out: Path) -> None:
    for codec, c in curves.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_.@=" else "_" for ch in codec)  # dcn=runs/x/w -> dcn_runs_x_w
        (out / f"{safe}.json").write_text(json.dumps(c, indent=2) + "\n")


def bd_table(curves: dict, metric: str = "psnr-rgb") -> tuple[list[str], list[list[float]]]:
    """table[i][j]: BD-rate of codec i against anchor j, in percent."""
    names = list(curves)
    table = [[bd_rate(curves[a]["results"]["bpp"], curves[a]["results"][metric],
                      curves[t]["results"]["bpp"], curves[t]["results"][metric]) if a != t else 0.0
              for a in names] for t in names]
    return names, table


def bd_markdown(curves: dict) -> str:
    names, table = bd_table(curves)
    lines = ["BD-rate (%) of each row's codec against each column's codec at equal PSNR-RGB "
             "(negative: the row needs fewer bits). PCHIP interpolation of log-rate over the "
             "overlapping PSNR range.", "",
             "| codec \\ anchor | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for n, row in zip(names, table):
        lines.append(f"| {n} | " + " | ".join("n/a" if np.isnan(v) else f"{v:+.1f}" for v in row) + " |")
    lines += ["", "| codec | points | bpp range | PSNR-RGB range (dB) | median encode (s) | median decode (s) |",
              "|---|---:|---|---|---:|---:|"]
    for n in names:
        c = curves[n]
        r = c["results"]
        times = " | ".join(f"{c[k]:.3f}" if k in c else "n/a" for k in ("median_encode_s", "median_decode_s"))
        lines.append(f"| {n} | {len(r['bpp'])} | {min(r['bpp']):.3f} – {max(r['bpp']):.3f} | "
                     f"{min(r['psnr-rgb']):.2f} – {max(r['psnr-rgb']):.2f} | {times} |")
    return "\n".join(lines) + "\n"


def plot(curves: dict, path: Path, title: str) -> bool:
    """RD plot (PSNR and MS-SSIM in dB against bpp); False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for name, c in curves.items():
        r = c["results"]
        style = dict(marker="o", markersize=3, linewidth=2.2 if name == "dcn" else 1.2)
        axes[0].plot(r["bpp"], r["psnr-rgb"], label=name, **style)
        axes[1].plot(r["bpp"], [ms_ssim_db(v) for v in r["ms-ssim-rgb"]], label=name, **style)
    for ax, ylabel in zip(axes, ("PSNR-RGB (dB)", "MS-SSIM (dB)")):
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, 2.0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
