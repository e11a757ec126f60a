"""Encoder effort: optimise the latent of the image being coded for its own rate and
distortion (closing the amortisation gap; Campos et al. 2019, Yang et al. 2020).

The analysis network's y is only a guess of the latent that minimises this image's
rate + lambda * distortion under the decoder it actually has. Refinement improves the
guess by gradient descent. The side information z of every coding tile is fixed first,
so the means and tables of y are those the file will use (the latent codec's
entropy_parameters, recomputed every few steps because a context model's tables follow
the symbols). The rate is the bits of the latent under those tables' Gaussians, the
distortion the MSE of the real synthesis over the image's own pixels (padding costs
nothing), and rounding is annealed: soft rounding that hardens as the steps go by, with
or without the noise of stochastic Gumbel annealing (effort.py's phases). The result is
quantized by the latent codec as usual, so a refined file is an ordinary file: the
decoder, the format and the weights do not change.

Large images are refined block by block (memory bounded by the block, as in the
analysis), each block with a margin of its neighbours' latent held fixed.
"""
import os

import numpy as np
import torch

from ..format.constants import Y_STRIDE, Z_TO_Y
from ..latent import Latents
from ..models.quality import interpolate
from ..nets.blocks import balanced, parallel_map
from ..nets.density import gaussian_likelihood
from .effort import LEVELS, Phase, check_effort
from .encode import Analysed, header_for
from .geometry import tile_boxes

TAU = 1.0  # the rounding temperature at the first step; it falls linearly to about 0
RECOMPUTE_EVERY = 4  # steps between updates of the tables (a context model's follow the symbols)
BLOCK = 48  # elements of y (768 px, a Kodak image in one block): bounds the memory of a step
MARGIN = 4  # elements of y held fixed around a block: the synthesis reaches about 2.4
SEED = 0


def lambda_at(lambdas, quality: float) -> float:
    """The rate-distortion trade-off at a continuous quality: log-linear between levels, as the gains."""
    log = torch.log(torch.tensor(lambdas, dtype=torch.float64))[:, None]
    return float(interpolate(log, quality)[0])


def refine(a: Analysed, quality: float, effort: int, progress: bool = False) -> Latents:
    """The latents of an image at a quality, its latent refined at an effort level
    (effort 0: exactly what quantize gives). A level with several ways to refine tries
    each from the analysis' latent and keeps the file that costs least (an image of one
    refinement block, as a Kodak one; a larger one takes the level's last way)."""
    boxes = tile_boxes(header_for(a, quality))
    codec = a.enc.latent.to("cpu", torch.float32)
    y = a.y * interpolate(a.enc.log_gain, quality)[None, :, None, None]
    zs = parallel_map(lambda box: codec.hyper_symbols(_crop(y, box)), boxes)

    def quantized(latent: torch.Tensor) -> Latents:
        tiles = parallel_map(lambda item: codec.quantize(_crop(latent, item[0]), item[1]), list(zip(boxes, zs)))
        return Latents(tiles, boxes, codec.symbols)

    ways = LEVELS[check_effort(effort)]
    if ways and os.environ.get("DCN_REFINE_STEPS_CAP"):  # bench/effort_memory.py: memory, not time
        ways = tuple(_capped(phases, int(os.environ["DCN_REFINE_STEPS_CAP"])) for phases in ways)
    if not ways:
        return quantized(y)
    refinement = _Refinement(a, quality, boxes, zs, codec)
    if len(refinement.blocks) > 1:  # comparing whole files would decode a large image in the encoder: its
        ways = ways[-1:]       # memory (1.65 GB at 24 MP) would pass the bound; the longest way alone
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(refinement.blocks) * sum(p.steps for phases in ways for p in phases), desc="refine",
                   unit="step", delay=1.0, leave=False)
    try:
        results = [quantized(refinement.run(y.clone(), phases, bar)) for phases in ways]
    finally:
        if bar is not None:
            bar.close()
    return results[0] if len(results) == 1 else min(results, key=lambda latents: file_cost(a, quality, latents))


def file_cost(a: Analysed, quality: float, latents: Latents) -> float:
    """bpp + lambda * MSE (0-255) of the file these latents make, entropy-coded and
    decoded: what refinement lowers, measured on the real thing, not its relaxation."""
    from .decode import synthesize
    width, height = a.picture.size
    bits = 8 * sum(len(section) for tile in latents.tiles for section in a.enc.latent.write(tile))
    rgb = synthesize(latents, a.dec, quality, width, height, a.device)
    mse = np.mean((rgb.astype(np.float64) - a.picture.rgb) ** 2)
    return bits / (width * height) + lambda_at(a.dec.lambdas, quality) * mse


def _capped(phases: tuple[Phase, ...], cap: int) -> tuple[Phase, ...]:
    """The first `cap` steps of a level's phases."""
    out = []
    for p in phases:
        if cap > 0:
            out.append(Phase(min(p.steps, cap), p.noisy, p.learning_rate))
        cap -= p.steps
    return tuple(out)


def _crop(y: torch.Tensor, box) -> torch.Tensor:
    """A coding tile's part of a latent (box in elements of z)."""
    t, l, h, w = box
    return y[:, :, Z_TO_Y * t:Z_TO_Y * (t + h), Z_TO_Y * l:Z_TO_Y * (l + w)]


