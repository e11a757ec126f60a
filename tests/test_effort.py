"""Encoder effort (latent refinement): effort 0 is the plain encoder bit for bit, a refined
file is an ordinary file, refinement pays, is deterministic, and composes with rate control."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

import codec
from codec.errors import DCNError
from codec.format import container
from codec.image.metrics import psnr_rgb
from codec.pipeline import effort as effort_levels
from codec.pipeline import refine as refinement
from codec.pipeline.decode import decode_latents, decoder_for
from codec.pipeline.encode import prepare, quantize, write
from conftest import make_image, run_cli


@pytest.fixture(scope="module")
def analysed():
    return prepare(make_image(256, 192, seed=3), device="cpu")


def _cost(a, data: bytes, quality: float) -> tuple[float, float, float]:
    """(bpp, PSNR, bpp + lambda * 255^2 * MSE): what refinement minimises, on the real file."""
    w, h = a.picture.size
    out = np.asarray(codec.decode(data, device="cpu").convert("RGB"))
    p = psnr_rgb(out, a.picture.rgb)
    bpp = 8 * len(data) / (w * h)
    return bpp, p, bpp + refinement.lambda_at(a.dec.lambdas, quality) * 255 ** 2 / 10 ** (p / 10)


def test_effort_zero_is_the_plain_encoder(analysed):
    """The refinement path with no steps gives exactly quantize's symbols, and encode's
    default effort is 0."""
    plain = quantize(analysed, 6.0)
    via = refinement.refine(analysed, 6.0, 0)
    for name, _ in plain.symbols:
        if name in plain.tiles[0]:
            assert np.array_equal(plain.array(name), via.array(name)), name
    image = make_image(96, 80)
    assert codec.encode(image, 5.0) == codec.encode(image, 5.0, effort=0)


@pytest.mark.parametrize("quality", [3.0, 9.0])
def test_refined_files_are_ordinary_and_cheaper(analysed, quality):
    """A refined file decodes with the unchanged decoder to exactly the refined symbols, and
    its measured rate-distortion cost is lower than the plain encoder's."""
    plain = write(analysed, quality, quantize(analysed, quality))
    latents = quantize(analysed, quality, effort=2)
    refined = write(analysed, quality, latents)
    c = container.read(refined)
    decoded = decode_latents(c, decoder_for(c.header))
    for name in ("z", "y"):
        assert np.array_equal(decoded.array(name), latents.array(name)), name
    before, after = _cost(analysed, plain, quality), _cost(analysed, refined, quality)
    assert after[2] < 0.99 * before[2], (before, after)


def test_refinement_is_deterministic(analysed):
    first = write(analysed, 5.0, quantize(analysed, 5.0, effort=1))
    second = write(analysed, 5.0, quantize(analysed, 5.0, effort=1))
    assert first == second
    assert first != write(analysed, 5.0, quantize(analysed, 5.0))


def test_blocks_hold_their_margins_and_still_pay(analysed, monkeypatch):
    """With blocks smaller than the image (as for a large photo), every block is refined,
    the result still beats the plain encoder, and it is not the one-block result."""
    whole = write(analysed, 6.0, quantize(analysed, 6.0, effort=1))
    monkeypatch.setattr(refinement, "BLOCK", 5)  # a 12 x 16 latent: 3 x 4 blocks
    blocked = write(analysed, 6.0, quantize(analysed, 6.0, effort=1))
    plain = write(analysed, 6.0, quantize(analysed, 6.0))
    assert blocked != whole
    assert _cost(analysed, blocked, 6.0)[2] < _cost(analysed, plain, 6.0)[2]


def test_padding_costs_nothing():
    """An image whose size is not a multiple of 64: the distortion is measured on its own
    pixels, so the refined file still decodes to the image's size and beats the plain one."""
    a = prepare(make_image(150, 90, seed=5), device="cpu")
    plain = write(a, 6.0, quantize(a, 6.0))
    refined = write(a, 6.0, quantize(a, 6.0, effort=2))
    assert codec.decode(refined).size == (150, 90)
    assert _cost(a, refined, 6.0)[2] < _cost(a, plain, 6.0)[2]


@pytest.mark.parametrize("bad", [-1, 4, 1.5, "2", True])
def test_bad_efforts_are_refused(bad):
    with pytest.raises(DCNError, match="effort"):
        codec.encode(make_image(64, 64), 4.0, effort=bad)


def test_size_and_psnr_targets_hold_with_effort():
    image = make_image(256, 192, seed=7)
    plain, _ = _target(image, target_size=5000)
    data, info = _target(image, target_size=5000, effort=1)
    assert 0.99 * 5000 <= len(data) <= 5000 and info["bytes"] == len(data)
    data, info = _target(image, target_psnr=31.0, effort=1)
    got = psnr_rgb(np.asarray(codec.decode(data).convert("RGB")), np.asarray(image))
    assert 31.0 <= got <= 31.15 and abs(got - info["psnr"]) < 0.01


