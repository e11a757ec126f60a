"""The integer scale network gives the exact integer result (checked against a plain
int64 reference), so table selection cannot differ between machines or thread counts."""
import numpy as np
import pytest
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


def _float_chain():
    """A small scale network of the shipped shape: z -> 4x its resolution."""
    torch.manual_seed(0)
    convs = [torch.nn.ConvTranspose2d(4, 6, 5, 2, 2, 1), torch.nn.ConvTranspose2d(6, 6, 5, 2, 2, 1),
             torch.nn.Conv2d(6, 3, 3, 1, 1)]
    z = torch.from_numpy(np.random.default_rng(3).integers(-10, 11, (1, 4, 5, 6)).astype(np.float32))
    hidden = []
    with torch.no_grad():
        a = z
        for conv in convs[:-1]:
            a = torch.relu(conv(a))
            hidden.append(float(a.max()))
        out = convs[-1](a)
    return convs, z, hidden, out


def test_export_gives_integer_layers_that_follow_the_float_network():
    """quantize (what `dcn export` runs on the scale network): every layer's integers, scaled
    back, are the float network's values to within a few units of the last fractional bit."""
    from codec.nets.intnet import ACT_MAX, quantize
    convs, z, hidden_max, out = _float_chain()
    net = quantize(convs, hidden_max, 8, thresholds=np.array([3, 7]))
    assert [(l.transposed, l.stride, l.relu) for l in net.layers] == [(True, 2, True), (True, 2, True),
                                                                     (False, 1, False)]
    assert all(torch.equal(l.weight, torch.round(l.weight)) and torch.equal(l.bias, torch.round(l.bias))
               for l in net.layers)
    assert net.thresholds.tolist() == [3.0, 7.0] and net.thresholds.dtype == torch.float64
    fixed = net._run(z.double())
    assert fixed.shape == out.shape and torch.allclose(fixed / 2 ** 8, out.double(), atol=4 / 2 ** 8)
    assert torch.equal(net.fixed_point_scales(z[0].numpy().astype(np.int64)), fixed[0])
    hidden = net.layers[0](z.double())  # a hidden layer: frac_bits_for(its maximum) fractional bits
    assert 0 <= float(hidden.min()) and ACT_MAX / 32 < float(hidden.max()) <= ACT_MAX / 8


def test_fractional_bits_leave_sixteen_times_headroom():
    from codec.nets.intnet import frac_bits_for
    cases = {1.0: 16, 0.5: 17, 3.0: 14, 2.0 ** 16: 0, 2.0 ** 17: 0, 1e-9: 24, 0.0: 24, 2.0 ** -8: 24, 2.0 ** -7: 23}
    assert {m: frac_bits_for(m) for m in cases} == cases


def test_export_refuses_what_float64_cannot_sum_exactly():
    from codec.nets.intnet import quantize_layers
    convs, _, hidden_max, _ = _float_chain()
    with pytest.raises(ValueError, match="^layer 2 cannot give 60 fractional bits$"):
        quantize_layers(convs, hidden_max, 60)
    with torch.no_grad():
        convs[1].bias[0] = 1e20
    with pytest.raises(ValueError, match="^layer 1 cannot be evaluated exactly in float64$"):
        quantize_layers(convs, hidden_max, 8)


def test_integer_layers_survive_a_weights_file():
    from codec.nets.intnet import IntegerScaleNet, layers_from_state, layers_state, quantize
    convs, z, hidden_max, _ = _float_chain()
    net = quantize(convs, hidden_max, 8, thresholds=np.array([0]))
    thresholds = np.quantile(net._run(z.double()).numpy(), [0.3, 0.7]).round().astype(np.int64)  # 3 tables in use
    net = quantize(convs, hidden_max, 8, thresholds=thresholds)
    state = net.state_dict()
    assert sorted(state) == sorted(f"hs_int.{i}.{k}" for i in (0, 1, 2) for k in ("weight", "bias", "meta"))
    assert state["hs_int.0.weight"].dtype == torch.int32 and state["hs_int.0.bias"].dtype == torch.int64
    assert state["hs_int.0.meta"].tolist() == [1, 2, net.layers[0].shift, 1]
    back = IntegerScaleNet.from_state_dict(state, thresholds)
    for a, b in zip(back.layers, net.layers):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias) and a.weight.dtype == torch.float64
        assert (a.transposed, a.stride, a.shift, a.relu) == (b.transposed, b.stride, b.shift, b.relu)
    zi = z[0].numpy().astype(np.int64)
    assert np.array_equal(back.indices(zi), net.indices(zi)) and len(np.unique(net.indices(zi))) == 3
    assert layers_from_state(layers_state(net.layers, "p"), "q") == []


