"""What a decoder spends on the cheapest file of a given padded area (formats/dcn.md,
"Resource bounds"): a file of the default model whose streams are all empty (a few hundred
bytes, its largest coding tiles), which decodes (every symbol the most probable one) to a
full-size image. Wall time and peak RSS of the whole
`dcn decode` process, for square images of each area.

    python bench/limits.py --out bench/results/limits.json [--areas 22,24,25,27]

Areas are powers of two of the padded area (27: the default limit, about 4 minutes).
"""
import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codec.format import container
from codec.models.registry import default_model
from codec.models.weights import load_decoder


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def empty_file(side: int) -> bytes:
    """side x side pixels in the largest tiles the model allows, every stream empty."""
    model = default_model()
    latent = load_decoder(model).latent
    tile = min(64 * min(65535, -(-side // 64)), latent.max_tile or 1 << 30)
    h = container.Header("RGB", side, side, 1.0, bytes.fromhex(model.fingerprint), tile, latent.sections,
                         2 if latent.sections == 2 else 3)
    rows, cols = h.grid
    return container.write(container.Container(h, ((b"",) * latent.sections,) * (rows * cols)))


def measure(side: int, tmp: Path) -> dict:
    src, dst = tmp / f"{side}.dcn", tmp / f"{side}.png"
    src.write_bytes(empty_file(side))
    exe = Path(sys.executable).parent / "dcn"
    t = time.perf_counter()
    r = subprocess.run([str(exe), "decode", str(src), str(dst), "--max-pixels", str(side * side)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, MiB
    dst.unlink(missing_ok=True)
    return {"side": side, "padded_area": side * side, "file_bytes": src.stat().st_size, "exit": r.returncode,
            "error": r.stderr.strip()[-200:] if r.returncode else "", "wall_s": round(wall, 1),
            "peak_rss_mib": round(rss)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--areas", default="22,24,25", help="log2 of the padded areas, ascending")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for e in map(int, args.areas.split(",")):
            side = int(math.isqrt(2 ** e)) // 64 * 64  # the largest square of multiples of 64 within 2**e
            rows.append(measure(side, Path(tmp)))
            print(rows[-1], flush=True)
    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "cores": os.cpu_count(),
              "command": "python bench/limits.py " + " ".join(sys.argv[1:]), "model": default_model().id,
              "runs": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
