"""The checkerboard context models' latent codecs (two passes; eight with channel groups):
exact integer context, files of format version 3 that decode to the encoder's symbols on
any thread count."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open
from PIL import Image
from safetensors.torch import load_file, save_file

import codec
from codec.format import container
from codec.latent.checkerboard import anchors
from codec.models.registry import local_model
from codec.models.weights import load_decoder, load_encoder
from codec.pipeline.decode import decode_latents, decoder_for
from codec.pipeline.encode import prepare, quantize
from codec.train.config import TrainConfig
from codec.train.loop import run
from codec.train.model import ModelConfig
from conftest import make_image, run_cli

CONTEXTS = {"checkerboard": ModelConfig(8, 12, context="checkerboard", lambdas=(0.001, 0.01, 0.1)),
            "checkerboard-groups": ModelConfig(8, 16, context="checkerboard-groups", lambdas=(0.001, 0.01, 0.1))}


@pytest.fixture(scope="module", params=list(CONTEXTS))
def model_dir(request, tmp_path_factory):
    """A tiny context model, trained a few steps, its context networks' output layers set
    away from their zero start (so that the later passes really depend on the earlier), exported."""
    root = tmp_path_factory.mktemp("ctx")
    (root / "img").mkdir()
    for i in range(4):
        make_image(96 + 16 * i, 80, seed=i).save(root / "img" / f"{i}.png")
    run(TrainConfig(data=str(root / "img"), out=str(root / "run"), steps=4, batch=2, crop=64, workers=0, holdout=1,
                    eval_every=100, ckpt_every=100, warmup=2, model=CONTEXTS[request.param]), progress=False)
    ckpt = root / "run" / "last.safetensors"
    with safe_open(str(ckpt), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(ckpt))
    g = torch.Generator().manual_seed(0)
    for name in [k for k in tensors if k.startswith("model.") and ".params.4." in k]:
        tensors[name] = torch.randn(tensors[name].shape, generator=g) * 0.3
    save_file(tensors, str(ckpt), metadata=meta)
    r = subprocess.run([sys.executable, "-m", "codec", "export", str(ckpt), "--out", str(root / "w"),
                        "--calibration", str(root / "img")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    agreement = float(r.stdout.rsplit("context ", 1)[1].split("%")[0])
    assert agreement > 95, r.stdout  # the integer context picks the float network's tables
    return root / "w"


@pytest.fixture(scope="module")
def files(model_dir):
    return {q: codec.encode(make_image(150, 100, seed=7), quality=q, model=model_dir, tile=64) for q in (1.0, 2.5)}


def test_files_are_version_3_with_one_stream_per_tile(files, model_dir, tmp_path):
    for data in files.values():
        c = container.read(data)
        assert c.header.version == 3 and c.header.sections == 1 and len(c.tiles) == 6
        assert all(len(s) > 0 for t in c.tiles for s in t)
    path = tmp_path / "c.dcn"
    path.write_bytes(files[2.5])
    info = run_cli("dcn", "info", path)
    assert "unknown to this dcn" in info.stdout and "section 0" in info.stdout  # not a registered model


def test_decoder_reads_the_encoders_symbols(files, model_dir):
    img = make_image(150, 100, seed=7)
    for q, data in files.items():
        a = prepare(img, model=model_dir, tile=64)
        sent = quantize(a, q).arrays()
        c = container.read(data)
        got = decode_latents(c, decoder_for(c.header, model_dir)).arrays()
        assert sent.keys() == got.keys() == {"z", "y", "indices"}
        for name in sent:
            assert np.array_equal(sent[name], got[name]), name


def test_each_pass_depends_on_the_passes_before_it_only(model_dir):
    """Another symbol in one pass changes the tables or means of a later pass (the context
    is live), and never those of its own pass or an earlier one; the first pass (the
    hyperprior's) has no mean correction."""
    codec_ = load_decoder(local_model(model_dir)).latent
    m = codec_.hyper.m
    z = np.random.default_rng(0).integers(-3, 4, (8, 2, 2))
    scales = codec_.hyper.scale_net.fixed_point_scales(z)
    passes = codec_._pass_masks(8, 8)
    assert len(passes) == (8 if codec_.kind == "checkerboard-groups" else 2)
    masks = []
    for sl, where in passes:
        mask = np.zeros((m, 8, 8), bool)
        mask[sl] = where
        masks.append(mask)
    assert np.array_equal(sum(mk.astype(int) for mk in masks), np.ones((m, 8, 8), int))  # a partition of y
    base = np.random.default_rng(1).integers(-4, 5, (m, 8, 8))

    def run_passes(q):
        return codec_._passes(scales, lambda sl, where, idx, mean: q[sl][:, where])

    y, idx, mean = run_passes(base)
    assert np.array_equal(y, base)
    assert torch.all(mean[torch.from_numpy(masks[0])] == 0)
    for p in range(len(passes) - 1):
        q = base.copy()
        c, i, j = np.argwhere(masks[p])[len(np.argwhere(masks[p])) // 2]
        q[c, i, j] += 9
        _, idx2, mean2 = run_passes(q)
        done = np.any(masks[:p + 1], axis=0)
        assert np.array_equal(idx[done], idx2[done]) and torch.equal(mean[done], mean2[done]), p
        assert not (np.array_equal(idx, idx2) and torch.equal(mean, mean2)), p


def reference(layers, a: np.ndarray) -> np.ndarray:
    """int64 evaluation with loops over taps (as in test_intnet): the exactness reference."""
    for layer in layers:
        w, b = layer.weight.numpy().astype(np.int64), layer.bias.numpy().astype(np.int64)
        k, (_, h, wd) = w.shape[-1], a.shape
        p = k // 2
        padded = np.pad(a, ((0, 0), (p, p), (p, p)))
        acc = np.zeros((w.shape[0], h, wd), np.int64) + b[:, None, None]
        for i in range(k):
            for j in range(k):
                acc += np.einsum("oc,chw->ohw", w[:, :, i, j], padded[:, i:i + h, j:j + wd])
        half = 1 << (layer.shift - 1) if layer.shift > 0 else 0
        out = (acc + half) >> layer.shift if layer.shift > 0 else acc
        a = np.clip(out, 0, 2 ** 20) if layer.relu else out
    return a


def reference_net(net, symbols: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """A context network densely in int64: its convolution over
    the clamped symbols, both inputs brought to common fractional bits, the 1x1 chain."""
    ctx = np.clip(reference(net.ctx, np.clip(symbols, -255, 255)), -2 ** 20, 2 ** 20)
    common = min(net.ctx_frac, net.scale_frac)

    def shift(a, bits):
        return (a + (1 << (bits - 1))) >> bits if bits > 0 else a

    s = np.clip(shift(scales, net.scale_frac - common), -2 ** 20, 2 ** 20)
    return reference(net.params, np.concatenate([s, shift(ctx, net.ctx_frac - common)]))


def test_integer_context_network_is_exact(model_dir):
    """The phase-split evaluation (anchors in, the others out) equals the dense 5x5 network
    in int64 at every other element, and is zero on the anchors whatever they hold."""
    net = load_decoder(local_model(model_dir)).latent.context
    rng = np.random.default_rng(3)
    mask = anchors(net.params[-1].weight.shape[0] // 2, 8, 10)
    q = rng.integers(-300, 301, mask.shape)
    scales = torch.from_numpy(rng.integers(0, 2 ** 20, mask.shape).astype(np.float64))
    d_mean, d_scale = net(q, scales, "others")
    want = reference_net(net, np.where(mask, q, 0), scales.numpy().astype(np.int64))
    got = torch.cat([d_mean, d_scale]).numpy().astype(np.int64)
    others = np.concatenate([~mask, ~mask])
    assert np.array_equal(got[others], want[others])
    assert not got[~others].any()
    assert np.array_equal(net(np.where(mask, q, 7), scales, "others")[1], d_scale)  # the others' symbols are not read


def test_integer_group_networks_are_exact(model_dir):
    """Each channel group's network equals its dense int64 evaluation where it is asked
    for (the anchors, or the others) and is zero elsewhere."""
    codec_ = load_decoder(local_model(model_dir)).latent
    if codec_.kind == "checkerboard":  # one group of all channels: no group networks
        assert codec_.groups == [slice(0, codec_.hyper.m)] and not codec_.anchor_nets and not codec_.other_nets
        return
    assert len(codec_.anchor_nets) == len(codec_.other_nets) == len(codec_.groups) - 1 == 3
    rng = np.random.default_rng(4)
    on_anchor = anchors(1, 8, 10)[0].copy()
    for nets, at, where in ((codec_.anchor_nets, "anchors", on_anchor), (codec_.other_nets, "others", ~on_anchor)):
        for net, sl in zip(nets, codec_.groups[1:]):
            q = rng.integers(-300, 301, (sl.start, 8, 10))
            scales = rng.integers(0, 2 ** 20, (sl.stop - sl.start, 8, 10))
            d_mean, d_scale = net(q, torch.from_numpy(scales.astype(np.float64)), at)
            got = torch.cat([d_mean, d_scale]).numpy().astype(np.int64)
            want = reference_net(net, q if at == "others" else np.where(on_anchor, q, 0), scales)
            assert np.array_equal(got[:, where], want[:, where])
            assert not got[:, ~where].any()
            if at == "anchors":  # before the others are decoded: it reads only anchors
                assert torch.equal(net(np.where(on_anchor, q, 7), torch.from_numpy(scales.astype(np.float64)), at)[1],
                                   d_scale)


def test_same_symbols_and_pixels_with_any_thread_count(files, model_dir):
    data = files[2.5]
    out = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            out.append(np.asarray(codec.decode(data, weights_dir=model_dir)))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(out[0], out[1])
    ref = np.asarray(codec.decode(data, weights_dir=model_dir, dtype=torch.float64))
    assert np.abs(out[0].astype(int) - ref.astype(int)).max() <= 1


@pytest.mark.parametrize("damage", [lambda s: s[4:], lambda s: s[:-4], lambda s: s + b"\x01\x02\x03\x04",
                                    lambda s: b"\x01\x02\x03\x04"])
def test_damaged_stream_is_a_clean_error(files, model_dir, damage):
    """The tile's one stream holds z and both passes of y: cut at either end (the second
    pass is decoded last, from the first words), lengthened or replaced, it is refused."""
    c = container.read(files[2.5])
    tiles = list(c.tiles)
    tiles[2] = (damage(tiles[2][0]),)
    bad = container.write(container.Container(c.header, tuple(tiles), c.alpha))
    with pytest.raises(codec.DCNError, match="corrupt file"):
        codec.decode(bad, weights_dir=model_dir)


def test_encoder_metadata_names_the_codec(model_dir):
    with safe_open(str(model_dir / "decoder.safetensors"), "pt") as f:
        meta = f.metadata()
    assert meta["latent"] in CONTEXTS and json.loads(meta["lambdas"]) == list(CONTEXTS[meta["latent"]].lambdas)
    assert load_encoder(local_model(model_dir)).decoder.max_quality == 3.0
    with pytest.raises(codec.DCNError, match="quality must be between 1 and 3"):
        codec.encode(make_image(20, 20), quality=3.5, model=model_dir)


def test_default_quality_is_the_models_lambda_0013_level(model_dir, sample_png):
    """Each model's default quality is its level trained nearest lambda 0.013: 6 for the
    default model's 12 levels (0.00045 ... 0.72), 2 for this model's (0.001, 0.01, 0.1)."""
    assert container.peek_header(codec.encode(sample_png, model=model_dir)).quality == 2.0
    assert container.peek_header(codec.encode(sample_png)).quality == 6.0


def test_default_coding_tile_is_the_models(model_dir, sample_png):
    """Without --tile the encoder uses the latent codec's own tile: 256 px for the
    checkerboard, 512 for channel groups (their decode is that much faster per pixel)."""
    want = {"checkerboard": 256, "checkerboard-groups": 512}[load_decoder(local_model(model_dir)).latent.kind]
    assert container.peek_header(codec.encode(sample_png, model=model_dir)).tile == want
    assert container.peek_header(codec.encode(sample_png, model=model_dir, tile=128)).tile == 128


def test_cli_decodes_a_trained_models_files_with_its_weights(files, model_dir, tmp_path):
    """`dcn decode --weights FOLDER` decodes files of an exported, unregistered model (the
    same pixels as the library); without it the file's model is unknown: one line, exit 1."""
    src = tmp_path / "a.dcn"
    src.write_bytes(files[2.5])
    r = run_cli("dcn", "decode", src, tmp_path / "a.png", "--weights", model_dir)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(codec.decode(files[2.5],
                                                                                             weights_dir=model_dir)))
    r = run_cli("dcn", "decode", src, tmp_path / "b.png")
    assert r.returncode == 1 and "unknown model" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b.png").exists()


def test_damaged_context_weights_are_one_line_errors(model_dir, files, tmp_path):
    """A folder of weights whose context network lacks a tensor, or (channel groups) whose
    groups do not split the latent's channels, is refused with a DCNError, not a traceback."""
    with safe_open(str(model_dir / "decoder.safetensors"), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(model_dir / "decoder.safetensors"))
    damaged = [({k: v for k, v in tensors.items() if k != "ctx_int.frac"}, meta)]
    if meta["latent"] == "checkerboard-groups":
        damaged.append((tensors, {**meta, "groups": "[2, 2]"}))
    for i, (t, m) in enumerate(damaged):
        folder = tmp_path / str(i)
        folder.mkdir()
        save_file(t, str(folder / "decoder.safetensors"), metadata=m)
        with pytest.raises(codec.DCNError, match="damaged weights"):
            load_decoder(local_model(folder))
