"""The recipe comparison's interpolation of PSNR at a rate (bench/training/compare.py)."""
import importlib.util
import math

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("compare", ROOT / "bench" / "training" / "compare.py")
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def test_psnr_at_interpolates_on_log_rate():
    points = [(0.2, 20.0), (0.4, 22.0), (0.8, 24.0)]
    assert compare.psnr_at(points, 0.4) == pytest.approx(22.0)
    assert compare.psnr_at(points, math.sqrt(0.2 * 0.4)) == pytest.approx(21.0)
    assert compare.psnr_at(points[::-1], 0.56568542) == pytest.approx(23.0, abs=1e-6)
    assert compare.psnr_at(points, 1.6) == pytest.approx(26.0)  # beyond the points: the last segment's line
