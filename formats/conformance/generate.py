"""Conformance files for every registered model:

    python formats/conformance/generate.py                # the default model's files, encoded now
    python formats/conformance/generate.py --legacy       # every older model's files, encoded by the
                                                          # code and weights of its own release (git history)
    python formats/conformance/generate.py --references   # also rewrite the references of the files here

Each model has a folder (its weights folder's name) of small .dcn files; manifest.json
records, for each, its model, the SHA-256 of the file and of its decoded symbols
(identical on every machine), and its reference reconstruction: the file decoded with the
synthesis in float64, saved as NAME.png. The reconstruction is floating point, so a
float32 decoder on another CPU or a GPU sums in another order and may land on the other
side of a rounding: a conforming decode is within TOLERANCE of the reference
(formats/dcn.md). tests/test_conformance.py checks that they still decode so.

A released model's files are written once: the default model's when it is released, an
older model's by the encoder it shipped with (--legacy runs that release's own code from
a git worktree, checks that its own decoder read the same symbols and pixels within the
tolerance, and keeps the file). Regenerating never rewrites a file that exists.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import codec
from codec.format import container
from codec.models.registry import default_model, registry
from codec.models.weights import load_decoder
from codec.pipeline.decode import decode_latents, decoder_for

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLE = ROOT / "tests" / "data" / "sample.png"
MANIFEST = HERE / "manifest.json"
# Per sample at most 1 off the float64 reference, in at most 0.1 % of the samples (a float32
# decode differs in about 0.002 %); alpha, mode and size exactly.
TOLERANCE = {"max_abs": 1, "max_fraction": 0.001}

# The release commit whose code and weights wrote each older model's files, and the
# container version that code wrote. Model 41e5cab0 shipped with format 1 first, then 2.
# Models from checkerboard-64-128@1 on need no entry: this script wrote their files while
# each was the default (DEFAULT_CASES), and they stay.
LEGACY = {
    "hyperprior-128-192@1": [("43a1daa", 1), ("6b5a20e", 2)],
    "hyperprior-128-192@2": [("7867c22", 2)],
    "hyperprior-64-128@1": [("7aaf90f", 2)],
    "hyperprior-64-128@2": [("958be30", 2)],
    "hyperprior-64-128@3": [("fa6996d", 2)],
}
LEGACY_CASES = ("sample-q4.5", "crop-rgba-q6", "sample-q2-tiles64")


def symbol_hash(data: bytes) -> str:
    """SHA-256 of every symbol array of the file (int64, the codec's order: for the
    hyperprior z, the residuals of y, the table indices)."""
    c = container.read(data)
    h = hashlib.sha256()
    for a in decode_latents(c, decoder_for(c.header)).arrays().values():
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
        "sample-q1": (sample, 1.0, 512),
        "sample-q4.5": (sample, 4.5, 512),
        "sample-q8": (sample, 8.0, 512),
        "sample-q4-tiles64": (sample, 4.0, 64),
        "sample-q2-tiles64": (sample, 2.0, 64),
        "crop-grey-q3": (crop.convert("L"), 3.0, 512),
        "crop-rgba-q6": (rgba, 6.0, 512),
        "pixel-1x1-q5": (sample.crop((0, 0, 1, 1)), 5.0, 512),
    }


DEFAULT_CASES = ("sample-q1", "sample-q4.5", "sample-q8", "sample-q4-tiles64", "crop-grey-q3", "crop-rgba-q6",
                 "pixel-1x1-q5")

# Run by a release's own code (PYTHONPATH = its worktree): encode each case, decode it with
# that release's decoder, print the symbol hash. argv: out dir, then name, image, quality, tile.
OLD_CODE = r"""
import hashlib, sys
import numpy as np
import codec
from codec import bitstream
from codec.decoder import decode_latents
from codec.weights import load_decoder
out, args = sys.argv[1], sys.argv[2:]
for name, image, q, tile in zip(args[::4], args[1::4], args[2::4], args[3::4]):
    try:
        data = codec.encode(image, quality=float(q), tile=int(tile))
    except TypeError:  # format 1: no coding tiles
        data = codec.encode(image, quality=float(q))
    open(f"{out}/{name}.dcn", "wb").write(data)
    codec.decode(data).save(f"{out}/{name}.old.png")
    lat = decode_latents(bitstream.read(data), load_decoder())
    h = hashlib.sha256()
    for a in (lat.z, lat.y, lat.indices):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    print(name, h.hexdigest())
