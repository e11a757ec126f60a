"""The alpha plane, stored losslessly with zlib (its own section of the file)."""
import zlib

import numpy as np

from ..errors import DCNError


def encode_alpha(alpha: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(alpha, dtype=np.uint8).tobytes(), 9)


def decode_alpha(data: bytes, width: int, height: int) -> np.ndarray:
    """Inflate at most width*height bytes: a hostile stream cannot make it allocate more."""
    d = zlib.decompressobj()
    try:
        raw = d.decompress(data, width * height)
    except zlib.error as exc:
        raise DCNError(f"corrupt file: alpha section ({exc})") from None
    if len(raw) != width * height or not d.eof or d.unconsumed_tail or d.unused_data:
        raise DCNError("corrupt file: alpha section does not hold exactly one plane")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width)
