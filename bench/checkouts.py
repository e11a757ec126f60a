"""Decode speed and Kodak RD of two checkouts of this repository, measured in one run.

    python bench/checkouts.py OLD_TREE NEW_TREE ../shared/data/kodak --images 6 --runs 3

Each checkout encodes the images at a few qualities and decodes them in its own process
(PYTHONPATH = the tree), alternating, medians of --runs after a warm-up; the files must
be byte-identical (so the RD is too) and the report gives each checkout's decode time.
"""
import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import hashlib, json, sys, time
import codec
paths, qualities, runs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
out = {}
for p in paths:
    for q in qualities:
        data = codec.encode(p, quality=q)
        codec.decode(data)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            codec.decode(data)
            times.append(time.perf_counter() - t)
        out[f"{p}@{q}"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                           "decode_s": sorted(times)[len(times) // 2]}
print(json.dumps(out))
"""


def measure(tree: Path, paths: list[str], qualities: list[float], runs: int) -> dict:
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(paths), json.dumps(qualities), str(runs)],
                       capture_output=True, text=True, env=env, cwd=tree, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("images", type=Path)
    ap.add_argument("--images", dest="count", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="old/new alternations")
    args = ap.parse_args()
    paths = [str(p.resolve()) for p in sorted(args.images.glob("*.png"))[: args.count]]
    qualities = [2.0, 5.0]
    results = {"old": [], "new": []}
    for _ in range(args.rounds):
        for name in ("old", "new"):
            results[name].append(measure(getattr(args, name).resolve(), paths, qualities, args.runs))
    keys = list(results["old"][0])
    same = all(results["old"][0][k]["sha256"] == results["new"][0][k]["sha256"] for k in keys)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"# Two checkouts, one run ({time.strftime('%Y-%m-%d')}, {cpu})\n")
    print(f"`python bench/checkouts.py {args.old} {args.new} {args.images} --images {args.count} --runs {args.runs}`\n")
    print(f"files byte-identical: {same} ({len(keys)} files: {args.count} images x qualities {qualities})\n")
    print("| file | old decode (s) | new decode (s) | new / old |\n|---|---:|---:|---:|")
    ratios = []
    for k in keys:
        old = sorted(r[k]["decode_s"] for r in results["old"])[0]
        new = sorted(r[k]["decode_s"] for r in results["new"])[0]
        ratios.append(new / old)
        print(f"| {Path(k.split('@')[0]).name} q{k.split('@')[1]} | {old:.3f} | {new:.3f} | {new / old:.3f} |")
    ratios.sort()
    print(f"\nmedian new/old decode time: {ratios[len(ratios) // 2]:.3f} (each cell: the best of "
          f"{args.rounds} rounds of a median of {args.runs})")


if __name__ == "__main__":
    main()