"""


def legacy_files(model_id: str, folder: Path) -> list[Path]:
    """Encode LEGACY_CASES with each release commit of the model (a git worktree), check
    that this dcn reads what that release's decoder read, and keep the files."""
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = []
        for name in LEGACY_CASES:
            img, q, tile = cases()[name]
            img.save(tmp / f"{name}.png")
            images += [name, str(tmp / f"{name}.png"), str(q), str(tile)]
        for commit, version in LEGACY[model_id]:
            tree, out = tmp / commit, tmp / f"out-{commit}"
            out.mkdir()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                           capture_output=True)
            try:
                env = {**os.environ, "PYTHONPATH": str(tree), "DCN_WEIGHTS": str(tree / "weights")}
                run = subprocess.run([sys.executable, "-c", OLD_CODE, str(out), *images], env=env, check=True,
                                     capture_output=True, text=True, cwd=tree)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
            for line in run.stdout.split("\n"):
                if not line.strip():
                    continue
                name, old_hash = line.split()
                data = (out / f"{name}.dcn").read_bytes()
                assert container.peek_header(data).version == version, (commit, name)
                assert symbol_hash(data) == old_hash, f"{commit} {name}: other symbols than its own decoder read"
                why = within_tolerance(Image.open(out / f"{name}.old.png"), codec.decode(data, dtype=torch.float64))
                assert why is None, f"{commit} {name}: its own decoder's pixels: {why}"
                dst = folder / f"{name}-v{version}.dcn"
                if not dst.exists():
                    dst.write_bytes(data)
                written.append(dst)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--references", action="store_true",
                    help="keep the .dcn files (an encode on another CPU may differ) and rewrite their references")
    ap.add_argument("--legacy", action="store_true", help="also write the files of the older models (needs git)")
    args = ap.parse_args()
    models = {m.id: m for m in registry()}
    newest = default_model()
    folder = HERE / newest.directory.name
    folder.mkdir(exist_ok=True)
    if not args.references:
        for name in DEFAULT_CASES:
            img, q, tile = cases()[name]
            path = folder / f"{name}.dcn"
            if not path.exists():
                path.write_bytes(codec.encode(img, quality=q, tile=tile, model=newest))
        top = load_decoder(newest).max_quality  # and its top level (12 for the checkerboard model)
        path = folder / f"sample-q{top:g}.dcn"
        if not path.exists():
            path.write_bytes(codec.encode(Image.open(SAMPLE).convert("RGB"), quality=top, tile=512, model=newest))
        path = folder / "sample-q6-effort2.dcn"  # a refined latent: to a decoder an ordinary file
        if not path.exists():
            path.write_bytes(codec.encode(Image.open(SAMPLE).convert("RGB"), quality=6, tile=512, model=newest,
                                          effort=2))
    if args.legacy:
        for model_id in LEGACY:
            (HERE / models[model_id].directory.name).mkdir(exist_ok=True)
            legacy_files(model_id, HERE / models[model_id].directory.name)
    manifest = {"tolerance": TOLERANCE, "files": {}}
    by_folder = {m.directory.name: m for m in registry()}
    for path in sorted(HERE.glob("*/*.dcn")):
        data = path.read_bytes()
        rel = path.relative_to(HERE).as_posix()
        reference = path.with_suffix(".png")
        if args.references or not reference.exists():
            codec.decode(data, device="cpu", dtype=torch.float64).save(reference, optimize=True)
        manifest["files"][rel] = {"model": by_folder[path.parent.name].id,
                                  "format": container.peek_header(data).version,
                                  "sha256": hashlib.sha256(data).hexdigest(), "symbols": symbol_hash(data),
                                  "reference": reference.relative_to(HERE).as_posix()}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest['files'])} files' entries for {len(set(f['model'] for f in manifest['files'].values()))}"
          " models")


if __name__ == "__main__":
    main()
