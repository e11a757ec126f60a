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
