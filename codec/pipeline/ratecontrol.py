"""Rate control: the quality that meets a file-size or PSNR target.

The analysis transform runs once; each probe re-runs only the gains, the small hyper
networks and the entropy coder (for a PSNR target: the hyper networks and the synthesis,
and the file is coded once at the end). The search steps where a model of the curve
through the probes meets the middle of the acceptance window, safeguarded by bisection
once the target is bracketed; quality is bracketed by [1, the model's top quality].
"""
import math
import warnings

import numpy as np

from ..errors import DCNError
from ..image.metrics import psnr_rgb
from ..latent import Latents
from ..models.quality import MAX_QUALITY, MIN_QUALITY
from .decode import synthesize
from .encode import Analysed, code, header_quality, quantize, write

STEP = 0.001  # the header's quality precision
MAX_PROBES = 16
# Synthesis block of a probe: larger than a decode's (fewer margins, 10 % faster on Kodak). Its
# pixels equal the decoder's up to float rounding (a sample here and there one level off), so
# the search aims PSNR_MARGIN above the target: far more than such a sample moves the PSNR.
PROBE_BLOCK = 512
PSNR_MARGIN = 0.001
PSNR_TOLERANCE = 0.14  # dB above the target that still counts as a hit (the promise is 0.15)


def parse_size(text: str) -> int:
    """'120KB', '1.5MB', '40000' (bytes; KB = 1000 bytes, KiB = 1024)."""
    units = {"": 1, "B": 1, "KB": 1000, "K": 1000, "KIB": 1024, "MB": 10 ** 6, "M": 10 ** 6, "MIB": 2 ** 20}
    t = text.strip().upper()
    number = t.rstrip("KMGIB")
    try:
        value = float(number) * units[t[len(number):].strip()]
    except (ValueError, KeyError):
        raise DCNError(f"cannot read the size {text!r} (e.g. 120KB, 1.5MB, 40000)") from None
    if not math.isfinite(value) or value < 1:
        raise DCNError(f"target size {text!r} must be a positive, finite number of bytes")
    return int(value)


def _search(measure, target: float, at_most: bool, tolerance: float, predict, start: float,
            top: float = MAX_QUALITY):
    """measure(q) -> (value, payload), value increasing in q (mostly). Finds a q whose value
    lies in the window [target - tolerance, target] (at_most) or [target, target + tolerance],
    else the largest q with value <= target (at_most) or the smallest with value >= target.
    predict(near, aim) -> the q where the curve through `near`, the (at most) two probes
    (q, value, payload) nearest the aim, reaches aim, the middle of the window, so that a
    slightly wrong prediction still lands inside. Once the target is bracketed, a prediction outside the bracket is replaced by
    bisection. top: the model's highest quality. Returns ((q, value, payload), met)."""
    below = (lambda v: v <= target) if at_most else (lambda v: v < target)
    aim = target - tolerance / 2 if at_most else target + tolerance / 2
    probes = []

    def probe(q):
        probes.append((q, *measure(q)))
        return probes[-1]

    def inside(p):
        return 0 <= (target - p[1] if at_most else p[1] - target) <= tolerance

    def answer():  # the best probe meeting the target, if any
        ok = [p for p in probes if below(p[1]) == at_most]
        return (max if at_most else min)(ok, key=lambda p: p[0]) if ok else None

    def bracket():  # the highest q below the target and the lowest q above it
        lo = [p for p in probes if below(p[1])]
        hi = [p for p in probes if not below(p[1])]
        return (max(lo, key=lambda p: p[0]) if lo else None, min(hi, key=lambda p: p[0]) if hi else None)

    def quantized(q):
        return header_quality(q, top)

    p = probe(quantized(min(top, max(MIN_QUALITY, start))))
    while not inside(p) and len(probes) < MAX_PROBES:
        near = sorted(probes, key=lambda x: abs(x[1] - aim))[:2]
        q = min(top, max(MIN_QUALITY, predict(near, aim)))
        lo, hi = bracket()
        if lo is not None and hi is not None:
            if hi[0] - lo[0] <= 1.5 * STEP:
                break
            if not lo[0] < q < hi[0]:
                q = (lo[0] + hi[0]) / 2
            q = min(hi[0] - STEP, max(lo[0] + STEP, q))
        q = quantized(q)
        if q in [x[0] for x in probes]:
            if lo is None or hi is None:  # the curve points past the end of the scale
                break
            q = quantized((lo[0] + hi[0]) / 2)
        p = probe(q)
    if inside(p):
        return p, True
    if answer() is None:  # not where the curve pointed: try every trained level
        for level in range(int(MIN_QUALITY), int(top) + 1):
            if float(level) not in [x[0] for x in probes]:
                probe(float(level))
    a = answer()
    if a is None:
        return min(probes, key=lambda x: abs(x[1] - target)), False
    return a, True


