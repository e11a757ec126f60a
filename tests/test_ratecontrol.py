"""Rate control (size, bpp, PSNR targets) and the Pillow plugin."""
import io
import math
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import codec
from codec.format import container
from codec.errors import DCNError
from codec.pipeline.ratecontrol import PsnrCurve, _search, parse_size, secant
from conftest import KODAK, make_image, psnr, run_cli


@pytest.fixture(scope="module")
def photo():
    if (KODAK / "kodim05.png").exists():
        return Image.open(KODAK / "kodim05.png").convert("RGB")
    return make_image(512, 384)


@pytest.mark.parametrize("text, size", [
    ("120KB", 120000), ("1.5MB", 1500000), ("2KiB", 2048), ("777", 777), ("1", 1), (" 40000 ", 40000),
    ("9b", 9), ("9B", 9), ("3k", 3000), ("3K", 3000), ("2m", 2 * 10 ** 6), ("2M", 2 * 10 ** 6),
    ("3kib", 3072), ("1MiB", 2 ** 20), ("0.5MIB", 2 ** 19), ("1.9", 1),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text, message", [
    ("lots", "cannot read the size 'lots' (e.g. 120KB, 1.5MB, 40000)"),
    ("12GB", "cannot read the size '12GB' (e.g. 120KB, 1.5MB, 40000)"),
    ("12X", "cannot read the size '12X' (e.g. 120KB, 1.5MB, 40000)"),
    ("0.5", "target size '0.5' must be a positive, finite number of bytes"),
    ("0", "target size '0' must be a positive, finite number of bytes"),
    ("-3KB", "target size '-3KB' must be a positive, finite number of bytes"),
    ("infKB", "target size 'infKB' must be a positive, finite number of bytes"),
])
def test_unreadable_sizes(text, message):
    with pytest.raises(DCNError) as e:
        parse_size(text)
    assert str(e.value) == message


def test_psnr_at_is_the_psnr_of_the_decoded_file():
    from codec.pipeline.encode import prepare
    from codec.pipeline.ratecontrol import psnr_at
    for img in (make_image(130, 90, seed=4), make_image(70, 50, seed=5, mode="L")):
        a = prepare(img)
        for q in (2.0, 6.5):
            decoded = codec.decode(codec.encode(img, q))
            assert psnr_at(a, q) == pytest.approx(psnr(np.asarray(decoded), np.asarray(img)), abs=0.01)


def test_psnr_curve_model_inverts_and_fits():
    start = (4.0, 28.0)
    for a in (PsnrCurve.A - 1, PsnrCurve.A, PsnrCurve.A + 1):
        for q in (1.5, 3.0, 6.5):
            p = PsnrCurve.value(start, a, q)
            assert PsnrCurve.quality_at(start, a, p) == pytest.approx(q, abs=1e-6)
        end = (6.0, PsnrCurve.value(start, a, 6.0))
        assert PsnrCurve.fit(start, end) == pytest.approx(a, abs=1e-4)


def _curve_search(curve, target, predict, tolerance=0.1):
    calls = []

    def measure(q):
        calls.append(q)
        return curve(q), None

    (q, value, _), met = _search(measure, target, False, tolerance, predict, start=4.5)
    return q, value, met, len(calls)


@pytest.mark.parametrize("a_shift", [-1.0, 0.0, 1.0])
def test_psnr_search_lands_in_window_in_few_probes(a_shift):
    """Curves of the model's family but another steepness than the prior: 2-4 probes."""
    curve = lambda q: PsnrCurve.value((4.5, 28.0), PsnrCurve.A + a_shift, q)
    for target_q in (1.3, 2.5, 4.0, 5.5, 7.8):
        target = curve(target_q)
        q, value, met, probes = _curve_search(curve, target, PsnrCurve.predict)
        assert met and target <= value <= target + 0.1
        assert probes <= 4


