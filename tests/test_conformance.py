"""The conformance files (formats/conformance) of every registered model decode to their
recorded symbols, and to pixels within the tolerance of their float64 reference
reconstructions: files written by every release keep decoding."""
import hashlib
import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

import codec
from codec.format import container
from codec.models.registry import registry
from conftest import ROOT

CONFORMANCE = ROOT / "formats" / "conformance"
spec = importlib.util.spec_from_file_location("generate", CONFORMANCE / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)
MANIFEST = json.loads((CONFORMANCE / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST["files"]))
def test_conformance_file(name):
    entry = MANIFEST["files"][name]
    data = (CONFORMANCE / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "the file itself changed"
    assert generate.symbol_hash(data) == entry["symbols"]
    reference = Image.open(CONFORMANCE / entry["reference"])
    assert generate.within_tolerance(codec.decode(data), reference) is None
    assert container.peek_header(data).version == entry["format"]


def test_every_registered_model_has_conformance_files():
    covered = {entry["model"] for entry in MANIFEST["files"].values()}
    assert covered == {m.id for m in registry()}
    formats = {entry["format"] for entry in MANIFEST["files"].values()}
    assert formats == {1, 2, 3}  # the first release's format too


def test_tolerance_rejects_what_it_should():
    reference = Image.open(CONFORMANCE / MANIFEST["files"]["hyperprior-64-128-v3/crop-rgba-q6.dcn"]["reference"])
    assert MANIFEST["tolerance"] == generate.TOLERANCE
    px = np.asarray(reference).copy()
    flipped = px.copy()
    flipped[0, 0, 0] ^= 1  # one sample one off: a rounding, conforming
    assert generate.within_tolerance(Image.fromarray(flipped, "RGBA"), reference) is None
    off = px.copy()
    off[0, 0, 0] = (int(off[0, 0, 0]) + 2) % 256
    assert "off the reference" in generate.within_tolerance(Image.fromarray(off, "RGBA"), reference)
    many = px.copy()
    many[:4, :, 0] ^= 1
    assert "differ" in generate.within_tolerance(Image.fromarray(many, "RGBA"), reference)
    alpha = px.copy()
    alpha[0, 0, 3] ^= 1
    assert generate.within_tolerance(Image.fromarray(alpha, "RGBA"), reference) == "the alpha plane differs"
    assert generate.within_tolerance(reference.convert("RGB"), reference).startswith("RGB")
