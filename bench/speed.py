"""Encode and decode speed of DCN against CompressAI's same-size model, on Kodak and at
24 MP, with peak memory, and the 24 MP decode of an older checkout in the same run.

    PYTHONPATH=/path/to/compressai-and-its-deps python bench/speed.py ../shared/data/kodak \
        --out bench/results/speed-DATE.md [--old /tmp/old-checkout] [--images 6] [--runs 3]

Kodak, in one process: DCN's default model decodes .dcn bytes to a PIL image and encodes
a PIL image to bytes (the public API, `codec.decode` / `codec.encode`, default quality);
CompressAI's `MeanScaleHyperprior(64, 128)` (the transforms and hyperprior of DCN's
models without DCN's checkerboard context pass, random weights after `update()`) does `compress` / `decompress` of the same image, with the
conversions from and to a PIL image. Medians of --runs after a warm-up, per image; the
table gives the median over images. CompressAI needs torchvision only for an import that
its models never use; a stub stands in for it (PyPI's torchvision does not load beside
the CPU build of torch used here). Without CompressAI importable its rows are left out.

24 MP (kodim05 upscaled bicubically to 6000 x 4000, made in a temporary directory): whole
`dcn encode` / `dcn decode` processes of this tree and of --old, one run each, wall time
and peak RSS from /usr/bin/time -v; each tree decodes the file it encoded.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIG = (6000, 4000)


def median_time(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def dcn_codec(model: str):
    """(encode, decode) of DCN's public API with a model: PIL image -> bytes -> PIL image."""
    import codec
    return (lambda img: codec.encode(img, model=model)), (lambda data, size: codec.decode(data).load())


def compressai_codec():
    """(encode, decode) of CompressAI's MeanScaleHyperprior(64, 128), or None where it does not import."""
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.transforms", tv.transforms)
    try:
        from compressai.models import MeanScaleHyperprior
    except ImportError as exc:
        print(f"CompressAI not importable ({exc}): left out", file=sys.stderr)
        return None
    torch.manual_seed(0)
    model = MeanScaleHyperprior(64, 128).eval()
    model.update(force=True)

    @torch.no_grad()
    def compress(img):
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255
        h, w = x.shape[-2:]
        return model.compress(torch.nn.functional.pad(x, (0, -w % 64, 0, -h % 64), mode="replicate"))

    @torch.no_grad()
    def decompress(out, size):
        x = model.decompress(out["strings"], out["shape"])["x_hat"][0, :, :size[1], :size[0]]
        return Image.fromarray(torch.round(x.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy())

    return compress, decompress


def kodak_times(images: list[Image.Image], codecs: dict, runs: int) -> dict:
    """Median over images of each image's median encode and decode time; the codecs take
    turns on each image, so that a slow spell of the machine does not fall on one of them."""
    times = {name: {"encode": [], "decode": []} for name in codecs}
    for img in images:
        for name, (enc, dec) in codecs.items():
            data = enc(img)
            times[name]["encode"].append(median_time(lambda: enc(img), runs))
            times[name]["decode"].append(median_time(lambda: dec(data, img.size), runs))
    return {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}


def process(cmd: list[str], tree: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a whole process run with `tree` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, cwd=tree.parent)
    wall = time.perf_counter() - t
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    return wall, int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024


def big_image(trees: dict, source: Path, tmp: Path) -> dict:
    path = tmp / "24mp.png"
    Image.open(source).convert("RGB").resize(BIG, Image.Resampling.BICUBIC).save(path, compress_level=1)
    out = {}
    for name, tree in trees.items():
        cli = [sys.executable, "-c", "import sys; from codec.tools.cli import main; sys.argv[0] = 'dcn'; main()"]
        f, png = tmp / f"{name}.dcn", tmp / f"{name}.png"
        print(f"24 MP: {name} encode", flush=True)
        enc = process(cli + ["encode", str(path), str(f), "--max-pixels", "30000000"], tree)
        print(f"24 MP: {name} decode", flush=True)
        dec = process(cli + ["decode", str(f), str(png), "--max-pixels", "30000000"], tree)
        out[name] = {"encode_s": enc[0], "encode_mb": enc[1], "decode_s": dec[0], "decode_mb": dec[1],
                     "bytes": f.stat().st_size, "commit": commit(tree)}
    return out


def commit(tree: Path) -> str:
    r = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" + uncommitted changes" if dirty else "")


def machine() -> str:
    m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").exists() else None
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = "AMX" if "amx_tile" in flags else "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "?"
    return (f"{m.group(1) if m else platform.processor()} ({isa}), {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kodak", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--old", type=Path, help="another checkout of this repository, for the 24 MP comparison")
    ap.add_argument("--no-big", action="store_true", help="skip the 24 MP measurements")
    args = ap.parse_args()
    paths = sorted(args.kodak.glob("kodim*.png"))[:args.images]
    images = [Image.open(p).convert("RGB") for p in paths]
    res = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
           "images": [p.name for p in paths], "runs": args.runs, "kodak": {}}
    from codec.models.registry import default_model
    model = default_model().id  # the only released model that still ships an encoder
    codecs = {f"DCN {model}": dcn_codec(model)}
    peer = compressai_codec()
    if peer:
        codecs["CompressAI MeanScaleHyperprior(64, 128)"] = peer
    print("Kodak: " + ", ".join(codecs), flush=True)
    res["kodak"] = kodak_times(images, codecs, args.runs)
    if not args.no_big:
        trees = {"this tree": ROOT, **({"old": args.old.resolve()} if args.old else {})}
        with tempfile.TemporaryDirectory() as tmp:
            res["big"] = big_image(trees, paths[min(4, len(paths) - 1)], Path(tmp))
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    args.out.write_text(markdown(res))
    print(markdown(res))


def markdown(res: dict) -> str:
    lines = [f"# DCN speed, {res['date']}", "", f"Machine: {res['machine']}.", "", f"Command: `{res['command']}`", "",
             f"## Kodak, in one process ({len(res['images'])} images, median over images of each image's median "
             f"of {res['runs']} runs after a warm-up)", "",
             "| | encode (s) | decode (s) |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['encode']:.3f} | {v['decode']:.3f} |" for k, v in res["kodak"].items()]
    peer = res["kodak"].get("CompressAI MeanScaleHyperprior(64, 128)")
    if peer:
        lines += ["", "CompressAI time / DCN time (above 1: DCN is faster):", ""]
        lines += [f"- {k}: encode {peer['encode'] / v['encode']:.2f}, decode {peer['decode'] / v['decode']:.2f}"
                  for k, v in res["kodak"].items() if not k.startswith("CompressAI")]
    if "big" in res:
        lines += ["", "## 24 MP (6000 x 4000), whole processes, one run each", "",
                  "| tree | encode (s) | encode peak RSS (MB) | decode (s) | decode peak RSS (MB) | bytes |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {k} ({v['commit']}) | {v['encode_s']:.1f} | {v['encode_mb']:.0f} | {v['decode_s']:.1f} | "
                  f"{v['decode_mb']:.0f} | {v['bytes']:,} |" for k, v in res["big"].items()]
        if "old" in res["big"]:
            new, old = res["big"]["this tree"], res["big"]["old"]
            lines += ["", f"Old / this tree: encode {old['encode_s'] / new['encode_s']:.2f}x, decode "
                          f"{old['decode_s'] / new['decode_s']:.2f}x."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
