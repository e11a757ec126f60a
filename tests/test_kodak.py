"""Checks on a real photograph (skipped where ../shared/data/kodak is absent)."""
import numpy as np
import pytest
from PIL import Image

import codec
from conftest import KODAK, psnr

pytestmark = pytest.mark.skipif(not (KODAK / "kodim05.png").exists(), reason="Kodak images not available")


@pytest.fixture(scope="module")
def kodim05():
    return Image.open(KODAK / "kodim05.png").convert("RGB")


def test_rate_grows_with_quality_over_the_whole_range(kodim05):
    from codec.pipeline.encode import prepare, quantize, write
    a = prepare(kodim05)
    sizes = [len(write(a, q, quantize(a, q))) for q in np.arange(1.0, 8.01, 0.5)]
    assert all(b > s for s, b in zip(sizes, sizes[1:])), sizes


def test_tiles_leave_no_seams(kodim05):
    """Small tiles everywhere against one tile for the whole image: no loss of quality; the
    default 256-px coding tiles cost no more than 2 % more bytes (the acceptance bound of
    issue #7), 64-px tiles at most 5 % (2.4 % measured with the N=64, M=128 weights: each
    tile's hyper-latent is a larger share of a smaller latent)."""
    import torch
    from codec.models.registry import default_model
    from codec.models.weights import load_encoder
    from codec.pipeline.encode import analyse
    img = kodim05.crop((0, 0, 320, 256))
    ref = np.asarray(img)
    # the analysis network in 64-px tiles computes the latent of the whole image
    enc = load_encoder(default_model())
    y_small = analyse(ref, enc, torch.device("cpu"), block=64)
    y_whole = analyse(ref, enc, torch.device("cpu"), block=4096)
    assert torch.allclose(y_small, y_whole, atol=1e-4)
    # coding tiles of 64 px (30 independently decodable tiles) and synthesis tiles of 64 px
    # (1024 px: one tile for this 320 x 256 crop, and the largest the default model codes)
    small = codec.encode(img, quality=5, tile=64)
    whole = codec.encode(img, quality=5, tile=1024)
    assert codec.format.container.read(small).header.grid == (4, 5)
    assert len(small) <= 1.05 * len(whole)
    assert len(codec.encode(img, quality=5)) <= 1.02 * len(whole)  # the default tile
    p_small = psnr(np.asarray(codec.decode(small, block=64)), ref)
    p_whole = psnr(np.asarray(codec.decode(whole, block=4096)), ref)
    assert abs(p_small - p_whole) < 0.05
    # the synthesis in tiles gives the pixels of an untiled run (up to float rounding)
    a, b = np.asarray(codec.decode(whole, block=64)), np.asarray(codec.decode(whole, block=4096))
    assert np.abs(a.astype(int) - b).max() <= 1 and np.mean(a != b) < 1e-3
