"""The container format and the decoder's behaviour on damaged files."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import codec
from codec.format import container
from codec.errors import DCNError
from conftest import make_image

headers = st.builds(
    container.Header,
    mode=st.sampled_from(container.MODES),
    width=st.integers(1, 2 ** 16),
    height=st.integers(1, 2 ** 10),
    quality=st.integers(1000, 8000).map(lambda q: q / 1000),
    fingerprint=st.binary(min_size=4, max_size=4),
    tile=st.integers(1, 40).map(lambda t: 64 * t),
)


@settings(max_examples=200, deadline=None)
@given(headers, st.data(), st.binary(min_size=1, max_size=32))
def test_container_round_trip(header, data, alpha):
    rows, cols = header.grid
    if rows * cols > 2000:
        header = container.Header(header.mode, header.width, header.height, header.quality, header.fingerprint,
                                  64 * 1024)
        rows, cols = header.grid
    sections = st.tuples(st.binary(max_size=16), st.binary(max_size=32))
    tiles = tuple(data.draw(st.lists(sections, min_size=rows * cols, max_size=rows * cols)))
    c = container.Container(header, tiles, alpha if header.has_alpha else b"")
    raw = container.write(c)
    assert len(raw) == sum(c.section_sizes().values())  # header, tile index, sections, alpha, checksum
    assert container.read(raw, max_pixels=2 ** 40) == c


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"DCN\x01", b"DCN\x02", b"DCN\x03"]), st.binary(max_size=200), st.booleans())
def test_reader_never_fails_with_a_foreign_error(prefix, rest, fix_crc):
    """Past the magic and version (random bytes alone rarely get there), with the checksum
    right or wrong: the reader returns a container or raises DCNError, nothing else."""
    import zlib
    data = prefix + rest
    if fix_crc and len(data) >= 4:
        data = data[:-4] + container.CRC.pack(zlib.crc32(data[:-4]))
    try:
        c = container.read(data)
    except DCNError:
        return
    assert len(data) == sum(c.section_sizes().values())


@settings(max_examples=100, deadline=None)
@given(headers, st.integers(1, 5), st.data(), st.binary(min_size=1, max_size=32))
def test_any_number_of_sections_per_tile(header, count, data, alpha):
    """Version 3 (a latent codec with other than two sections) round-trips, its index sized
    by the header's section count; two sections per tile are written as version 2."""
    header = container.Header(header.mode, header.width, header.height, header.quality, header.fingerprint,
                              64 * 1024, count, 2 if count == 2 else 3)
    rows, cols = header.grid
    tiles = tuple(tuple(data.draw(st.binary(max_size=12)) for _ in range(count)) for _ in range(rows * cols))
    c = container.Container(header, tiles, alpha if header.has_alpha else b"")
    raw = container.write(c)
    assert raw[3] == header.version and len(raw) == sum(c.section_sizes().values())
    assert container.read(raw, max_pixels=2 ** 40) == c


def test_version_1_is_one_tile_for_the_whole_image():
    """The first release's layout: 31-byte header with the three section lengths."""
    import struct
    import zlib
    body = struct.pack("<3sBBIIH4sIII", b"DCN", 1, 3, 200, 130, 4500, b"abcd", 4, 8, 2) + b"z" * 4 + b"y" * 8 + b"aa"
    c = container.read(body + struct.pack("<I", zlib.crc32(body)))
    assert c.header.version == 1 and c.header.grid == (1, 1) and c.header.tile == 256
    assert c.tiles == ((b"zzzz", b"yyyyyyyy"),) and c.alpha == b"aa" and c.header.quality == 4.5


