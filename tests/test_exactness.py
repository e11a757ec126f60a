"""The same file decodes to the same symbols everywhere: thread counts, float32/float64
synthesis, CPU/CUDA; the pixels differ by at most one level (CPU vs CPU: not at all)."""
import numpy as np
import pytest
import torch

import codec
from codec.format import container
from codec.pipeline.decode import decode_latents, decoder_for, synthesize
from codec.models.registry import default_model
from codec.models.weights import load_decoder
from conftest import make_image


@pytest.fixture(scope="module")
def files():
    return [codec.encode(make_image(w, h, seed=w), quality=q) for w, h, q in ((200, 150, 2), (97, 131, 6.5))]


def decode_with(data: bytes, threads: int, dtype=torch.float32, device="cpu"):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        c = container.read(data)
        w = decoder_for(c.header)
        lat = decode_latents(c, w)
        h = c.header
        pixels = synthesize(lat, w, h.quality, h.width, h.height, torch.device(device), dtype)
        return lat, pixels
    finally:
        torch.set_num_threads(old)


def test_threads_give_identical_symbols_and_pixels(files):
    for data in files:
        a, pa = decode_with(data, 1)
        b, pb = decode_with(data, 2)
        for name, array in a.arrays().items():
            assert np.array_equal(array, b.array(name)), name
        assert np.array_equal(pa, pb)


def test_float64_synthesis_is_within_one_level(files):
    for data in files:
        a, pa = decode_with(data, 2)
        b, pb = decode_with(data, 2, torch.float64)
        assert np.array_equal(a.array("y"), b.array("y"))
        assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_decodes_the_same_symbols(files):
    for data in files:
        a, pa = decode_with(data, 2)
        b, pb = decode_with(data, 2, device="cuda")
        assert np.array_equal(a.array("y"), b.array("y")) and np.array_equal(a.array("indices"), b.array("indices"))
        assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1


def test_synthesis_runs_without_tf32(files, monkeypatch):
    """cuDNN's default TF32 convolutions would move GPU pixels off the reference."""
    seen = []
    weights = load_decoder(default_model())
    original = type(weights.synthesis).forward
    monkeypatch.setattr(type(weights.synthesis), "forward",
                        lambda self, x: seen.append(torch.backends.cudnn.allow_tf32) or original(self, x))
    assert torch.backends.cudnn.allow_tf32  # PyTorch's default, restored after the decode
    decode_with(files[0], 1)
    assert seen and not any(seen) and torch.backends.cudnn.allow_tf32


def test_decoding_form_is_the_same_network():
    """layers.SubpixelDeconv and the channels-last IGDN compute what training's layers do."""
    from codec.nets.layers import SubpixelDeconv, deconv
    from codec.nets.synthesis import Synthesis, for_decoding
    torch.manual_seed(0)
    for cin, cout, h, w in ((8, 3, 5, 7), (16, 12, 1, 1), (4, 6, 9, 4)):
        layer = deconv(cin, cout)
        x = torch.randn(2, cin, h, w)
        with torch.no_grad():
            assert torch.allclose(SubpixelDeconv(layer)(x), layer(x), atol=1e-5)
    synthesis = Synthesis(8, 12).eval()
    y = torch.randn(1, 12, 3, 5)
    with torch.no_grad():
        ref = synthesis(y)
        fast = for_decoding(synthesis)(y.contiguous(memory_format=torch.channels_last))
    assert fast.shape == ref.shape == (1, 3, 48, 80) and torch.allclose(fast, ref, atol=1e-5)


def test_encode_and_decode_run_channels_last(monkeypatch):
    """Every GDN/IGDN of an encode and a decode gets oneDNN's channels-last layout and runs
    in place: a block of the image once reached the analysis with strides that made every
    convolution fall back to the contiguous layout (20 % slower, silently)."""
    from codec.nets.layers import GDN
    calls = []
    original = GDN.forward

    def forward(self, x):
        calls.append(x.is_contiguous(memory_format=torch.channels_last) and x.stride()[0] == x[0].numel())
        return original(self, x)

    monkeypatch.setattr(GDN, "forward", forward)
    data = codec.encode(make_image(300, 200, seed=1), quality=4)
    assert len(calls) >= 3 and all(calls)
    calls.clear()
    codec.decode(data)
    assert len(calls) >= 3 and all(calls)
