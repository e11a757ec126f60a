"""Every kind of encoder input: encoded sensibly, or refused with a clear message and no
output file."""
import io
import os
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


@pytest.mark.parametrize("path, name, fmt", [
    ("x.png", None, "PNG"), ("x.JPG", None, "JPEG"), ("a.b/x.jpeg", None, "JPEG"), ("x.webp", None, "WEBP"),
    ("x.tif", None, "TIFF"), ("x.bmp", None, "BMP"), ("x.out", "png", "PNG"), ("x.png", "JPEG", "JPEG"),
    ("x", ".webp", "WEBP"), ("x.dcn", "png", "PNG"),
])
def test_output_format_follows_the_name_or_the_extension(path, name, fmt):
    from pathlib import Path
    from codec.image.io import output_format
    assert output_format(Path(path), name) == fmt


@pytest.mark.parametrize("path, name, message", [
    ("x.dcn", None, "x.dcn: decoding writes an image (e.g. .png), not another .dcn file"),
    ("x.png", "DCN", "x.png: decoding writes an image (e.g. .png), not another .dcn file"),
    ("x.xyz", None, "x.xyz: unknown output image format (use e.g. png)"),
    ("x", None, "x: unknown output image format (use e.g. png)"),
    ("x.png", "xyz", "--format xyz: unknown output image format (use e.g. png)"),
    ("x.psd", None, "x.psd: unknown output image format (use e.g. png)"),  # Pillow reads PSD, cannot write it
])
def test_unknown_output_formats_are_refused_in_words(path, name, message):
    from pathlib import Path
    from codec.image.io import output_format
    with pytest.raises(DCNError) as e:
        output_format(Path(path), name)
    assert str(e.value) == message


def test_image_bytes_writes_each_format_as_asked():
    from pathlib import Path
    from codec.image.io import JPEG_QUALITY, image_bytes
    from codec.defaults import PNG_COMPRESS
    img = make_image(96, 64, seed=7)
    img.info.update(icc_profile=b"profile bytes", exif=Image.Exif().tobytes())
    png = image_bytes(img, Path("x.png"))
    back = Image.open(io.BytesIO(png))
    assert back.format == "PNG" and np.array_equal(np.asarray(back), np.asarray(img))
    assert back.info["icc_profile"] == b"profile bytes"
    sizes = {level: len(image_bytes(img, Path("x.png"), png_compress=level)) for level in (0, PNG_COMPRESS, 9)}
    assert sizes[PNG_COMPRESS] == len(png) and sizes[0] > sizes[PNG_COMPRESS] > sizes[9]
    jpeg = image_bytes(img, Path("x.png"), fmt="JPEG")  # fmt wins over the extension
    ref = io.BytesIO()
    img.save(ref, format="JPEG", quality=JPEG_QUALITY, icc_profile=img.info["icc_profile"], exif=img.info["exif"])
    assert jpeg == ref.getvalue() == image_bytes(img, Path("x.jpg")) and JPEG_QUALITY == 95
    assert len(image_bytes(img, Path("x.jpg"), jpeg_quality=50)) < len(jpeg)


def test_image_bytes_refuses_what_a_format_cannot_hold():
    from pathlib import Path
    from codec.image.io import image_bytes
    with pytest.raises(DCNError) as e:
        image_bytes(make_image(8, 8, mode="RGBA"), Path("out.jpg"))
    assert str(e.value) == "out.jpg: JPEG cannot store the alpha channel; use .png"
    with pytest.raises(DCNError) as e:
        image_bytes(make_image(8, 8, mode="LA"), Path("out.bmp"))
    assert str(e.value) == "out.bmp: cannot write BMP (cannot write mode LA as BMP)"


def _picture(im, **kw):
    from codec.image.io import load_picture
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pic = load_picture(im, 10 ** 8, **kw)
    return pic, [str(w.message) for w in caught]