def test_first_probe_follows_the_median_curve():
    """The search starts where the median training image meets the aim: at START_Q for
    its own PSNR there, lower for lower targets, never at the ends of the scale."""
    assert PsnrCurve.start(PsnrCurve.P) == pytest.approx(PsnrCurve.START_Q)
    starts = [PsnrCurve.start(PsnrCurve.P + d) for d in (-1.5, -0.5, 0, 0.5, 1.5)]
    assert starts == sorted(starts) and len(set(starts)) == 5
    assert PsnrCurve.start(PsnrCurve.P + 50) == PsnrCurve.START_RANGE[1]
    assert PsnrCurve.start(PsnrCurve.P - 50) == PsnrCurve.START_RANGE[0]


def test_search_is_safe_on_other_curves():
    """A curve outside the model (with a flat stretch): still the window, by bisection."""
    def curve(q):
        return 20 + 6 * math.log(q) + (0.0 if q < 5 else -0.3 * (q - 5))
    for target in (21.0, 25.0, 29.0):
        q, value, met, probes = _curve_search(curve, target, PsnrCurve.predict)
        assert met and target <= value <= target + 0.1 and probes <= 16
    q, value, met, _ = _curve_search(curve, 40.0, PsnrCurve.predict)  # above the curve
    assert not met
    size = lambda q: 9 + 0.35 * q  # log bytes
    for target in (9.6, 10.5, 11.6):
        (q, value, _), met = _search(lambda q: (size(q), None), target, True, 0.01, secant(0.35), 4.5)
        assert met and target - 0.01 <= value <= target


def test_target_size_fits_and_is_close(photo):
    small = len(codec.encode(photo, quality=1.5))
    large = len(codec.encode(photo, quality=7.5))
    for target in np.linspace(small, large, 4).astype(int):
        data = codec.encode(photo, target_size=int(target))
        assert len(data) <= target
        assert len(data) >= 0.97 * target


def test_target_bpp(photo):
    w, h = photo.size
    target = 8 * len(codec.encode(photo, quality=4.2)) / (w * h)
    data = codec.encode(photo, target_bpp=target)
    assert 0.97 * target <= 8 * len(data) / (w * h) <= target


def test_target_psnr_is_reached_and_close(photo):
    low = psnr(np.asarray(codec.decode(codec.encode(photo, quality=2))), np.asarray(photo))
    high = psnr(np.asarray(codec.decode(codec.encode(photo, quality=7))), np.asarray(photo))
    target = (low + high) / 2
    data = codec.encode(photo, target_psnr=target)
    got = psnr(np.asarray(codec.decode(data)), np.asarray(photo))
    assert target <= got <= target + 0.15


def test_the_searchs_latents_code_the_same_file():
    """The PSNR search entropy-codes the latents of its last probe: the same bytes as a
    plain encode at that quality."""
    from codec.pipeline.encode import prepare, quantize, write
    img = make_image(200, 150, seed=3)
    a = prepare(img, tile=64)
    for q in (1.0, 4.321, 12.0):
        assert write(a, q, quantize(a, q)) == codec.encode(img, q, tile=64)


def test_unreachable_targets(photo, tmp_path):
    with pytest.raises(DCNError, match="cannot be met"):
        codec.encode(photo, target_size=50)
    with pytest.raises(DCNError, match="cannot be met"):
        codec.encode(photo, target_psnr=99)
    with pytest.warns(UserWarning, match="not met"):
        data = codec.encode(photo, target_size=50, best_effort=True)
    assert container.peek_header(data).quality == 1.0
    src, out = tmp_path / "p.png", tmp_path / "p.dcn"
    photo.save(src)
    r = run_cli("dcn", "encode", src, out, "--target-size", "50")
    assert r.returncode == 1 and "cannot be met" in r.stderr and not out.exists()
    reachable = len(codec.encode(photo, quality=3))
    r = run_cli("dcn", "encode", src, out, "--target-size", str(reachable))
    assert r.returncode == 0 and "bytes" in r.stdout and out.stat().st_size <= reachable


