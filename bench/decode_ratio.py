"""Decode time of models against model 1 (`hyperprior-64-128@3`), in one process, on Kodak
(issue #17's criterion: a new model decodes a Kodak image in at most 1.3x model 1's time).

    python bench/decode_ratio.py ../shared/data/kodak MODEL [MODEL ...] [--threads 1] [--tiles 256,512]

Model 1's encoder is no longer shipped; it is read from the git history (the commit before
its retirement) into a temporary folder, beside its registered decoder. Each image is
encoded once per model (and coding tile) at the default quality; the decodes are then
interleaved image by image and repeated (--runs), and the medians over all of them are
compared, so that a machine's drift hits every model alike.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL_1 = "hyperprior-64-128@3"
MODEL_1_ENCODER = ("988cd2c^", "weights/hyperprior-64-128-v3/encoder.safetensors")  # its last commit with it


def model_1_folder(tmp: Path) -> Path:
    from codec.models.registry import find
    folder = tmp / "model1"
    folder.mkdir()
    (folder / "decoder.safetensors").write_bytes((find(MODEL_1).directory / "decoder.safetensors").read_bytes())
    blob = subprocess.run(["git", "show", ":".join(MODEL_1_ENCODER)], cwd=ROOT, capture_output=True, check=True)
    (folder / "encoder.safetensors").write_bytes(blob.stdout)
    return folder


def main() -> None:
    import codec
    from limits import cpu_model  # bench/limits.py
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kodak", type=Path)
    ap.add_argument("models", nargs="+", help="registered names or folders of weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tiles", default="", help="coding tiles to try for each model (default: the model's own)")
    ap.add_argument("--images", type=int, default=6, help="every (24 / N)-th Kodak image")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(args.kodak.glob("kodim*.png"))
    images = [Image.open(p).convert("RGB") for p in paths[::max(1, len(paths) // args.images)][:args.images]]
    tiles = [int(t) for t in args.tiles.split(",") if t] or [None]
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"model 1": (str(model_1_folder(Path(tmp))), None)}
        cases.update({f"{m}" + (f" tile {t}" if t else ""): (m, t) for m in args.models for t in tiles})
        files = {k: [codec.encode(im, model=m, tile=t) for im in images] for k, (m, t) in cases.items()}
        times = {k: [] for k in cases}
        for k, (m, _) in cases.items():
            codec.decode(files[k][0], weights_dir=m if Path(m).is_dir() else None)  # warm-up: load the model
        for _ in range(args.runs):
            for i in range(len(images)):
                for k, (m, _) in cases.items():
                    start = time.perf_counter()
                    codec.decode(files[k][i], weights_dir=m if Path(m).is_dir() else None)
                    times[k].append(time.perf_counter() - start)
    base = statistics.median(times["model 1"])
    print(f"{cpu_model()}, {args.threads} thread(s), {len(images)} Kodak images x "
          f"{args.runs} runs, default quality of each model; median decode time")
    for k in cases:
        med = statistics.median(times[k])
        print(f"{k:40s} {med * 1000:7.1f} ms  {med / base:5.2f}x model 1  {sum(map(len, files[k])):8d} bytes")


if __name__ == "__main__":
    main()
