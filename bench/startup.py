"""Whole-process times of the command line on one Kodak image: what a user waits for,
start-up and imports included. Medians of N runs after one warm-up, with the in-process
import time of torch measured beside them.

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


def median_wall(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up: the page cache, not the process
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dcn = str(Path(sys.executable).parent / "dcn")
    with tempfile.TemporaryDirectory() as tmp:
        f, png = str(Path(tmp) / "x.dcn"), str(Path(tmp) / "x.png")
        rows = {
            "python -c pass": median_wall([sys.executable, "-c", "pass"], args.runs),
            "python -c 'import torch'": median_wall([sys.executable, "-c", "import torch"], args.runs),
            "dcn --version": median_wall([dcn, "--version"], args.runs),
            f"dcn encode {args.image.name} x.dcn": median_wall([dcn, "encode", str(args.image), f], args.runs),
            "dcn info x.dcn": median_wall([dcn, "info", f], args.runs),
            "dcn decode x.dcn x.png": median_wall([dcn, "decode", f, png], args.runs),
        }
    lines = [f"# Whole-process times, {time.strftime('%Y-%m-%d')}", "",
             f"`python bench/startup.py {args.image} --out {args.out} --runs {args.runs}`", "",
             f"{cpu_model()}, {platform.python_version()}; medians of {args.runs} runs after a warm-up.", "",
             "| command | wall (s) |", "|---|---:|"] + [f"| `{k}` | {v:.2f} |" for k, v in rows.items()]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