def _target(image, **kw):
    from codec.pipeline.ratecontrol import encode_to_target
    return encode_to_target(image, **kw)


def test_pillow_plugin_and_cli_take_an_effort(tmp_path):
    image = make_image(96, 80, seed=2)
    buf = io.BytesIO()
    image.save(buf, format="DCN", quality=5, effort=1)
    assert buf.getvalue() == codec.encode(image, 5.0, effort=1)
    src = tmp_path / "in.png"
    image.save(src)
    r = run_cli("dcn", "encode", src, tmp_path / "e1.dcn", "-q", "5", "--effort", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "e1.dcn").read_bytes() == buf.getvalue()
    r = run_cli("dcn", "encode", src, tmp_path / "e9.dcn", "-e", "9")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "effort" in r.stderr
    assert not (tmp_path / "e9.dcn").exists()
    assert Image.open(tmp_path / "e1.dcn").size == (96, 80)


def test_batch_redoes_outputs_of_another_effort(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    make_image(96, 80).save(src / "a.png")
    assert run_cli("dcn", "batch", src, dst).returncode == 0
    plain = (dst / "a.dcn").read_bytes()
    r = run_cli("dcn", "batch", src, dst)
    assert "skipped 1" in r.stdout  # records from before effort levels stay valid at effort 0
    r = run_cli("dcn", "batch", src, dst, "--effort", "1")
    assert r.returncode == 0 and "done 1" in r.stdout, r.stdout + r.stderr
    assert (dst / "a.dcn").read_bytes() != plain
    assert "skipped 1" in run_cli("dcn", "batch", src, dst, "--effort", "1").stdout


def test_the_command_line_knows_the_levels():
    """Every level from 0 to MAX_EFFORT (codec/defaults.py, what --help states) has its steps."""
    assert sorted(effort_levels.STEPS) == list(range(effort_levels.MAX_EFFORT + 1))
    assert effort_levels.STEPS[0] == 0 and all(effort_levels.STEPS[e] < effort_levels.STEPS[e + 1]
                                               for e in range(effort_levels.MAX_EFFORT))


def test_the_short_level_rounds_without_noise(analysed, monkeypatch):
    """Effort 1 anneals its rounding without Gumbel noise (it draws no random numbers);
    the longer levels draw them."""
    draws, rand = [], torch.rand
    monkeypatch.setattr(torch, "rand", lambda *a, **k: draws.append(1) or rand(*a, **k))
    quantize(analysed, 5.0, effort=1)
    assert not draws
    quantize(analysed, 5.0, effort=2)
    assert draws


def test_soft_rounding_hardens_and_its_noise_is_seeded():
    r = torch.tensor([-1.7, -0.2, 0.3, 0.6, 2.9])
    rounding = object.__new__(refinement._Refinement)
    rounding.generator = torch.Generator().manual_seed(0)
    soft = rounding._soft_round(r, 1.0, False)
    assert (soft - r).abs().max() < 0.15 and torch.all(soft[1:] > soft[:-1])  # near identity when soft
    assert torch.allclose(rounding._soft_round(r, 0.02, False), torch.round(r), atol=1e-6)
    noisy = rounding._soft_round(r, 1.0, True)
    assert not torch.allclose(noisy, soft, atol=1e-3)
    rounding.generator = torch.Generator().manual_seed(0)
    assert torch.equal(rounding._soft_round(r, 1.0, True), noisy)


def test_a_step_cap_cuts_the_phases_in_order():
    P = effort_levels.Phase
    phases = (P(8, False, 0.02), P(16, True, 0.01))
    assert refinement._capped(phases, 5) == (P(5, False, 0.02),)
    assert refinement._capped(phases, 12) == (P(8, False, 0.02), P(4, True, 0.01))
    assert refinement._capped(phases, 24) == refinement._capped(phases, 100) == phases


def _way(analysed, quality, monkeypatch, ways):
    monkeypatch.setitem(effort_levels.LEVELS, 2, ways)
    return write(analysed, quality, quantize(analysed, quality, effort=2))


def test_a_level_keeps_the_cheaper_of_its_ways(analysed, monkeypatch):
    """One refinement block: each way runs from the analysis' latent, and the file kept is
    the one whose measured bpp + lambda * MSE is least."""
    short, long_ = effort_levels.LEVELS[2]
    files = [_way(analysed, 4.0, monkeypatch, (way,)) for way in (short, long_)]
    both = _way(analysed, 4.0, monkeypatch, (short, long_))
    costs = [_cost(analysed, f, 4.0)[2] for f in files]
    assert files[0] != files[1] and both == files[costs.index(min(costs))]


def test_a_large_image_takes_the_last_way_only(analysed, monkeypatch):
    """Several refinement blocks: no whole-image comparison (its memory), the last way alone."""
    monkeypatch.setattr(refinement, "BLOCK", 5)
    short, long_ = effort_levels.LEVELS[2]
    assert _way(analysed, 4.0, monkeypatch, (short, long_)) == _way(analysed, 4.0, monkeypatch, (long_,))
