"""What a file or an image may make the codec allocate and compute, checked before anything
is allocated from it (formats/dcn.md, "Resource bounds").

Every buffer and every network pass scales with the image padded to multiples of 64, not
with width x height: a 1-pixel-wide image is padded 64-fold. So the pixel limit bounds the
padded area, and with it the latents, the tile count and the decoder's time.
"""
from pathlib import Path

from ..errors import DCNError
from .constants import MAX_PIXELS, STRIDE

MAX_SECTIONS = 16  # sections per coding tile a version-3 file may declare
MAX_METADATA = 2 ** 24  # bytes of a version-4 file's metadata section (ICC profiles and EXIF are far smaller)
MAX_BYTES_PER_PIXEL = 4  # 32 bpp: no .dcn file of a model comes near it (the top level is ~2 bpp)


def padded(n: int) -> int:
    """A side padded to the stride of z."""
    return -(-n // STRIDE) * STRIDE


def check_area(width: int, height: int, max_pixels: int = MAX_PIXELS, name: str = "image") -> None:
    """DCNError unless the image, padded as the codec pads it, fits in max_pixels."""
    area = padded(width) * padded(height)
    if area > max_pixels:
        how = "" if area == width * height else f" ({padded(width)}x{padded(height)} padded to multiples of {STRIDE})"
        raise DCNError(f"{name}: {width}x{height}{how} exceeds the limit of {max_pixels} pixels")


def max_file_bytes(max_pixels: int = MAX_PIXELS) -> int:
    """The largest .dcn file read for a pixel limit (a larger one is refused before reading)."""
    return MAX_BYTES_PER_PIXEL * max_pixels + 2 ** 20 + MAX_METADATA


def read_bounded(f, limit: int, name: str) -> bytes:
    """At most `limit` bytes of a stream (a file, stdin, Pillow's fp); more is an error."""
    data = f.read(limit + 1)
    if len(data) > limit:
        raise DCNError(f"{name}: larger than any file the limits allow ({limit} bytes)")
    return data


def read_regular(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most `limit` of them: a FIFO, a device or /dev/zero would
    otherwise hang or fill the memory."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DCNError(f"{path}: no such file") from None
    except OSError as exc:
        raise DCNError(f"{path}: cannot read ({exc.strerror})") from None
    if path.is_dir():
        raise DCNError(f"{path}: is a directory")
    if not path.is_file():
        raise DCNError(f"{path}: not a regular file")
    if st.st_size > limit:
        raise DCNError(f"{path}: {st.st_size} bytes is larger than any file the limits allow ({limit} bytes)")
    try:
        with open(path, "rb") as f:
            return read_bounded(f, limit, str(path))  # it may have grown since the stat
    except DCNError:  # an OSError too: its own message, not "cannot read (None)"
        raise
    except OSError as exc:
        raise DCNError(f"{path}: cannot read ({exc.strerror})") from None