@pytest.mark.parametrize("mode, values, expected, warned", [
    ("I;16", [0, 257, 32896, 65535], [0, 1, 128, 255], ["I;16 image reduced to 8 bits per channel"]),
    ("I", [0, 255, 100, 7], [0, 255, 100, 7], ["I image reduced to 8 bits per channel"]),  # within 0..255: kept
    ("I;16", [0, 65407, 1, 2], [0, 255, 0, 0], ["I;16 image reduced to 8 bits per channel"]),  # 254.502: up
    ("I", [0, 256, 65535, 128], [0, 1, 255, 0], ["I image reduced to 8 bits per channel"]),  # 16-bit range
    ("I", [0, 256, 128, 1], [0, 1, 0, 0], ["I image reduced to 8 bits per channel"]),  # 256 is past 8 bits
    ("I", [0, 65536, 65407, 1], [0, 255, 254, 0], ["I image reduced to 8 bits per channel"]),  # by its max: 254.498
    ("I", [0, 100000, 50000, 1000], [0, 255, 128, 3], ["I image reduced to 8 bits per channel"]),  # by its max
    ("I", [-70000, 65535, 257, 0], [0, 255, 1, 0], ["I image reduced to 8 bits per channel",
                                                   "I image has negative values (down to -70000): clipped to 0"]),
    ("F", [0.0, 0.5, 1.0, 0.25], [0, 128, 255, 64], ["F image reduced to 8 bits per channel"]),  # 0..1: scaled
    ("F", [0.0, 100.4, 300.0, 1.5], [0, 100, 255, 2], ["F image reduced to 8 bits per channel"]),  # else clipped
    ("F", [0.0, 1.5, 2.0, 0.5], [0, 2, 2, 0], ["F image reduced to 8 bits per channel"]),  # 2 is not 0..1
    ("F", [-2.0, 0.5, 0.0, 1.0], [0, 128, 0, 255], ["F image reduced to 8 bits per channel",
                                                   "F image has negative values (down to -2): clipped to 0"]),
])
def test_deep_images_are_reduced_exactly(mode, values, expected, warned):
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    a = np.array(values, dtype=dtype).reshape(2, 2)
    im = Image.frombytes("I;16", (2, 2), a.tobytes()) if mode == "I;16" else Image.fromarray(a)
    assert im.mode == mode
    pic, messages = _picture(im)
    assert pic.mode == "L" and pic.rgb.dtype == np.uint8
    assert pic.rgb[..., 0].flatten().tolist() == expected and messages == warned


def test_non_finite_float_images_are_refused():
    with pytest.raises(DCNError) as e:
        _picture(Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32)))
    assert str(e.value) == "F image holds NaN or infinite values"


PILLOW_LIMIT = Image.MAX_IMAGE_PIXELS  # at import, before any test could have changed it


