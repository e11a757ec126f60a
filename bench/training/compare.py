"""Training recipes compared at an equal CPU budget (issue #9).

Each variant is `dcn train` from scratch with one torch thread and in-process data
loading, so that the process's CPU time is the whole cost; it stops after --minutes of
CPU time (the lr decay is placed by time) and keeps a snapshot every 5 CPU minutes.
Two variants run side by side on a 2-core machine.

    python bench/training/compare.py train base relu          # trains (in parallel)
    python bench/training/compare.py eval                     # every snapshot on kodim01-08
    python bench/training/compare.py report                   # table + plot

Evaluation is the one from the issue: forward pass (rounded latents), mean PSNR and mean
rate from the likelihoods on kodim01-08, at the level of lambda = 0.013 (quality 4) and
the three below it; PSNR at 0.46 bpp is interpolated on log(bpp) between the nearest two.
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "cmp"
RESULTS = Path(__file__).resolve().parent / "results.json"
LEVELS = (0, 1, 2, 3)  # lambda 0.0018 ... 0.013: the rates around 0.46 bpp
TARGET_BPP = 0.46

# The base recipe as it was measured (before --init-gain 16 and the narrow model became
# the defaults): each variant below names its changes against it.
BASE = ["--init-gain", "1", "--n", "128", "--m", "192", "--no-bf16"]
# name -> (what changes against the base recipe, extra `dcn train` options, after BASE)
VARIANTS = {
    "base": ("GDN N=128 M=192, batch 8 of 128², Adam 1e-3, ×0.1 at 85 %", []),
    "relu": ("ReLU instead of GDN/IGDN", ["--act", "relu"]),
    "narrow": ("N=64 M=128", ["--n", "64", "--m", "128"]),
    "lr2e-3": ("Adam 2e-3", ["--lr", "2e-3"]),
    "ema": ("EMA of the weights (0.999), no lr decay", ["--ema", "0.999", "--decay-from", "2"]),
    "batch4": ("batch 4 (twice the steps)", ["--batch", "4"]),
    "noise": ("additive-noise proxy for the synthesis too", ["--proxy", "noise"]),
    "gain16": ("latent initialised 16× larger (no dead start)", ["--init-gain", "16"]),
    "gain16-glr10": ("gain16 + gain vectors at 10× the lr", ["--init-gain", "16", "--gain-lr", "10"]),
    "relu-gain16-glr10": ("ReLU + gain16 + gain vectors at 10× the lr",
                          ["--act", "relu", "--init-gain", "16", "--gain-lr", "10"]),
    "narrow-gain16": ("N=64 M=128 + gain16", ["--n", "64", "--m", "128", "--init-gain", "16"]),
    "narrow-relu-gain16": ("N=64 M=128, ReLU + gain16",
                           ["--n", "64", "--m", "128", "--act", "relu", "--init-gain", "16"]),
    "mid-gain16-bf16": ("N=96 M=160 + gain16, bf16",
                        ["--n", "96", "--m", "160", "--init-gain", "16", "--bf16"]),
    "narrow-gain16-bf16": ("N=64 M=128 + gain16, transforms in bfloat16 autocast",
                           ["--n", "64", "--m", "128", "--init-gain", "16", "--bf16"]),
}


def train(names: list[str], minutes: float, data: Path) -> None:
    procs = []
    for name in names:
        out = RUNS / name
        cmd = [sys.executable, "-m", "codec.train", str(data), "--out", str(out), "--steps", "100000000",
               "--threads", "1", "--workers", "0", "--minutes", str(minutes), "--snapshot-minutes", "5",
               "--eval-every", "1000000000", "--ckpt-every", "500", *BASE, *VARIANTS[name][1]]
        out.mkdir(parents=True, exist_ok=True)
        log = open(RUNS / f"{name}.out", "w")
        procs.append(subprocess.Popen(["nice", "-n", "5", *cmd], cwd=ROOT, stdout=log, stderr=log))
    for p in procs:
        p.wait()


def psnr_at(points: list[tuple[float, float]], bpp: float) -> float:
    """PSNR at a rate, linear in log(bpp) between (or beyond) the nearest two measured points."""
    points = sorted(points)
    i = max(1, min(len(points) - 1, sum(b < bpp for b, _ in points)))
    (b0, p0), (b1, p1) = points[i - 1], points[i]
    return p0 + (p1 - p0) * (math.log(bpp) - math.log(b0)) / (math.log(b1) - math.log(b0))


def evaluate_all(kodak: Path, processes: dict[str, int], only: list[float] | None = None,
                 raw_at: list[float] | None = None) -> None:
    """Every snapshot not yet in results.json (or those at the `only` minutes); the raw
    weights of an averaged run too, at every snapshot or at the `raw_at` minutes."""
    import torch

    from safetensors import safe_open

    from codec.train.data import load_rgb
    from codec.train.export import load_model
    from codec.train.loop import evaluate
    torch.set_num_threads(1)
    images = [load_rgb(kodak / f"kodim{i:02d}.png") for i in range(1, 9)]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for run in sorted(p for p in RUNS.iterdir() if p.is_dir()):
        for snap in sorted(run.glob("snap-*min.safetensors"), key=lambda p: float(p.stem[5:-3])):
            minutes = float(snap.stem[5:-3])
            if only and minutes not in only:
                continue
            with safe_open(str(snap), "pt") as f:
                meta, averaged = f.metadata(), any(k.startswith("ema.") for k in f.keys())
            for variant, weights in ((run.name, "ema" if averaged else "model"), (f"{run.name}-raw", "model")):
                key = f"{variant}/{snap.stem}"
                raw_skipped = variant != run.name and (not averaged or (raw_at and minutes not in raw_at))
                if key in results or raw_skipped:
                    continue
                model, cfg, step = load_model(snap, weights)
                ev = evaluate(model, images, LEVELS)
                points = [(ev[f"q{lv + 1}_bpp"], ev[f"q{lv + 1}_psnr"]) for lv in LEVELS]
                nproc = int(meta.get("processes", processes.get(run.name, 1)))
                results[key] = {"variant": variant, "budget": cfg["minutes"],
                                "cpu_minutes": float(meta["cpu_seconds"]) / 60,
                                "wall_minutes": float(meta["wall_seconds"]) / 60, "step": step,
                                "crops_per_s": step * cfg["batch"] * nproc / float(meta["cpu_seconds"]),
                                "psnr_at_0.46": psnr_at(points, TARGET_BPP), **ev}
                print(key, json.dumps(results[key]), flush=True)
                RESULTS.write_text(json.dumps(results, indent=1))


# Runs trained outside `compare.py train`, described for the report.
OTHER_RUNS = {
    "long": "the new default (gain16) + EMA 0.999, 2 DDP processes × 1 thread, batch 4 each (8 per step), "
            "105-min budget; shared the cores with benchmarks (crops/s low)",
    "long-raw": "the same run, its raw weights instead of the average",
    "main": "run 3: the shipped run 1 (plain init, 6,400 steps, its first point) continued with 2 DDP "
            "processes × 1 thread, lr back to 1e-3, ×0.1 at 289 CPU min",
    "run4": "run 4: the new default (N=64 M=128, gain16, bf16) from scratch, 2 DDP processes × 1 thread, "
            "batch 4 each, 120-min budget (×0.1 at 102 CPU min)",
    "run5": "run 5: run 4 continued, lr back at 1e-3, one single-thread process (batch 8); from 180 CPU min "
            "on an AVX2-only CPU (float32), ×0.1 at 191, shipped at 225",
}


def _row(name: str, r: dict) -> str:
    cells = " | ".join(f"{r[f'q{lv + 1}_psnr']:.2f} / {r[f'q{lv + 1}_bpp']:.3f}" for lv in LEVELS)
    what = VARIANTS[name][0] if name in VARIANTS else OTHER_RUNS.get(name, "?")
    rates = [r[f"q{lv + 1}_bpp"] for lv in LEVELS]
    mark = "" if min(rates) <= TARGET_BPP <= max(rates) else " (extrapolated)"
    return (f"| {name} | {what} | {r['cpu_minutes']:.1f} | {r['step']} | {r['crops_per_s']:.1f} | {cells} "
            f"| **{r['psnr_at_0.46']:.2f}**{mark} |")


def at_budget(results: dict, budget: float) -> dict:
    """Each variant trained for this budget at its snapshot nearest it (entries from before
    the budget was recorded count as 20-minute runs)."""
    chosen = {}
    for r in results.values():
        if r.get("budget", 20.0) != budget or abs(r["cpu_minutes"] - budget) > 0.2 * budget:
            continue
        best = chosen.get(r["variant"])
        if best is None or abs(r["cpu_minutes"] - budget) < abs(best["cpu_minutes"] - budget):
            chosen[r["variant"]] = r
    return chosen


def report(budgets=(30.0, 20.0)) -> None:
    """Every variant at the snapshot nearest its budget, best first; then the longer runs' curves."""
    results = json.loads(RESULTS.read_text())
    head = " | ".join(f"q{lv + 1} PSNR / bpp" for lv in LEVELS).replace("q4 ", "q4 (λ=0.013) ")
    header = [f"| variant | change | CPU min | steps | crops/s | {head} | PSNR @ 0.46 bpp |",
              "|---" * (6 + len(LEVELS)) + "|"]
    lines, plotted = [], []
    for budget in budgets:
        chosen = at_budget(results, budget)
        plotted += sorted(chosen, key=lambda n: -chosen[n]["psnr_at_0.46"])[:3]  # the best few
        lines += ([""] if lines else []) + [f"Trained for {budget:g} CPU minutes:", ""] + header
        for name, r in sorted(chosen.items(), key=lambda kv: -kv[1]["psnr_at_0.46"]):
            lines.append(_row(name, r))
    for name in OTHER_RUNS:
        snaps = sorted((r for r in results.values() if r["variant"] == name), key=lambda r: r["cpu_minutes"])
        if len(snaps) > 1:
            lines += ["", f"Run `{name}` over time:", ""] + header + [_row(name, r) for r in snaps]
    table = "\n".join(lines)
    (RESULTS.parent / "table.md").write_text(table + "\n")
    print(table)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(plotted + list(OTHER_RUNS)):
        pts = sorted((r["cpu_minutes"], r["psnr_at_0.46"]) for r in results.values() if r["variant"] == name)
        if name.endswith("-raw") or not pts:
            continue
        ax.plot(*zip(*pts), marker="o", label=name)
    ax.axhline(27.7, color="grey", ls="--", lw=1, label="JPEG (kodim01-08, 0.46 bpp)")
    ax.axhline(25.0, color="grey", ls=":", lw=1, label="30-min target")
    ax.set_xlabel("CPU minutes (all processes)")
    ax.set_ylabel("PSNR at 0.46 bpp, kodim01-08 (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS.parent / "quality-vs-cpu.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("names", nargs="+", choices=sorted(VARIANTS))
    t.add_argument("--minutes", type=float, default=20)
    t.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "train")
    e = sub.add_parser("eval")
    e.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    e.add_argument("--processes", nargs="*", default=[], metavar="RUN=K",
                   help="runs trained with K DDP processes, for checkpoints that do not record it")
    e.add_argument("--only", type=float, nargs="*", help="evaluate only the snapshots at these CPU minutes")
    e.add_argument("--raw-at", type=float, nargs="*", help="raw weights of averaged runs only at these minutes")
    sub.add_parser("report")
    args = parser.parse_args()
    if args.cmd == "train":
        train(args.names, args.minutes, args.data)
    elif args.cmd == "eval":
        evaluate_all(args.kodak, {k: int(v) for k, v in (a.split("=") for a in args.processes)}, args.only,
                     args.raw_at)
    else:
        report()


if __name__ == "__main__":
    main()
