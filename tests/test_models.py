"""The model registry: every released model is found by its name and by its files'
fingerprint, old files keep decoding, and choosing a model works everywhere."""
import json
import subprocess

import numpy as np
import pytest

import codec
from codec.errors import DCNError
from codec.format import container
from codec.models.registry import by_fingerprint, default_model, find, registry
from codec.models.files import DECODER_FILE, file_fingerprint
from conftest import ROOT, make_image, run_cli


def test_registered_files_are_the_released_ones():
    """Each model's decoder file still has the fingerprint its files carry, and every
    decoder ever committed to weights/ is registered (none silently dropped)."""
    models = registry()
    assert len({m.id for m in models}) == len(models)
    for m in models:
        assert file_fingerprint(m.directory / DECODER_FILE).hex() == m.fingerprint, m.id
    shipped = subprocess.run(["git", "-C", str(ROOT), "log", "--format=%h", "--diff-filter=AM", "--",
                              "weights/decoder.safetensors"],
                             capture_output=True, text=True).stdout.split()
    if not shipped:
        pytest.skip("no git history here")
    import hashlib
    fingerprints = {hashlib.sha256(subprocess.run(["git", "-C", str(ROOT), "show", f"{c}:weights/decoder.safetensors"],
                                                  capture_output=True).stdout).hexdigest()[:8] for c in shipped}
    assert fingerprints <= {m.fingerprint for m in models}


def test_names_and_the_default():
    newest = default_model()
    assert newest.has_encoder and newest == registry()[-1]
    assert find() == newest and find(newest.id) == newest and find(newest.name) == newest
    assert find("hyperprior-128-192@1").fingerprint == "41e5cab0"
    assert find("hyperprior-128-192").version == 2  # a bare name: its newest version
    with pytest.raises(DCNError, match="unknown model 'nope@1'"):
        find("nope@1")
    with pytest.raises(DCNError, match="ships no encoder"):
        codec.encode(make_image(16, 16), model="hyperprior-64-128@1")
    assert by_fingerprint(bytes.fromhex("9d91e683")).id == "hyperprior-64-128@1"
    with pytest.raises(DCNError, match="unknown model .fingerprint 01020304"):
        by_fingerprint(b"\x01\x02\x03\x04")


def test_encode_with_each_model_that_has_an_encoder(tmp_path):
    img = make_image(80, 64)
    img.save(tmp_path / "in.png")
    for m in registry():
        if not m.has_encoder:
            continue
        data = codec.encode(img, quality=3, model=m.id)
        assert container.peek_header(data).fingerprint.hex() == m.fingerprint
        out = np.asarray(codec.decode(data)).astype(float)
        assert np.mean((out - np.asarray(img)) ** 2) < np.var(np.asarray(img, float))  # better than flat grey
        path = tmp_path / "m.dcn"
        r = run_cli("dcn", "encode", tmp_path / "in.png", path, "--model", m.id)
        assert r.returncode == 0, r.stderr
        assert path.read_bytes() == codec.encode(tmp_path / "in.png", model=m.id)
        info = run_cli("dcn", "info", path)
        assert f"model:       {m.id} (fingerprint {m.fingerprint})" in info.stdout


def test_cli_names_models_and_refuses_unknown_ones(tmp_path, sample_png):
    r = run_cli("dcn", "models")
    assert r.returncode == 0
    for m in registry():
        assert m.id in r.stdout and m.fingerprint in r.stdout
    lines = r.stdout.splitlines()
    assert "(default)" in lines[-1]
    assert len({line.index(m.fingerprint) for line, m in zip(lines, registry())}) == 1  # one column, however long a name
    r = run_cli("dcn", "encode", sample_png, tmp_path / "x.dcn", "--model", "hyperprior-64-128@9")
    assert r.returncode == 1 and "unknown model" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "x.dcn").exists()


def test_quality_range_is_the_models(tmp_path):
    """A header's quality is checked against the model that file names (the default: 1 to 12)."""
    data = bytearray(codec.encode(make_image(20, 20), quality=12))
    import struct
    import zlib
    struct.pack_into("<H", data, 13, 12001)
    body = bytes(data[:-4])
    with pytest.raises(DCNError, match="quality 12.001 out of range for model"):
        codec.decode(body + struct.pack("<I", zlib.crc32(body)))


def test_registry_file_is_valid_json_with_the_fields():
    entries = json.loads((ROOT / "weights" / "models.json").read_text())["models"]
    for e in entries:
        assert {"name", "version", "fingerprint", "dir", "latent", "released", "training"} <= e.keys()


def test_import_graph_has_no_cycle():
    """Modules of the package import each other (at module level) without a cycle, and the
    decoder's modules import nothing from the encoder side or training."""
    import ast
    pkg = ROOT / "codec"
    graph = {}
    for path in pkg.rglob("*.py"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are the point
            if isinstance(node, ast.ImportFrom) and node.level:
                base = mod.split(".")[: len(mod.split(".")) - node.level + (path.name == "__init__.py")]
                target = ".".join(base + ([node.module] if node.module else []))
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("codec"))
        graph[mod] = deps
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    assert len(graph) > 40 and "codec.format.constants" in graph["codec.format.container"]  # the scan sees imports
    state = {}

    def visit(m, stack):
        state[m] = 1
        for d in graph[m]:
            assert state.get(d) != 1, "import cycle: " + " -> ".join(stack + [m, d])
            if d not in state:
                visit(d, stack + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])

    def reach(m, seen=None):
        seen = set() if seen is None else seen
        for d in graph[m]:
            if d not in seen:
                seen.add(d)
                reach(d, seen)
        return seen

    decoder_side = reach("codec.pipeline.decode")
    assert not {m for m in decoder_side if m.startswith(("codec.train", "codec.pipeline.encode", "codec.nets.analysis"))}
