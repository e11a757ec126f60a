"""Resource bounds (formats/dcn.md, "Resource bounds"): what a file or an image may make
the codec allocate, compute or read is bounded before anything is allocated from it."""
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import DCNError
from codec.format import container
from codec.format.limits import read_regular
from conftest import make_image, run_cli


def thin_file(width: int, height: int) -> bytes:
    """A valid-looking file of the largest tiles, every section empty (45 bytes for 1 x 4,194,304)."""
    h = container.Header("RGB", width, height, 2.0, bytes.fromhex("98b1154e"), 64 * 65535)
    rows, cols = h.grid
    return container.write(container.Container(h, ((b"", b""),) * (rows * cols)))


def test_the_limit_bounds_the_padded_area():
    """1 x 4,194,304 pixels is 3 % of the limit but pads to 64 x 4,194,304 (2x the limit):
    it used to take 393 s and 2.5 GB. Now it is refused at once, in every path."""
    data = thin_file(1, 4_194_304)
    assert len(data) < 50
    for read in (container.read, container.peek_header, codec.decode, lambda d: codec.decode(d, max_pixels=2 ** 27)):
        with pytest.raises(DCNError, match=r"1x4194304 \(64x4194304 padded to multiples of 64\) exceeds"):
            read(data)  # by the header check, before anything is allocated
    # the same pixel count as a square image fits, because its padding is nothing
    assert container.peek_header(thin_file(2048, 2048)).width == 2048


def test_the_encoder_bounds_the_padded_area_too(tmp_path):
    src = tmp_path / "thin.png"
    Image.new("RGB", (1, 5000)).save(src)
    with pytest.raises(DCNError, match="padded"):
        codec.encode(src, max_pixels=100_000)  # 5,000 pixels, but 320,000 once padded
    with pytest.raises(DCNError, match="padded"):
        codec.encode(Image.new("RGB", (1, 5000)), max_pixels=100_000)


def test_sections_per_tile_are_bounded():
    h = container.Header("RGB", 64, 64, 2.0, b"abcd", 64, sections=17, version=3)
    with pytest.raises(DCNError, match="17 sections per tile"):
        container.read(container.write(container.Container(h, ((b"",) * 17,))))


def test_info_reads_the_index_without_a_python_object_per_entry():
    """128 x 128 tiles of 16 sections (262,144 index entries, a 1 MB file): dcn info's reader
    keeps them as one array."""
    h = container.Header("RGB", 64 * 128, 64 * 128, 2.0, b"abcd", 64, sections=16, version=3)
    data = container.write(container.Container(h, ((b"",) * 16,) * 128 ** 2))
    index = container.read_index(data)
    assert len(index.lengths) == 128 ** 2 * 16 and index.lengths.itemsize == 4
    assert index.section_sizes()["tile index"] == 4 * 16 * 128 ** 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", ["decode", "info", "encode"])
def test_special_files_are_refused_not_read(tmp_path, command):
    """A FIFO used to hang decode, info and batch; /dev/zero ended in a MemoryError."""
    fifo = tmp_path / "in.dcn"
    os.mkfifo(fifo)
    for src in (fifo, "/dev/zero"):
        args = ("dcn", command, src) + (() if command == "info" else (tmp_path / ("o.png" if command == "decode"
                                                                                 else "o.dcn"),))
        r = run_cli(*args, timeout=60)
        assert r.returncode == 1 and "not a regular file" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_files_larger_than_the_limit_allows_are_not_read(tmp_path):
    big = tmp_path / "big.dcn"
    big.write_bytes(b"DCN\x02" + bytes(5000))
    with pytest.raises(DCNError, match="larger than any file"):
        read_regular(big, 4096)
    limit = 4 * 1000 + 17 * 2 ** 20  # 4 bytes a pixel of 1,000 pixels, plus 1 MiB, plus 16 MiB of metadata
    os.truncate(big, limit + 1)  # sparse
    r = run_cli("dcn", "decode", big, tmp_path / "o.png", "--max-pixels", "1000")
    assert r.returncode == 1 and f"larger than any file the limits allow ({limit} bytes)" in r.stderr