@pytest.mark.parametrize("version", [0, 5, 255])
def test_unknown_versions_are_refused_in_one_line(version, tmp_path):
    from conftest import run_cli
    data = bytearray(container.write(container.Container(container.Header("RGB", 8, 8, 4.0, b"abcd", 64),
                                                         ((b"", b""),))))
    data[3] = version
    path = tmp_path / "v.dcn"
    path.write_bytes(bytes(data))
    with pytest.raises(DCNError, match=f"unsupported DCN version {version}"):
        container.read(bytes(data))
    for args in (("decode", path, tmp_path / "o.png"), ("info", path)):
        r = run_cli("dcn", *args)
        assert r.returncode == 1 and r.stderr.startswith(f"dcn: error: unsupported DCN version {version}")
        assert r.stderr.count("\n") == 1 and not (tmp_path / "o.png").exists()


def test_overhead_is_small():
    """25-byte header, 8 bytes per tile, 4-byte checksum."""
    h = container.Header("RGB", 768, 512, 4.0, b"abcd", 512)
    assert len(container.write(container.Container(h, ((b"", b""), (b"", b""))))) == 25 + 2 * 8 + 4


def test_claimed_size_is_bounded_before_allocation():
    h = container.Header("RGB", 100000, 100000, 4.0, b"abcd", 64 * 2000)
    data = container.write(container.Container(h, ((b"", b""),)))
    with pytest.raises(DCNError, match="limit"):
        container.read(data)
    # a tile grid larger than the file is refused before its index is read
    h = container.Header("RGB", 2 ** 13, 2 ** 13, 4.0, b"abcd", 64)
    data = container.write(container.Container(h, ((b"", b""),) * 128 ** 2))
    with pytest.raises(DCNError, match="truncated"):
        container.read(data[:100] + data[-4:])


@pytest.fixture(scope="module")
def small_file():
    return codec.encode(make_image(20, 12, mode="RGBA"), quality=4)


def _decode_or_error(data, width, height):
    try:
        img = codec.decode(data)
    except DCNError:
        return
    assert img.size == (width, height)


def test_every_byte_flipped(small_file):
    """The CRC-32 covers every byte: any flipped bit is refused (a decoder that skipped the
    checksum would decode most of these to an image of the right size)."""
    for i in range(len(small_file)):
        for bit in (0, 7):
            bad = bytearray(small_file)
            bad[i] ^= 1 << bit
            with pytest.raises(DCNError):
                codec.decode(bytes(bad))
    flipped = bytearray(small_file)
    flipped[40] ^= 1  # inside the coded data, where only the checksum can tell
    with pytest.raises(DCNError, match="checksum mismatch"):
        codec.decode(bytes(flipped))


def test_every_truncation(small_file):
    for n in range(len(small_file)):
        with pytest.raises(DCNError):
            codec.decode(small_file[:n])


def test_sections_with_valid_checksum_but_garbage_content(small_file):
    """Where the checksum cannot tell (it is recomputed), decoding still ends cleanly."""
    import zlib
    rng = np.random.default_rng(0)
    c = container.read(small_file)
    (sections,) = c.tiles
    for _ in range(200):
        garbage = tuple(bytes(rng.integers(0, 256, rng.integers(0, 3) * 4 + len(s), dtype=np.uint8))
                        if rng.random() < 0.7 else s for s in sections)
        alpha = c.alpha if rng.random() < 0.5 else bytes(rng.integers(0, 256, len(c.alpha), dtype=np.uint8))
        data = container.write(container.Container(c.header, (garbage,), alpha))
        assert zlib.crc32(data[:-4]) == container.CRC.unpack_from(data, len(data) - 4)[0]
        _decode_or_error(data, 20, 12)


def test_extreme_symbols_never_become_pixels():
    """Every y symbol at the format's bound (a valid file a hostile encoder can write): the
    synthesis overflows, and the decoder says so instead of casting NaN to a black image."""
    from codec.format.constants import MAX_ABS
    from codec.pipeline.encode import prepare, quantize, write
    a = prepare(make_image(64, 64, seed=3))
    latents = quantize(a, 2.0)
    codec_ = a.enc.latent
    for tile in latents.tiles:
        tile["y"][:] = MAX_ABS
        if hasattr(codec_, "context"):  # the later passes' tables follow from the (new) symbols
            scales = codec_.hyper.scale_net.fixed_point_scales(tile["z"])
            _, tile["indices"], tile["mean"] = codec_._passes(
                scales, lambda sl, where, idx, mean: np.full(idx[:, where].shape, MAX_ABS))
        else:
            tile.pop("indices", None)
    with pytest.raises(DCNError, match="overflowed"):
        codec.decode(write(a, 2.0, latents))


