"""The .dcn container, version 1 (formats/dcn.md describes it byte by byte).

All integers little-endian. 31-byte header, the sections, then a CRC-32 of everything
before it. The reader bounds everything before anything is allocated from it.
"""
import struct
import zlib
from dataclasses import dataclass

from .errors import DCNError
from .quality import MAX_QUALITY, MIN_QUALITY

MAGIC = b"DCN"
VERSION = 1
MODES = ("L", "RGB", "LA", "RGBA")
HEADER = struct.Struct("<3sBBIIH4sIII")  # magic, version, mode, w, h, quality*1000, fingerprint, 3 lengths
CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + CRC.size
MAX_PIXELS = 2 ** 27  # default bound on the decoded image (134 MP); callers may raise it
QUALITY_SCALE = 1000


@dataclass(frozen=True)
class Header:
    mode: str
    width: int
    height: int
    quality: float
    fingerprint: bytes

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")


@dataclass(frozen=True)
class Container:
    header: Header
    z: bytes
    y: bytes
    alpha: bytes = b""

    def section_sizes(self) -> dict:
        return {"header": HEADER.size, "z": len(self.z), "y": len(self.y), "alpha": len(self.alpha),
                "checksum": CRC.size}


def quantize_quality(quality: float) -> int:
    return round(quality * QUALITY_SCALE)


def write(c: Container) -> bytes:
    h = c.header
    body = HEADER.pack(MAGIC, VERSION, MODES.index(h.mode), h.width, h.height, quantize_quality(h.quality),
                       h.fingerprint, len(c.z), len(c.y), len(c.alpha)) + c.z + c.y + c.alpha
    return body + CRC.pack(zlib.crc32(body))


def peek_header(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[Header, tuple[int, int, int]]:
    """Parse and validate the fixed header only (for identification and `dcn info`)."""
    if len(data) < HEADER.size:
        raise DCNError(f"not a DCN file: {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, mode, w, h, q, fp, lz, ly, la = HEADER.unpack_from(data)
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
    header = Header(MODES[mode], w, h, q / QUALITY_SCALE, fp)
    if (la > 0) != header.has_alpha:
        raise DCNError("corrupt file: alpha section does not match the colour mode")
    return header, (lz, ly, la)


def read(data: bytes, max_pixels: int = MAX_PIXELS) -> Container:
    header, (lz, ly, la) = peek_header(data, max_pixels)
    if HEADER.size + lz + ly + la + CRC.size != len(data):
        expected = HEADER.size + lz + ly + la + CRC.size
        what = "truncated" if len(data) < expected else "has trailing data"
        raise DCNError(f"corrupt file: {what} ({len(data)} bytes, header says {expected})")
    body = memoryview(data)[:-CRC.size]
    if zlib.crc32(body) != CRC.unpack_from(data, len(data) - CRC.size)[0]:
        raise DCNError("corrupt file: checksum mismatch")
    o = HEADER.size
    return Container(header, bytes(data[o:o + lz]), bytes(data[o + lz:o + lz + ly]),
                     bytes(data[o + lz + ly:o + lz + ly + la]))
