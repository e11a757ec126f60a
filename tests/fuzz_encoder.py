"""Fuzzing the encoder's input path with mutated images in many formats.

Each case mutates a small image file (bit flips, inserted or deleted runs, chunk and
header fields overwritten, truncation) and encodes it: it must end in a .dcn file or a
DCNError (one line), within a time bound, never another exception.

    python tests/fuzz_encoder.py 3000       # the long run (the test suite runs a short one)
"""
import io
import re
import signal
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

import codec  # noqa: E402
from codec.errors import DCNError  # noqa: E402
from conftest import make_image  # noqa: E402
from fuzz_decoder import Hang, _alarm, command_line  # noqa: E402  (the same harness)

MAX_PIXELS = 2 ** 16  # small, so that every case is quick
CASE_SECONDS = 20
# (format, mode, save options): 25 ways people hand images to the encoder
SEEDS = [("PNG", "RGB", {}), ("PNG", "RGBA", {}), ("PNG", "P", {}), ("PNG", "L", {}), ("PNG", "I;16", {}),
         ("PNG", "1", {}), ("JPEG", "RGB", {"quality": 80}), ("JPEG", "L", {}), ("JPEG", "CMYK", {}),
         ("JPEG", "RGB", {"progressive": True}), ("WEBP", "RGB", {}), ("WEBP", "RGBA", {"lossless": True}),
         ("TIFF", "RGB", {}), ("TIFF", "RGB", {"compression": "tiff_lzw"}), ("TIFF", "F", {}), ("TIFF", "I", {}),
         ("BMP", "RGB", {}), ("GIF", "P", {}), ("PPM", "RGB", {}), ("TGA", "RGBA", {}), ("ICO", "RGBA", {}),
         ("JPEG2000", "RGB", {}), ("QOI", "RGB", {}), ("PCX", "RGB", {}), ("SGI", "RGB", {})]


def seeds() -> list[tuple[str, bytes]]:
    out = []
    for i, (fmt, mode, options) in enumerate(SEEDS):
        im = make_image(23, 17, "RGBA" if mode == "RGBA" else "RGB", seed=i)
        if mode in ("I;16", "I", "F"):
            a = np.asarray(im.convert("L")).astype(np.float32 if mode == "F" else np.int32) * 200
            im = Image.fromarray(a.astype(np.uint16)) if mode == "I;16" else Image.fromarray(a)
        elif mode != im.mode:
            im = im.convert(mode)
        buf = io.BytesIO()
        im.save(buf, format=fmt, **options)
        out.append((f"{fmt} {mode}", buf.getvalue()))
    return out


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    d = bytearray(data)
    for _ in range(rng.integers(1, 4)):
        kind = rng.integers(5)
        if kind == 0 and d:  # bit flips
            for _ in range(rng.integers(1, 9)):
                i = rng.integers(len(d))
                d[i] ^= 1 << rng.integers(8)
        elif kind == 1:  # inserted run
            i = rng.integers(len(d) + 1)
            d[i:i] = rng.integers(0, 256, rng.integers(1, 33), dtype=np.uint8).tobytes()
        elif kind == 2 and d:  # deleted run
            i = rng.integers(len(d))
            del d[i:i + rng.integers(1, 33)]
        elif kind == 3 and len(d) > 8:  # a header or chunk field overwritten with an extreme value
            i = rng.integers(min(len(d) - 4, 64))
            d[i:i + 4] = int(rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, rng.integers(0, 2 ** 32)])
                             ).to_bytes(4, "big" if rng.random() < 0.5 else "little")
        elif kind == 4 and d:  # truncation
            del d[rng.integers(1, len(d) + 1):]
    return bytes(d)


def fuzz(cases: int, seed: int = 0) -> Counter:
    """Returns a count of outcomes; raises AssertionError on any failure."""
    rng = np.random.default_rng(seed)
    originals = seeds()
    codec.encode(io.BytesIO(originals[0][1]), quality=1)  # weights loaded once
    outcomes = Counter()
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(cases):
            name, original = originals[i % len(originals)]
            data = mutate(original, rng)
            signal.alarm(CASE_SECONDS)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = codec.encode(io.BytesIO(data), quality=1, max_pixels=MAX_PIXELS)
                assert out[:3] == b"DCN"
                outcomes["encoded"] += 1
            except DCNError as exc:
                assert "\n" not in str(exc), f"case {i} ({name}): a message of several lines"
                outcomes["DCNError: " + re.sub(r"\d+", "#", str(exc).split("(")[0])[:60]] += 1
            except Hang:
                raise AssertionError(f"case {i} ({name}): no result within {CASE_SECONDS} s")
            except Exception as exc:
                raise AssertionError(f"case {i} ({name}): unexpected {type(exc).__name__}: {exc}") from exc
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return outcomes


if __name__ == "__main__":
    command_line(fuzz, 3000)
