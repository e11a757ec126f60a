"""Speed and memory of DCN at 0.4, 4 and 24 megapixels, with CompressAI's mean-scale
hyperprior (same architecture, N=128, M=192, random weights) measured in the same run.

    python bench/speed.py --out bench/results/speed-DATE.md [--runs 5] [--big-runs 3]

The test images are kodim05 and two bicubic upscalings of it (made in a temporary
directory, not committed). Times are medians after one warm-up run; peak RSS is that of a
whole `dcn encode` / `dcn decode` process (/usr/bin/time -v, else getrusage).
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
SIZES = {"0.4 MP": (768, 512), "4 MP": (2448, 1632), "24 MP": (6000, 4000)}


def median_time(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def dcn_stages(path: Path, runs: int) -> dict:
    from codec.format import container
    from codec.pipeline.decode import decode_latents, synthesize
    from codec.image.io import image_bytes, load_picture, to_image
    from codec.models.registry import default_model
    from codec.models.weights import load_decoder, load_encoder
    from codec.pipeline.encode import analyse, prepare, quantize, write
    dec, enc = load_decoder(default_model()), load_encoder(default_model())
    cpu = torch.device("cpu")
    pic = load_picture(path, 2 ** 30)
    a = prepare(path, max_pixels=2 ** 30)
    data = write(a, 4.0, quantize(a, 4.0))
    c = container.read(data)
    lat = decode_latents(c, dec)
    h = c.header
    rgb = synthesize(lat, dec, h.quality, h.width, h.height, cpu)
    img = to_image(rgb, h.mode)
    r = {
        "encode: read image": median_time(lambda: load_picture(path, 2 ** 30), runs),
        "encode: analysis network": median_time(lambda: analyse(pic.rgb, enc, cpu), runs),
        "encode: hyper networks + entropy coding": median_time(lambda: write(a, 4.0, quantize(a, 4.0)), runs),
        "decode: entropy decoding + integer scale network": median_time(lambda: decode_latents(container.read(data), dec), runs),
        "decode: synthesis network": median_time(lambda: synthesize(lat, dec, h.quality, h.width, h.height, cpu), runs),
        "decode: write PNG": median_time(lambda: image_bytes(img, Path("x.png")), runs),
    }
    r["encode (in-process total)"] = sum(v for k, v in r.items() if k.startswith("encode"))
    r["decode (in-process total)"] = sum(v for k, v in r.items() if k.startswith("decode"))
    r["bytes"] = len(data)
    return r


def compressai_times(path: Path, runs: int) -> dict:
    tv = types.ModuleType("torchvision")  # CompressAI imports torchvision.transforms; its models never use it
    tv.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.transforms", tv.transforms)
    from compressai.models import MeanScaleHyperprior
    torch.manual_seed(0)
    model = MeanScaleHyperprior(128, 192).eval()
    model.update(force=True)
    img = np.asarray(Image.open(path).convert("RGB"))
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    h, w = x.shape[-2:]
    x = torch.nn.functional.pad(x, (0, -w % 64, 0, -h % 64), mode="replicate")
    with torch.no_grad():
        out = model.compress(x)
        return {"encode": median_time(lambda: model.compress(x), runs),
                "decode": median_time(lambda: model.decompress(out["strings"], out["shape"]), runs)}


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a whole process."""
    t = time.perf_counter()
    if Path("/usr/bin/time").exists():
        r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr[-2000:])
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    else:
        subprocess.run(cmd, check=True, capture_output=True)
        import resource
        kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kb / 1024, time.perf_counter() - t


def machine() -> str:
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else cpu
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big-runs", type=int, default=3, help="runs for the 24 MP image")
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared/data/kodak/kodim05.png")
    ap.add_argument("--no-compressai", action="store_true")
    args = ap.parse_args()
    dcn = str(Path(sys.executable).parent / "dcn")
    results = {"machine": machine(), "command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d"), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        src = Image.open(args.source).convert("RGB")
        for label, (w, h) in SIZES.items():
            path = Path(tmp) / f"{w}x{h}.png"
            (src if src.size == (w, h) else src.resize((w, h), Image.Resampling.BICUBIC)).save(path, compress_level=1)
            runs = args.big_runs if w * h > 10 ** 7 else args.runs
            print(f"{label}: DCN stages ({runs} runs)", flush=True)
            r = {"pixels": w * h, "runs": runs, "dcn": dcn_stages(path, runs)}
            if not args.no_compressai and w * h < 10 ** 7:  # untiled CompressAI needs >20 GB at 24 MP
                print(f"{label}: CompressAI", flush=True)
                r["compressai"] = compressai_times(path, runs)
            out_dcn, out_png = Path(tmp) / "o.dcn", Path(tmp) / "o.png"
            r["rss_encode_mb"], r["process_encode_s"] = peak_rss_mb([dcn, "encode", str(path), str(out_dcn)])
            r["rss_decode_mb"], r["process_decode_s"] = peak_rss_mb([dcn, "decode", str(out_dcn), str(out_png)])
            results["sizes"][label] = r
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    args.out.write_text(markdown(results))
    print(markdown(results))


def markdown(res: dict) -> str:
    lines = [f"# DCN speed and memory, {res['date']}", "", f"Machine: {res['machine']}.", "",
             f"Command: `{res['command']}`", "",
             "In-process times are medians after a warm-up (seconds); MP/s counts image pixels. "
             "CompressAI: `MeanScaleHyperprior(128, 192)`, random weights, untiled, same torch build; "
             "ratio = CompressAI time / DCN time (above 1: DCN is faster). Peak RSS: whole "
             "`dcn encode` / `dcn decode` process at quality 4, default tile (256 px).", ""]
    for label, r in res["sizes"].items():
        d = r["dcn"]
        mp = r["pixels"] / 1e6
        lines += [f"## {label} ({r['pixels']:,} pixels, {r['runs']} runs)", "", "| stage | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in d.items() if k != "bytes"]
        lines += ["", "| | encode | decode |", "|---|---:|---:|",
                  f"| DCN throughput (MP/s) | {mp / d['encode (in-process total)']:.2f} | "
                  f"{mp / d['decode (in-process total)']:.2f} |",
                  f"| whole process wall time (s) | {r['process_encode_s']:.2f} | {r['process_decode_s']:.2f} |",
                  f"| whole process peak RSS (MB) | {r['rss_encode_mb']:.0f} | {r['rss_decode_mb']:.0f} |"]
        if "compressai" in r:
            c = r["compressai"]
            enc_net = d["encode: analysis network"] + d["encode: hyper networks + entropy coding"]
            dec_net = d["decode (in-process total)"] - d["decode: write PNG"]
            lines += [f"| CompressAI compress / decompress (s) | {c['encode']:.3f} | {c['decode']:.3f} |",
                      f"| ratio CompressAI / DCN (same work: no image I/O) | {c['encode'] / enc_net:.2f} | "
                      f"{c['decode'] / dec_net:.2f} |"]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