def secant(slope: float):
    """Predictor for log-size: the secant of the two probes nearest the aim, or the prior
    slope (per quality unit) while there is one probe or the secant is flat."""
    def predict(near, aim):
        s = slope
        if len(near) == 2 and near[0][0] != near[1][0]:
            measured = (near[0][1] - near[1][1]) / (near[0][0] - near[1][0])
            s = measured if measured > slope / 4 else s
        step = (aim - near[0][1]) / s
        # The curves are concave: going up, the secant falls short of the target (stretch
        # it); going down it overshoots (shorten it).
        return near[0][0] + math.copysign(max(abs((1.5 if step > 0 else 0.85) * step), 0.05), step)
    return predict


class PsnrCurve:
    """PSNR against quality as the solution of dp/dq = exp(a + B q + C p): slopes fall as the
    quality rises and are steeper for images that reach a high PSNR. B and C are fitted to
    the shipped weights' curves on training images (bench/ratecontrol_prior.py); `a` starts
    at its fitted value and is refitted to each image through the two probes nearest the aim.
    The first probe goes where the median training image (PSNR P at quality START_Q) meets the aim.
    """

    A, B, C = -2.242, -0.4362, 0.1173  # bench/results/ratecontrol-prior-2026-11-25d.md (run 5 weights)
    START_Q, P = 4.5, 30.60
    # Never start at the ends of the scale, where one image's curve strays furthest from the
    # median's: 2.57 probes instead of 2.70 (24 training images, 10 random targets each).
    START_RANGE = (2.5, 6.5)

    @classmethod
    def start(cls, aim: float) -> float:
        return min(cls.START_RANGE[1], max(cls.START_RANGE[0], cls.quality_at((cls.START_Q, cls.P), cls.A, aim)))

    @classmethod
    def predict(cls, near, aim):
        a = cls.A
        if len(near) == 2 and abs(near[0][0] - near[1][0]) > 0.01:
            a = cls.fit(near[1][:2], near[0][:2])
        return cls.quality_at(near[0][:2], a, aim)

    @classmethod
    def value(cls, p0, a, q):
        v = math.exp(-cls.C * p0[1]) - cls.C * math.exp(a) / cls.B * (math.exp(cls.B * q) - math.exp(cls.B * p0[0]))
        return -math.log(v) / cls.C if v > 0 else math.inf

    @classmethod
    def quality_at(cls, p0, a, target):
        rhs = (math.exp(-cls.C * p0[1]) - math.exp(-cls.C * target)) * cls.B / (cls.C * math.exp(a)) \
            + math.exp(cls.B * p0[0])
        return math.log(rhs) / cls.B if rhs > 0 else MAX_QUALITY

    @classmethod
    def fit(cls, p0, p1):
        """The `a` of the curve through (q, psnr) points p0 and p1 (bisection: steeper as a grows)."""
        lo, hi = cls.A - 6, cls.A + 6
        if (p1[1] - p0[1]) * (p1[0] - p0[0]) <= 0:  # not increasing: noise, keep the prior
            return cls.A
        for _ in range(40):
            mid = (lo + hi) / 2
            rises_more = abs(cls.value(p0, mid, p1[0]) - p0[1]) > abs(p1[1] - p0[1])
            lo, hi = (lo, mid) if rises_more else (mid, hi)
        return (lo + hi) / 2


def _search_at(measure_at, effort: int, target: float, at_most: bool, tolerance: float, predict, start: float,
               top: float):
    """_search at an effort: without refinement first (cheap), then, above effort 0, with
    it from that answer, so that each refined encode is one probe near the target."""
    found = _search(measure_at(0), target, at_most, tolerance, predict, start, top)
    if not effort:
        return found
    return _search(measure_at(effort), target, at_most, tolerance, predict, found[0][0], top)


