"""The .dcn container (formats/dcn.md describes it byte by byte): versions 1 to 4.

All integers little-endian. A header, a tile index (each tile's section lengths), each
tile's sections, the alpha section, then a CRC-32 of everything before it. Each tile's
sections decode on their own; how many sections a tile has is the model's (its latent
codec's) business: version 2 holds two per tile, version 3 says how many in its header,
version 1 (the first release) holds one z and one y section for the whole image, read
here as a single tile. The reader bounds everything before anything is allocated from it.
The quality range and the fingerprint are checked against the model (models/registry.py).
"""
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import accumulate

from ..errors import DCNError
from .constants import MAGIC, MAX_PIXELS, METADATA_TAGS, MODES, QUALITY_SCALE, STRIDE, TILE_UNIT
from .limits import MAX_METADATA, MAX_SECTIONS, check_area

V1_HEADER = struct.Struct("<3sBBIIH4sIII")  # magic, version, mode, w, h, quality, fingerprint, Lz, Ly, La
V2_HEADER = struct.Struct("<3sBBIIH4sHI")  # magic, version, mode, w, h, quality, fingerprint, tile/64, La
V3_HEADER = struct.Struct("<3sBBIIH4sHBI")  # as version 2, plus the number of sections per tile before La
V4_HEADER = struct.Struct("<3sBBIIH4sHBII")  # as version 3, plus Lm: the metadata section's length
HEADERS = {1: V1_HEADER, 2: V2_HEADER, 3: V3_HEADER, 4: V4_HEADER}
RECORD = struct.Struct("<4sI")  # a metadata record: tag, length
VERSIONS = tuple(HEADERS)
SECTION = struct.Struct("<I")  # one section length in the tile index
CRC = struct.Struct("<I")
MIN_SIZE = 4 + 1  # magic and version: enough to tell which header follows