def test_pillow_open_and_save(tmp_path):
    img = make_image(90, 70, mode="RGBA")
    path = tmp_path / "x.dcn"
    img.save(path, quality=6)
    assert container.peek_header(path.read_bytes()).quality == 6
    renamed = tmp_path / "x.bin"
    shutil.copy(path, renamed)
    with Image.open(renamed) as opened:
        assert opened.format == "DCN" and opened.size == (90, 70) and opened.mode == "RGBA"
        pixels = np.asarray(opened)
    assert np.array_equal(pixels, np.asarray(codec.decode(path.read_bytes())))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="DCN")
    buf.seek(0)
    assert Image.open(buf).mode == "RGB"


def test_pillow_decompression_bomb_guard(tmp_path, monkeypatch):
    path = tmp_path / "x.dcn"
    make_image(90, 70).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)


def test_the_psnr_promise_holds_over_many_targets():
    """The documented promise: the PSNR reached lies within [target, target + 0.15 dB], for
    every one of ten targets over two images (one target on one image could not tell a
    window widened past the promise)."""
    from codec.pipeline import ratecontrol
    assert ratecontrol.PSNR_TOLERANCE <= 0.15
    for seed in (11, 12):
        img = make_image(160, 120, seed=seed)
        ref = np.asarray(img)
        low = psnr(np.asarray(codec.decode(codec.encode(img, quality=2))), ref)
        high = psnr(np.asarray(codec.decode(codec.encode(img, quality=10))), ref)
        for t in np.linspace(0.1, 0.9, 5):
            target = float(low + t * (high - low))
            got = psnr(np.asarray(codec.decode(codec.encode(img, target_psnr=target))), ref)
            assert target <= got <= target + 0.15, (seed, target, got)


@pytest.fixture
def counted(monkeypatch):
    """A small image analysed once, and the qualities each search probes."""
    from codec.pipeline import ratecontrol
    from codec.pipeline.encode import prepare
    probes = []

    def counting(fn):
        def counted_fn(a, q, effort=0, progress=False):
            probes.append((q, effort))
            return fn(a, q, effort, progress)
        return counted_fn

    monkeypatch.setattr(ratecontrol, "quantize", counting(ratecontrol.quantize))  # a PSNR probe
    monkeypatch.setattr(ratecontrol, "code", counting(ratecontrol.code))  # a size probe
    return prepare(make_image(160, 120, seed=11)), probes


def test_searches_hit_their_windows_in_few_probes(counted):
    """Six size targets across the range and four PSNR targets: each met inside its window,
    in 34 probes in all (measured 2026-12-03 with checkerboard-groups-64-128@1; 37 with
    checkerboard-64-128@2, 34 with @1: the secant steps land better on some curves than
    others; a search that needs more has got worse)."""
    from codec.pipeline.encode import quantize, write
    from codec.pipeline.ratecontrol import PSNR_TOLERANCE, to_psnr, to_size
    a, probes = counted
    lo, hi = len(write(a, 1.5, quantize(a, 1.5))), len(write(a, 9.0, quantize(a, 9.0)))
    searched = 0
    for target in np.geomspace(lo, hi, 6).astype(int):
        probes.clear()
        data, q = to_size(a, int(target))
        searched += len(probes)
        assert 0.99 * target <= len(data) <= target and data == write(a, q, quantize(a, q))
    for target in (26.0, 28.0, 29.5, 31.0):
        probes.clear()
        data, q, p = to_psnr(a, target)
        searched += len(probes)
        assert target <= p <= target + PSNR_TOLERANCE and data == write(a, q, quantize(a, q))
    assert searched <= 34


