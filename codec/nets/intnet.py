"""The scale network evaluated in integer arithmetic, so every machine picks the same
probability table for every latent element (Ballé, Johnston & Minnen 2019).

Weights, biases and activations are integers (activations with a per-layer number of
fractional bits). Convolutions run in float64 on the CPU: every product and partial sum
is an integer below 2**52 (export checks the bound), so the result is exact whatever the
summation order, thread count or BLAS. Each layer rescales by a power of two with
round-half-up, then ReLU and a clamp keep activations within ACT_MAX.
"""
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from ..format.constants import MAX_ABS, Z_TO_Y
from .blocks import blockwise

ACT_MAX = 2 ** 20
BLOCK, MARGIN = 16, 3  # in elements of z; the receptive field reaches about 2.1
EXACT_LIMIT = 2 ** 52


@dataclass
class IntLayer:
    weight: torch.Tensor  # float64 holding integers; conv layout (out,in,k,k) or transposed (in,out,k,k)
    bias: torch.Tensor  # float64 holding integers
    transposed: bool
    stride: int
    shift: int  # output = round(acc / 2**shift)
    relu: bool

    META = ("transposed", "stride", "shift", "relu")

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[-1]
        if self.transposed:
            acc = F.conv_transpose2d(a, self.weight, self.bias, self.stride, k // 2, self.stride - 1)
        else:
            acc = F.conv2d(a, self.weight, self.bias, self.stride, k // 2)
        return self.finish(acc)

    def finish(self, acc: torch.Tensor) -> torch.Tensor:
        """The accumulator (bias included) rescaled, rounded half up, and clamped."""
        out = torch.floor(acc * 2.0 ** -self.shift + 0.5)
        return out.clamp(0, ACT_MAX) if self.relu else out

    def dense(self, a: torch.Tensor) -> torch.Tensor:
        """A 1x1 layer on (in, n) columns -> (out, n): one matrix product, without the
        copies a convolution makes (the same exact integer sums)."""
        return self.finish(torch.addmm(self.bias[:, None], self.weight[:, :, 0, 0], a))


class IntegerScaleNet:
    """The integer layers and the fixed-point thresholds between the model's scales."""

    def __init__(self, layers: list[IntLayer], thresholds: np.ndarray):
        self.layers = layers
        self.thresholds = torch.from_numpy(np.asarray(thresholds).astype(np.float64))
        self._lookup = _index_lookup(np.asarray(thresholds).astype(np.int64))

    def _run(self, a: torch.Tensor) -> torch.Tensor:
        return run_layers(self.layers, a)

    @torch.no_grad()
    def fixed_point_scales(self, z: np.ndarray) -> torch.Tensor:
        """z: integers (C,h,w) -> scales * 2**frac_bits as float64 integers (M,4h,4w).

        Evaluated in blocks of z (bounded memory); with a margin wider than the network's
        receptive field the integers are exactly those of an unblocked run."""
        a = torch.from_numpy(np.clip(z, -MAX_ABS, MAX_ABS).astype(np.float64))[None]
        return blockwise(self._run, a, BLOCK, MARGIN, Fraction(Z_TO_Y), workers=1)[0]

    def indices(self, z: np.ndarray) -> np.ndarray:
        """Index of the probability table (0..63) of every element of y."""
        return self.table_index(self.fixed_point_scales(z).numpy())

    def table_index(self, fixed: np.ndarray) -> np.ndarray:
        """Fixed-point scales (float64 integers) -> the number of thresholds at or below
        each, as uint8: searchsorted(thresholds, fixed, right=True), from a lookup table
        where the model's thresholds allow one (10x faster: a tenth of a tile's decode)."""
        if self._lookup is None:
            return torch.searchsorted(self.thresholds, torch.from_numpy(fixed), right=True).to(torch.uint8).numpy()
        return self._lookup[fixed.clip(0, len(self._lookup) - 1).astype(np.int64)]

    def state_dict(self) -> dict:
        return layers_state(self.layers, "hs_int")

    @classmethod
    def from_state_dict(cls, tensors: dict, thresholds: np.ndarray) -> "IntegerScaleNet":
        return cls(layers_from_state(tensors, "hs_int"), thresholds)


LOOKUP_LIMIT = 1 << 22  # entries (bytes) of a table-index lookup; model 1's thresholds need 1.0e6


def _index_lookup(thresholds: np.ndarray) -> np.ndarray | None:
    """uint8 table: entry v holds the number of thresholds (sorted, as a search needs them)
    <= v, for v from 0 to the last threshold (beyond it, all are); a negative v (a scale
    can be) takes entry 0. None where the table would be too big, or where a threshold is
    not positive (then a negative v would need entries of its own)."""
    if thresholds.size and (thresholds[0] <= 0 or thresholds[-1] >= LOOKUP_LIMIT):
        return None
    counts = np.diff(thresholds, prepend=0)  # how many integers v get index i: thresholds[i-1] <= v < thresholds[i]
    return np.append(np.repeat(np.arange(len(thresholds), dtype=np.uint8), counts), np.uint8(len(thresholds)))


def run_layers(layers: list[IntLayer], a: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        a = layer(a)
    return a


def layers_state(layers: list[IntLayer], prefix: str) -> dict:
    out = {}
    for i, layer in enumerate(layers):
        out[f"{prefix}.{i}.weight"] = layer.weight.to(torch.int32)  # |w| < 2**24
        out[f"{prefix}.{i}.bias"] = layer.bias.to(torch.int64)
        out[f"{prefix}.{i}.meta"] = torch.tensor([int(getattr(layer, k)) for k in IntLayer.META])
    return out


def layers_from_state(tensors: dict, prefix: str) -> list[IntLayer]:
    layers, i = [], 0
    while f"{prefix}.{i}.weight" in tensors:
        meta = dict(zip(IntLayer.META, tensors[f"{prefix}.{i}.meta"].tolist()))
        layers.append(IntLayer(tensors[f"{prefix}.{i}.weight"].double(), tensors[f"{prefix}.{i}.bias"].double(),
                               bool(meta["transposed"]), meta["stride"], meta["shift"], bool(meta["relu"])))
        i += 1
    return layers


def quantize(convs: list[torch.nn.Module], activation_max: list[float], out_frac_bits: int,
             thresholds: np.ndarray) -> IntegerScaleNet:
    """The integer scale network: its input z is an integer."""
    return IntegerScaleNet(quantize_layers(convs, activation_max, out_frac_bits), thresholds)


def frac_bits_for(max_abs: float) -> int:
    """Fractional bits for values up to max_abs: 16x headroom below ACT_MAX."""
    return int(np.clip(np.floor(np.log2(ACT_MAX / (16 * max(max_abs, 1e-3)))), 0, 24))


def quantize_layers(convs: list[torch.nn.Module], activation_max: list[float], out_frac_bits: int,
                    frac_in: int = 0, in_max: float = MAX_ABS) -> list[IntLayer]:
    """Integer version of a conv/ReLU chain (ReLU after every layer but the last).

    activation_max: the largest activation seen after each hidden layer on calibration
    data; each gets as many fractional bits as fit 16x that value below ACT_MAX. The input
    has frac_in fractional bits and magnitudes up to in_max (in those units).
    """
    layers = []
    for i, conv in enumerate(convs):
        last = i == len(convs) - 1
        transposed = isinstance(conv, torch.nn.ConvTranspose2d)
        w = conv.weight.detach().double()
        b = conv.bias.detach().double()
        fan = w.abs().sum(dim=(0, 2, 3)) if transposed else w.abs().sum(dim=(1, 2, 3))
        w_bits = min(24, int(np.floor(np.log2(EXACT_LIMIT / 2 / (in_max * float(fan.max()) + 1)))))
        if last:
            frac_out = out_frac_bits
        else:
            frac_out = frac_bits_for(activation_max[i])
        if last and frac_out > w_bits + frac_in:
            raise ValueError(f"layer {i} cannot give {frac_out} fractional bits")
        frac_out = min(frac_out, w_bits + frac_in)
        layer = IntLayer(torch.round(w * 2.0 ** w_bits), torch.round(b * 2.0 ** (w_bits + frac_in)),
                         transposed, conv.stride[0], w_bits + frac_in - frac_out, not last)
        fan_int = layer.weight.abs().sum(dim=(0, 2, 3) if transposed else (1, 2, 3))
        if float((fan_int * in_max + layer.bias.abs()).max()) >= EXACT_LIMIT:
            raise ValueError(f"layer {i} cannot be evaluated exactly in float64")
        layers.append(layer)
        frac_in, in_max = frac_out, ACT_MAX
    return layers
