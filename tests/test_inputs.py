"""Every kind of encoder input: encoded sensibly, or refused with a clear message and no
output file."""
import io
import warnings

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import DCNError
from conftest import make_image, psnr, run_cli


def roundtrip(img: Image.Image, **kw) -> tuple[Image.Image, Image.Image]:
    """(decoded at the top quality, the source as Pillow reads it back)."""
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    source = Image.open(io.BytesIO(buf.getvalue()))
    source.load()
    buf.seek(0)
    return codec.decode(codec.encode(buf, quality=12)), source


def test_palette_with_and_without_transparency():
    p = make_image(64, 48).convert("P")
    out, src = roundtrip(p)
    assert out.mode == "RGB" and psnr(np.asarray(out), np.asarray(src.convert("RGB"))) > 20  # dithered: 22 dB
    p.info["transparency"] = 0
    out, src = roundtrip(p)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[..., 3], np.asarray(src.convert("RGBA"))[..., 3])


def test_cmyk_becomes_rgb():
    out, src = roundtrip(make_image(64, 48).convert("CMYK"), format="JPEG")
    assert out.mode == "RGB" and out.size == (64, 48)
    assert psnr(np.asarray(out), np.asarray(src.convert("RGB"))) > 30  # the colours, not an inversion


def test_one_bit_becomes_grey():
    bits = make_image(64, 48).convert("L").point(lambda v: 255 if v > 128 else 0).convert("1")
    out, src = roundtrip(bits)
    grey = np.asarray(src.convert("L")).astype(float)
    assert out.mode == "L"
    assert psnr(np.asarray(out), grey) > psnr(np.asarray(out), 255 - grey) + 10


def test_la_keeps_alpha_exactly():
    img = make_image(33, 17, mode="LA")
    out, _ = roundtrip(img)
    assert out.mode == "LA"
    assert np.array_equal(np.asarray(out)[..., 1], np.asarray(img)[..., 1])


def _png16(a: np.ndarray, path) -> None:
    """A 16-bit RGB or RGBA PNG, written by hand (Pillow cannot write one)."""
    import struct
    import zlib
    h, w, c = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_rgb_png_warns(tmp_path, channels):
    """Pillow reduces 16-bit RGB(A) to 8 bits as it loads: the reduction used to be silent."""
    a = (np.asarray(make_image(40, 30, mode="RGBA" if channels == 4 else "RGB")).astype(np.uint16) * 257)
    path = tmp_path / "deep.png"
    _png16(a, path)
    with pytest.warns(UserWarning, match="16-bit .* reduced to 8 bits"):
        data = codec.encode(path, quality=12)
    out = np.asarray(codec.decode(data))
    assert out.shape == (30, 40, channels) and psnr(out[..., :3], a[..., :3] // 257) > 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an 8-bit PNG: no warning
        codec.encode(make_image(40, 30))


def test_animated_image_uses_first_frame(tmp_path):
    first = make_image(64, 48, seed=1)
    frames = [first, first.transpose(Image.Transpose.ROTATE_180), first.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    frames = [f.convert("P") for f in frames]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="first frame"):
        out = np.asarray(codec.decode(codec.encode(path, quality=12)))
    assert out.shape == (48, 64, 3)
    shown = [np.asarray(f.convert("RGB")) for f in frames]
    assert psnr(out, shown[0]) > max(psnr(out, shown[1]), psnr(out, shown[2])) + 5


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (8000, 8000)).save(path)  # compresses to a few kB
    with pytest.raises(DCNError, match="limit"):
        codec.encode(path, max_pixels=10_000_000)
    out = tmp_path / "bomb.dcn"
    r = run_cli("dcn", "encode", path, out, "--max-pixels", "1000000")
    assert r.returncode == 1 and "limit" in r.stderr and not out.exists()


@pytest.mark.parametrize("kind", ["empty", "directory", "text", "truncated"])
def test_unusable_inputs(tmp_path, kind):
    path = tmp_path / "in.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("plain text")
    else:
        make_image(200, 200).save(path)
        path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DCNError):
        codec.encode(path)
