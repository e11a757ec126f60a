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


def test_each_variant_is_compared_at_its_own_budget():
    r = lambda variant, minutes, budget=None: {"variant": variant, "cpu_minutes": minutes,
                                               "psnr_at_0.46": minutes, **({"budget": budget} if budget else {})}
    results = {"a5": r("a", 5.0), "a20": r("a", 20.01), "b19": r("b", 19.5, 30.0), "b30": r("b", 30.0, 30.0),
               "c90": r("c", 90.0, 120.0)}
    assert compare.at_budget(results, 20.0) == {"a": results["a20"]}  # no budget recorded: a 20-minute run
    assert compare.at_budget(results, 30.0) == {"b": results["b30"]}
    assert compare.at_budget(results, 120.0) == {}  # nearest snapshot too far from the budget