def test_an_alpha_bomb_is_not_inflated():
    """A 200 MB plane of zeros in a 0.2 MB alpha section, for a 10 x 10 image: refused after
    inflating at most the 100 bytes the header allows."""
    import tracemalloc
    import zlib
    from codec.image.alpha import decode_alpha
    bomb = zlib.compress(bytes(200 * 2 ** 20), 9)
    assert len(bomb) < 2 ** 20
    tracemalloc.start()
    try:
        with pytest.raises(DCNError, match="exactly one plane"):
            decode_alpha(bomb, 10, 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20, peak
    assert decode_alpha(zlib.compress(bytes(range(100))), 10, 10)[9, 9] == 99


@pytest.mark.parametrize("metadata", [{}, {"icc_profile": b"i" * 7, "exif": b"Exif\0\0" + b"e" * 9}])
def test_section_sizes_are_each_part_of_the_file(metadata):
    """What `dcn info` prints: every part's bytes, the same from the whole file and from
    its index alone, adding up to the file's length; sections named by the model, or by
    their number."""
    h = container.Header("RGBA", 128, 64, 2.0, b"abcd", 64, sections=2, version=3)
    tiles = ((b"z" * 8, b"y" * 12), (b"z" * 4, b"y" * 20))  # 1 row x 2 columns of 64-px tiles
    data = container.write(container.Container(h, tiles, b"a" * 5, metadata))
    whole, index = container.read(data), container.read_index(data)
    sizes = whole.section_sizes(("z", "y"))
    meta = len(container.pack_metadata(metadata))
    assert sizes == {"header": whole.header.size, "tile index": 4 * 4, "z": 12, "y": 32, "alpha": 5,
                     **({"metadata": meta} if metadata else {}), "checksum": 4}
    assert index.section_sizes(("z", "y")) == sizes
    assert sum(sizes.values()) == len(data)
    assert list(index.section_sizes())[2:4] == ["section 0", "section 1"]
    assert list(index.section_sizes(("z",)))[2:4] == ["z", "section 1"]


def test_section_sizes_of_a_version_1_file_add_up():
    """Version 1 has no tile index (one z and one y section for the whole image)."""
    from pathlib import Path
    conformance = Path(__file__).resolve().parents[1] / "formats" / "conformance" / "hyperprior-128-192-v1"
    for name, version, index in (("sample-q4.5-v1.dcn", 1, 0), ("sample-q4.5-v2.dcn", 2, None)):
        data = (conformance / name).read_bytes()
        c = container.read(data)
        sizes = c.section_sizes()
        assert c.header.version == version and sum(sizes.values()) == len(data)
        tiles = len(c.tiles) * c.header.sections
        assert sizes["tile index"] == (0 if index == 0 else 4 * tiles)
        assert container.read_index(data).section_sizes() == sizes


def test_metadata_records_may_be_empty_but_not_truncated():
    record = container.RECORD
    assert container.unpack_metadata(record.pack(b"EXIF", 0)) == {"exif": b""}  # a record ending the section
    assert container.unpack_metadata(record.pack(b"ICCP", 2) + b"ab" + record.pack(b"EXIF", 0)) == \
        {"icc_profile": b"ab", "exif": b""}
    for data, message in ((record.pack(b"EXIF", 0)[:5], "corrupt file: truncated metadata record"),
                          (record.pack(b"EXIF", 3) + b"ab", "corrupt file: a metadata record overruns its section"),
                          (record.pack(b"EXIF", 0) * 2, "corrupt file: two EXIF metadata records")):
        with pytest.raises(DCNError) as e:
            container.unpack_metadata(data)
        assert str(e.value) == message
