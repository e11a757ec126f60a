"""Regenerate the conformance files after the shipped weights change:

    python formats/conformance/generate.py               # encode the files, then their references
    python formats/conformance/generate.py --references  # only the references of the files here

Writes a few small .dcn files and manifest.json with, for each, the SHA-256 of the file and
of its decoded symbols (identical on every machine), and its reference reconstruction:
the file decoded with the synthesis in float64, saved as NAME.png. The reconstruction is
floating point, so a float32 decoder on another CPU or a GPU sums in another order and
may land on the other side of a rounding: a conforming decode is within TOLERANCE of the
reference (formats/dcn.md). tests/test_conformance.py checks that they still decode so.
"""
import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import codec
from codec import bitstream
from codec.decoder import decode_latents
from codec.weights import load_decoder

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "tests" / "data" / "sample.png"
# Per sample at most 1 off the float64 reference, in at most 0.1 % of the samples (a float32
# decode differs in about 0.002 %); alpha, mode and size exactly.
TOLERANCE = {"max_abs": 1, "max_fraction": 0.001}


def symbol_hash(data: bytes) -> str:
    lat = decode_latents(bitstream.read(data), load_decoder())
    h = hashlib.sha256()
    for a in (lat.z, lat.y, lat.indices):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def within_tolerance(img: Image.Image, reference: Image.Image) -> str | None:
    """None when img is a conforming decode of the file whose reference is given, else why not."""
    if (img.mode, img.size) != (reference.mode, reference.size):
        return f"{img.mode} {img.size}, the reference is {reference.mode} {reference.size}"
    a, b = np.asarray(img).astype(np.int16), np.asarray(reference).astype(np.int16)
    if img.mode in ("LA", "RGBA") and not np.array_equal(a[..., -1], b[..., -1]):
        return "the alpha plane differs"
    diff = np.abs(a - b)
    if diff.max() > TOLERANCE["max_abs"]:
        return f"a sample is {diff.max()} off the reference"
    if np.mean(diff > 0) > TOLERANCE["max_fraction"]:
        return f"{np.mean(diff > 0):.3%} of the samples differ from the reference"
    return None


def cases() -> dict[str, tuple[Image.Image, float, int]]:
    """name -> (image, quality, coding tile)."""
    sample = Image.open(SAMPLE).convert("RGB")
    crop = sample.crop((100, 60, 196, 124))
    rgba = crop.convert("RGBA")
    rgba.putalpha(crop.convert("L").point(lambda v: 255 if v > 100 else v))
    return {
        "sample-q1.dcn": (sample, 1.0, 512),
        "sample-q4.5.dcn": (sample, 4.5, 512),
        "sample-q8.dcn": (sample, 8.0, 512),
        "sample-q4-tiles64.dcn": (sample, 4.0, 64),
        "crop-grey-q3.dcn": (crop.convert("L"), 3.0, 512),
        "crop-rgba-q6.dcn": (rgba, 6.0, 512),
        "pixel-1x1-q5.dcn": (sample.crop((0, 0, 1, 1)), 5.0, 512),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--references", action="store_true",
                    help="keep the .dcn files (an encode on another CPU may differ) and rewrite their references")
    args = ap.parse_args()
    manifest = {"weights": load_decoder().fingerprint.hex(), "tolerance": TOLERANCE, "files": {}}
    for name, (img, q, tile) in cases().items():
        if not args.references:
            (HERE / name).write_bytes(codec.encode(img, quality=q, tile=tile))
        data = (HERE / name).read_bytes()
        reference = Path(name).with_suffix(".png").name
        codec.decode(data, device="cpu", dtype=torch.float64).save(HERE / reference, optimize=True)
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "symbols": symbol_hash(data),
                                   "reference": reference}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest['files'])} files for weights {manifest['weights']}")


if __name__ == "__main__":
    main()
