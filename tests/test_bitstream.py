"""The container format and the decoder's behaviour on damaged files."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import codec
from codec import bitstream
from codec.errors import DCNError
from conftest import make_image

headers = st.builds(
    bitstream.Header,
    mode=st.sampled_from(bitstream.MODES),
    width=st.integers(1, 2 ** 16),
    height=st.integers(1, 2 ** 10),
    quality=st.integers(1000, 8000).map(lambda q: q / 1000),
    fingerprint=st.binary(min_size=4, max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(headers, st.binary(max_size=64), st.binary(max_size=256), st.binary(min_size=1, max_size=32))
def test_container_round_trip(header, z, y, alpha):
    c = bitstream.Container(header, z, y, alpha if header.has_alpha else b"")
    data = bitstream.write(c)
    assert len(data) == bitstream.OVERHEAD + len(c.z) + len(c.y) + len(c.alpha)
    assert bitstream.read(data, max_pixels=2 ** 40) == c


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_reader_never_fails_with_a_foreign_error(data):
    try:
        bitstream.read(data)
    except DCNError:
        pass


def test_fixed_overhead_is_small():
    assert bitstream.OVERHEAD <= 40


def test_claimed_size_is_bounded_before_allocation():
    h = bitstream.Header("RGB", 100000, 100000, 4.0, b"abcd")
    data = bitstream.write(bitstream.Container(h, b"", b""))
    with pytest.raises(DCNError, match="limit"):
        bitstream.read(data)


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
    for i in range(len(small_file)):
        for bit in (0, 7):
            bad = bytearray(small_file)
            bad[i] ^= 1 << bit
            _decode_or_error(bytes(bad), 20, 12)


def test_every_truncation(small_file):
    for n in range(len(small_file)):
        with pytest.raises(DCNError):
            codec.decode(small_file[:n])


def test_sections_with_valid_checksum_but_garbage_content(small_file):
    """Where the checksum cannot tell (it is recomputed), decoding still ends cleanly."""
    import zlib
    rng = np.random.default_rng(0)
    c = bitstream.read(small_file)
    for _ in range(200):
        z = bytes(rng.integers(0, 256, len(c.z), dtype=np.uint8)) if rng.random() < 0.5 else c.z
        y = bytes(rng.integers(0, 256, rng.integers(0, 3) * 4 + len(c.y), dtype=np.uint8))
        alpha = c.alpha if rng.random() < 0.5 else bytes(rng.integers(0, 256, len(c.alpha), dtype=np.uint8))
        data = bitstream.write(bitstream.Container(c.header, z, y, alpha))
        assert zlib.crc32(data[:-4]) == bitstream.CRC.unpack_from(data, len(data) - 4)[0]
        _decode_or_error(data, 20, 12)
