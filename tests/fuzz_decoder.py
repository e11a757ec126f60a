"""Fuzzing the decoder: mutated real .dcn files, and files built field by field.

Every case must end in DCNError or an image of the declared size, within a time bound,
without the process's peak memory growing beyond a bound. A third of the cases are
mutated real files with their checksum left as it was: they must all be refused (a
decoder that ignored the checksum would fail here). A third are mutated and get their
checksum recomputed, so the parsing behind it is reached. A third are structure-aware:
files assembled from hostile header fields (every version, mode, size at and past the
limit, thin and padded shapes, tile sizes, section counts, a real or unknown model,
qualities past the model's range) and a consistent index over sections taken from real
files, random words or nothing, with a valid checksum.

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
    tagged = make_image(30, 20, "RGB", seed=9)  # version 4: a metadata section
    tagged.info.update(icc_profile=b"profile " * 8, exif=b"Exif\0\0MM\0*" + bytes(20))
    return [codec.encode(make_image(w, h, mode, seed=i), quality=q)
            for i, (w, h, mode, q) in enumerate([(24, 16, "RGB", 2), (40, 33, "RGBA", 6), (9, 70, "L", 4.5),
                                                  (70, 64, "LA", 8)])] + [codec.encode(tagged, quality=3)]


def fix_crc(data: bytes) -> bytes:
    if len(data) < container.V2_HEADER.size + container.CRC.size:
        return data
    body = data[:-4]
    return body + container.CRC.pack(zlib.crc32(body))


def mutate(data: bytes, rng: np.random.Generator, fix: bool) -> bytes:
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
        offset = rng.choice([5, 9, 13, 19, 22, 23, 26, 27])
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
    return fix_crc(out) if fix else out


def build(originals: list[bytes], rng: np.random.Generator) -> bytes:
    """A file with a valid checksum and hostile but consistent fields."""
    real = [container.read(o) for o in originals]
    donor = real[rng.integers(len(real))]
    version = int(rng.choice([1, 2, 3, 3, 3, 4, 4]))  # the default model writes 3, or 4 with metadata
    mode = int(rng.choice([0, 1, 2, 3, 3, 7]))
    side = lambda: int(rng.choice([1, 2, 63, 64, 65, 127, 200, 511, 512, 4096, 2 ** 20, 2 ** 32 - 1,  # noqa: E731
                                   rng.integers(1, 300)]))
    w, h = side(), side()
    quality = int(rng.choice([0, 999, 1000, 4000, 8000, 8001, 12000, 65535, rng.integers(1000, 9000)]))
    fingerprint = donor.header.fingerprint if rng.random() < 0.8 else rng.bytes(4)
    tile_units = int(rng.choice([1, 2, 3, 4, 255, 65535]))
    sections = int(rng.choice([1, 1, 1, 2, 3, 16, 17, 255])) if version >= 3 else 2
    la = 0
    alpha = b""
    if mode in (2, 3) or rng.random() < 0.05:
        alpha = zlib.compress(rng.bytes(int(rng.integers(0, 64)))) if rng.random() < 0.5 else \
            (donor.alpha or zlib.compress(bytes(w * h) if w * h < 4096 else b"\0"))
        la = len(alpha)
    pool = [s for t in donor.tiles for s in t] + [b""]

    def section() -> bytes:
        r = rng.random()
        return pool[rng.integers(len(pool))] if r < 0.6 else rng.bytes(4 * int(rng.integers(0, 8))) if r < 0.9 \
            else rng.bytes(int(rng.integers(1, 9)))  # lengths that are not multiples of 4 too

    rows = -(-h // (64 * tile_units)) if version != 1 else 1
    cols = -(-w // (64 * tile_units)) if version != 1 else 1
    # a short index for huge grids (the harness's own memory must stay small: it is measured too)
    count = rows * cols if rows * cols * sections <= 16384 else int(rng.integers(0, 8))
    body_sections = [[section() for _ in range(sections)] for _ in range(count)]
    if version == 1:
        z, y = (body_sections[0] + [b"", b""])[:2] if body_sections else (b"", b"")
        head = container.V1_HEADER.pack(container.MAGIC, 1, mode, w % 2 ** 32, h % 2 ** 32, quality, fingerprint,
                                        len(z), len(y), la)
        body = head + z + y + alpha
    else:
        fields = (mode, w % 2 ** 32, h % 2 ** 32, quality, fingerprint, tile_units)
        metadata = _metadata(rng) if version == 4 else b""
        lm = len(metadata) if rng.random() < 0.9 else int(rng.choice([2 ** 24, 2 ** 24 + 1, 2 ** 32 - 1]))
        head = container.V2_HEADER.pack(container.MAGIC, 2, *fields, la) if version == 2 else \
            container.V3_HEADER.pack(container.MAGIC, 3, *fields, sections, la) if version == 3 else \
            container.V4_HEADER.pack(container.MAGIC, 4, *fields, sections, la, lm)
        index = b"".join(container.SECTION.pack(len(s)) for t in body_sections for s in t)
        body = head + index + b"".join(s for t in body_sections for s in t) + alpha + metadata
    return body + container.CRC.pack(zlib.crc32(body))


def _metadata(rng: np.random.Generator) -> bytes:
    """A metadata section: records of known, unknown and repeated tags, lengths that fit,
    overrun or are cut short."""
    out = b""
    for _ in range(int(rng.integers(0, 4))):
        tag = [b"ICCP", b"EXIF", b"XMP ", rng.bytes(4)][int(rng.integers(4))]
        payload = rng.bytes(int(rng.integers(0, 40)))
        length = len(payload) if rng.random() < 0.8 else int(rng.choice([len(payload) + 1, 2 ** 31, 2 ** 32 - 1]))
        out += container.RECORD.pack(tag, length) + payload
    return out[:int(rng.integers(len(out) + 1))] if rng.random() < 0.1 else out


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
            kind = ("mutated", "mutated, checksum fixed", "built")[i % 3]
            original = originals[rng.integers(len(originals))]
            data = build(originals, rng) if kind == "built" else mutate(original, rng, kind != "mutated")
            signal.alarm(CASE_SECONDS)
            try:
                img = codec.decode(data, max_pixels=MAX_PIXELS)
                header = container.peek_header(data, MAX_PIXELS)
                assert img.size == (header.width, header.height), f"case {i}: wrong size"
                assert kind != "mutated" or data == original, f"case {i}: a damaged file decoded (checksum ignored?)"
                outcomes[f"{kind}: image"] += 1
            except DCNError as exc:
                outcomes[f"{kind}: DCNError: " + re.sub(r"[0-9a-f]{8}|\d+", "#", str(exc))[:60]] += 1
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


def command_line(fuzz_fn, default_cases: int) -> None:
    """`python tests/fuzz_*.py [CASES [SEED]]`: a long run, its outcomes and its time."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else default_cases
    t = time.perf_counter()
    result = fuzz_fn(n, seed=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    for outcome, count in sorted(result.items(), key=lambda kv: -kv[1]):
        print(f"{count:7d}  {outcome}")
    print(f"{n} cases in {time.perf_counter() - t:.0f} s, no crash, hang or foreign exception")


if __name__ == "__main__":
    command_line(fuzz, 10000)
