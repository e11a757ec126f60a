"""The committed Kodak report: report.html in bench/results/kodak/ from that run's curves
(its JSON files) and today's codecs for the size-matched crops, plus a screenshot.

    python bench/kodak_report.py ../shared/data/kodak [--images 1] [--out bench/results/kodak]

`dcn bench DIR --report` does the same in one go after measuring every codec; this script
builds the page beside results that were measured before the page existed, without
measuring the 24 images again. The screenshot (report.png) needs Chromium.
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codec.tools.bench import page, peers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kodak", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/kodak")
    ap.add_argument("--images", type=int, default=1)
    args = ap.parse_args()
    curves = {}
    for f in sorted(args.out.glob("*.json")):
        c = json.loads(f.read_text())
        if "results" in c and not peers.get(c["name"]).available():
            curves[c["name"]] = c
    order = ["dcn", "webp", "avif", "jxl", "jpeg2000", "heic", "jpeg", "jpeg444"]
    curves = {n: curves[n] for n in sorted(curves, key=lambda n: order.index(n) if n in order else len(order))}
    codecs = {n: tuple(c["results"]["quality"]) for n, c in curves.items()}
    images = sorted(args.kodak.glob("kodim*.png"))[:args.images]
    path = page.write(args.out, curves, images, codecs, "Kodak: 24 images")
    print(path)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100",
                        f"--screenshot={args.out / 'report.png'}", path.resolve().as_uri()],
                       check=True, capture_output=True)
        print(args.out / "report.png")


if __name__ == "__main__":
    main()
