"""Peak memory (RSS) and time of encoding a 24 MP photograph at each encoder effort, each in
a fresh process (`dcn encode --effort E`, the command users run).

    python bench/effort_memory.py --out bench/results/effort-memory-DATE.md [--cap-steps 2]

The image is 6 x 4 training photographs (each scaled to 1000 x 1000) side by side:
real content at 6000 x 4000, not a smooth synthetic. Refinement works block by block
(codec/pipeline/refine.py); the memory of a step does not depend on how many steps a block
takes, so --cap-steps S runs the levels above 1 with at most S steps a block
(DCN_REFINE_STEPS_CAP) to bound the run's time; level 1 always runs in full.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"

PEAK = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def mosaic(path: Path) -> None:
    photos = sorted(p for p in TRAIN.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:24]
    if len(photos) < 24:
        sys.exit(f"needs 24 photographs in {TRAIN}")
    canvas = Image.new("RGB", (6000, 4000))
    for i, p in enumerate(photos):
        with Image.open(p) as im:
            canvas.paste(im.convert("RGB").resize((1000, 1000), Image.LANCZOS), (1000 * (i % 6), 1000 * (i // 6)))
    canvas.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cap-steps", type=int, default=0, help="at most this many steps a block above effort 1")
    ap.add_argument("--efforts", default="0,1,2,3")
    args = ap.parse_args()
    dcn = str(Path(sys.executable).parent / "dcn")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "mosaic-24mp.png"
        mosaic(image)
        for effort in [int(e) for e in args.efforts.split(",")]:
            env = dict(os.environ)
            if args.cap_steps and effort > 1:
                env["DCN_REFINE_STEPS_CAP"] = str(args.cap_steps)
            t = time.perf_counter()
            run = subprocess.run([sys.executable, "-c", PEAK, dcn, "encode", str(image), f"{tmp}/e.dcn",
                                  "--effort", str(effort), "--max-pixels", "30000000"],
                                 env=env, capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - t
            peak_mb = int(run.stdout.split()[-1]) / 1024
            size = Path(f"{tmp}/e.dcn").stat().st_size
            capped = f"at most {args.cap_steps} steps a block" if args.cap_steps and effort > 1 else "full"
            rows.append(f"| {effort} | {capped} | {peak_mb:.0f} | {seconds:.0f} | {size} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        f"# Encoder effort on a 24 MP photograph (6000 x 4000 mosaic of 24 training photos), {time.strftime('%Y-%m-%d')}",
        "", f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch threads: default.",
        f"Command: `python bench/effort_memory.py --out {args.out} --cap-steps {args.cap_steps} --efforts {args.efforts}`",
        "", "| effort | steps | peak RSS (MB) | wall (s) | bytes |", "|---:|---|---:|---:|---:|", *rows, ""])
    args.out.write_text(text)


if __name__ == "__main__":
    main()
