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
from .tiling import DECODE_TILE, tiled
from .weights import DecoderWeights, load_decoder


def z_table_index(w: DecoderWeights, width: int, height: int) -> np.ndarray:
    """z has one table per channel; its shape follows from the image size."""
    shape = (w.n, -(-height // STRIDE), -(-width // STRIDE))
    return np.broadcast_to(np.arange(shape[0])[:, None, None], shape)


@dataclass
class Latents:
    z: np.ndarray  # (N, h/64, w/64) integers
    y: np.ndarray  # (M, h/16, w/16) integers: round(y - mean)
    indices: np.ndarray  # table index of each element of y


def check_weights(header: bitstream.Header, weights: DecoderWeights) -> None:
    if header.fingerprint != weights.fingerprint:
        raise DCNError(f"file was encoded with other weights (fingerprint {header.fingerprint.hex()}, "
                       f"this decoder has {weights.fingerprint.hex()})")


def decode_latents(c: bitstream.Container, weights: DecoderWeights) -> Latents:
    check_weights(c.header, weights)
    z = entropy.decode(c.z, z_table_index(weights, c.header.width, c.header.height), weights.z_tables)
    indices = weights.scale_net.indices(z)
    y = entropy.decode(c.y, indices, weights.y_tables)
    return Latents(z, y, indices)


SYNTHESIS_MARGIN = 3  # latent elements: the synthesis' receptive field reaches about 2.4


@torch.no_grad()
def synthesize(latents: Latents, weights: DecoderWeights, quality: float, width: int, height: int,
               device: torch.device, dtype: torch.dtype = torch.float32, tile: int = DECODE_TILE,
               progress: bool = False) -> np.ndarray:
    """Latents -> (H, W, 3) uint8 pixels; the synthesis runs in tiles of `tile` pixels on the CPU."""
    mean_net = weights.mean_net.to(device, dtype)
    synthesis = weights.synthesis.to(device, dtype)
    z = torch.from_numpy(latents.z).to(device, dtype)[None]
    y_hat = torch.from_numpy(latents.y).to(device, dtype)[None] + mean_net(z)
    y_hat = y_hat * interpolate(weights.log_inv_gain.to(device, dtype), quality)[None, :, None, None]

    def run(tile_latent: torch.Tensor) -> torch.Tensor:  # to uint8 at once: a quarter of the memory
        return torch.round(synthesis(tile_latent).clamp_(0, 1).mul_(255)).to(torch.uint8)

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
