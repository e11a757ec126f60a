"""Rate control (size, bpp, PSNR targets) and the Pillow plugin."""
import io
import shutil

import numpy as np
import pytest
from PIL import Image

import codec
from codec import bitstream
from codec.errors import DCNError
from codec.ratecontrol import parse_size
from conftest import KODAK, make_image, psnr, run_cli


@pytest.fixture(scope="module")
def photo():
    if (KODAK / "kodim05.png").exists():
        return Image.open(KODAK / "kodim05.png").convert("RGB")
    return make_image(512, 384)


def test_parse_size():
    assert parse_size("120KB") == 120000
    assert parse_size("1.5MB") == 1500000
    assert parse_size("2KiB") == 2048
    assert parse_size("777") == 777
    with pytest.raises(DCNError):
        parse_size("lots")


def test_target_size_fits_and_is_close(photo):
    small = len(codec.encode(photo, quality=1.5))
    large = len(codec.encode(photo, quality=7.5))
    for target in np.linspace(small, large, 4).astype(int):
        data = codec.encode(photo, target_size=int(target))
        assert len(data) <= target
        assert len(data) >= 0.97 * target


def test_target_bpp(photo):
    w, h = photo.size
    target = 8 * len(codec.encode(photo, quality=4.2)) / (w * h)
    data = codec.encode(photo, target_bpp=target)
    assert 0.97 * target <= 8 * len(data) / (w * h) <= target


def test_target_psnr_is_reached_and_close(photo):
    low = psnr(np.asarray(codec.decode(codec.encode(photo, quality=2))), np.asarray(photo))
    high = psnr(np.asarray(codec.decode(codec.encode(photo, quality=7))), np.asarray(photo))
    target = (low + high) / 2
    data = codec.encode(photo, target_psnr=target)
    got = psnr(np.asarray(codec.decode(data)), np.asarray(photo))
    assert target <= got <= target + 0.15


def test_unreachable_targets(photo, tmp_path):
    with pytest.raises(DCNError, match="cannot be met"):
        codec.encode(photo, target_size=50)
    with pytest.raises(DCNError, match="cannot be met"):
        codec.encode(photo, target_psnr=99)
    with pytest.warns(UserWarning, match="not met"):
        data = codec.encode(photo, target_size=50, best_effort=True)
    assert bitstream.peek_header(data).quality == 1.0
    src, out = tmp_path / "p.png", tmp_path / "p.dcn"
    photo.save(src)
    r = run_cli("dcn", "encode", src, out, "--target-size", "50")
    assert r.returncode == 1 and "cannot be met" in r.stderr and not out.exists()
    reachable = len(codec.encode(photo, quality=3))
    r = run_cli("dcn", "encode", src, out, "--target-size", str(reachable))
    assert r.returncode == 0 and "bytes" in r.stdout and out.stat().st_size <= reachable


def test_pillow_open_and_save(tmp_path):
    img = make_image(90, 70, mode="RGBA")
    path = tmp_path / "x.dcn"
    img.save(path, quality=6)
    assert bitstream.peek_header(path.read_bytes()).quality == 6
    renamed = tmp_path / "x.bin"
    shutil.copy(path, renamed)
    with Image.open(renamed) as opened:
        assert opened.format == "DCN" and opened.size == (90, 70) and opened.mode == "RGBA"
        pixels = np.asarray(opened)
    assert np.array_equal(pixels, np.asarray(codec.decode(path.read_bytes())))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="DCN")
    buf.seek(0)
    assert Image.open(buf).mode == "RGB"


def test_pillow_decompression_bomb_guard(tmp_path, monkeypatch):
    path = tmp_path / "x.dcn"
    make_image(90, 70).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
