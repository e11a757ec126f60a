"""The conformance files (formats/conformance) decode to their recorded symbols and pixels."""
import hashlib
import importlib.util
import json

import pytest

import codec
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
    img = codec.decode(data)
    assert img.mode == entry["mode"] and list(img.size) == entry["size"]
    assert generate.pixel_hash(img) == entry["pixels"]

