"""The checkerboard context models' latent codecs (He et al. 2021): the hyperprior, plus a
second pass that sees the first.

Per tile, one section: a single ANS stream holding z (as for the hyperprior), then the
anchors of y ((row + col) even) with the hyperprior's means and tables, then the other
elements with tables and mean corrections from the integer context network, which sees
the anchors' symbols and the hyperprior's fixed-point scales. One stream rather than
three saves two ANS flushes and two index entries per tile (about 1-2 % of the file at
low rates). Everything that picks a table is integer, so both passes decode to the same
symbols everywhere. Decoding is two parallel passes over the tile, never an
element-serial loop.

With channel groups (He et al. 2022, ELIC; `checkerboard-groups`), y's channels are split
into uneven groups and the two passes into one per group: the anchors group by group, each
group's corrected from the anchors of the groups before it, then the others group by
group, each corrected by the checkerboard's context and every element of the groups
before it. Eight parallel passes for four groups, in the same single stream.
"""
import json
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


PHASES = {"anchors": ((0, 0), (1, 1)), "others": ((0, 1), (1, 0))}  # the (row, col) parities of each


@dataclass
class ContextNet:
    """An integer context network: symbols of y (clamped) and fixed-point hyper scales ->
    fixed-point (delta mean, delta scale) at the scales' fractional bits: a convolution
    over the symbols, then a 1x1 chain over [scales, context].

    It runs only where its output is needed, the anchors or the others, on their two
    phase grids: the convolution is one matrix product per phase over the taps that can
    read a non-zero symbol (for a network that reads only anchors, the taps of one parity:
    12 of a 5x5 kernel's 25 towards the others, 5 of a 3x3's 9 towards the anchors), and
    the 1x1 chain runs on those columns only. The same integer products as the dense
    network, minus the zeros, and the same exact sums."""

    ctx: list[IntLayer]  # the convolution over the clamped symbols (stride 1, odd square kernel)
    params: list[IntLayer]  # the 1x1 chain over [scales, context]
    ctx_frac: int  # fractional bits of the convolution's output
    scale_frac: int  # of the scales, and of the output
    reads: str = "anchors"  # "anchors": its input is zero off the anchors; "all": it reads every element

    def __post_init__(self):
        if len(self.ctx) != 1 or self.ctx[0].stride != 1 or self.ctx[0].transposed:
            raise ValueError("a context network's first part is one stride-1 convolution")
        w, k = self.ctx[0].weight, self.ctx[0].weight.shape[-1] // 2
        self._reach = k
        self._taps = {at: [(dy, dx) for dy in range(-k, k + 1) for dx in range(-k, k + 1)
                           if self.reads == "all" or (dy + dx) % 2 == (at == "others")] for at in PHASES}
        self._weights = {at: torch.cat([w[:, :, k + dy, k + dx] for dy, dx in taps], 1)
                         for at, taps in self._taps.items()}

    def __call__(self, symbols: np.ndarray, scales: torch.Tensor, at: str) -> tuple[torch.Tensor, torch.Tensor]:
        """symbols (C, H, W), H and W even; scales (S, H, W); at: "anchors" or "others".
        Returns (S, H, W) corrections at those elements, zero elsewhere."""
        k, (c, rows, cols) = self._reach, symbols.shape
        h, w = rows // 2, cols // 2
        padded = torch.nn.functional.pad(
            torch.from_numpy(np.clip(symbols, -CONTEXT_CLAMP, CONTEXT_CLAMP).astype(np.float64)), (k, k, k, k))
        x = torch.cat([torch.cat([padded[:, k + pr + dy::2, k + pc + dx::2][:, :h, :w].reshape(c, -1)
                                  for dy, dx in self._taps[at]]) for pr, pc in PHASES[at]], 1)
        ctx = self.ctx[0].finish(torch.addmm(self.ctx[0].bias[:, None], self._weights[at], x)).clamp_(-ACT_MAX, ACT_MAX)
        common = min(self.ctx_frac, self.scale_frac)
        s = torch.cat([scales[:, pr::2, pc::2].reshape(scales.shape[0], -1) for pr, pc in PHASES[at]], 1)
        delta = torch.cat([round_shift(s, self.scale_frac - common).clamp_(-ACT_MAX, ACT_MAX),
                           round_shift(ctx, self.ctx_frac - common)])
        for layer in self.params:
            delta = layer.dense(delta)
        out = delta.new_zeros((delta.shape[0], rows, cols))
        for (pr, pc), part in zip(PHASES[at], delta.chunk(2, 1)):
            out[:, pr::2, pc::2] = part.reshape(-1, h, w)
        return out.chunk(2)