def test_unmet_targets_say_why_or_warn(counted):
    from codec.pipeline.ratecontrol import to_psnr, to_size
    a, _ = counted
    with pytest.raises(DCNError) as e:
        to_size(a, 50)
    smallest = str(e.value)
    assert re.fullmatch(r"target cannot be met: the smallest file \(quality 1\) is \d+ bytes, more than the "
                        r"50-byte target \(--best-effort writes the closest file\)", smallest)
    with pytest.warns(UserWarning) as w:
        data, q = to_size(a, 50, best_effort=True)
    assert q == 1.0 and str(w[0].message) == (f"target not met: the smallest file (quality 1) is {len(data)} bytes, "
                                              "more than the 50-byte target; writing the closest file")
    with pytest.raises(DCNError) as e:
        to_psnr(a, 60)
    assert re.fullmatch(r"target cannot be met: the best quality reaches \d+\.\d\d dB, below the 60 dB target "
                        r"\(--best-effort writes the closest file\)", str(e.value))
    with pytest.warns(UserWarning, match="^target not met: the best quality reaches .* below the 60 dB target; "):
        assert to_psnr(a, 60, best_effort=True)[1] == a.dec.max_quality


def test_searches_at_an_effort_refine_only_the_last_probes(counted):
    """The search runs without refinement, then refined encodes from its answer: the file
    is the refined encode at the quality found."""
    from codec.pipeline.encode import quantize, write
    from codec.pipeline.ratecontrol import to_size
    a, probes = counted
    target = len(write(a, 4.0, quantize(a, 4.0, effort=1)))
    probes.clear()
    data, q = to_size(a, target, effort=1)
    efforts = [e for _, e in probes]
    assert efforts[0] == 0 and efforts[-1] == 1 and efforts == sorted(efforts)
    assert len(data) <= target and data == write(a, q, quantize(a, q, effort=1)) != write(a, q, quantize(a, q))


def _search_with(predict, target, at_most, curve=lambda q: 10 * q, tolerance=1.0, start=4.5):
    """_search on a synthetic curve (value = 10 q by default): its answer and where each probe landed."""
    from codec.pipeline.ratecontrol import MAX_QUALITY
    calls = []

    def measure(q):
        calls.append(q)
        return curve(q), q

    found, met = _search(measure, target, at_most, tolerance, predict, start, MAX_QUALITY)
    return found, met, calls


def _predictor(slope):
    return lambda near, aim: near[0][0] + (aim - near[0][1]) / slope


def _linear_search(target, at_most, start=4.5, curve=lambda q: 10 * q, tolerance=1.0):
    """With the exact slope of value = 10 q as the predictor."""
    return _search_with(_predictor(10), target, at_most, curve, tolerance, start)


def test_the_search_aims_at_the_middle_of_its_window():
    (q, value, _), met, calls = _linear_search(60.0, at_most=True)  # window [59, 60]: aim 59.5
    assert met and calls == [4.5, 5.95] and value == pytest.approx(59.5)
    (q, value, _), met, calls = _linear_search(60.0, at_most=False)  # window [60, 61]: aim 60.5
    assert met and calls == [4.5, 6.05] and value == pytest.approx(60.5)


@pytest.mark.parametrize("at_most", [True, False])
def test_a_probe_on_the_target_or_the_window_edge_is_a_hit(at_most):
    for target in (45.0, 46.0 if at_most else 44.0):  # the start's value, and the far edge of the window
        (q, value, _), met, calls = _linear_search(target, at_most, start=4.5, tolerance=1.0)
        assert met and calls == [4.5] and value == 45.0


def test_when_the_window_is_missed_the_answer_still_meets_the_target():
    """On a curve of whole steps no quality lands in a narrow window: at most, the largest
    quality at or below the target; at least, the smallest at or above it."""
    step = lambda q: 10.0 * math.floor(q)
    (q, value, _), met, _ = _linear_search(45.0, True, curve=step, tolerance=0.5)
    assert met and value == 40.0 and 4.0 <= q < 5.0
    (q, value, _), met, _ = _linear_search(45.0, False, curve=step, tolerance=0.5)
    assert met and value == 50.0 and q == 5.0
    (q, value, _), met, _ = _linear_search(5.0, True, curve=lambda q: 10 + q)  # every quality is above
    assert not met and q == 1.0