def to_size(a: Analysed, max_bytes: int, best_effort: bool = False, effort: int = 0,
            progress: bool = False) -> tuple[bytes, float]:
    """The largest quality whose file fits in max_bytes."""
    def measure_at(effort):
        def measure(q):
            data = code(a, q, effort, progress and effort > 0)
            return math.log(len(data)), data
        return measure

    (q, _, data), met = _search_at(measure_at, effort, math.log(max_bytes), True, -math.log(0.99), secant(0.35),
                                   4.5, a.dec.max_quality)
    size = len(data)
    if not met:
        _unmet(f"the smallest file (quality {q:g}) is {size} bytes, more than the {max_bytes}-byte target",
               best_effort)
    return data, q


def psnr_at(a: Analysed, quality: float) -> float:
    """PSNR of the image decoded at a quality (what bench/ratecontrol_prior.py fits)."""
    return probe_psnr(a, quality)[0]


def probe_psnr(a: Analysed, quality: float, effort: int = 0, progress: bool = False) -> tuple[float, Latents]:
    """PSNR of the image decoded at a quality, and its latents; the symbols suffice for the
    pixels, so nothing is entropy-coded (until the search has its answer)."""
    pic = a.picture
    w, h = pic.size
    latents = quantize(a, quality, effort, progress)
    rgb = synthesize(latents, a.dec, quality, w, h, a.device, block=PROBE_BLOCK)
    if pic.mode in ("L", "LA"):
        grey = np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return psnr_rgb(grey, pic.rgb[..., 0]), latents
    return psnr_rgb(rgb, pic.rgb), latents


def to_psnr(a: Analysed, target_db: float, best_effort: bool = False, effort: int = 0,
            progress: bool = False) -> tuple[bytes, float, float]:
    """The smallest quality whose decoded image reaches target_db PSNR."""
    floor = target_db + PSNR_MARGIN
    (q, p, latents), met = _search_at(lambda e: lambda q: probe_psnr(a, q, e, progress and e > 0), effort, floor,
                                      False, PSNR_TOLERANCE - PSNR_MARGIN, PsnrCurve.predict,
                                      PsnrCurve.start(target_db + PSNR_TOLERANCE / 2), a.dec.max_quality)
    if not met:
        _unmet(f"the best quality reaches {p:.2f} dB, below the {target_db:g} dB target", best_effort)
    return write(a, q, latents), q, p


def _unmet(message: str, best_effort: bool) -> None:
    if not best_effort:
        raise DCNError(f"target cannot be met: {message} (--best-effort writes the closest file)")
    warnings.warn(f"target not met: {message}; writing the closest file", stacklevel=3)


def encode_to_target(image, target_size: int | None = None, target_bpp: float | None = None,
                     target_psnr: float | None = None, best_effort: bool = False, effort: int = 0,
                     **options) -> tuple[bytes, dict]:
    """Exactly one target; returns the file and what it achieved (quality, bytes, bpp, psnr)."""
    from .effort import check_effort
    from .encode import prepare
    check_effort(effort)
    if sum(t is not None for t in (target_size, target_bpp, target_psnr)) != 1:
        raise DCNError("give exactly one of target size, target bpp and target PSNR")
    for name, value in (("target size", target_size), ("target bpp", target_bpp), ("target PSNR", target_psnr)):
        if value is not None and not (math.isfinite(value) and value > 0):  # before the analysis: fail fast
            raise DCNError(f"{name} {value}: must be a positive, finite number")
    a = prepare(image, **options)
    w, h = a.picture.size
    info = {}
    if target_psnr is not None:
        data, q, info["psnr"] = to_psnr(a, target_psnr, best_effort, effort, options.get("progress", False))
    else:
        max_bytes = target_size if target_size is not None else int(target_bpp * w * h / 8)
        if max_bytes < 1:
            raise DCNError("the target is smaller than one byte")
        data, q = to_size(a, max_bytes, best_effort, effort, options.get("progress", False))
    info.update(quality=q, bytes=len(data), bpp=8 * len(data) / (w * h))
    return data, info
