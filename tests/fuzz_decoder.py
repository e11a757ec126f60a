"""Fuzzing the decoder with mutated real .dcn files.

Every case must end in DCNError or an image of the declared size, within a time bound,
without the process's peak memory growing beyond a bound. Half the cases get their
checksum recomputed after the mutation, so the parsing behind the checksum is reached.

    python tests/fuzz_decoder.py 10000      # the long run (the test suite runs a short one)
"""
import re
import resource
import signal
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import codec  # noqa: E402
from codec.format import container  # noqa: E402
from codec.errors import DCNError  # noqa: E402
from conftest import make_image  # noqa: E402

MAX_PIXELS = 2 ** 18  # the decoder's own bound, small here so that every case is quick
CASE_SECONDS = 10


class Hang(Exception):
    pass


def seeds() -> list[bytes]:
    return [codec.encode(make_image(w, h, mode, seed=i), quality=q)
            for i, (w, h, mode, q) in enumerate([(24, 16, "RGB", 2), (40, 33, "RGBA", 6), (9, 70, "L", 4.5),
                                                  (70, 64, "LA", 8)])]


def fix_crc(data: bytes) -> bytes:
    if len(data) < container.V2_HEADER.size + container.CRC.size:
        return data
    body = data[:-4]
    return body + container.CRC.pack(zlib.crc32(body))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    d = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:  # bit flips
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(len(d))
            d[i] ^= 1 << rng.integers(8)
    elif kind == 1:  # insertions
        i = rng.integers(len(d) + 1)
        d[i:i] = rng.integers(0, 256, rng.integers(1, 17), dtype=np.uint8).tobytes()
    elif kind == 2:  # deletions
        i = rng.integers(len(d))
        del d[i:i + rng.integers(1, 17)]
    elif kind == 3:  # length, size and quality fields
        offset = rng.choice([5, 9, 13, 19, 23, 27])
        size = 2 if offset == 13 else 4
        value = int(rng.choice([0, 1, 2 ** 16, 2 ** 31, 2 ** 32 - 1, rng.integers(0, 2 ** 16)]))
        d[offset:offset + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")
    elif kind == 4:  # random tail or truncation
        if rng.random() < 0.5:
            d += rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8).tobytes()
        else:
            del d[rng.integers(len(d)):]
    else:  # section contents replaced
        start = rng.integers(container.V2_HEADER.size, max(container.V2_HEADER.size + 1, len(d) - 4))
        end = min(len(d) - 4, start + rng.integers(1, 64))
        d[start:end] = rng.integers(0, 256, max(0, end - start), dtype=np.uint8).tobytes()
    out = bytes(d)
    return fix_crc(out) if rng.random() < 0.5 else out


def _alarm(signum, frame):
    raise Hang()


def fuzz(cases: int, seed: int = 0, memory_growth_mb: float = 400.0) -> Counter:
    """Returns a count of outcomes; raises AssertionError on any failure."""
    rng = np.random.default_rng(seed)
    originals = seeds()
    codec.decode(originals[0])  # warm up: weights loaded before the memory baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outcomes = Counter()
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(cases):
            data = mutate(originals[rng.integers(len(originals))], rng)
            signal.alarm(CASE_SECONDS)
            try:
                img = codec.decode(data, max_pixels=MAX_PIXELS)
                header = container.peek_header(data, MAX_PIXELS)
                assert img.size == (header.width, header.height), f"case {i}: wrong size"
                outcomes["image"] += 1
            except DCNError as exc:
                outcomes["DCNError: " + re.sub(r"[0-9a-f]{8}|\d+", "#", str(exc))[:70]] += 1
            except Hang:
                raise AssertionError(f"case {i}: no result within {CASE_SECONDS} s")
            except Exception as exc:
                raise AssertionError(f"case {i}: unexpected {type(exc).__name__}: {exc}") from exc
            finally:
                signal.alarm(0)
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
        assert growth < memory_growth_mb, f"peak memory grew by {growth:.0f} MB"
        outcomes["peak memory growth MB"] = round(growth)
    finally:
        signal.signal(signal.SIGALRM, old)
    return outcomes


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    t = time.perf_counter()
    result = fuzz(n, seed=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(f"{n} cases in {time.perf_counter() - t:.0f} s, no crash, hang or foreign exception")
    for k, v in result.most_common():
        print(f"  {v:6d}  {k}")