def test_a_scale_on_a_threshold_takes_the_upper_table(monkeypatch):
    """index = the number of thresholds <= the fixed-point scale (formats/dcn.md)."""
    net = IntegerScaleNet([], np.array([10, 20]))
    fixed = torch.tensor([[[9.0, 10.0, 11.0], [19.0, 20.0, 21.0]]], dtype=torch.float64)
    monkeypatch.setattr(net, "fixed_point_scales", lambda z: fixed)
    idx = net.indices(np.zeros((1, 1, 1), np.int64))
    assert idx.dtype == np.uint8 and idx.tolist() == [[[0, 1, 1], [1, 2, 2]]]


def _weight_bits(layer) -> int:
    """The weight scale export chose, read back from the one weight set to exactly 1.0."""
    return int(np.log2(float(layer.weight.flatten()[0])))


@pytest.mark.parametrize("transposed", [False, True])
def test_weights_get_the_most_bits_that_keep_every_sum_exact(transposed):
    """w_bits: the largest with 2**w_bits * (in_max * fan + 1) <= 2**51 (half the float64
    exact range), at most 24; fan: the largest sum of |w| feeding one output."""
    from codec.nets.intnet import EXACT_LIMIT, quantize_layers
    for scale, in_max in ((1e-3, 1.0), (1.0, 2.0 ** 20), (46.0, 2.0 ** 20), (30.0, 2.0 ** 20)):
        conv = torch.nn.ConvTranspose2d(3, 5, 3, 1, 1) if transposed else torch.nn.Conv2d(3, 5, 3, 1, 1)
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight.view(-1)[0] = 1.0
            # output 2 gathers 18 * scale; input 2 feeds 45 * scale: only the first is the fan
            if transposed:  # (in, out, k, k)
                conv.weight[1, 2] = scale
                conv.weight[2, :] = scale
            else:  # (out, in, k, k)
                conv.weight[2, 1] = scale
                conv.weight[:, 2] = scale
        w = conv.weight.detach().double()
        fan = float((w.abs().sum(dim=(0, 2, 3)) if transposed else w.abs().sum(dim=(1, 2, 3))).max())
        [layer] = quantize_layers([conv], [], 0, in_max=in_max)
        bits = _weight_bits(layer)
        bound = in_max * fan + 1
        assert bits == 24 or (2 ** bits * bound <= EXACT_LIMIT / 2 < 2 ** (bits + 1) * bound)
        assert bits <= 24 and 2 ** bits * bound <= EXACT_LIMIT / 2
        assert (layer.transposed, layer.stride, layer.shift, layer.relu) == (transposed, 1, bits, False)
    assert bits < 24  # the last case needs fewer bits


def test_hidden_layers_keep_their_fractional_bits_and_the_output_its_own():
    from codec.nets.intnet import frac_bits_for, quantize_layers
    convs, z, hidden_max, out = _float_chain()
    layers = quantize_layers(convs, hidden_max, 24)
    a, floats = z.double(), z.double()
    with torch.no_grad():
        for i, (layer, conv) in enumerate(zip(layers, convs)):
            a, floats = layer(a), conv.double()(floats)
            floats = torch.relu(floats) if i < len(convs) - 1 else floats
            frac = frac_bits_for(hidden_max[i]) if i < len(convs) - 1 else 24
            assert torch.allclose(a / 2 ** frac, floats, atol=1e-3), i
            floats = a / 2 ** frac  # the next layer sees what the integer one saw
    assert torch.allclose(a / 2 ** 24, out.double(), atol=1e-3)


