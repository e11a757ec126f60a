"""The checkerboard context model's latent codec (He et al. 2021): the hyperprior, plus a
second pass that sees the first.

Per tile, one section: a single ANS stream holding z (as for the hyperprior), then the
anchors of y ((row + col) even) with the hyperprior's means and tables, then the other
elements with tables and mean corrections from the integer context network, which sees
the anchors' symbols and the hyperprior's fixed-point scales. One stream rather than
three saves two ANS flushes and two index entries per tile (about 1-2 % of the file at
low rates). Everything that picks a table is integer, so both passes decode to the same
symbols everywhere. Decoding is two parallel passes over the tile, never an
element-serial loop.
"""
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..entropy import ans
from ..format.constants import MAX_ABS, Z_TO_Y
from ..nets.context import CONTEXT_CLAMP
from ..nets.intnet import ACT_MAX, IntLayer, layers_from_state, run_layers
from .base import LatentCodec, TileSymbols
from .hyperprior import HyperpriorCodec, z_table_index
from ..format.sections import SECTION_NAMES


def anchors(m: int, rows: int, cols: int) -> np.ndarray:
    """Boolean (M, rows, cols): True on the anchors."""
    r, c = np.indices((rows, cols))
    return np.broadcast_to((r + c) % 2 == 0, (m, rows, cols))


def round_shift(a: torch.Tensor, bits: int) -> torch.Tensor:
    """a / 2**bits rounded half up, exactly (a holds integers in float64)."""
    return torch.floor(a * 2.0 ** -bits + 0.5) if bits > 0 else a


