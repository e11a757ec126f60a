"""The benchmark's measurements: one definition of bpp and PSNR, a BD-rate with known
answers, MS-SSIM against the reference implementation, and `dcn bench` end to end."""
import json

import numpy as np
import pytest

from codec.tools.bench.bdrate import bd_rate, pchip
from codec.tools.bench.metrics import bpp, ms_ssim_rgb, psnr_rgb
from codec.tools.bench.run import measure_image
from conftest import make_image, run_cli


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.37, 3.0])
def test_bd_rate_of_a_rate_scaled_curve_is_the_factor(factor):
    rate = np.array([0.1, 0.25, 0.5, 0.9, 1.5])
    psnr = np.array([26.0, 29.1, 31.7, 34.0, 36.2])
    assert bd_rate(rate, psnr, rate * factor, psnr) == pytest.approx((factor - 1) * 100, abs=1e-9)


def test_bd_rate_is_antisymmetric_and_needs_overlap():
    r, p = np.array([0.2, 0.5, 1.0, 2.0]), np.array([28.0, 31.0, 34.0, 37.0])
    r2, p2 = np.array([0.25, 0.55, 0.9, 1.6]), np.array([28.5, 31.2, 33.1, 36.0])
    a, b = bd_rate(r, p, r2, p2), bd_rate(r2, p2, r, p)
    assert (1 + a / 100) * (1 + b / 100) == pytest.approx(1, abs=1e-3)
    assert np.isnan(bd_rate(r, p, r, p + 20))


def test_pchip_interpolates_and_stays_monotone():
    x, y = np.array([0.0, 1.0, 2.0, 5.0]), np.array([0.0, 1.0, 1.5, 4.0])
    assert np.allclose(pchip(x, y, x), y)
    fine = pchip(x, y, np.linspace(0, 5, 500))
    assert np.all(np.diff(fine) >= -1e-12)
    line = pchip(x, 2 * x + 1, np.linspace(0, 5, 7))  # reproduces straight lines exactly
    assert np.allclose(line, 2 * np.linspace(0, 5, 7) + 1)


def test_psnr_and_bpp_definitions():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # MSE = 100 / 60
    assert psnr_rgb(a, b) == pytest.approx(10 * np.log10(255 ** 2 / (100 / 60)))
    assert psnr_rgb(a, a) == float("inf")
    assert bpp(1000, 100, 80) == 1.0


def test_ms_ssim_matches_pytorch_msssim():
    torch_msssim = pytest.importorskip("pytorch_msssim")
    import torch
    a = np.asarray(make_image(200, 180))
    b = np.clip(a.astype(int) + np.random.default_rng(0).integers(-25, 26, a.shape), 0, 255).astype(np.uint8)
    ref = torch_msssim.ms_ssim(torch.tensor(a).permute(2, 0, 1)[None].float(),
                               torch.tensor(b).permute(2, 0, 1)[None].float(), data_range=255).item()
    assert ms_ssim_rgb(a, b) == pytest.approx(ref, abs=1e-5)
    assert ms_ssim_rgb(a, a) == pytest.approx(1.0)


def test_every_codec_is_measured_by_the_same_function(tmp_path):
    path = tmp_path / "x.png"
    make_image(64, 48).save(path)
    for codec in ("dcn", "jpeg"):
        (row,) = measure_image(codec, (5,) if codec == "dcn" else (50,), str(path))
        assert row.bpp == bpp(row.bytes, 64, 48)


def test_dcn_bench_end_to_end(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        make_image(64 + 16 * i, 48, seed=i).save(images / f"im{i}.png")
    out = tmp_path / "results"
    r = run_cli("dcn", "bench", images, "--out", out, "--codecs", "dcn,jpeg",
                "--qualities", "dcn:2,5,8", "--qualities", "jpeg:20,50,80")
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "dcn.json").read_text())
    assert set(data["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    assert len(data["results"]["bpp"]) == 3
    assert data["results"]["bpp"] == sorted(data["results"]["bpp"])
    csv_rows = (out / "per_image.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 3 * 3 * 2
    assert "| dcn |" in (out / "bd_rate.md").read_text()


def test_bench_with_another_model(tmp_path):
    """dcn=MODEL measures DCN with a chosen model, beside the default one; the same model
    twice is 0 % apart."""
    images = tmp_path / "images"
    images.mkdir()
    make_image(96, 64).save(images / "a.png")
    out = tmp_path / "results"
    r = run_cli("dcn", "bench", images, "--out", out, "--codecs", "dcn,dcn=checkerboard-groups-64-128@1",
                "--qualities", "dcn:2,4,6", "--qualities", "dcn=checkerboard-groups-64-128@1:2,4,6")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "dcn=checkerboard-groups-64-128@1.json").read_text())["results"]["bpp"] == \
        json.loads((out / "dcn.json").read_text())["results"]["bpp"]
    assert "| dcn=checkerboard-groups-64-128@1 | +0.0 | +0.0 |" in (out / "bd_rate.md").read_text()


def test_missing_optional_codec_is_skipped(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    make_image(64, 48).save(images / "a.png")
    r = run_cli("dcn", "bench", images, "--out", tmp_path / "o", "--codecs", "jpeg,nosuch")
    assert r.returncode == 1 and "unknown codec" in r.stderr


def test_unavailable_library_is_reported_not_raised():
    from codec.tools.bench import peers
    assert "not installed" in peers._module("no_such_module_for_dcn")()
    assert peers.PEERS["jpeg"].available() is None


def test_dcn_is_measured_over_its_models_whole_range():
    """The default model's 12 levels, not model 1's 8 (the first Kodak run of model 2
    stopped at quality 8, 1.0 bpp)."""
    from codec.tools.bench import peers
    assert peers.get("dcn").settings == (1, 1.5, 2, 2.5) + tuple(range(3, 13))
    assert peers.get("dcn=hyperprior-64-128@3").settings[-1] == 8
