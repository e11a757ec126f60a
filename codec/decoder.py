"""Decoding: .dcn bytes -> container -> z -> table indices -> y -> synthesis -> image.

Imports nothing from the encoder side and needs only decoder.safetensors.
"""
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import bitstream, entropy
from .alpha import decode_alpha
from .device import resolve
from .errors import DCNError
from .imageio import to_image
from .layers import STRIDE
from .quality import interpolate
from .tiling import DECODE_TILE, map_tiles, tiled
from .weights import DecoderWeights, load_decoder


def z_table_index(n: int, rows: int, cols: int) -> np.ndarray:
    """z has one table per channel."""
    return np.broadcast_to(np.arange(n)[:, None, None], (n, rows, cols))


def tile_boxes(header: bitstream.Header) -> list[tuple[int, int, int, int]]:
    """Each coding tile as (top, left, height, width) in z elements, row by row; in y
    elements multiply by 4, in pixels by 64."""
    rows, cols = -(-header.height // STRIDE), -(-header.width // STRIDE)
    t = header.tile // STRIDE
    return [(r, c, min(t, rows - r), min(t, cols - c)) for r in range(0, rows, t) for c in range(0, cols, t)]


@dataclass
class Latents:
    z: np.ndarray  # (N, h/64, w/64) integers
    y: np.ndarray  # (M, h/16, w/16) integers: round(y - mean)
    indices: np.ndarray  # table index of each element of y
    boxes: list  # the coding tiles (tile_boxes): the means are predicted tile by tile

    @classmethod
    def assemble(cls, boxes, tiles, n: int, m: int) -> "Latents":
        """The image's latents from each tile's (z, y, indices); indices may be None."""
        rows, cols = max(t + h for t, _, h, _ in boxes), max(l + w for _, l, _, w in boxes)
        z = np.zeros((n, rows, cols), np.int32)
        y = np.zeros((m, 4 * rows, 4 * cols), np.int32)
        indices = np.zeros(y.shape, np.uint8)
        for (t, l, h, w), (zt, yt, it) in zip(boxes, tiles):
            z[:, t:t + h, l:l + w] = zt
            y[:, 4 * t:4 * (t + h), 4 * l:4 * (l + w)] = yt
            if it is not None:
                indices[:, 4 * t:4 * (t + h), 4 * l:4 * (l + w)] = it
        return cls(z, y, indices, boxes)


def check_weights(header: bitstream.Header, weights: DecoderWeights) -> None:
    if header.fingerprint != weights.fingerprint:
        raise DCNError(f"file was encoded with other weights (fingerprint {header.fingerprint.hex()}, "
                       f"this decoder has {weights.fingerprint.hex()})")


def decode_tile(sections: tuple[bytes, bytes], box, weights: DecoderWeights):
    """One tile's z, table indices and y residuals, from its own two sections only."""
    _, _, h, w = box
    z = entropy.decode(sections[0], z_table_index(weights.n, h, w), weights.z_tables)
    indices = weights.scale_net.indices(z)
    return z, entropy.decode(sections[1], indices, weights.y_tables), indices


def decode_latents(c: bitstream.Container, weights: DecoderWeights) -> Latents:
    """Entropy-decode every tile (in parallel) and assemble the latents of the image."""
    check_weights(c.header, weights)
    boxes = tile_boxes(c.header)
    tiles = map_tiles(lambda a: decode_tile(*a, weights), zip(c.tiles, boxes))
    return Latents.assemble(boxes, tiles, weights.n, weights.m)


def tile_means(mean_net: torch.nn.Module, z: torch.Tensor, boxes) -> torch.Tensor:
    """The mean network on each coding tile's z alone, as the encoder ran it: (1, M, h/16, w/16)."""
    def run(box):
        t, l, h, w = box
        return mean_net(z[:, :, t:t + h, l:l + w])

    out = None
    for (t, l, h, w), mu in zip(boxes, map_tiles(run, boxes)):
        if out is None:
            out = mu.new_empty((1, mu.shape[1], 4 * z.shape[2], 4 * z.shape[3]))
        out[:, :, 4 * t:4 * (t + h), 4 * l:4 * (l + w)] = mu
    return out


SYNTHESIS_MARGIN = 3  # latent elements: the synthesis' receptive field reaches about 2.4


@torch.no_grad()
def synthesize(latents: Latents, weights: DecoderWeights, quality: float, width: int, height: int,
               device: torch.device, dtype: torch.dtype = torch.float32, tile: int = DECODE_TILE,
               progress: bool = False) -> np.ndarray:
    """Latents -> (H, W, 3) uint8 pixels; the synthesis runs in tiles of `tile` pixels on the CPU."""
    # cuDNN would run float32 convolutions in TF32: pixels off the reference (formats/dcn.md)
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
        return _synthesize(latents, weights, quality, width, height, device, dtype, tile, progress)


def _synthesize(latents, weights, quality, width, height, device, dtype, tile, progress) -> np.ndarray:
    mean_net = weights.mean_net.to(device, dtype)
    synthesis = weights.synthesis.to(device, dtype)
    z = torch.from_numpy(latents.z).to(device, dtype)[None]
    y_hat = tile_means(mean_net, z, latents.boxes)  # in place from here: the latent is large for big images
    y_hat += torch.from_numpy(latents.y).to(device)
    y_hat *= interpolate(weights.log_inv_gain.to(device, dtype), quality)[None, :, None, None]

    def run(tile_latent: torch.Tensor) -> torch.Tensor:  # to uint8 at once: a quarter of the memory
        x = synthesis(tile_latent.contiguous(memory_format=torch.channels_last))  # oneDNN's fastest layout
        return torch.round(x.clamp_(0, 1).mul_(255)).to(torch.uint8)

    if device.type == "cpu":
        x = tiled(run, y_hat, max(1, tile // 16), SYNTHESIS_MARGIN, Fraction(16), progress="decode" if progress else "")
    else:
        x = run(y_hat)
    return x[0, :, :height, :width].permute(1, 2, 0).cpu().numpy()


def decode(data: bytes, device: str = "auto", max_pixels: int = bitstream.MAX_PIXELS,
           weights_dir: Path | None = None, dtype: torch.dtype = torch.float32, tile: int = DECODE_TILE,
           progress: bool = False) -> Image.Image:
    """Decode .dcn bytes to a Pillow image of the mode that was encoded (progress: a bar
    on stderr when the synthesis takes over a second)."""
    c = bitstream.read(bytes(data), max_pixels)
    weights = load_decoder(weights_dir)
    latents = decode_latents(c, weights)
    h = c.header
    rgb = synthesize(latents, weights, h.quality, h.width, h.height, resolve(device), dtype, tile, progress)
    alpha = decode_alpha(c.alpha, h.width, h.height) if h.has_alpha else None
    return to_image(rgb, h.mode, alpha)