class _Refinement:
    def __init__(self, a: Analysed, quality: float, boxes, zs, codec):
        self.a, self.boxes, self.zs, self.codec = a, boxes, zs, codec
        self.table_scales = torch.from_numpy(getattr(codec, "hyper", codec).spec.scales()).float()
        self.device = a.device  # the synthesis runs there; the tables are computed on the CPU
        self.synthesis = a.dec.synthesis.to(self.device, torch.float32)
        self.inv_gain = interpolate(a.dec.log_inv_gain, quality)[None, :, None, None].float().to(self.device)
        self.weight = lambda_at(a.dec.lambdas, quality) * 255 ** 2
        _, _, h, w = a.y.shape
        bh, bw = balanced(h, BLOCK, 1), balanced(w, BLOCK, 1)
        self.blocks = [(t, l, min(bh, h - t), min(bw, w - l)) for t in range(0, h, bh) for l in range(0, w, bw)]

    def run(self, y: torch.Tensor, phases: tuple[Phase, ...], bar) -> torch.Tensor:
        """y (a latent of its own: refined in place) after the phases, block by block."""
        self.y, self.mean, self.scale = y, torch.empty_like(y), torch.empty_like(y)
        self.generator = torch.Generator().manual_seed(SEED)  # each way draws the same noise, whatever ran before
        threads = torch.get_num_threads()
        try:
            with torch.enable_grad():
                for block in self.blocks:
                    self._block(block, phases, bar)
        finally:
            torch.set_num_threads(threads)  # parallel_map sets it per call; leave it as found
        return self.y

    def _update_tables(self, window) -> None:
        """Means and Gaussian scales of every coding tile that meets the window, from the
        current latent, as the file will code it."""
        t0, l0, t1, l1 = window
        near = [(box, z) for box, z in zip(self.boxes, self.zs)
                if Z_TO_Y * box[0] < t1 and Z_TO_Y * (box[0] + box[2]) > t0
                and Z_TO_Y * box[1] < l1 and Z_TO_Y * (box[1] + box[3]) > l0]

        def run(item):
            box, z = item
            mean, indices = self.codec.entropy_parameters(_crop(self.y, box), z)
            return box, mean.float(), self.table_scales[torch.from_numpy(indices.astype(np.int64))]

        for box, mean, scale in parallel_map(run, near):
            _crop(self.mean, box)[0] = mean
            _crop(self.scale, box)[0] = scale

    def _block(self, block, phases: tuple[Phase, ...], bar) -> None:
        t, l, bh, bw = block
        _, _, h, w = self.y.shape
        t0, l0, t1, l1 = max(0, t - MARGIN), max(0, l - MARGIN), min(h, t + bh + MARGIN), min(w, l + bw + MARGIN)
        width, height = self.a.picture.size
        px_h, px_w = min(height, Y_STRIDE * t1) - Y_STRIDE * t0, min(width, Y_STRIDE * l1) - Y_STRIDE * l0
        pixels = self.a.picture.rgb[Y_STRIDE * t0:Y_STRIDE * t0 + px_h, Y_STRIDE * l0:Y_STRIDE * l0 + px_w]
        target = torch.tensor(pixels, device=self.device).permute(2, 0, 1)[None].float() / 255
        inside = torch.zeros((1, 1, t1 - t0, l1 - l0), device=self.device)
        inside[:, :, t - t0:t - t0 + bh, l - l0:l - l0 + bw] = 1
        window = self.y[:, :, t0:t1, l0:l1]
        latent = window.to(self.device, copy=True).requires_grad_(True)
        latent.register_hook(lambda grad: grad * inside)  # the margin is the neighbours': held fixed
        for phase in phases:  # each with its own optimiser: a phase starts where the last left off
            optimiser = torch.optim.Adam([latent], lr=phase.learning_rate)
            for step in range(phase.steps):
                if step % RECOMPUTE_EVERY == 0:
                    window.copy_(latent.detach())
                    self._update_tables((t0, l0, t1, l1))
                    mean = self.mean[:, :, t0:t1, l0:l1].to(self.device)
                    scale = self.scale[:, :, t0:t1, l0:l1].to(self.device)
                tau = TAU * (1 - step / phase.steps) + 1e-3
                q = self._soft_round(latent - mean, tau, phase.noisy)
                bits = -torch.log2(gaussian_likelihood(q, torch.zeros_like(q), scale)).sum()
                x = self.synthesis(((q + mean) * self.inv_gain).contiguous(memory_format=torch.channels_last))
                loss = bits / (px_h * px_w) + self.weight * torch.mean((x[:, :, :px_h, :px_w] - target) ** 2)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                if bar is not None:
                    bar.update(1)
        window.copy_(latent.detach())

    def _soft_round(self, r: torch.Tensor, tau: float, noisy: bool) -> torch.Tensor:
        """r rounded softly, down or up, the nearer integer the likelier, and harder as tau
        falls; noisy: at random, as in stochastic Gumbel annealing (Yang et al. 2020)."""
        low = torch.floor(r)
        frac = (r - low).clamp(1e-5, 1 - 1e-5)
        logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)], -1) / tau
        if noisy:
            uniform = torch.rand(logits.shape, generator=self.generator).clamp_min(1e-10).to(r.device)  # the same on any device
            logits = logits - torch.log(-torch.log(uniform))
        return low + torch.softmax(logits / tau, -1)[..., 1]
