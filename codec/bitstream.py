"""The .dcn container, version 2 (formats/dcn.md describes it byte by byte).

All integers little-endian. A 25-byte header, a tile index (two section lengths per tile),
each tile's z and y sections, the alpha section, then a CRC-32 of everything before it.
Each tile's sections decode on their own. The reader bounds everything before anything
is allocated from it.
"""
import struct
import zlib
from dataclasses import dataclass

from .errors import DCNError
from .quality import MAX_QUALITY, MIN_QUALITY

MAGIC = b"DCN"
VERSION = 2
MODES = ("L", "RGB", "LA", "RGBA")
HEADER = struct.Struct("<3sBBIIH4sHI")  # magic, version, mode, w, h, quality*1000, fingerprint, tile/64, alpha length
TILE_ENTRY = struct.Struct("<II")  # lengths of one tile's z and y sections
CRC = struct.Struct("<I")
TILE_UNIT = 64  # tile sizes are multiples of the hyper-latent's stride
MAX_PIXELS = 2 ** 27  # default bound on the decoded image (134 MP); callers may raise it
QUALITY_SCALE = 1000


@dataclass(frozen=True)
class Header:
    mode: str
    width: int
    height: int
    quality: float
    fingerprint: bytes
    tile: int  # pixels, a multiple of TILE_UNIT

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")

    @property
    def grid(self) -> tuple[int, int]:
        """Tile rows and columns; tiles are tile x tile pixels, cut short at the right and bottom."""
        return -(-self.height // self.tile), -(-self.width // self.tile)


@dataclass(frozen=True)
class Container:
    header: Header
    tiles: tuple[tuple[bytes, bytes], ...]  # (z section, y section) per tile, row by row
    alpha: bytes = b""

    def section_sizes(self) -> dict:
        return {"header": HEADER.size, "tile index": TILE_ENTRY.size * len(self.tiles),
                "z": sum(len(z) for z, _ in self.tiles), "y": sum(len(y) for _, y in self.tiles),
                "alpha": len(self.alpha), "checksum": CRC.size}


def quantize_quality(quality: float) -> int:
    return round(quality * QUALITY_SCALE)


def write(c: Container) -> bytes:
    h = c.header
    rows, cols = h.grid
    if h.tile % TILE_UNIT or len(c.tiles) != rows * cols:
        raise ValueError("tile size or count does not match the header")
    parts = [HEADER.pack(MAGIC, VERSION, MODES.index(h.mode), h.width, h.height, quantize_quality(h.quality),
                         h.fingerprint, h.tile // TILE_UNIT, len(c.alpha))]
    parts += [TILE_ENTRY.pack(len(z), len(y)) for z, y in c.tiles]
    parts += [z + y for z, y in c.tiles] + [c.alpha]
    body = b"".join(parts)
    return body + CRC.pack(zlib.crc32(body))


def peek_header(data: bytes, max_pixels: int = MAX_PIXELS) -> Header:
    """Parse and validate the fixed header only (for identification and `dcn info`)."""
    if len(data) < HEADER.size:
        raise DCNError(f"not a DCN file: {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, mode, w, h, q, fp, tile, la = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DCNError("not a DCN file (bad magic)")
    if version != VERSION:
        raise DCNError(f"unsupported DCN version {version} (this decoder reads version {VERSION})")
    if mode >= len(MODES):
        raise DCNError(f"corrupt file: unknown colour mode {mode}")
    if w < 1 or h < 1:
        raise DCNError(f"corrupt file: image size {w}x{h}")
    if w * h > max_pixels:
        raise DCNError(f"image of {w}x{h} exceeds the limit of {max_pixels} pixels (raise it with --max-pixels)")
    if not QUALITY_SCALE * MIN_QUALITY <= q <= QUALITY_SCALE * MAX_QUALITY:
        raise DCNError(f"corrupt file: quality {q / QUALITY_SCALE:g} out of range")
    if tile < 1:
        raise DCNError("corrupt file: tile size 0")
    header = Header(MODES[mode], w, h, q / QUALITY_SCALE, fp, tile * TILE_UNIT)
    if (la > 0) != header.has_alpha:
        raise DCNError("corrupt file: alpha section does not match the colour mode")
    return header


def read(data: bytes, max_pixels: int = MAX_PIXELS) -> Container:
    header = peek_header(data, max_pixels)
    la = HEADER.unpack_from(data)[-1]
    rows, cols = header.grid
    index_end = HEADER.size + TILE_ENTRY.size * rows * cols
    if index_end + CRC.size > len(data):  # before the index is read: its size follows from the header
        raise DCNError(f"corrupt file: truncated ({len(data)} bytes, the tile index alone needs {index_end + CRC.size})")
    lengths = [TILE_ENTRY.unpack_from(data, o) for o in range(HEADER.size, index_end, TILE_ENTRY.size)]
    expected = index_end + sum(lz + ly for lz, ly in lengths) + la + CRC.size
    if expected != len(data):
        what = "truncated" if len(data) < expected else "has trailing data"
        raise DCNError(f"corrupt file: {what} ({len(data)} bytes, header says {expected})")
    body = memoryview(data)[:-CRC.size]
    if zlib.crc32(body) != CRC.unpack_from(data, len(data) - CRC.size)[0]:
        raise DCNError("corrupt file: checksum mismatch")
    tiles, o = [], index_end
    for lz, ly in lengths:
        tiles.append((bytes(data[o:o + lz]), bytes(data[o + lz:o + lz + ly])))
        o += lz + ly
    return Container(header, tuple(tiles), bytes(data[o:o + la]))