def test_encode_to_target_reports_what_it_achieved():
    from codec.pipeline.ratecontrol import encode_to_target
    img = make_image(96, 64, seed=2)
    size = len(codec.encode(img, quality=5))
    data, info = encode_to_target(img, target_size=size)
    q = container.peek_header(data).quality
    assert info == {"quality": q, "bytes": len(data), "bpp": 8 * len(data) / (96 * 64)} and len(data) <= size
    data, info = encode_to_target(img, target_bpp=8 * size / (96 * 64), tile=64)  # encoder options pass through
    assert info["bytes"] == len(data) <= size and container.peek_header(data).tile == 64
    data, info = encode_to_target(img, target_psnr=28.0)
    decoded = np.asarray(codec.decode(data))
    assert set(info) == {"psnr", "quality", "bytes", "bpp"} and info["psnr"] >= 28.0
    assert info["psnr"] == pytest.approx(psnr(decoded, np.asarray(img)), abs=0.01)


@pytest.mark.parametrize("targets, message", [
    ({}, "give exactly one of target size, target bpp and target PSNR"),
    ({"target_size": 100, "target_psnr": 30.0}, "give exactly one of target size, target bpp and target PSNR"),
    ({"target_size": 0}, "target size 0: must be a positive, finite number"),
    ({"target_bpp": -1.0}, "target bpp -1.0: must be a positive, finite number"),
    ({"target_psnr": math.nan}, "target PSNR nan: must be a positive, finite number"),
    ({"target_psnr": math.inf}, "target PSNR inf: must be a positive, finite number"),
    ({"target_bpp": 1e-4}, "the target is smaller than one byte"),
])
def test_bad_targets_are_refused_in_words(targets, message):
    from codec.pipeline.ratecontrol import encode_to_target
    with pytest.raises(DCNError) as e:
        encode_to_target(make_image(96, 64), **targets)
    assert str(e.value) == message


def test_a_one_byte_target_is_a_target():
    from codec.pipeline.ratecontrol import encode_to_target
    with pytest.raises(DCNError, match="^target cannot be met: the smallest file"):
        encode_to_target(make_image(96, 64), target_bpp=8 / (96 * 64))  # 1 byte


def test_the_psnr_of_a_grey_image_is_measured_on_its_grey_plane():
    from codec.pipeline.encode import prepare
    from codec.pipeline.ratecontrol import probe_psnr
    img = make_image(80, 60, seed=3, mode="LA")
    a = prepare(img)
    decoded = np.asarray(codec.decode(codec.encode(img, 3.0)))[..., 0]
    assert probe_psnr(a, 3.0)[0] == pytest.approx(psnr(decoded, np.asarray(img)[..., 0]), abs=0.01)


@pytest.mark.parametrize("slope, at_most, q, probes", [
    (0.5, True, 5.922, 7),  # a predictor 20x too flat overshoots: bracketed, then bisected into the window
    (0.5, False, 6.031, 6),
    (200, True, 5.276, 16),  # 20x too steep: creeps; at MAX_PROBES the best probe that meets the target
    (200, False, 6.0, 24),  # ... and, none meeting it, every trained level is tried: the first above
])
def test_a_wrong_predictor_costs_probes_not_the_target(slope, at_most, q, probes):
    (got, value, _), met, calls = _search_with(_predictor(slope), 60.0, at_most)
    assert met and got == pytest.approx(q) and len(calls) == probes
    assert (value <= 60.0) if at_most else (value >= 60.0)


def test_targets_past_the_ends_of_the_scale():
    from codec.pipeline.ratecontrol import MAX_QUALITY
    (q, value, _), met, calls = _search_with(_predictor(10), 1000.0, True)  # every file fits: the top quality
    assert met and q == MAX_QUALITY and len(calls) == 2
    (q, value, _), met, calls = _search_with(_predictor(10), 1000.0, False)  # none reaches it: the closest
    assert not met and q == MAX_QUALITY
    cliff = lambda q: 10.0 if q <= 1.2 else 100.0  # only the lowest qualities fit: found by bracketing
    (q, value, _), met, calls = _search_with(_predictor(10), 15.0, True, cliff)
    assert met and (q, value) == (1.2, 10.0) and len(calls) == 12