@dataclass
class CheckerboardCodec(LatentCodec):
    """The checkerboard's passes, over channel groups: the anchors group by group, then the
    others group by group (one group of all channels: the plain checkerboard, two passes)."""

    hyper: HyperpriorCodec
    context: ContextNet
    sizes: tuple[int, ...] = ()  # channel groups (empty: one group of all channels)
    anchor_nets: tuple[ContextNet, ...] = ()  # of groups 1, 2, ...: their anchors' corrections
    other_nets: tuple[ContextNet, ...] = ()  # of groups 1, 2, ...: their others' corrections

    kind = "checkerboard"
    sections = 1
    section_names = SECTION_NAMES[kind]
    max_tile = 1024  # the context network runs on a whole tile: this bounds its memory (~70 MB)
    symbols = (("z", 1), ("y", Z_TO_Y), ("indices", Z_TO_Y))

    @classmethod
    def from_weights(cls, tensors: dict, meta: dict) -> "CheckerboardCodec":
        hyper = HyperpriorCodec.from_weights(tensors, meta)
        return cls(hyper, _context_net(tensors, "ctx_int", "ep_int", "anchors"))

    def with_encoder(self, tensors: dict, meta: dict) -> "CheckerboardCodec":
        return replace(self, hyper=self.hyper.with_encoder(tensors, meta))

    def to(self, device: torch.device, dtype: torch.dtype) -> "CheckerboardCodec":
        self.hyper.to(device, dtype)
        return self

    @property
    def groups(self) -> list[slice]:
        sizes = self.sizes or (self.hyper.m,)
        return [slice(sum(sizes[:g]), sum(sizes[:g + 1])) for g in range(len(sizes))]

    def _passes(self, scales: torch.Tensor, take):
        """Run the coding passes in order: anchors group by group, then the others group by
        group. take(group, where, indices, d_mean) returns the symbols of the group's
        channels at the positions where (H, W), C order, given their table indices and mean
        corrections (the encoder rounds, the decoder reads its stream). Returns the symbols
        (int32), the table index of every element and the mean corrections (exact multiples
        of 2**-scale_frac)."""
        m, rows, cols = scales.shape
        on_anchor = anchors(1, rows, cols)[0].copy()
        y = np.zeros((m, rows, cols), np.int64)
        d_mean, d_scale = torch.zeros_like(scales), torch.zeros_like(scales)
        indices = np.zeros((m, rows, cols), np.uint8)
        for phase, (at, where, nets) in enumerate((("anchors", on_anchor, self.anchor_nets),
                                                   ("others", ~on_anchor, self.other_nets))):
            if phase:
                ctx_mean, ctx_scale = self.context(y, scales, "others")  # the anchors' symbols only
                d_mean += ctx_mean
                d_scale += ctx_scale
            for g, sl in enumerate(self.groups):
                if g:
                    mean, scale = nets[g - 1](y[:sl.start], scales[sl], at)
                    d_mean[sl] += mean
                    d_scale[sl] += scale
                indices[sl] = self.hyper.scale_net.table_index((scales[sl] + d_scale[sl]).numpy())
                y[sl, where] = take(sl, where, indices[sl], d_mean[sl])
        return y.astype(np.int32), indices, d_mean * 2.0 ** -self.context.scale_frac

    def hyper_symbols(self, y: torch.Tensor) -> np.ndarray:
        return self.hyper.hyper_symbols(y)

    def quantize(self, y: torch.Tensor, z: np.ndarray | None = None) -> TileSymbols:
        z = self.hyper.hyper_symbols(y) if z is None else z
        _, symbols, indices, d_mean = self._encode(y, z)
        return {"z": z, "y": symbols, "indices": indices, "mean": d_mean}

    def entropy_parameters(self, y: torch.Tensor, z: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        centred, _, indices, d_mean = self._encode(y, z)
        return (y.double() - centred)[0] + d_mean, indices

    def _encode(self, y: torch.Tensor, z: np.ndarray):
        """y centred on the hyperprior's means, and the passes' symbols, table indices and
        mean corrections."""
        h = self.hyper
        centred = y.double() - h.mean_net(torch.from_numpy(z).float()[None]).double()
        frac = 2.0 ** -self.context.scale_frac

        def take(sl, where, _, d_mean):
            at = torch.from_numpy(where)
            return torch.round(centred[0, sl][:, at] - d_mean[:, at] * frac).clamp_(-MAX_ABS, MAX_ABS).numpy()

        return (centred, *self._passes(h.scale_net.fixed_point_scales(z), take))

    def _pass_masks(self, rows: int, cols: int):
        """(channels, positions) of each pass, in coding order."""
        on_anchor = anchors(1, rows, cols)[0].copy()
        return [(sl, where) for where in (on_anchor, ~on_anchor) for sl in self.groups]

    def write(self, tile: TileSymbols) -> tuple[bytes]:
        z, y, indices = tile["z"], tile["y"], tile["indices"]
        h = self.hyper
        return (ans.encode_parts((z, z_table_index(h.n, *z.shape[1:]), h.z_tables),
                                 *((y[sl][:, where], indices[sl][:, where], h.y_tables)
                                   for sl, where in self._pass_masks(*y.shape[1:]))),)

    def read(self, sections: tuple[bytes, ...], rows: int, cols: int) -> TileSymbols:
        h = self.hyper
        stream = ans.Reader(sections[0])
        z = stream.decode(z_table_index(h.n, rows, cols), h.z_tables)
        y, indices, d_mean = self._passes(h.scale_net.fixed_point_scales(z),
                                          lambda sl, where, idx, _: stream.decode(idx[:, where], h.y_tables))
        stream.finish()
        return {"z": z, "y": y, "indices": indices, "mean": d_mean}

    def latent(self, tile: TileSymbols, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        y_hat = self.hyper.latent(tile, device, dtype)
        y_hat += tile["mean"].to(device, dtype)[None]
        return y_hat


@dataclass
class ChannelGroupsCodec(CheckerboardCodec):
    """The checkerboard over uneven channel groups (He et al. 2022, ELIC): eight passes."""

    kind = "checkerboard-groups"
    section_names = SECTION_NAMES[kind]
    # on Kodak at quality 6 its decode takes 1.24x model 1's with 512-px tiles, 1.48x with 256 (1 thread;
    # 1.26x / 1.54x with 2), and its files are 0.13 % smaller (bench/README.md)
    coding_tile = 512

    @classmethod
    def from_weights(cls, tensors: dict, meta: dict) -> "ChannelGroupsCodec":
        sizes = tuple(int(n) for n in json.loads(meta["groups"]))
        if sum(sizes) != int(meta["m"]) or min(sizes) < 1:
            raise ValueError(f"channel groups {sizes} do not split the latent's {meta['m']} channels")
        # an anchor's group network sees only anchors so far; an other's, every element
        nets = [tuple(_context_net(tensors, f"{phase}{g}_ctx_int", f"{phase}{g}_ep_int", reads)
                      for g in range(1, len(sizes))) for phase, reads in (("anchor", "anchors"), ("other", "all"))]
        return cls(HyperpriorCodec.from_weights(tensors, meta), _context_net(tensors, "ctx_int", "ep_int", "anchors"),
                   sizes, *nets)


def _context_net(tensors: dict, ctx: str, params: str, reads: str) -> ContextNet:
    """A context network's integer layers and fractional bits (tensors ctx.frac)."""
    frac = [int(v) for v in tensors[f"{ctx}.frac"].tolist()]
    return ContextNet(layers_from_state(tensors, ctx), layers_from_state(tensors, params), frac[0], frac[1], reads)