def test_the_pillow_plugin_keeps_the_codecs_limit(monkeypatch, tmp_path):
    """With Pillow's own guard off, a 45-byte file used to ask for 2 TiB; a file the CLI
    refuses now fails through Pillow too, as an OSError (what Pillow's users catch)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "huge.dcn"
    path.write_bytes(thin_file(2 ** 20, 2 ** 20))
    with pytest.raises(OSError):
        Image.open(path)
    path.write_bytes(thin_file(12_000, 12_000))  # 144 MP: under Pillow's 179 MP, over the codec's 134 MP
    with pytest.raises(OSError):
        Image.open(path).load()
    with pytest.raises(OSError, match="limit"):
        codec.decode(path.read_bytes())


@pytest.mark.parametrize("args, message", [
    (("--target-size", "nan"), "target size"), (("--target-size", "inf"), "target size"),
    (("--target-size", "1e400"), "target size"), (("--target-bpp", "nan"), "target bpp"),
    (("--target-bpp", "inf"), "target bpp"), (("--target-psnr", "nan"), "target PSNR"),
    (("--tile", "4194304"), "tile size 4194304"),
])
def test_non_finite_targets_and_huge_tiles_are_one_line_errors(sample_png, tmp_path, args, message):
    """They used to end in tracebacks (OverflowError, ValueError, a struct.error after the whole
    encode), or, for --target-psnr nan, in a file and exit 0."""
    r = run_cli("dcn", "encode", sample_png, tmp_path / "o.dcn", *args)
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o.dcn").exists()


@pytest.mark.parametrize("env", [{"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"},
                                 {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "0"},
                                 {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "2"},
                                 {"JOB_COMPLETION_INDEX": "x", "DCN_SHARD_COUNT": "2"},
                                 {"JOB_COMPLETION_INDEX": "2", "DCN_SHARD_COUNT": "2"}])
def test_bad_shard_environments_are_one_line_errors(tmp_path, env):
    """A traceback, or 0 files processed without a word, before."""
    src = tmp_path / "src"
    src.mkdir()
    make_image(16, 16).save(src / "a.png")
    r = run_cli("dcn", "batch", src, tmp_path / "dst", env=env)
    assert r.returncode == 1 and "shard" in r.stderr.lower() or "integer" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_signed_and_non_finite_images_are_not_silently_corrupted():
    """A 32-bit TIFF's -2000 wrapped around to 248; one NaN turned a float image black."""
    from codec.image.io import to_picture
    a = np.full((8, 8), 1000, np.int32)
    a[0, 0] = -2000
    with pytest.warns(UserWarning) as caught:
        pic = to_picture(Image.fromarray(a, "I"))
    assert {"reduced to 8 bits", "negative values"} <= {w for m in caught for w in
                                                        ("reduced to 8 bits", "negative values") if w in str(m.message)}
    assert pic.rgb[0, 0, 0] == 0 and pic.rgb[1, 1, 0] == round(1000 * 255 / 65535)  # as 16-bit, not 248
    f = np.full((8, 8), 0.5, np.float32)
    f[3, 3] = np.nan
    with pytest.raises(DCNError, match="NaN"), pytest.warns(UserWarning):
        to_picture(Image.fromarray(f, "F"))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def test_max_pixels_can_raise_the_encoders_limit_above_pillows(tmp_path):
    """Pillow refuses images over 178,956,970 pixels on its own; --max-pixels decides now."""
    src = tmp_path / "big.png"
    src.write_bytes(_png_header_only(14_000, 13_000))  # 182 MP
    r = run_cli("dcn", "encode", src, tmp_path / "o.dcn")
    assert r.returncode == 1 and "exceeds the limit of 134217728 pixels" in r.stderr
    r = run_cli("dcn", "encode", src, tmp_path / "o.dcn", "--max-pixels", str(2 ** 28))
    assert r.returncode == 1 and "exceeds" not in r.stderr and "damaged or truncated" in r.stderr, r.stderr
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own setting is left as it was


def test_the_checkerboard_codecs_tiles_are_bounded(sample_png):
    """Its context network runs on a whole tile: a file declaring one huge tile would take
    gigabytes. Tiles over 1024 px are refused by the encoder and, before any section is
    decoded, by the decoder."""
    import dataclasses
    with pytest.raises(DCNError, match="at most 1024"):
        codec.encode(sample_png, tile=2048)
    c = container.read(codec.encode(sample_png, tile=1024))
    big = dataclasses.replace(c.header, tile=2048)
    with pytest.raises(DCNError, match="coding tile of 2048 px"):
        codec.decode(container.write(container.Container(big, c.tiles, c.alpha)))