def test_targets_at_an_effort_give_the_refined_file():
    """encode_to_target passes the effort on: the file is the refined encode at its quality."""
    from codec.pipeline.encode import prepare, quantize, write
    from codec.pipeline.ratecontrol import encode_to_target
    img = make_image(64, 48, seed=8)
    a = prepare(img)
    for targets in ({"target_size": len(write(a, 4.0, quantize(a, 4.0, effort=1)))}, {"target_psnr": 27.0}):
        data, info = encode_to_target(img, effort=1, **targets)
        q = info["quality"]
        assert data == write(a, q, quantize(a, q, effort=1)) != write(a, q, quantize(a, q))


def _scripted(*qualities):
    """A predictor that returns the given qualities in turn, then the exact one for value = 10 q."""
    script = list(qualities)
    return lambda near, aim: script.pop(0) if script else _predictor(10)(near, aim)


def test_a_prediction_by_either_end_of_the_bracket_probes_one_step_inside_it():
    """Once the target is bracketed (3.0 below, 6.0 above), a prediction within half a step
    of an end probes one step inside it, not the end again (a wasted turn to bisection)."""
    _, _, calls = _search_with(_scripted(6.0, 5.9996), 45.0, True, start=3.0)
    assert calls[:3] == [3.0, 6.0, 5.999]
    _, _, calls = _search_with(_scripted(6.0, 3.0004), 45.0, True, start=3.0)
    assert calls[:3] == [3.0, 6.0, 3.001]


