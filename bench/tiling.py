"""Tiled coding (issue #7): what coding tiles cost in rate and quality on Kodak, and the
memory and speed of whole `dcn encode` / `dcn decode` processes on large images.

    python bench/tiling.py rate ../shared/data/kodak --out bench/results/tiling-rate-DATE.md
    python bench/tiling.py memory --out bench/results/tiling-memory-DATE.md [--sizes 24 100]

rate: every Kodak image at qualities 1, 2, 4, 6, coded with coding tiles of 128, 256 and
512 px and as one tile; file bytes and PSNR-RGB of the decoded file, against one tile.
memory: bicubic upscalings of kodim05 (made in a temporary directory, not committed);
peak RSS and wall time from /usr/bin/time -v, default options, quality 4; plus the same
image with the networks run untiled (in-process, the analysis/synthesis in one piece).
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TILES = (128, 256, 512)
WHOLE = 1024  # one tile for a Kodak image (768 px), and the largest the checkerboard model codes
QUALITIES = (1.0, 2.0, 4.0, 6.0)


def rate(kodak: Path, out: Path) -> None:
    import codec
    from codec.image.metrics import psnr_rgb
    rows = []
    for path in sorted(kodak.glob("kodim*.png")):
        img = Image.open(path).convert("RGB")
        ref = np.asarray(img)
        for q in QUALITIES:
            res = {}
            for tile in TILES + (WHOLE,):
                data = codec.encode(img, quality=q, tile=tile)
                res[tile] = (len(data), psnr_rgb(np.asarray(codec.decode(data)), ref))
            rows.append((path.stem, q, res))
            print(path.stem, q, {t: (b, round(p, 3)) for t, (b, p) in res.items()}, flush=True)
    lines = [f"# Coding tiles on Kodak, {time.strftime('%Y-%m-%d')}", "",
             f"Command: `python bench/tiling.py rate {kodak} --out {out}`", "",
             f"24 images × qualities {', '.join(f'{q:g}' for q in QUALITIES)}; bytes are whole files; ratio and ΔPSNR against the same "
             "image and quality coded as one tile.", "",
             "| coding tile | tiles per Kodak image | mean bytes ratio | min … max ratio | mean ΔPSNR (dB) "
             "| min … max ΔPSNR |", "|---|---|---|---|---|---|"]
    for tile in TILES:
        ratios = [r[tile][0] / r[WHOLE][0] for _, _, r in rows]
        deltas = [r[tile][1] - r[WHOLE][1] for _, _, r in rows]
        count = -(-512 // tile) * -(-768 // tile)
        lines.append(f"| {tile} px | {count} | {statistics.mean(ratios):.4f} | {min(ratios):.4f} … {max(ratios):.4f} "
                     f"| {statistics.mean(deltas):+.4f} | {min(deltas):+.4f} … {max(deltas):+.4f} |")
    for q in QUALITIES:
        sel = [r for _, qq, r in rows if qq == q]
        lines.append("")
        lines.append(f"Quality {q:g}: mean bytes " + ", ".join(
            f"{'one tile' if t == WHOLE else f'{t} px'} {statistics.mean(r[t][0] for r in sel):.0f}"
            for t in TILES + (WHOLE,)) + "; mean PSNR " + ", ".join(
            f"{'one tile' if t == WHOLE else f'{t} px'} {statistics.mean(r[t][1] for r in sel):.3f}"
            for t in TILES + (WHOLE,)))
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a whole process."""
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return wall, rss


UNTILED = """
import sys, torch
from codec.pipeline import encode, decode
mode, src, dst = sys.argv[1:]
if mode == "encode":
    a = encode.prepare(src, max_pixels=2 ** 30)
    # the analysis in one piece instead of blocks
    a.y = encode.analyse(a.picture.rgb, a.enc, torch.device("cpu"), block=1 << 20)
    open(dst, "wb").write(encode.write(a, 4.0, encode.quantize(a, 4.0)))
else:
    data = open(src, "rb").read()
    img = decode.decode(data, max_pixels=2 ** 30, block=1 << 20)
    img.save(dst)
"""


def memory(sizes: list[int], out: Path) -> None:
    dcn = str(Path(sys.executable).with_name("dcn"))
    src = Image.open(ROOT.parent / "shared" / "data" / "kodak" / "kodim05.png").convert("RGB")
    lines = [f"# Large images: peak memory and throughput, {time.strftime('%Y-%m-%d')}", "",
             f"Command: `python bench/tiling.py memory --sizes {' '.join(map(str, sizes))} --out {out}`", "",
             "Whole processes under /usr/bin/time -v, quality 4. Tiled: the default options "
             "(analysis and synthesis in 256-px network tiles, 128-px coding tiles). Untiled: "
             "the same code with the analysis / synthesis network run on the whole image at once.", "",
             "| image | run | encode wall (s) | encode MP/s | encode peak RSS (MB) | decode wall (s) "
             "| decode MP/s | decode peak RSS (MB) | file bytes |", "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for mp in sizes:
            w = -(-int((mp * 1e6 * 1.5) ** 0.5) // 64) * 64
            h = -(-int(w / 1.5) // 64) * 64
            png = tmp / f"{mp}mp.png"
            src.resize((w, h), Image.Resampling.BICUBIC).save(png, compress_level=1)
            runs = [("tiled", [dcn, "encode", str(png), str(tmp / "t.dcn"), "--max-pixels", str(2 ** 30)],
                     [dcn, "decode", str(tmp / "t.dcn"), str(tmp / "t.png"), "--max-pixels", str(2 ** 30)])]
            if mp <= 24:
                runs.append(("untiled", [sys.executable, "-c", UNTILED, "encode", str(png), str(tmp / "u.dcn")],
                             [sys.executable, "-c", UNTILED, "decode", str(tmp / "u.dcn"), str(tmp / "u.png")]))
            for name, enc_cmd, dec_cmd in runs:
                try:
                    ew, er = timed(enc_cmd)
                    dw, dr = timed(dec_cmd)
                except RuntimeError as exc:
                    lines.append(f"| {w}×{h} ({w * h / 1e6:.1f} MP) | {name} | failed: {str(exc)[-80:]!r} |||||||")
                    continue
                size = (tmp / ("t.dcn" if name == "tiled" else "u.dcn")).stat().st_size
                lines.append(f"| {w}×{h} ({w * h / 1e6:.1f} MP) | {name} | {ew:.1f} | {w * h / 1e6 / ew:.2f} | {er:.0f} "
                             f"| {dw:.1f} | {w * h / 1e6 / dw:.2f} | {dr:.0f} | {size} |")
                print(lines[-1], flush=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rate")
    r.add_argument("kodak", type=Path)
    r.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("memory")
    m.add_argument("--sizes", type=int, nargs="+", default=[24, 100])
    m.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.cmd == "rate":
        rate(args.kodak, args.out)
    else:
        memory(args.sizes, args.out)


if __name__ == "__main__":
    main()