def anchor_phases(a: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (1, 2C, H/2, W/2): the anchors at (even, even), then at (odd, odd)."""
    return torch.cat([a[:, 0::2, 0::2], a[:, 1::2, 1::2]])[None]


def other_phases(a: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (2, C, H/2, W/2): the other elements at (even, odd), then at (odd, even)."""
    return torch.stack([a[:, 0::2, 1::2], a[:, 1::2, 0::2]])


def from_other_phases(p: torch.Tensor) -> torch.Tensor:
    """other_phases' inverse, zero on the anchors."""
    _, c, h, w = p.shape
    out = p.new_zeros((c, 2 * h, 2 * w))
    out[:, 0::2, 1::2], out[:, 1::2, 0::2] = p[0], p[1]
    return out


OTHERS, ANCHORS = ((0, 1), (1, 0)), ((0, 0), (1, 1))  # (row, col) parity of each phase


def phase_layer(layer: IntLayer) -> IntLayer:
    """The 5x5 context convolution, evaluated only where it is needed: at the other
    elements, from the anchors (the only non-zero inputs). On the half-resolution phase
    grids it is one 3x3 convolution from (anchors at even, odd) to (others at even-odd,
    odd-even): output (2i + pr, 2j + pc) gathers input (2(i + a) + qr, 2(j + b) + qc),
    tap (2a + qr - pr, 2b + qc - pc) of the 5x5 kernel. The same integer products, minus
    the zeros: 0.36 of the dense work, and the same exact sums."""
    w = layer.weight  # (out, in, 5, 5)
    m_out, m_in, k = w.shape[0], w.shape[1], w.shape[-1] // 2
    kernel = w.new_zeros((2 * m_out, 2 * m_in, 3, 3))
    for o, (pr, pc) in enumerate(OTHERS):
        for i, (qr, qc) in enumerate(ANCHORS):
            for a in (-1, 0, 1):
                for b in (-1, 0, 1):
                    dr, dc = 2 * a + qr - pr, 2 * b + qc - pc
                    if abs(dr) <= k and abs(dc) <= k:
                        kernel[o * m_out:(o + 1) * m_out, i * m_in:(i + 1) * m_in, a + 1, b + 1] = w[:, :, dr + k, dc + k]
    return IntLayer(kernel, layer.bias.repeat(2), False, 1, layer.shift, layer.relu)


@dataclass
class ContextNet:
    """The integer context network: anchors' symbols and fixed-point scales -> fixed-point
    (delta mean, delta scale) of the other elements, at the scales' fractional bits."""

    ctx: list[IntLayer]  # the 5x5 convolution over the clamped anchor symbols
    params: list[IntLayer]  # the 1x1 chain over [scales, context]
    ctx_frac: int  # fractional bits of the context convolution's output
    scale_frac: int  # of the scales, and of the output

    def __post_init__(self):
        if len(self.ctx) != 1 or self.ctx[0].stride != 1 or self.ctx[0].transposed:
            raise ValueError("the context network is one stride-1 convolution")
        self._phased = [phase_layer(self.ctx[0])]

    def __call__(self, symbols: np.ndarray, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """symbols, scales: (M, H, W), H and W even; only the anchors' symbols are read.
        Returns (M, H, W) corrections, zero on the anchors."""
        m = symbols.shape[0]
        q = torch.from_numpy(np.clip(symbols, -CONTEXT_CLAMP, CONTEXT_CLAMP).astype(np.float64))
        ctx = run_layers(self._phased, anchor_phases(q)).clamp_(-ACT_MAX, ACT_MAX)
        ctx = ctx.reshape(2, m, *ctx.shape[-2:])
        common = min(self.ctx_frac, self.scale_frac)
        s = round_shift(other_phases(scales), self.scale_frac - common).clamp(-ACT_MAX, ACT_MAX)
        ctx = round_shift(ctx, self.ctx_frac - common)
        delta = run_layers(self.params, torch.cat([s, ctx], 1))
        d_mean, d_scale = delta.chunk(2, 1)
        return from_other_phases(d_mean), from_other_phases(d_scale)


@dataclass
class CheckerboardCodec(LatentCodec):
    hyper: HyperpriorCodec
    context: ContextNet

    kind = "checkerboard"
    sections = 1
    section_names = SECTION_NAMES[kind]
    max_tile = 1024  # the context network runs on a whole tile: this bounds its memory (~70 MB)
    symbols = (("z", 1), ("y", Z_TO_Y), ("indices", Z_TO_Y))

    @classmethod
    def from_weights(cls, tensors: dict, meta: dict) -> "CheckerboardCodec":
        hyper = HyperpriorCodec.from_weights(tensors, meta)
        frac = [int(v) for v in tensors["ctx_int.frac"].tolist()]
        return cls(hyper, ContextNet(layers_from_state(tensors, "ctx_int"), layers_from_state(tensors, "ep_int"),
                                     frac[0], frac[1]))

    def with_encoder(self, tensors: dict, meta: dict) -> "CheckerboardCodec":
        return replace(self, hyper=self.hyper.with_encoder(tensors, meta))

    def to(self, device: torch.device, dtype: torch.dtype) -> "CheckerboardCodec":
        self.hyper.to(device, dtype)
        return self

    def _table(self, fixed_scales: torch.Tensor) -> np.ndarray:
        thresholds = self.hyper.scale_net.thresholds
        return torch.searchsorted(thresholds, fixed_scales.reshape(-1), right=True).reshape(
            fixed_scales.shape).to(torch.uint8).numpy()

    def _second_pass(self, scales: torch.Tensor, first: np.ndarray):
        """From the hyperprior's fixed-point scales and the anchors' symbols (zero
        elsewhere): the table index of every element and the mean corrections (exact
        multiples of 2**-scale_frac, zero on the anchors)."""
        d_mean, d_scale = self.context(first, scales)
        return self._table(scales + d_scale), d_mean * 2.0 ** -self.context.scale_frac

    def hyper_symbols(self, y: torch.Tensor) -> np.ndarray:
        return self.hyper.hyper_symbols(y)

    def quantize(self, y: torch.Tensor, z: np.ndarray | None = None) -> TileSymbols:
        z = self.hyper.hyper_symbols(y) if z is None else z
        centred, first, mask, indices, d_mean = self._passes(y, z)
        residual = torch.round(centred - d_mean[None]).clamp_(-MAX_ABS, MAX_ABS)[0].numpy()
        y_int = np.where(mask, first, residual).astype(np.int32)
        return {"z": z, "y": y_int, "indices": indices, "mean": d_mean}

    def entropy_parameters(self, y: torch.Tensor, z: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        centred, _, _, indices, d_mean = self._passes(y, z)
        return (y.double() - centred)[0] + d_mean, indices

    def _passes(self, y: torch.Tensor, z: np.ndarray):
        """y centred on the hyperprior's means, the anchors' symbols, the anchor mask, and
        the second pass's table indices and mean corrections."""
        h = self.hyper
        means = h.mean_net(torch.from_numpy(z).float()[None]).double()
        mask = anchors(h.m, *y.shape[-2:])
        centred = y.double() - means
        first = np.where(mask, torch.round(centred).clamp_(-MAX_ABS, MAX_ABS)[0].numpy(), 0)
        scales = h.scale_net.fixed_point_scales(z)
        indices, d_mean = self._second_pass(scales, first.astype(np.int64))
        return centred, first, mask, indices, d_mean

    def write(self, tile: TileSymbols) -> tuple[bytes]:
        z, y, indices = tile["z"], tile["y"], tile["indices"]
        h, mask = self.hyper, anchors(*y.shape)
        return (ans.encode_parts((z, z_table_index(h.n, *z.shape[1:]), h.z_tables),
                                 (y[mask], indices[mask], h.y_tables),
                                 (y[~mask], indices[~mask], h.y_tables)),)

    def read(self, sections: tuple[bytes, ...], rows: int, cols: int) -> TileSymbols:
        h = self.hyper
        stream = ans.Reader(sections[0])
        z = stream.decode(z_table_index(h.n, rows, cols), h.z_tables)
        mask = anchors(h.m, Z_TO_Y * rows, Z_TO_Y * cols)
        scales = h.scale_net.fixed_point_scales(z)
        first = np.zeros(mask.shape, np.int32)
        first[mask] = stream.decode(self._table(scales)[mask], h.y_tables)
        indices, d_mean = self._second_pass(scales, first.astype(np.int64))
        y = first
        y[~mask] = stream.decode(indices[~mask], h.y_tables)
        stream.finish()
        return {"z": z, "y": y, "indices": indices, "mean": d_mean}

    def latent(self, tile: TileSymbols, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        y_hat = self.hyper.latent(tile, device, dtype)
        y_hat += tile["mean"].to(device, dtype)[None]
        return y_hat