def test_the_level_sweep_tries_each_unprobed_level_once_and_a_value_on_the_target_meets_it():
    """A predictor that only points up finds nothing at or below the target: every trained
    level not yet probed is then tried, once, and level 1, exactly on the target, is the answer."""
    curve = lambda q: 5.0 if q == 1.0 else 100.0
    (q, value, _), met, calls = _search_with(lambda near, aim: 8.0, 5.0, True, curve=curve)
    assert calls == [4.5, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert met and (q, value) == (1.0, 5.0)


def test_a_search_at_an_effort_starts_from_the_plain_answer_and_keeps_below_the_top():
    """The refined search starts at the unrefined answer, and never probes above the model's
    top quality (here 3) even where the curve points beyond it."""
    from codec.pipeline.ratecontrol import _search_at
    calls = []

    def measure_at(effort):
        def measure(q):
            assert q <= 3.0, f"a probe at quality {q}, above the model's top"
            calls.append((q, effort))
            return 10 * q - effort, None  # refinement lowers the value
        return measure

    (q, value, _), met = _search_at(measure_at, 1, 24.0, True, 1.0, _predictor(10), 1.5, 3.0)
    assert met and calls == [(1.5, 0), (2.35, 0), (2.35, 1), (2.45, 1)] and value == pytest.approx(23.5)
    calls.clear()
    (q, value, _), met = _search_at(measure_at, 1, 40.0, True, 1.0, _predictor(10), 1.5, 3.0)
    assert met and q == 3.0 and [c for c in calls if c[1]] == [(3.0, 1)]


def test_encode_to_target_passes_best_effort_on():
    from codec.pipeline.ratecontrol import encode_to_target
    img = make_image(64, 48, seed=3)
    for target in ({"target_size": 20}, {"target_psnr": 80.0}):
        with pytest.warns(UserWarning, match="^target not met"):
            data, info = encode_to_target(img, best_effort=True, **target)
        assert codec.decode(data).size == (64, 48) and info["bytes"] == len(data)


def test_secant_trusts_a_measured_slope_only_above_a_quarter_of_the_prior():
    predict = secant(4.0)
    for measured, used in ((2.0, 2.0), (1.0, 4.0), (0.9, 4.0)):  # going up: the step is stretched 1.5x
        near = [(5.0, 11.0, None), (4.0, 11.0 - measured, None)]
        assert predict(near, 13.0) == pytest.approx(5.0 + 1.5 * 2.0 / used)
    assert predict([(5.0, 11.0, None), (5.0, 12.0, None)], 13.0) == pytest.approx(5.75)  # one quality: the prior


def _psnr_search(monkeypatch, curve, target):
    """to_psnr on an 'image' whose PSNR at quality q is curve(q): its answer and its probes."""
    from types import SimpleNamespace
    from codec.pipeline import ratecontrol
    probes = []

    def probe_psnr(a, q, effort=0, progress=False):
        probes.append(q)
        return curve(q), None

    monkeypatch.setattr(ratecontrol, "probe_psnr", probe_psnr)
    monkeypatch.setattr(ratecontrol, "write", lambda a, q, latents: b"")
    _, q, p = ratecontrol.to_psnr(SimpleNamespace(dec=SimpleNamespace(max_quality=8.0)), target)
    return q, p, probes


def _median_curve(q):
    return PsnrCurve.value((PsnrCurve.START_Q, PsnrCurve.P), PsnrCurve.A, q)


@pytest.mark.parametrize("target", [29.0, 29.5, 30.6])
def test_a_psnr_search_on_the_median_curve_lands_mid_window_at_once(monkeypatch, target):
    """The first probe goes where the median curve meets the middle of the window
    [target + PSNR_MARGIN, target + PSNR_TOLERANCE]: on that curve, one probe, 0.07 dB up."""
    from codec.pipeline.ratecontrol import PSNR_TOLERANCE
    q, p, probes = _psnr_search(monkeypatch, _median_curve, target)
    assert len(probes) == 1 and p - target == pytest.approx(PSNR_TOLERANCE / 2, abs=0.005)


def test_a_psnr_search_answers_within_its_window_or_above_the_target(monkeypatch):
    """A first probe 0.1405 dB up (above the 0.14 dB window) is not an answer when a better
    one exists; and a PSNR a hair below the target never is, even where nothing else is near."""
    from codec.pipeline.ratecontrol import PSNR_TOLERANCE, PsnrCurve as P
    target = 30.6
    q0 = round(P.start(target + PSNR_TOLERANCE / 2), 3)
    q, p, probes = _psnr_search(monkeypatch, lambda q: target + 0.1405 + (q - q0) * 0.5, target)
    assert probes[0] == q0 and len(probes) > 1 and target < p <= target + PSNR_TOLERANCE
    q, p, probes = _psnr_search(monkeypatch, lambda q: target - 0.0005 if q < 5.0 else target + 1.0, target)
    assert (q, p) == (5.0, target + 1.0)


def test_psnr_curve_fit_keeps_the_prior_for_flat_or_coincident_probes_and_stays_within_six():
    A = PsnrCurve.A
    assert PsnrCurve.fit((4.0, 30.0), (5.0, 30.0)) == A  # flat: noise
    assert PsnrCurve.fit((4.0, 30.0), (4.0, 31.0)) == A  # one quality: no slope
    p0 = (4.0, 30.0)
    for a, bound in ((A - 6.5, A - 6), (A + 6.5, A + 6)):  # beyond the bisection's bracket: its end
        assert PsnrCurve.fit(p0, (5.0, PsnrCurve.value(p0, a, 5.0))) == pytest.approx(bound, abs=1e-6)


def test_psnr_curve_refits_only_through_probes_over_a_hundredth_apart():
    aim = 31.0
    close = [(4.5, 30.0, None), (4.505, 30.4, None)]
    assert PsnrCurve.predict(close, aim) == PsnrCurve.quality_at((4.5, 30.0), PsnrCurve.A, aim)
    apart = [(4.5, 30.0, None), (5.5, 30.4, None)]
    a = PsnrCurve.fit((5.5, 30.4), (4.5, 30.0))
    assert a != PsnrCurve.A and PsnrCurve.predict(apart, aim) == PsnrCurve.quality_at((4.5, 30.0), a, aim)
