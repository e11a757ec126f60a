"""Encode -> decode through the Python API with the shipped weights."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

import codec
from codec.format import container
from conftest import make_image, psnr

SIZES = [(1, 1), (7, 13), (64, 64), (255, 257), (768, 512)]


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_round_trip_size_and_mode(size, mode):
    img = make_image(*size, mode=mode)
    data = codec.encode(img, quality=6)
    out = codec.decode(data)
    assert out.size == img.size
    assert out.mode == img.mode
    if mode == "RGBA":
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(img)[..., 3])
    if min(size) >= 7:  # every size that has texture: quality 6 gives 29-33 dB on these images
        a = np.asarray(img)[..., :3]
        b = np.asarray(out)[..., :3]
        flat = np.broadcast_to(a.reshape(-1, 3).mean(0), a.shape)
        assert psnr(a, b) > max(25.0, psnr(a, flat) + 4)  # the flat mean colour would fail


def test_la_keeps_alpha():
    img = make_image(40, 30, mode="LA")
    out = codec.decode(codec.encode(img))
    assert out.mode == "LA"
    assert np.array_equal(np.asarray(out)[..., 1], np.asarray(img)[..., 1])


def test_encoding_is_deterministic():
    img = make_image(130, 70)
    assert codec.encode(img, quality=3.3) == codec.encode(img, quality=3.3)


def test_decoding_is_deterministic_and_thread_independent():
    data = codec.encode(make_image(200, 136), quality=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = np.asarray(codec.decode(data))
        torch.set_num_threads(2)
        two = np.asarray(codec.decode(data))
        again = np.asarray(codec.decode(data))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, two)
    assert np.array_equal(two, again)


@pytest.mark.parametrize("small", [True, False], ids=["stage-by-stage", "block-by-block"])
def test_both_synthesis_paths_are_thread_independent_and_agree(monkeypatch, small):
    """Small images run the synthesis stage by stage, large ones block by block through the
    whole network (here forced, with blocks of 64 px so that several join): on either path
    the pixels do not depend on the thread count, and they agree with the other path and
    with a float64 synthesis within one level."""
    import importlib
    decoding = importlib.import_module("codec.pipeline.decode")
    data = codec.encode(make_image(200, 136), quality=5)
    ref = np.asarray(codec.decode(data, dtype=torch.float64)).astype(int)
    other = np.asarray(codec.decode(data, block=64)).astype(int)
    if not small:
        monkeypatch.setattr(decoding, "SMALL_IMAGE", 0)
    threads = torch.get_num_threads()
    try:
        out = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            out.append(np.asarray(codec.decode(data, block=64)))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])
    assert np.abs(out[0] - ref).max() <= 1 and np.abs(out[0] - other).max() <= 1


def test_small_images_are_analysed_whole_as_blocks_would_be(monkeypatch):
    """An encoder's analysis of an image up to SMALL_IMAGE pixels runs whole, with all
    threads; blocks with their margins compute the same latent up to float rounding."""
    import importlib
    from codec.models.registry import find
    from codec.models.weights import load_encoder
    encoding = importlib.import_module("codec.pipeline.encode")
    rgb = np.asarray(make_image(300, 200))
    enc = load_encoder(find(None))
    whole = encoding.analyse(rgb, enc, torch.device("cpu"), block=64)
    monkeypatch.setattr(encoding, "SMALL_IMAGE", 0)
    blocks = encoding.analyse(rgb, enc, torch.device("cpu"), block=64)
    assert whole.shape == blocks.shape == (1, 128, 16, 20)  # padded to 64-px multiples
    assert torch.allclose(whole, blocks, atol=1e-4) and not torch.equal(whole, torch.zeros_like(whole))


def test_quality_is_continuous_and_recorded():
    img = make_image(128, 128)
    sizes = [len(codec.encode(img, quality=q)) for q in (2.0, 2.5, 3.0)]
    assert len(set(sizes)) == 3  # a value between levels is a rate of its own
    header = container.peek_header(codec.encode(img, quality=2.5))
    assert header.quality == 2.5


@pytest.mark.parametrize("quality", [0.5, 12.5, float("nan")])
def test_quality_out_of_range_is_refused(quality):
    with pytest.raises(ValueError):
        codec.encode(make_image(8, 8), quality=quality)


def test_accepts_paths_and_file_objects(tmp_path):
    img = make_image(50, 40)
    path = tmp_path / "a.png"
    img.save(path)
    buf = io.BytesIO(path.read_bytes())
    assert codec.encode(path) == codec.encode(str(path)) == codec.encode(buf) == codec.encode(img)


def test_exif_orientation_is_applied(tmp_path):
    img = make_image(60, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    out = np.asarray(codec.decode(codec.encode(path, quality=12)))
    assert out.shape[:2] == (60, 30)
    shown = np.asarray(Image.open(path).convert("RGB").transpose(Image.Transpose.ROTATE_270))  # as a viewer shows it
    assert psnr(out, shown) > 28 and psnr(out, shown[::-1, ::-1]) < 20  # not 180 degrees off


def test_sixteen_bit_input_is_reduced_with_a_warning():
    a = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 31)
    img = Image.fromarray(a)
    assert img.mode.startswith("I;16")
    with pytest.warns(UserWarning, match="8 bits"):
        data = codec.encode(img)
    out = np.asarray(codec.decode(data)).astype(float)
    assert out.shape == (32, 64)
    assert psnr(out, np.round(a / 257.0)) > 16


def test_each_tile_decodes_on_its_own():
    """A tile's sections and the weights give its latents, whatever the other tiles hold."""
    from codec.pipeline.decode import decode_latents, decoder_for
    from codec.pipeline.geometry import tile_boxes
    data = codec.encode(make_image(200, 136, seed=3), quality=4, tile=64)
    c = container.read(data)
    dec = decoder_for(c.header)
    assert c.header.grid == (3, 4) and len(c.tiles) == 12
    whole = decode_latents(c, dec)
    z_all, y_all = whole.array("z"), whole.array("y")
    for sections, (t, l, h, w) in zip(c.tiles, tile_boxes(c.header)):
        tile = dec.latent.read(sections, h, w)
        assert np.array_equal(tile["z"], z_all[:, t:t + h, l:l + w])
        assert np.array_equal(tile["y"], y_all[:, 4 * t:4 * (t + h), 4 * l:4 * (l + w)])
    # another tile's damage does not reach this one
    broken = container.read(container.write(
        container.Container(c.header, (tuple(b"\x01\x02\x03\x04" for _ in c.tiles[0]),) + c.tiles[1:], c.alpha)))
    y = dec.latent.read(broken.tiles[5], *tile_boxes(c.header)[5][2:])["y"]
    assert np.array_equal(y, y_all[:, 4:8, 4:8])
