"""Entropy coding: exact round trips whatever the values, tables well formed."""
import numpy as np
import pytest

from codec.entropy import ans as entropy, tables
from codec.errors import DCNError


SPEC = tables.ScaleSpec()  # model 1's scale grid


@pytest.fixture(scope="module")
def gauss():
    t = tables.gaussian_tables(SPEC)
    t.validate()
    return t


def test_scale_tables_cover_the_scale_range(gauss):
    assert len(gauss) == SPEC.count
    assert np.all(np.diff(SPEC.thresholds()) > 0)


def test_every_model_ships_the_tables_of_its_scale_grid(gauss):
    """The y tables in each released decoder are the ones its scale spec describes."""
    from codec.models.registry import registry
    from codec.models.weights import load_decoder
    for model in registry():
        shipped = load_decoder(model).latent.y_tables
        assert np.array_equal(shipped.counts, gauss.counts) and np.array_equal(shipped.lows, gauss.lows), model.id
        assert np.array_equal(load_decoder(model).latent.scale_net.thresholds.numpy(), SPEC.thresholds())


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_with_escapes(gauss, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(gauss), (16, 9, 11))
    values = np.round(rng.normal(0, SPEC.scales()[idx] * rng.choice([1, 20], idx.shape))).astype(np.int64)
    values.flat[rng.integers(0, values.size, 30)] = rng.integers(-entropy.MAX_ABS, entropy.MAX_ABS + 1, 30)
    values.flat[0], values.flat[1] = entropy.MAX_ABS, -entropy.MAX_ABS
    data = entropy.encode(values, idx, gauss)
    assert np.array_equal(entropy.decode(data, idx, gauss), values)


def test_values_beyond_the_limit_are_clamped(gauss):
    idx = np.zeros(3, dtype=np.int64)
    values = np.array([10 ** 9, -10 ** 9, 5])
    out = entropy.decode(entropy.encode(values, idx, gauss), idx, gauss)
    assert out.tolist() == [entropy.MAX_ABS, -entropy.MAX_ABS, 5]


def test_rate_follows_the_model(gauss):
    """Values drawn from the table's own Gaussian cost about their entropy."""
    rng = np.random.default_rng(1)
    k = 40
    s = SPEC.scales()[k]
    values = np.round(rng.normal(0, s, 20000)).astype(np.int64)
    bits = 8 * len(entropy.encode(values, np.full(values.shape, k), gauss))
    p = gauss.table(k)[:-1] / 2 ** tables.PRECISION
    low = gauss.lows[k]
    ideal = -np.log2(p[values - low]).sum()
    assert bits < ideal * 1.01 + 64


def test_bad_lengths_are_reported(gauss):
    with pytest.raises(DCNError):
        entropy.decode(b"abc", np.zeros(4, dtype=np.int64), gauss)


def test_quantized_pmf_is_normalized():
    counts = tables.quantize_pmf(np.array([0.5, 1e-12, 0.25, 0.25, 0.0]))
    assert counts.sum() == 2 ** tables.PRECISION and counts.min() >= 1