def test_opening_restores_pillows_own_limit_and_names_the_input(tmp_path):
    limit = PILLOW_LIMIT
    assert limit is not None and Image.MAX_IMAGE_PIXELS == limit
    path = tmp_path / "x.png"
    make_image(40, 30).save(path)
    for source in (path, io.BytesIO(path.read_bytes())):
        _picture(source)
        assert Image.MAX_IMAGE_PIXELS == limit
    from codec.image.io import load_picture
    for source, name in ((tmp_path / "missing.png", f"{tmp_path / 'missing.png'}"), (io.BytesIO(b"not an image"), "input")):
        with pytest.raises(DCNError) as e:
            load_picture(source, 10 ** 8)
        assert str(e.value) == f"{name}: " + ("no such file" if name != "input" else "not a recognised image file")
    os.mkfifo(tmp_path / "fifo.png")
    make_image(200, 200).save(tmp_path / "cut.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "cut.png").read_bytes()[:1000])
    for file, why in (("fifo.png", "not a regular file"), (".", "is a directory, not an image")):
        with pytest.raises(DCNError) as e:
            load_picture(tmp_path / file, 10 ** 8)
        assert str(e.value) == f"{tmp_path / file}: {why}"
    with pytest.raises(DCNError) as e:
        load_picture(tmp_path / "cut.png", 10 ** 8)
    assert str(e.value).startswith(f"{tmp_path / 'cut.png'}: damaged or truncated image (")

    class Unreadable(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError("boom")

    with pytest.raises(DCNError) as e:
        load_picture(Unreadable(), 10 ** 8)
    assert str(e.value) == "input: cannot read (boom)"
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "one.png").write_bytes(b"\x89")
    for file, why in (("empty.png", "empty file"), ("one.png", "not a recognised image file")):
        with pytest.raises(DCNError) as e:
            load_picture(tmp_path / file, 10 ** 8)
        assert str(e.value) == f"{tmp_path / file}: {why}"
    with pytest.raises(DCNError) as e:
        load_picture(io.BytesIO(path.read_bytes()), 1000)
    assert str(e.value).startswith("input: ") and "1000" in str(e.value)


def test_only_animated_or_deep_inputs_warn(tmp_path):
    img = make_image(40, 30)
    for fmt in ("PNG", "BMP", "JPEG", "TIFF"):  # BMP has no frame count: not animated
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        assert _picture(io.BytesIO(buf.getvalue()))[1] == [], fmt
    buf = io.BytesIO()
    img.save(buf, format="GIF", save_all=True, append_images=[img.transpose(Image.Transpose.ROTATE_180)])
    assert _picture(io.BytesIO(buf.getvalue()))[1] == ["input: animated image, encoding only its first frame"]
    buf = io.BytesIO()
    img.save(buf, format="GIF", save_all=True)  # one frame
    assert _picture(io.BytesIO(buf.getvalue()))[1] == []
    path = tmp_path / "deep.png"
    _png16(np.asarray(img).astype(np.uint16) * 257, path)
    assert _picture(path)[1] == [f"{path}: 16-bit RGB image reduced to 8 bits per channel"]


def test_alpha_plane_is_zlib_at_level_9_of_its_bytes():
    from codec.image.alpha import decode_alpha, encode_alpha
    import zlib
    a = np.asarray(make_image(30, 20, mode="RGBA"))[..., 3]
    assert encode_alpha(a) == zlib.compress(a.tobytes(), 9) != zlib.compress(a.tobytes())
    assert encode_alpha(a.astype(np.int64)) == encode_alpha(a)  # stored as one byte a pixel, whatever the input
    assert encode_alpha(a[:, ::2]) == zlib.compress(np.ascontiguousarray(a[:, ::2]).tobytes(), 9)
    assert np.array_equal(decode_alpha(encode_alpha(a), 30, 20), a)


def test_alpha_sections_must_hold_exactly_one_plane():
    from codec.image.alpha import decode_alpha
    import zlib
    plane = bytes(range(200))
    good = zlib.compress(plane, 9)
    one_plane = "corrupt file: alpha section does not hold exactly one plane"
    for data, w, h, message in ((good + b"x", 20, 10, one_plane),  # bytes after the stream
                                (good[:-4], 20, 10, one_plane),  # the stream's checksum missing: not finished
                                (good, 20, 9, one_plane),  # more pixels than the plane has
                                (good, 20, 11, one_plane)):  # fewer
        with pytest.raises(DCNError) as e:
            decode_alpha(data, w, h)
        assert str(e.value) == message
    with pytest.raises(DCNError) as e:
        decode_alpha(b"\x78\x9c\xff\xff", 20, 10)
    assert str(e.value).startswith("corrupt file: alpha section (Error -3 while decompressing data")
    assert decode_alpha(good, 20, 10).tobytes() == plane


def test_grey_with_alpha_cannot_become_jpeg():
    from pathlib import Path
    from codec.image.io import image_bytes
    with pytest.raises(DCNError) as e:
        image_bytes(make_image(8, 8, mode="LA"), Path("out.jpg"))
    assert str(e.value) == "out.jpg: JPEG cannot store the alpha channel; use .png"


def test_palette_images_become_their_own_colours():
    """P without transparency is its RGB conversion, PA its RGBA: the same pixels Pillow gives."""
    from codec.image.io import to_picture
    p = make_image(40, 30).convert("P")
    pic = to_picture(p.copy())
    assert pic.mode == "RGB" and pic.alpha is None and np.array_equal(pic.rgb, np.asarray(p.convert("RGB")))
    pa = p.convert("PA")
    pa.putalpha(Image.fromarray(np.arange(40 * 30, dtype=np.uint8).reshape(30, 40)))
    pic = to_picture(pa.copy())
    rgba = np.asarray(pa.convert("RGBA"))
    assert pic.mode == "RGBA" and np.array_equal(pic.rgb, rgba[..., :3]) and np.array_equal(pic.alpha, rgba[..., 3])


def test_big_endian_16_bit_grey_is_scaled_like_little_endian():
    from codec.image.io import to_picture
    values = np.array([[0, 257], [32896, 65535]], np.uint16)
    im = Image.frombytes("I;16B", (2, 2), values.astype(">u2").tobytes())
    with pytest.warns(UserWarning, match="I;16B image reduced to 8 bits per channel"):
        pic = to_picture(im)
    assert pic.mode == "L" and pic.rgb[..., 0].tolist() == [[0, 1], [128, 255]]


@pytest.mark.parametrize("mode", ["I;16L", "I;16N"])
def test_16_bit_grey_of_either_byte_order_name_is_scaled(mode):
    a = np.array([0, 257, 32896, 65535], np.uint16).reshape(2, 2)
    pic, messages = _picture(Image.frombytes(mode, (2, 2), a.tobytes()))
    assert pic.mode == "L" and pic.rgb[..., 0].flatten().tolist() == [0, 1, 128, 255]
    assert messages == [f"{mode} image reduced to 8 bits per channel"]


def test_other_modes_keep_alpha_by_their_bands():
    """A premultiplied RGBa image keeps its alpha (colours un-premultiplied); LAB, whose
    name has an A, has none; a mode Pillow cannot convert is refused in words."""
    rgba = Image.new("RGBA", (3, 2), (200, 100, 50, 128))
    pic, _ = _picture(rgba.convert("RGBa"))
    assert pic.mode == "RGBA" and (pic.alpha == 128).all() and np.abs(pic.rgb.astype(int) - (200, 100, 50)).max() <= 2
    pic, _ = _picture(Image.new("RGB", (3, 2), (200, 100, 50)).convert("LAB"))
    assert pic.mode == "RGB" and pic.alpha is None
    with pytest.raises(DCNError) as e:
        _picture(Image.new("La", (3, 2)))
    assert str(e.value) == "unsupported image mode La"


def test_failures_while_loading_are_refused_naming_the_input(tmp_path, monkeypatch):
    """Whatever a parser raises while loading pixels (hostile files raise many types), and
    running out of memory: one line naming the file (or 'input' for an object) and why."""
    from PIL import ImageFile
    from codec.image.io import load_picture
    path = tmp_path / "a.png"
    make_image(64, 48).save(path)
    failure = [RuntimeError("a parser's own error")]

    def failing(self, *args):
        raise failure[0]

    monkeypatch.setattr(Image.Image, "load", failing)
    monkeypatch.setattr(ImageFile.ImageFile, "load", failing)
    for source, name in ((path, str(path)), (str(path), str(path)), (io.BytesIO(path.read_bytes()), "input")):
        with pytest.raises(DCNError) as e:
            load_picture(source, 10 ** 8)
        assert str(e.value) == f"{name}: damaged or unsupported image (RuntimeError: a parser's own error)"
    failure[0] = MemoryError()
    with pytest.raises(DCNError) as e:
        load_picture(path, 10 ** 8)
    assert str(e.value) == f"{path}: not enough memory to load the image"
