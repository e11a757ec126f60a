"""Every refusal of the container reader, each with its exact one-line message, at the
boundaries of the fields it checks (a damaged file must say what is wrong with it)."""
import struct
import zlib

import pytest

from codec.errors import DCNError
from codec.format import container
from codec.format.limits import MAX_METADATA, MAX_SECTIONS

V2, V3, V4 = container.V2_HEADER, container.V3_HEADER, container.V4_HEADER


def v2(mode=1, w=8, h=8, q=4000, tile=1, la=0) -> bytes:
    return V2.pack(b"DCN", 2, mode, w, h, q, b"abcd", tile, la)


def sealed(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def message(data: bytes, **kw) -> str:
    with pytest.raises(DCNError) as e:
        container.read(data, **kw)
    return str(e.value)


@pytest.mark.parametrize("data, expected", [
    (b"", "not a DCN file: 0 bytes"),
    (b"DCN\x02", "not a DCN file: 4 bytes"),
    (b"DCN\x02\x01", "not a DCN file: 5 bytes is shorter than the version-2 header (25 bytes)"),
    (b"DCX\x02\x01" + bytes(30), "not a DCN file (bad magic)"),
    (b"DCN\x09\x01" + bytes(30), "unsupported DCN version 9 (this decoder reads versions 1, 2, 3, 4; "
                                 "a newer dcn may read it)"),
    (v2(mode=4), "corrupt file: unknown colour mode 4"),
    (v2(w=0, h=5), "corrupt file: image size 0x5"),
    (v2(w=5, h=0), "corrupt file: image size 5x0"),
    (v2(q=999), "corrupt file: quality 0.999 out of range"),
    (v2(tile=0), "corrupt file: tile size 0"),
    (v2(mode=1, la=3), "corrupt file: alpha section does not match the colour mode"),
    (v2(mode=3, la=0), "corrupt file: alpha section does not match the colour mode"),
    (V4.pack(b"DCN", 4, 1, 8, 8, 4000, b"abcd", 1, 2, 0, MAX_METADATA + 1),
     f"corrupt file: a metadata section of {MAX_METADATA + 1} bytes (at most {MAX_METADATA})"),
    (V3.pack(b"DCN", 3, 1, 8, 8, 4000, b"abcd", 1, 0, 0), f"corrupt file: 0 sections per tile (1 to {MAX_SECTIONS})"),
])
def test_header_refusals(data, expected):
    assert message(data) == expected
    with pytest.raises(DCNError) as e:
        container.peek_header(data)  # what `dcn info` and Pillow's identification read
    assert str(e.value) == expected


def test_header_fields_at_their_limits_are_accepted():
    """A header exactly as long as its version's, the largest metadata section, quality 1,
    the last colour mode: all valid."""
    assert container.peek_header(v2(mode=3, q=1000, la=1)).mode == "RGBA"
    assert container.peek_header(v2(q=1000)).quality == 1.0
    head = V4.pack(b"DCN", 4, 1, 8, 8, 4000, b"abcd", 1, 2, 0, MAX_METADATA)
    assert container.peek_header(head).version == 4 and len(head) == V4.size


def test_size_limit_applies_on_every_path():
    data = container.write(container.Container(container.Header("RGB", 200, 100, 4.0, b"abcd", 256), ((b"", b""),)))
    expected = "image: 200x100 (256x128 padded to multiples of 64) exceeds the limit of 30000 pixels"
    for read in (container.peek_header, container.read_index, container.read):
        with pytest.raises(DCNError) as e:
            read(data, max_pixels=30000)
        assert str(e.value) == expected, read.__name__
    assert container.read(data, max_pixels=256 * 128).header.width == 200


def test_version_1_tile_covers_the_longer_side():
    """Version 1 is one tile of the image padded to 64: its taller side decides here."""
    body = struct.pack("<3sBBIIH4sIII", b"DCN", 1, 1, 130, 200, 4000, b"abcd", 1, 1, 0) + b"zy"
    header = container.read(sealed(body)).header
    assert (header.tile, header.sections, header.grid) == (256, 2, (1, 1))


def test_length_refusals():
    good = container.write(container.Container(container.Header("RGB", 8, 8, 4.0, b"abcd", 64), ((b"zz", b"yyy"),)))
    n = len(good)
    assert message(good[:-1]) == f"corrupt file: truncated ({n - 1} bytes, header says {n})"
    assert message(good + b"x") == f"corrupt file: has trailing data ({n + 1} bytes, header says {n})"
    damaged = bytearray(good)
    damaged[-6] ^= 1
    assert message(bytes(damaged)) == "corrupt file: checksum mismatch"
    big = v2(w=64 * 8, h=64 * 8, tile=1)  # 64 tiles: an index of 512 bytes the file lacks
    assert message(big + bytes(8)) == "corrupt file: truncated (33 bytes, the tile index alone needs 541)"


def test_duplicate_metadata_record_is_named():
    record = container.RECORD.pack(b"EXIF", 1) + b"x"
    with pytest.raises(DCNError) as e:
        container.unpack_metadata(record + record)
    assert str(e.value) == "corrupt file: two EXIF metadata records"


def test_an_unpadded_image_over_the_limit_is_named_without_padding():
    from codec.format.limits import check_area
    with pytest.raises(DCNError) as e:
        check_area(128, 64, 8000)
    assert str(e.value) == "image: 128x64 exceeds the limit of 8000 pixels"


@pytest.mark.parametrize("tile, tiles", [(100, ((b"", b""),)), (64, ((b"", b""),)), (256, ((b"",),))],
                         ids=["tile-not-a-multiple", "tile-count", "sections"])
def test_the_writer_refuses_tiles_that_do_not_match_the_header(tile, tiles):
    """Each disagreement alone (200 x 100 px: one 256-px tile, or 4 x 2 of 64 px)."""
    with pytest.raises(ValueError) as e:
        container.write(container.Container(container.Header("RGB", 200, 100, 4.0, b"abcd", tile), tiles))
    assert str(e.value) == "tile size, count or sections do not match the header"


def test_the_writer_takes_metadata_up_to_the_limit_and_refuses_more():
    record = container.RECORD.size
    head = container.Header("RGB", 8, 8, 4.0, b"abcd", 64)
    largest = container.Container(head, ((b"", b""),), metadata={"icc_profile": b"x" * (MAX_METADATA - record)})
    assert container.read(container.write(largest)).metadata["icc_profile"] == largest.metadata["icc_profile"]
    with pytest.raises(DCNError) as e:
        container.write(container.Container(head, ((b"", b""),), metadata={"icc_profile": b"x" * (MAX_METADATA - record + 1)}))
    assert str(e.value) == (f"metadata of {MAX_METADATA + 1} bytes: at most {MAX_METADATA} fit in a file "
                            "(--strip-metadata leaves it out)")
