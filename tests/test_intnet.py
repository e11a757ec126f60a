"""The integer scale network gives the exact integer result (checked against a plain
int64 reference), so table selection cannot differ between machines or thread counts."""
import numpy as np
import torch

from codec.nets.intnet import IntegerScaleNet
from codec.models.registry import default_model
from codec.models.weights import load_decoder
from conftest import hyperprior_part


def reference(net: IntegerScaleNet, z: np.ndarray) -> np.ndarray:
    """Straightforward int64 evaluation: loops over kernel taps, numpy integers only."""
    a = z.astype(np.int64)
    for layer in net.layers:
        w = layer.weight.numpy().astype(np.int64)
        b = layer.bias.numpy().astype(np.int64)
        k = w.shape[-1]
        p = k // 2
        s = layer.stride
        cin, h, wd = a.shape
        if layer.transposed:
            cout = w.shape[1]
            ho, wo = h * s, wd * s
            acc = np.zeros((cout, ho + 2 * k, wo + 2 * k), dtype=np.int64)
            for i in range(k):
                for j in range(k):
                    contrib = np.einsum("ihw,io->ohw", a, w[:, :, i, j])
                    acc[:, i:i + h * s:s, j:j + wd * s:s] += contrib
            acc = acc[:, p:p + ho, p:p + wo]
        else:
            cout = w.shape[0]
            padded = np.pad(a, ((0, 0), (p, p), (p, p)))
            ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
            acc = np.zeros((cout, ho, wo), dtype=np.int64)
            for i in range(k):
                for j in range(k):
                    patch = padded[:, i:i + s * ho:s, j:j + s * wo:s]
                    acc += np.einsum("ihw,oi->ohw", patch, w[:, :, i, j])
        acc += b[:, None, None]
        half = 1 << (layer.shift - 1) if layer.shift > 0 else 0
        out = (acc + half) >> layer.shift if layer.shift > 0 else acc << -layer.shift
        a = np.clip(out, 0, 2 ** 20) if layer.relu else out
    return a


def test_integer_network_is_exact():
    net = hyperprior_part(load_decoder(default_model()).latent).scale_net
    rng = np.random.default_rng(0)
    z = rng.integers(-40, 41, (len(net.layers[0].weight), 2, 3))
    z[0, 0, 0] = 2 ** 20  # extreme inputs stay exact too
    got = net.fixed_point_scales(z).numpy().astype(np.int64)
    assert np.array_equal(got, reference(net, z))


def test_same_indices_with_any_thread_count():
    net = hyperprior_part(load_decoder(default_model()).latent).scale_net
    z = np.random.default_rng(1).integers(-20, 21, (len(net.layers[0].weight), 5, 7))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net.indices(z)
        torch.set_num_threads(2)
        two = net.indices(z)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, two)


def test_tiles_give_exactly_the_untiled_integers():
    net = hyperprior_part(load_decoder(default_model()).latent).scale_net
    z = np.random.default_rng(2).integers(-30, 31, (len(net.layers[0].weight), 37, 41))
    whole = net._run(torch.from_numpy(z.astype(np.float64))[None])[0]
    assert torch.equal(net.fixed_point_scales(z), whole)


def test_rounding_is_half_up_on_ties():
    """The spec's floor(acc / 2^shift + 1/2): ties go up, also below zero (half-even, or
    round-half-away, would pick other tables for some elements)."""
    from codec.nets.intnet import IntLayer
    layer = IntLayer(torch.ones(1, 1, 1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                     transposed=False, stride=1, shift=1, relu=False)
    x = torch.tensor([-5.0, -3.0, -1.0, 1.0, 3.0, 5.0, 4.0], dtype=torch.float64).reshape(1, 1, 1, 7)
    assert layer(x).flatten().tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 2.0]
