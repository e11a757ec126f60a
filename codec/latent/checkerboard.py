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
from ..nets.intnet import ACT_MAX, IntLayer, layers_from_state
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


OTHERS, ANCHORS = ((0, 1), (1, 0)), ((0, 0), (1, 1))  # (row, col) parity of each phase


def phase_taps(k: int, pr: int, pc: int) -> list[tuple[int, int, int]]:
    """The taps of a (2k+1)-square context kernel that reach an anchor from an element of
    phase (pr, pc), as (anchor phase, a, b) on the half-resolution phase grids: element
    (2i + pr, 2j + pc) reads anchor (2(i + a) + qr, 2(j + b) + qc) through kernel tap
    (2a + qr - pr, 2b + qc - pc). For a 5x5 kernel, 12 of its 25 taps."""
    return [(n, a, b) for n, (qr, qc) in enumerate(ANCHORS) for a in range(-k, k + 1) for b in range(-k, k + 1)
            if abs(2 * a + qr - pr) <= k and abs(2 * b + qc - pc) <= k]


def phase_grid(a: torch.Tensor, phase: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) -> (C, H/2 * W/2): the elements of one (row, col) parity, row by row."""
    pr, pc = phase
    return a[:, pr::2, pc::2].reshape(a.shape[0], -1)


@dataclass
class ContextNet:
    """The integer context network: anchors' symbols and fixed-point scales -> fixed-point
    (delta mean, delta scale) of the other elements, at the scales' fractional bits.

    It runs only where it is needed, on the phase grids: the 5x5 convolution reads only
    the anchors (every other input is zero) and is needed only at the other elements, so
    for each of the two phases of others it is one matrix product over the 12 taps that
    reach an anchor (12 x M inputs per element rather than 25 x M), and the 1x1 chain runs
    on the others' columns only. The same integer products as the dense network, minus
    the zeros, and the same exact sums."""

    ctx: list[IntLayer]  # the 5x5 convolution over the clamped anchor symbols
    params: list[IntLayer]  # the 1x1 chain over [scales, context]
    ctx_frac: int  # fractional bits of the context convolution's output
    scale_frac: int  # of the scales, and of the output

    def __post_init__(self):
        if len(self.ctx) != 1 or self.ctx[0].stride != 1 or self.ctx[0].transposed:
            raise ValueError("the context network is one stride-1 convolution")
        w, k = self.ctx[0].weight, self.ctx[0].weight.shape[-1] // 2
        self._reach = k  # elements: how far a tap reaches, the padding of the anchors' grids
        self._taps = [phase_taps(k, pr, pc) for pr, pc in OTHERS]
        self._weights = [torch.cat([w[:, :, 2 * a + ANCHORS[n][0] - pr + k, 2 * b + ANCHORS[n][1] - pc + k]
                                    for n, a, b in taps], 1) for taps, (pr, pc) in zip(self._taps, OTHERS)]

    def _context(self, q: torch.Tensor) -> torch.Tensor:
        """(M, H, W) clamped symbols -> the context convolution at the others, (M, H/2 * W/2 * 2)."""
        k = self._reach
        h, w = q.shape[1] // 2, q.shape[2] // 2
        grids = [torch.nn.functional.pad(q[:, qr::2, qc::2], (k, k, k, k)) for qr, qc in ANCHORS]
        out = []
        for taps, weight in zip(self._taps, self._weights):
            x = torch.stack([grids[n][:, k + a:k + a + h, k + b:k + b + w] for n, a, b in taps])
            out.append(self.ctx[0].finish(torch.addmm(self.ctx[0].bias[:, None], weight, x.reshape(-1, h * w))))
        return torch.cat(out, 1).clamp_(-ACT_MAX, ACT_MAX)

    def __call__(self, symbols: np.ndarray, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """symbols, scales: (M, H, W), H and W even; only the anchors' symbols are read.
        Returns (M, H, W) corrections, zero on the anchors."""
        m = symbols.shape[0]
        ctx = self._context(torch.from_numpy(np.clip(symbols, -CONTEXT_CLAMP, CONTEXT_CLAMP).astype(np.float64)))
        common = min(self.ctx_frac, self.scale_frac)
        s = torch.cat([phase_grid(scales, phase) for phase in OTHERS], 1)
        s = round_shift(s, self.scale_frac - common).clamp_(-ACT_MAX, ACT_MAX)
        delta = torch.cat([s, round_shift(ctx, self.ctx_frac - common)])
        for layer in self.params:
            delta = layer.dense(delta)
        out = delta.new_zeros((2 * m, *symbols.shape[1:]))
        for (pr, pc), cols in zip(OTHERS, delta.chunk(2, 1)):
            out[:, pr::2, pc::2] = cols.reshape(2 * m, *out[:, pr::2, pc::2].shape[1:])
        return out[:m], out[m:]


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


    def _second_pass(self, scales: torch.Tensor, first: np.ndarray):
        """From the hyperprior's fixed-point scales and the anchors' symbols (zero
        elsewhere): the table index of every element and the mean corrections (exact
        multiples of 2**-scale_frac, zero on the anchors)."""
        d_mean, d_scale = self.context(first, scales)
        return self.hyper.scale_net.table_index((scales + d_scale).numpy()), d_mean * 2.0 ** -self.context.scale_frac

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
        first[mask] = stream.decode(h.scale_net.table_index(scales.numpy()[mask]), h.y_tables)
        indices, d_mean = self._second_pass(scales, first.astype(np.int64))
        y = first
        y[~mask] = stream.decode(indices[~mask], h.y_tables)
        stream.finish()
        return {"z": z, "y": y, "indices": indices, "mean": d_mean}

    def latent(self, tile: TileSymbols, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        y_hat = self.hyper.latent(tile, device, dtype)
        y_hat += tile["mean"].to(device, dtype)[None]
        return y_hat