@dataclass(frozen=True)
class Header:
    mode: str
    width: int
    height: int
    quality: float
    fingerprint: bytes
    tile: int  # pixels, a multiple of TILE_UNIT
    sections: int = 2  # sections per tile
    version: int = 2

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")

    @property
    def grid(self) -> tuple[int, int]:
        """Tile rows and columns; tiles are tile x tile pixels, cut short at the right and bottom."""
        return -(-self.height // self.tile), -(-self.width // self.tile)

    @property
    def size(self) -> int:
        """Bytes of the fixed header."""
        return HEADERS[self.version].size


@dataclass(frozen=True)
class Container:
    header: Header
    tiles: tuple[tuple[bytes, ...], ...]  # each tile's sections, row by row
    alpha: bytes = b""
    metadata: dict = field(default_factory=dict)  # Pillow's name ("icc_profile", "exif") -> bytes

    def section_sizes(self, names: tuple[str, ...] = ()) -> dict:
        """Bytes of each part of the file; names: the model's names of the sections."""
        lengths = array("Q", (len(s) for t in self.tiles for s in t))
        return Index(self.header, lengths, len(self.alpha), len(pack_metadata(self.metadata))).section_sizes(names)


@dataclass(frozen=True)
class Index:
    """A file's header and section lengths, without its sections (what `dcn info` needs)."""

    header: Header
    lengths: array  # every section's length, tile by tile, row by row (4 or 8 bytes each)
    alpha: int  # length of the alpha section
    metadata: int = 0  # length of the metadata section (version 4)

    def section_sizes(self, names: tuple[str, ...] = ()) -> dict:
        """Bytes of each part of the file; names: the model's names of the sections."""
        index = 0 if self.header.version == 1 else SECTION.size * len(self.lengths)
        sizes = {"header": self.header.size, "tile index": index}
        for i in range(self.header.sections):
            sizes[names[i] if i < len(names) else f"section {i}"] = sum(self.lengths[i::self.header.sections])
        sizes["alpha"] = self.alpha
        if self.header.version >= 4:
            sizes["metadata"] = self.metadata
        return {**sizes, "checksum": CRC.size}


def quantize_quality(quality: float) -> int:
    return round(quality * QUALITY_SCALE)


def pack_metadata(items: dict) -> bytes:
    """The metadata section: a record (tag, u32 length, bytes) per item, in METADATA_TAGS' order."""
    return b"".join(RECORD.pack(tag, len(items[name])) + items[name]
                    for name, tag in METADATA_TAGS.items() if items.get(name))


def unpack_metadata(data: bytes) -> dict:
    """The metadata section's items; records of unknown tags are skipped (a later version may add some)."""
    names = {tag: name for name, tag in METADATA_TAGS.items()}
    items, at = {}, 0
    while at < len(data):
        if at + RECORD.size > len(data):
            raise DCNError("corrupt file: truncated metadata record")
        tag, length = RECORD.unpack_from(data, at)
        at += RECORD.size
        if length > len(data) - at:
            raise DCNError("corrupt file: a metadata record overruns its section")
        if tag in names:
            if names[tag] in items:
                raise DCNError(f"corrupt file: two {tag.decode('latin-1')} metadata records")
            items[names[tag]] = bytes(data[at:at + length])
        at += length
    return items


def write(c: Container) -> bytes:
    """Version 2 for two sections per tile (the files of every model-1 release), version 4
    when there is metadata, else version 3."""
    h = c.header
    rows, cols = h.grid
    if h.tile % TILE_UNIT or len(c.tiles) != rows * cols or any(len(t) != h.sections for t in c.tiles):
        raise ValueError("tile size, count or sections do not match the header")
    fields = (MODES.index(h.mode), h.width, h.height, quantize_quality(h.quality), h.fingerprint, h.tile // TILE_UNIT)
    metadata = pack_metadata(c.metadata)
    if len(metadata) > MAX_METADATA:
        raise DCNError(f"metadata of {len(metadata)} bytes: at most {MAX_METADATA} fit in a file "
                       "(--strip-metadata leaves it out)")
    if metadata:
        head = V4_HEADER.pack(MAGIC, 4, *fields, h.sections, len(c.alpha), len(metadata))
    elif h.sections == 2:
        head = V2_HEADER.pack(MAGIC, 2, *fields, len(c.alpha))
    else:
        head = V3_HEADER.pack(MAGIC, 3, *fields, h.sections, len(c.alpha))
    parts = [head] + [SECTION.pack(len(s)) for t in c.tiles for s in t]
    parts += [s for t in c.tiles for s in t] + [c.alpha, metadata]
    body = b"".join(parts)
    return body + CRC.pack(zlib.crc32(body))


def _fields(data: bytes) -> tuple[int, tuple]:
    if len(data) < MIN_SIZE:
        raise DCNError(f"not a DCN file: {len(data)} bytes")
    if data[:3] != MAGIC:
        raise DCNError("not a DCN file (bad magic)")
    version = data[3]
    if version not in HEADERS:
        raise DCNError(f"unsupported DCN version {version} (this decoder reads versions "
                       f"{', '.join(map(str, VERSIONS))}; a newer dcn may read it)")
    if len(data) < HEADERS[version].size:
        raise DCNError(f"not a DCN file: {len(data)} bytes is shorter than the version-{version} header "
                       f"({HEADERS[version].size} bytes)")
    return version, HEADERS[version].unpack_from(data)


def peek_header(data: bytes, max_pixels: int = MAX_PIXELS) -> Header:
    """Parse and validate the fixed header only (for identification and `dcn info`)."""
    version, f = _fields(data)
    mode, w, h, q, fp = f[2:7]
    if version == 1:
        la = f[9]
        # one tile: the whole image (padded to the stride)
        tile, sections = max(-(-w // STRIDE), -(-h // STRIDE)) * STRIDE, 2
    elif version == 2:
        tile, sections, la = f[7] * TILE_UNIT, 2, f[8]
    else:  # 3 and 4
        tile, sections, la = f[7] * TILE_UNIT, f[8], f[9]
        if version == 4 and f[10] > MAX_METADATA:
            raise DCNError(f"corrupt file: a metadata section of {f[10]} bytes (at most {MAX_METADATA})")
        if not 1 <= sections <= MAX_SECTIONS:
            raise DCNError(f"corrupt file: {sections} sections per tile (1 to {MAX_SECTIONS})")
    if mode >= len(MODES):
        raise DCNError(f"corrupt file: unknown colour mode {mode}")
    if w < 1 or h < 1:
        raise DCNError(f"corrupt file: image size {w}x{h}")
    check_area(w, h, max_pixels)  # the padded area: what the decoder allocates and computes
    if q < QUALITY_SCALE:
        raise DCNError(f"corrupt file: quality {q / QUALITY_SCALE:g} out of range")
    if tile < 1:
        raise DCNError("corrupt file: tile size 0")
    header = Header(MODES[mode], w, h, q / QUALITY_SCALE, fp, tile, sections, version)
    if (la > 0) != header.has_alpha:
        raise DCNError("corrupt file: alpha section does not match the colour mode")
    return header


U32 = next(code for code in "IL" if array(code).itemsize == 4)  # the array type code of 4-byte integers


def _u32s(data: bytes, offset: int, count: int) -> array:
    """count little-endian u32 at offset, 4 bytes each in memory (no numpy: `dcn info` starts faster)."""
    out = array(U32)
    out.frombytes(memoryview(data)[offset:offset + 4 * count])
    if sys.byteorder == "big":
        out.byteswap()
    return out


def read_index(data: bytes, max_pixels: int = MAX_PIXELS) -> Index:
    """Header and section lengths, with the file's size and checksum verified; nothing is
    allocated per tile beyond 8 bytes a section."""
    header = peek_header(data, max_pixels)
    version, f = _fields(data)
    la, lm = (f[9], f[10]) if version == 4 else (f[-1], 0)
    if version == 1:
        lengths, index_end = array("Q", f[7:9]), header.size
    else:
        rows, cols = header.grid
        count = rows * cols * header.sections
        index_end = header.size + SECTION.size * count
        if index_end + CRC.size > len(data):  # before the index is read: its size follows from the header
            raise DCNError(f"corrupt file: truncated ({len(data)} bytes, the tile index alone needs "
                           f"{index_end + CRC.size})")
        lengths = _u32s(data, header.size, count)
    expected = index_end + sum(lengths) + la + lm + CRC.size
    if expected != len(data):
        what = "truncated" if len(data) < expected else "has trailing data"
        raise DCNError(f"corrupt file: {what} ({len(data)} bytes, header says {expected})")
    if zlib.crc32(memoryview(data)[:-CRC.size]) != CRC.unpack_from(data, len(data) - CRC.size)[0]:
        raise DCNError("corrupt file: checksum mismatch")
    return Index(header, lengths, la, lm)


def read(data: bytes, max_pixels: int = MAX_PIXELS) -> Container:
    index = read_index(data, max_pixels)
    start = index.header.size + (0 if index.header.version == 1 else SECTION.size * len(index.lengths))
    ends = list(accumulate(index.lengths, initial=start))
    cuts = list(zip(ends, ends[1:]))
    s = index.header.sections
    tiles = tuple(tuple(data[a:b] for a, b in cuts[k:k + s]) for k in range(0, len(cuts), s))
    end = ends[-1]
    return Container(index.header, tiles, bytes(data[end:end + index.alpha]), read_metadata(data, index))


def read_metadata(data: bytes, index: Index) -> dict:
    """The items of a file's metadata section (it lies just before the checksum)."""
    end = len(data) - CRC.size
    return unpack_metadata(memoryview(data)[end - index.metadata:end])
