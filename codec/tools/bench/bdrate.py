"""Bjøntegaard delta rate: the average rate change at equal quality, with piecewise-cubic
Hermite (PCHIP) interpolation of log-rate over the overlapping quality range."""
import numpy as np


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives, as in scipy.interpolate.PchipInterpolator."""
    h = np.diff(x)
    delta = np.diff(y) / h
    d = np.zeros_like(y)
    if len(x) == 2:
        return np.full_like(y, delta[0])
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0, h1, m0, m1):
        v = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(v) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(v) > abs(3 * m0):
            return 3 * m0
        return v

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return d


def pchip(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    d = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    t = (at - x[k]) / h
    return ((2 * t ** 3 - 3 * t ** 2 + 1) * y[k] + (t ** 3 - 2 * t ** 2 + t) * h * d[k]
            + (-2 * t ** 3 + 3 * t ** 2) * y[k + 1] + (t ** 3 - t ** 2) * h * d[k + 1])


def _prepare(rate, quality):
    rate, quality = np.asarray(rate, float), np.asarray(quality, float)
    order = np.argsort(quality)
    q, r = quality[order], np.log(rate[order])
    keep = np.concatenate([[True], np.diff(q) > 0])  # PCHIP needs increasing x
    return q[keep], r[keep]


def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality, samples: int = 4001) -> float:
    """Percent rate change of test against anchor at equal quality (negative: test smaller).
    NaN when the quality ranges do not overlap."""
    qa, ra = _prepare(anchor_rate, anchor_quality)
    qt, rt = _prepare(test_rate, test_quality)
    if len(qa) < 2 or len(qt) < 2:
        return float("nan")
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if not hi > lo:
        return float("nan")
    grid = np.linspace(lo, hi, samples)
    diff = pchip(qt, rt, grid) - pchip(qa, ra, grid)
    avg = np.sum((diff[1:] + diff[:-1]) / 2 * np.diff(grid)) / (hi - lo)
    return float((np.exp(avg) - 1) * 100)