def test_a_bad_alpha_section_fails_before_the_synthesis(monkeypatch):
    """Every section is decoded and the alpha plane inflated before the expensive part: a
    4 MP RGBA file with a damaged alpha section never reaches the synthesis."""
    import dataclasses
    from codec.pipeline import decode as decode_module
    data = codec.encode(make_image(64, 64, mode="RGBA"), quality=1)
    c = container.read(data)
    big = dataclasses.replace(c.header, width=2048, height=2048, tile=1024)
    rows, cols = big.grid
    bad = container.write(container.Container(big, ((b"",),) * (rows * cols), zlib.compress(b"too short")))

    def synthesis_reached(*args, **kwargs):
        raise AssertionError("the synthesis ran before the alpha section was checked")
    monkeypatch.setattr(decode_module, "synthesize", synthesis_reached)
    with pytest.raises(DCNError, match="alpha section"):
        codec.decode(bad)


def test_file_size_bound_is_the_documented_formula():
    from codec.format.limits import MAX_BYTES_PER_PIXEL, MAX_METADATA, max_file_bytes
    assert (MAX_BYTES_PER_PIXEL, MAX_METADATA) == (4, 2 ** 24)
    assert max_file_bytes(1000) == 4 * 1000 + 2 ** 20 + 2 ** 24
    assert max_file_bytes() == 4 * 2 ** 27 + 2 ** 20 + 2 ** 24


class _Stream:
    """A stream that records how much each read asked for."""

    def __init__(self, data: bytes):
        self.data, self.asked = data, []

    def read(self, n=-1):
        self.asked.append(n)
        return self.data if n is None or n < 0 else self.data[:n]


@pytest.mark.parametrize("size", [0, 99, 100])
def test_bounded_reads_ask_for_one_byte_more_than_the_limit(size):
    from codec.format.limits import read_bounded
    s = _Stream(b"x" * size)
    assert read_bounded(s, 100, "in") == b"x" * size and s.asked == [101]


def test_bounded_reads_refuse_a_longer_stream():
    from codec.format.limits import read_bounded
    s = _Stream(b"x" * 10 ** 6)
    with pytest.raises(DCNError) as e:
        read_bounded(s, 100, "in")
    assert str(e.value) == "in: larger than any file the limits allow (100 bytes)" and s.asked == [101]


def test_a_file_that_grows_or_fails_after_its_stat_is_refused_by_name(tmp_path, monkeypatch):
    """Between the size check and the read a file may grow past the limit, or the read may
    fail (as root, no permission bit makes it): either way one line naming the file."""
    import codec.format.limits as limits
    f = tmp_path / "f.dcn"
    f.write_bytes(b"abcdef")
    real_stat = type(f).stat

    def small_stat(self, **kw):
        st = real_stat(self, **kw)
        return os.stat_result((st.st_mode, *st[1:6], 2, *st[7:])) if self == f else st

    monkeypatch.setattr(type(f), "stat", small_stat)
    with pytest.raises(DCNError) as e:
        read_regular(f, 4)
    assert str(e.value) == f"{f}: larger than any file the limits allow (4 bytes)"
    monkeypatch.undo()

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(limits, "open", unreadable, raising=False)
    with pytest.raises(DCNError) as e:
        read_regular(f, 9)
    assert str(e.value) == f"{f}: cannot read (Permission denied)"


def test_regular_file_reads(tmp_path):
    f = tmp_path / "f.dcn"
    f.write_bytes(b"abc")
    assert read_regular(f, 3) == b"abc" and read_regular(str(f), 100) == b"abc"
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for path, limit, message in ((f, 2, f"{f}: 3 bytes is larger than any file the limits allow (2 bytes)"),
                                 (tmp_path / "no", 9, f"{tmp_path / 'no'}: no such file"),
                                 (tmp_path / "dir", 9, f"{tmp_path / 'dir'}: is a directory"),
                                 (tmp_path / "fifo", 9, f"{tmp_path / 'fifo'}: not a regular file"),
                                 (f / "below", 9, f"{f / 'below'}: cannot read (Not a directory)")):
        with pytest.raises(DCNError) as e:
            read_regular(path, limit)
        assert str(e.value) == message
    if os.geteuid() != 0:  # root reads anything
        f.chmod(0)
        with pytest.raises(DCNError) as e:
            read_regular(f, 9)
        assert str(e.value) == f"{f}: cannot read (Permission denied)"
