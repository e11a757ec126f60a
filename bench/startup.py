"""Whole-process times of the command line on one Kodak image: what a user waits for,
start-up and imports included: medians of N rounds after a warm-up round, each round
running every command once, in turn (`python -c 'import torch'` among them).

    python bench/startup.py ../shared/data/kodak/kodim05.png --out bench/results/startup-DATE.md [--runs 5]
"""
import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def median_walls(commands: dict, runs: int) -> dict:
    """Median wall time of each command over `runs` rounds after a warm-up round; each round
    runs every command once, in turn, so that a slow spell of the machine is shared."""
    times = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, cmd in commands.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            if round_:  # the first round warms the page cache
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dcn = str(Path(sys.executable).parent / "dcn")
    with tempfile.TemporaryDirectory() as tmp:
        f, png = str(Path(tmp) / "x.dcn"), str(Path(tmp) / "x.png")
        subprocess.run([dcn, "encode", str(args.image), f], check=True, capture_output=True)  # for info, decode
        rows = median_walls({
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "dcn --version": [dcn, "--version"],
            f"dcn encode {args.image.name} x.dcn": [dcn, "encode", str(args.image), f],
            "dcn info x.dcn": [dcn, "info", f],
            "dcn decode x.dcn x.png": [dcn, "decode", f, png],
        }, args.runs)
        torch_s, decode_s = rows["python -c 'import torch'"], rows["dcn decode x.dcn x.png"]
    lines = [f"# Whole-process times, {time.strftime('%Y-%m-%d')}", "",
             f"`python bench/startup.py {args.image} --out {args.out} --runs {args.runs}`", "",
             f"{cpu_model()}, {platform.python_version()}; medians of {args.runs} rounds after a warm-up round, "
             "each round running every command once, in turn.", "",
             "| command | wall (s) |", "|---|---:|"] + [f"| `{k}` | {v:.2f} |" for k, v in rows.items()] + [
                 "", f"`dcn decode` takes {decode_s - torch_s:.2f} s more than importing torch."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