def test_the_exactness_check_counts_weights_and_bias_together():
    from codec.nets.intnet import EXACT_LIMIT, quantize_layers
    conv = torch.nn.Conv2d(2, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # fan 2 at in_max 2**20: w_bits 24, the weights' worst sum 2**45
        conv.bias.fill_((EXACT_LIMIT - 2 ** 44) / 2 ** 24)  # alone within the limit, not with the weights
    with pytest.raises(ValueError, match="^layer 0 cannot be evaluated exactly in float64$"):
        quantize_layers([conv], [], 0, in_max=2.0 ** 20)
    with torch.no_grad():
        conv.bias.fill_((EXACT_LIMIT - 2 ** 46) / 2 ** 24)
    [layer] = quantize_layers([conv], [], 0, in_max=2.0 ** 20)
    assert float(layer.bias[0]) == EXACT_LIMIT - 2 ** 46
    wide = torch.nn.Conv2d(1, 64, 1)  # each output's sum is within the limit; all 64 together would not be
    with torch.no_grad():
        wide.weight.fill_(1.0)
        wide.bias.zero_()
    [layer] = quantize_layers([wide], [], 0, in_max=2.0 ** 27)
    assert float(layer.weight[0, 0, 0, 0]) == 2 ** 23


def test_the_last_layer_may_ask_for_every_bit_it_has():
    from codec.nets.intnet import quantize_layers
    convs, _, hidden_max, _ = _float_chain()
    most = quantize_layers(convs, hidden_max, 0)[-1].shift  # w_bits + frac_in: all the last layer has
    assert most > 24 and quantize_layers(convs, hidden_max, most)[-1].shift == 0
    with pytest.raises(ValueError, match=f"^layer 2 cannot give {most + 1} fractional bits$"):
        quantize_layers(convs, hidden_max, most + 1)


def test_table_index_is_searchsorted_at_every_boundary():
    """The lookup table gives what a binary search over the thresholds gives, at each
    threshold and either side of it, below zero and far beyond the last. It is used up to
    its size limit (4 MB) and for positive thresholds; past the limit, or with a threshold
    at or below 0, the search itself runs."""
    from codec.entropy.tables import ScaleSpec
    from codec.nets.intnet import LOOKUP_LIMIT
    th = ScaleSpec().thresholds()
    rng = np.random.default_rng(0)
    for thresholds, table in ((th, True), (th * (LOOKUP_LIMIT // th[-1] + 1), False),
                              (np.array([1, 9, LOOKUP_LIMIT - 1]), True), (np.array([3, 9, LOOKUP_LIMIT]), False),
                              (np.array([0, 0, 5]), False), (np.array([-2, 5]), False), (np.array([7]), True),
                              (np.array([], np.int64), True)):
        net = IntegerScaleNet([], thresholds)
        values = np.concatenate([thresholds - 1, thresholds, thresholds + 1, [-2 ** 30, -1, 0, 1, 2 ** 40],
                                 rng.integers(-10, thresholds.max(initial=0) + 10, 2000)]).astype(np.float64)
        got = net.table_index(values)
        assert got.dtype == np.uint8 and (net._lookup is not None) == table, thresholds
        assert np.array_equal(got, np.searchsorted(thresholds, values, side="right")), thresholds


def test_weights_get_the_bits_that_keep_every_sum_below_2_to_the_52():
    """A 1x1 layer of weight 1 whose input reaches 2**28 - 1: 23 fractional bits keep its
    largest sum at 2**51 - 2**23 (one bit of headroom for the bias); a bias that takes the
    sum to 2**52 exactly is refused, one just below it is not."""
    from codec.nets.intnet import quantize_layers
    conv = torch.nn.Conv2d(1, 1, 1).double()
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(0.0)
    (layer,) = quantize_layers([conv], [], 0, in_max=2 ** 28 - 1)
    assert layer.weight.item() == 2 ** 23 and layer.shift == 23
    for bias, refused in ((2.0 ** 28, False), (2.0 ** 28 + 1, True)):  # sums 2**52 - 2**23 and 2**52
        with torch.no_grad():
            conv.bias.fill_(bias)
        if refused:
            with pytest.raises(ValueError, match="cannot be evaluated exactly"):
                quantize_layers([conv], [], 0, in_max=2 ** 28 - 1)
        else:
            assert quantize_layers([conv], [], 0, in_max=2 ** 28 - 1)[0].bias.item() == 2.0 ** 51


def test_an_integer_5x5_convolution_equals_the_int64_reference():
    """A stride-1 5x5 layer (the context network's shape) is padded by 2 each side, like
    the float network it stands for: the same integers as the plain int64 evaluation."""
    from codec.nets.intnet import IntLayer
    rng = np.random.default_rng(1)
    layer = IntLayer(torch.from_numpy(rng.integers(-2 ** 12, 2 ** 12, (6, 4, 5, 5)).astype(np.float64)),
                     torch.from_numpy(rng.integers(-2 ** 10, 2 ** 10, 6).astype(np.float64)), False, 1, 6, True)
    z = rng.integers(-40, 41, (4, 7, 9))
    got = layer(torch.from_numpy(z.astype(np.float64))[None])[0].numpy().astype(np.int64)
    assert got.shape == (6, 7, 9) and np.array_equal(got, reference(IntegerScaleNet([layer], np.array([1])), z))
