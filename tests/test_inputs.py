"""Every kind of encoder input: encoded sensibly, or refused with a clear message and no
output file."""
import io

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import DCNError
from conftest import make_image, run_cli


def roundtrip(img: Image.Image, **kw) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    buf.seek(0)
    return codec.decode(codec.encode(buf))


def test_palette_with_and_without_transparency():
    p = make_image(40, 30).convert("P")
    assert roundtrip(p).mode == "RGB"
    p.info["transparency"] = 0
    out = roundtrip(p)
    assert out.mode == "RGBA"


def test_cmyk_becomes_rgb():
    out = roundtrip(make_image(40, 30).convert("CMYK"), format="JPEG")
    assert out.mode == "RGB" and out.size == (40, 30)


def test_one_bit_becomes_grey():
    out = roundtrip(make_image(40, 30).convert("1"))
    assert out.mode == "L"


def test_la_keeps_alpha_exactly():
    img = make_image(33, 17, mode="LA")
    out = roundtrip(img)
    assert out.mode == "LA"
    assert np.array_equal(np.asarray(out)[..., 1], np.asarray(img)[..., 1])


def test_sixteen_bit_rgb_png(tmp_path):
    a = (np.asarray(make_image(40, 30)).astype(np.uint16) * 257)
    path = tmp_path / "deep.png"
    try:
        Image.fromarray(a).save(path)  # RGB;16 where this Pillow supports writing it
    except (TypeError, ValueError, OSError, KeyError):
        pytest.skip("this Pillow cannot write 16-bit RGB PNG")
    with pytest.warns(UserWarning, match="8 bits"):
        data = codec.encode(path)
    assert codec.decode(data).size == (40, 30)


def test_animated_image_uses_first_frame(tmp_path):
    frames = [make_image(40, 30, seed=i).convert("P") for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="first frame"):
        out = codec.decode(codec.encode(path))
    assert out.size == (40, 30)


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
