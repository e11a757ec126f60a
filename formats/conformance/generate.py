"""Regenerate the conformance files after the shipped weights change:

    python formats/conformance/generate.py

Writes a few small .dcn files and manifest.json with, for each, the SHA-256 of the file,
of its decoded symbols (identical on every machine) and of its decoded pixels (mode,
size and raw bytes). tests/test_conformance.py checks that they still decode to these.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

import codec
from codec import bitstream
from codec.decoder import decode_latents
from codec.weights import load_decoder

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "tests" / "data" / "sample.png"


def pixel_hash(img: Image.Image) -> str:
    h = hashlib.sha256(f"{img.mode} {img.width} {img.height}\n".encode())
    h.update(np.ascontiguousarray(np.asarray(img)).tobytes())
    return h.hexdigest()


def symbol_hash(data: bytes) -> str:
    lat = decode_latents(bitstream.read(data), load_decoder())
    h = hashlib.sha256()
    for a in (lat.z, lat.y, lat.indices):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


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
    manifest = {"weights": load_decoder().fingerprint.hex(), "files": {}}
    for name, (img, q, tile) in cases().items():
        data = codec.encode(img, quality=q, tile=tile)
        (HERE / name).write_bytes(data)
        decoded = codec.decode(data)
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "symbols": symbol_hash(data),
                                   "pixels": pixel_hash(decoded), "mode": decoded.mode,
                                   "size": [decoded.width, decoded.height]}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest['files'])} files for weights {manifest['weights']}")


if __name__ == "__main__":
    main()
