"""Decoding: .dcn bytes -> container -> the file's model -> each tile's latent -> synthesis -> image.

Imports nothing from the encoder side and needs only decoder weights.
"""
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DCNError
from ..format import container
from ..format.constants import MAX_PIXELS, Z_TO_Y
from ..image.alpha import decode_alpha
from ..image.io import to_image
from ..latent import Latents
from ..models.quality import MIN_QUALITY, interpolate
from ..models.registry import by_fingerprint
from ..models.weights import Decoder, load_decoder
from ..defaults import DECODE_BLOCK, SMALL_IMAGE
from ..nets.blocks import blockwise, parallel_map
from ..nets.synthesis import stages
from .device import GPU_BLOCK, resolve, within_memory
from .geometry import tile_boxes


def decoder_for(header: container.Header, weights_dir: Path | None = None) -> Decoder:
    """The model the file names, checked against what the header says of it."""
    dec = load_decoder(by_fingerprint(header.fingerprint, weights_dir))
    if header.sections != dec.latent.sections:
        raise DCNError(f"corrupt file: {header.sections} sections per tile, model {dec.model.id} codes "
                       f"{dec.latent.sections}")
    if dec.latent.max_tile and header.tile > dec.latent.max_tile:  # bounds the memory a tile's networks take
        raise DCNError(f"corrupt file: coding tile of {header.tile} px, model {dec.model.id} allows at most "
                       f"{dec.latent.max_tile}")
    if not MIN_QUALITY <= header.quality <= dec.max_quality:
        raise DCNError(f"corrupt file: quality {header.quality:g} out of range for model {dec.model.id} "
                       f"({MIN_QUALITY:g} to {dec.max_quality:g})")
    return dec


def decode_latents(c: container.Container, dec: Decoder) -> Latents:
    """Entropy-decode every tile (in parallel), each from its own sections."""
    boxes = tile_boxes(c.header)
    tiles = parallel_map(lambda a: dec.latent.read(a[0], a[1][2], a[1][3]), zip(c.tiles, boxes))
    return Latents(tiles, boxes, dec.latent.symbols)


def latent_image(latents: Latents, dec: Decoder, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Each tile's dequantized latent (computed on its own, as the encoder did), assembled: (1, M, h/16, w/16)."""
    dec.latent.to(device, dtype)
    rows, cols = latents.extent
    out = None
    parts = parallel_map(lambda tile: dec.latent.latent(tile, device, dtype), latents.tiles)
    for (t, l, h, w), part in zip(latents.boxes, parts):
        if out is None:
            out = part.new_empty((1, part.shape[1], Z_TO_Y * rows, Z_TO_Y * cols))
        out[:, :, Z_TO_Y * t:Z_TO_Y * (t + h), Z_TO_Y * l:Z_TO_Y * (l + w)] = part
    return out


SYNTHESIS_MARGIN = 3  # latent elements: the synthesis' receptive field reaches about 2.4
STAGE_MARGIN = 1  # input elements of one upsampling stage (synthesis.stages)


@torch.no_grad()
def synthesize(latents: Latents, dec: Decoder, quality: float, width: int, height: int,
               device: torch.device, dtype: torch.dtype = torch.float32, block: int = DECODE_BLOCK,
               progress: bool = False) -> np.ndarray:
    """Latents -> (H, W, 3) uint8 pixels. On the CPU the synthesis runs in blocks of `block`
    pixels, one thread each: an image of up to SMALL_IMAGE pixels stage by stage (each
    stage's blocks need a margin of one element, not the whole network's three latent
    elements: 12 % less work on Kodak), a larger one block by block through the whole
    network (memory bounded by the block). Either way the block grid depends only on the
    image size, so the pixels do not depend on the thread count."""
    # cuDNN would run float32 convolutions in TF32: pixels off the reference (formats/dcn.md)
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
        y_hat = latent_image(latents, dec, device, dtype)  # in place from here: the latent is large for big images
        y_hat *= interpolate(dec.log_inv_gain.to(device, dtype), quality)[None, :, None, None]
        synthesis = dec.synthesis.to(device, dtype)

        def run(block_latent: torch.Tensor) -> torch.Tensor:  # to uint8 at once: a quarter of the memory
            return to_pixels(synthesis(compact(block_latent)))

        if device.type == "cpu" and width * height <= SMALL_IMAGE:
            x = y_hat  # each block is made compact and channels-last on its own
            for i, stage in enumerate(stages(synthesis)):
                x = blockwise(lambda b: stage(compact(b)), x, max(1, block // 16) << i, STAGE_MARGIN, Fraction(2))
            x = to_pixels(x)
        elif device.type == "cpu":
            x = blockwise(run, y_hat, max(1, block // 16), SYNTHESIS_MARGIN, Fraction(16),
                          progress="decode" if progress else "")
        else:  # blocks as large as the GPU's memory allows: a whole 24 MP image would not fit
            x = within_memory(lambda b: blockwise(run, y_hat, b // 16, SYNTHESIS_MARGIN, Fraction(16), workers=1),
                              device, max(block, GPU_BLOCK))
        return x[0, :, :height, :width].permute(1, 2, 0).cpu().numpy()


def compact(block: torch.Tensor) -> torch.Tensor:
    """A block in a tensor of its own, channels-last (oneDNN's fastest layout): a slice of
    a larger channels-last tensor has a batch stride that makes oneDNN fall back to the
    contiguous layout (the whole Kodak synthesis 1.7x slower)."""
    return torch.empty_like(block, memory_format=torch.channels_last).copy_(block)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """The synthesis' output -> uint8 pixels."""
    if not torch.isfinite(x).all():  # extreme (valid) symbols can overflow: never cast NaN to a pixel
        raise DCNError("decoding failed: the synthesis overflowed (a corrupt or hostile file)")
    return torch.round(x.clamp_(0, 1).mul_(255)).to(torch.uint8)


def decode(data: bytes, device: str = "auto", max_pixels: int = MAX_PIXELS, weights_dir: Path | None = None,
           dtype: torch.dtype = torch.float32, block: int = DECODE_BLOCK, progress: bool = False) -> Image.Image:
    """Decode .dcn bytes to a Pillow image of the mode that was encoded, with the model the
    file names (weights_dir: a folder of unregistered weights to consider too); progress:
    a bar on stderr when the synthesis takes over a second."""
    c = container.read(bytes(data), max_pixels)
    h = c.header
    dec = decoder_for(h, weights_dir)
    latents = decode_latents(c, dec)
    alpha = decode_alpha(c.alpha, h.width, h.height) if h.has_alpha else None
    rgb = synthesize(latents, dec, h.quality, h.width, h.height, resolve(device), dtype, block, progress)
    return to_image(rgb, h.mode, alpha, c.metadata)
