"""Rate control: the quality that meets a file-size or PSNR target.

The analysis transform runs once; each probe re-runs only the gains, the small hyper
networks and the entropy coder (for a PSNR target: the hyper networks and the synthesis,
and the file is coded once at the end). The search is a safeguarded false position on
log-size (or PSNR) against quality, bracketed by [1, 8].
"""
import math
import warnings

import numpy as np

from .decoder import synthesize
from .encoder import Analysed, code, header_quality
from .errors import DCNError
from .metrics import psnr_rgb
from .quality import MAX_QUALITY, MIN_QUALITY

STEP = 0.001  # the header's quality precision


def parse_size(text: str) -> int:
    """'120KB', '1.5MB', '40000' (bytes; KB = 1000 bytes, KiB = 1024)."""
    units = {"": 1, "B": 1, "KB": 1000, "K": 1000, "KIB": 1024, "MB": 10 ** 6, "M": 10 ** 6, "MIB": 2 ** 20}
    t = text.strip().upper()
    number = t.rstrip("KMGIB")
    try:
        value = float(number) * units[t[len(number):].strip()]
    except (ValueError, KeyError):
        raise DCNError(f"cannot read the size {text!r} (e.g. 120KB, 1.5MB, 40000)") from None
    if value < 1:
        raise DCNError(f"target size {text!r} must be positive")
    return int(value)


def _search(measure, target: float, at_most: bool, tolerance: float, slope: float, start: float = 4.5):
    """measure(q) -> (value, payload), value increasing in q (mostly). Finds the largest q
    with value <= target (at_most) or the smallest q with value >= target, stopping once
    the value is within tolerance. The first probe is at `start`, the next where a line of
    the typical `slope` meets the target; once the target is bracketed, false position
    (Illinois). Returns ((q, value, payload), met)."""
    below = (lambda v: v <= target) if at_most else (lambda v: v < target)
    probes = []

    def probe(q):
        p = (q, *measure(q))
        probes.append(p)
        return p

    def answer():  # the best probe meeting the target, if any
        ok = [p for p in probes if below(p[1]) == at_most]
        return (max if at_most else min)(ok, key=lambda p: p[0]) if ok else None

    def bracket():  # the answer and its nearest probe on the other side of the target
        a = answer()
        if a is None:
            return None, None
        other = [p for p in probes if below(p[1]) != at_most and (p[0] > a[0] if at_most else p[0] < a[0])]
        b = (min if at_most else max)(other, key=lambda p: p[0]) if other else None
        return a, b

    p = probe(start)
    q = header_quality(min(MAX_QUALITY, max(MIN_QUALITY, start + (target - p[1]) / slope)))
    while None in bracket() and q not in [x[0] for x in probes]:  # walk until bracketed
        prev, p = p, probe(q)
        step = (target - p[1]) / slope
        if p[1] != prev[1] and (p[1] - prev[1]) / (p[0] - prev[0]) > slope / 20:  # else: flat, noise
            step = (target - p[1]) * (p[0] - prev[0]) / (p[1] - prev[1])
        # The curves are concave: going up, the secant falls short of the target (stretch
        # it, so that the next probe brackets it instead of creeping up); going down it
        # overshoots (shorten it).
        step = math.copysign(max(abs((1.5 if step > 0 else 0.85) * step), 0.05), step)
        q = header_quality(min(MAX_QUALITY, max(MIN_QUALITY, p[0] + step)))
    if answer() is None:  # not where the curve pointed: try every trained level
        for level in range(int(MIN_QUALITY), int(MAX_QUALITY) + 1):
            if float(level) not in [x[0] for x in probes]:
                probe(float(level))
    a, b = bracket()
    if a is None:
        closest = min(probes, key=lambda x: abs(x[1] - target))
        return closest, False
    if b is None:
        return a, True
    lo, hi = (a, b) if at_most else (b, a)
    f_lo, f_hi, last = lo[1] - target, hi[1] - target, 0
    while hi[0] - lo[0] > 1.5 * STEP and abs((lo if at_most else hi)[1] - target) > tolerance:
        q = lo[0] + f_lo / (f_lo - f_hi) * (hi[0] - lo[0])
        p = probe(header_quality(min(hi[0] - STEP, max(lo[0] + STEP, q))))
        if below(p[1]):
            lo, f_lo = p, p[1] - target
            f_hi = f_hi / 2 if last == -1 else f_hi  # Illinois: the stale end loses weight
            last = -1
        else:
            hi, f_hi = p, p[1] - target
            f_lo = f_lo / 2 if last == 1 else f_lo
            last = 1
    return (lo if at_most else hi), True


def to_size(a: Analysed, max_bytes: int, best_effort: bool = False) -> tuple[bytes, float]:
    """The largest quality whose file fits in max_bytes."""
    def measure(q):
        data = code(a, q)[0]
        return math.log(len(data)), data

    (q, _, data), met = _search(measure, math.log(max_bytes), True, -math.log(0.99), slope=0.35)
    size = len(data)
    if not met:
        _unmet(f"the smallest file (quality {q:g}) is {size} bytes, more than the {max_bytes}-byte target",
               best_effort)
    return data, q


def to_psnr(a: Analysed, target_db: float, best_effort: bool = False) -> tuple[bytes, float, float]:
    """The smallest quality whose decoded image reaches target_db PSNR."""
    pic = a.picture
    w, h = pic.size

    def measure(q):  # the symbols suffice for the pixels: the file is coded once, at the end
        _, latents = code(a, q, sections=False)
        rgb = synthesize(latents, a.dec, q, w, h, a.device)
        if pic.mode in ("L", "LA"):
            grey = np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
            p = psnr_rgb(grey, pic.rgb[..., 0])
        else:
            p = psnr_rgb(rgb, pic.rgb)
        return p, None

    (q, p, _), met = _search(measure, target_db, False, 0.1, slope=1.5)
    if not met:
        _unmet(f"the best quality reaches {p:.2f} dB, below the {target_db:g} dB target", best_effort)
    return code(a, q)[0], q, p


def _unmet(message: str, best_effort: bool) -> None:
    if not best_effort:
        raise DCNError(f"target cannot be met: {message} (--best-effort writes the closest file)")
    warnings.warn(f"target not met: {message}; writing the closest file", stacklevel=3)


def encode_to_target(image, target_size: int | None = None, target_bpp: float | None = None,
                     target_psnr: float | None = None, best_effort: bool = False, **options) -> tuple[bytes, dict]:
    """Exactly one target; returns the file and what it achieved (quality, bytes, bpp, psnr)."""
    from .encoder import prepare
    if sum(t is not None for t in (target_size, target_bpp, target_psnr)) != 1:
        raise DCNError("give exactly one of target size, target bpp and target PSNR")
    a = prepare(image, **options)
    w, h = a.picture.size
    info = {}
    if target_psnr is not None:
        data, q, info["psnr"] = to_psnr(a, target_psnr, best_effort)
    else:
        max_bytes = target_size if target_size is not None else int(target_bpp * w * h / 8)
        if max_bytes < 1:
            raise DCNError("the target is smaller than one byte")
        data, q = to_size(a, max_bytes, best_effort)
    info.update(quality=q, bytes=len(data), bpp=8 * len(data) / (w * h))
    return data, info
