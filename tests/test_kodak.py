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
    from codec.encoder import code, prepare
    a = prepare(kodim05)
    sizes = [len(code(a, q)[0]) for q in np.arange(1.0, 8.01, 0.5)]
    assert all(b > s for s, b in zip(sizes, sizes[1:])), sizes


def test_tiles_leave_no_seams(kodim05):
    """Small tiles against one tile for the whole image: same rate, same quality."""
    img = kodim05.crop((0, 0, 320, 256))
    small = codec.encode(img, quality=5, tile=64)
    whole = codec.encode(img, quality=5, tile=4096)
    assert abs(len(small) - len(whole)) <= 0.02 * len(whole)
    ref = np.asarray(img)
    p_small = psnr(np.asarray(codec.decode(small, tile=64)), ref)
    p_whole = psnr(np.asarray(codec.decode(whole, tile=4096)), ref)
    assert abs(p_small - p_whole) < 0.05
