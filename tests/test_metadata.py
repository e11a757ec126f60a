"""ICC profiles and EXIF: kept in a version-4 metadata section, written back on decode,
left out with --strip-metadata; the section is bounded and checked like the rest."""
import io
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

import codec
from codec.errors import DCNError
from codec.format import container
from conftest import make_image, run_cli

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "DCN test camera"  # Make
    if orientation:
        exif[0x0112] = orientation
    return exif.tobytes()


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """A JPEG with an ICC profile and EXIF (orientation 6: stored sideways)."""
    path = tmp_path_factory.mktemp("meta") / "tagged.jpg"
    make_image(96, 64).save(path, quality=95, icc_profile=SRGB, exif=_exif(6))
    return path


def test_icc_and_exif_survive_encode_and_decode(tagged, tmp_path):
    dcn = tmp_path / "t.dcn"
    assert run_cli("dcn", "encode", tagged, dcn).returncode == 0
    assert container.peek_header(dcn.read_bytes()).version == 4
    for ext in ("png", "jpg", "webp", "tiff"):
        out = tmp_path / f"t.{ext}"
        r = run_cli("dcn", "decode", dcn, out)
        assert r.returncode == 0, r.stderr
        with Image.open(out) as im:
            assert im.size == (64, 96)  # the orientation was applied by the encoder ...
            assert im.info.get("icc_profile") == SRGB, ext
            exif = im.getexif()
            assert exif.get(0x010F) == "DCN test camera", ext
            assert 0x0112 not in exif, ext  # ... so the tag is gone: no viewer rotates it twice


def test_strip_metadata_leaves_an_ordinary_version_3_file(tagged, tmp_path):
    r = run_cli("dcn", "encode", tagged, tmp_path / "s.dcn", "--strip-metadata")
    assert r.returncode == 0, r.stderr
    stripped = (tmp_path / "s.dcn").read_bytes()
    assert container.peek_header(stripped).version == 3
    with Image.open(tagged) as im:
        upright = ImageOps.exif_transpose(im)
    upright.info.clear()
    assert stripped == codec.encode(upright)  # the same pixels, no metadata
    run_cli("dcn", "decode", tmp_path / "s.dcn", tmp_path / "s.png")
    with Image.open(tmp_path / "s.png") as im:
        assert "icc_profile" not in im.info and not im.getexif()


def test_the_api_the_plugin_and_info_see_the_metadata(tagged, tmp_path):
    data = codec.encode(tagged)
    assert codec.decode(data).info["icc_profile"] == SRGB
    assert codec.encode(tagged, strip_metadata=True) != data
    path = tmp_path / "t.dcn"
    path.write_bytes(data)
    with Image.open(path) as im:
        im.load()
        assert im.info["icc_profile"] == SRGB
    r = run_cli("dcn", "info", path)
    assert f"ICC profile {len(SRGB)} B" in r.stdout and "EXIF" in r.stdout and "version 4" in r.stdout
    buf = io.BytesIO()
    Image.open(tagged).save(buf, format="DCN", strip_metadata=True)
    assert container.peek_header(buf.getvalue()).version == 3


def test_a_profile_of_converted_pixels_is_dropped_with_a_warning():
    cmyk = make_image(64, 64).convert("CMYK")
    cmyk.info["icc_profile"] = b"not an RGB profile"
    with pytest.warns(UserWarning, match="ICC profile"):
        data = codec.encode(cmyk)
    assert "icc_profile" not in codec.decode(data).info


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "PA", "1", "I;16", "I;16B", "I;16L", "I;16N",
                                  "I", "F"])
def test_a_profile_of_grey_or_colour_pixels_is_kept(mode):
    """Modes whose pixels keep their colours when converted (palettes, bit depths) keep the
    profile, without a warning about it."""
    import warnings
    from codec.image.io import to_picture
    im = Image.new(mode, (4, 4))
    im.info["icc_profile"] = b"profile bytes"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        picture = to_picture(im)
    assert picture.metadata == {"icc_profile": b"profile bytes"}
    assert not [w for w in caught if "ICC" in str(w.message)]


def _with_metadata(items: dict) -> bytes:
    c = container.read(codec.encode(make_image(64, 64)))
    return container.write(container.Container(c.header, c.tiles, c.alpha, items))


def _recrc(body: bytes) -> bytes:
    return body + container.CRC.pack(zlib.crc32(body))


def test_metadata_section_round_trip_and_unknown_records():
    data = _with_metadata({"icc_profile": b"profile", "exif": b"Exif\0\0data"})
    c = container.read(data)
    assert c.metadata == {"icc_profile": b"profile", "exif": b"Exif\0\0data"}
    assert container.read_index(data).section_sizes()["metadata"] == 2 * container.RECORD.size + 7 + 10
    # a record of a tag this version does not know is skipped: later versions may add some
    extra = container.RECORD.pack(b"XMP ", 3) + b"xyz"
    body = bytearray(data[:-4])
    body[26:30] = (int.from_bytes(body[26:30], "little") + len(extra)).to_bytes(4, "little")
    assert container.read(_recrc(bytes(body) + extra)).metadata["icc_profile"] == b"profile"


@pytest.mark.parametrize("section, message", [
    (container.RECORD.pack(b"ICCP", 99) + b"short", "overruns"),
    (b"ICC", "truncated metadata"),
    (container.RECORD.pack(b"EXIF", 1) + b"a" + container.RECORD.pack(b"EXIF", 1) + b"b", "two EXIF"),
])
def test_bad_metadata_sections_are_refused(section, message):
    base = _with_metadata({"exif": b"e"})
    old = container.RECORD.size + 1
    body = bytearray(base[:-4 - old])
    body[26:30] = len(section).to_bytes(4, "little")
    with pytest.raises(DCNError, match=message):
        codec.decode(_recrc(bytes(body) + section))


def test_metadata_is_bounded_and_checksummed():
    data = bytearray(_with_metadata({"icc_profile": b"p" * 100}))
    data[-10] ^= 1  # inside the profile
    with pytest.raises(DCNError, match="checksum"):
        codec.decode(bytes(data))
    head = bytearray(_with_metadata({"exif": b"e"}))
    head[26:30] = (2 ** 24 + 1).to_bytes(4, "little")
    with pytest.raises(DCNError, match="metadata section of"):
        container.peek_header(bytes(head))
    with pytest.raises(DCNError, match="at most"):
        _with_metadata({"icc_profile": b"p" * 2 ** 24})


def test_batch_redoes_outputs_when_stripping(tagged, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "a.jpg").write_bytes(tagged.read_bytes())
    assert run_cli("dcn", "batch", src, dst).returncode == 0
    assert container.peek_header((dst / "a.dcn").read_bytes()).version == 4
    r = run_cli("dcn", "batch", src, dst, "--strip-metadata")
    assert "done 1" in r.stdout, r.stdout + r.stderr
    assert container.peek_header((dst / "a.dcn").read_bytes()).version == 3


def test_grey_images_keep_their_profile():
    grey = make_image(64, 64).convert("L")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any bytes would do
    grey.info["icc_profile"] = profile
    out = codec.decode(codec.encode(grey))
    assert out.mode == "L" and out.info["icc_profile"] == profile
    assert np.asarray(out).shape == (64, 64)
