"""Encoding: image -> analysis -> y -> (per coding tile) the latent codec's symbols ->
sections -> container."""
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from ..errors import DCNError
from ..format import container
from ..format.constants import MAX_PIXELS, STRIDE, TILE_UNIT, Z_TO_Y
from ..image.alpha import encode_alpha
from ..image.io import Picture, load_picture
from ..latent import Latents
from ..models.quality import check_quality, interpolate
from ..models.registry import find
from ..models.weights import Encoder, load_encoder
from ..defaults import ENCODE_BLOCK, SMALL_IMAGE
from ..nets.blocks import blockwise, parallel_map
from .device import resolve, within_memory
from .effort import DEFAULT_EFFORT, check_effort
from .geometry import tile_boxes

ANALYSIS_MARGIN = 32  # pixels: the analysis' receptive field reaches 30


@torch.no_grad()
def analyse(rgb: np.ndarray, enc: Encoder, device: torch.device, block: int = ENCODE_BLOCK,
            progress: bool = False) -> torch.Tensor:
    """(H,W,3) uint8 -> the latent y before gains, (1, M, h/16, w/16), on the CPU. On the
    CPU an image of up to SMALL_IMAGE pixels runs whole, with all threads; a larger one
    stays uint8 and runs in blocks, each converted to float on its own, one thread each."""
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % STRIDE), (0, -w % STRIDE), (0, 0)), mode="edge")
    x = torch.from_numpy(padded).to(device).permute(2, 0, 1)[None]
    analysis = enc.analysis.to(device)

    def run(pixels: torch.Tensor) -> torch.Tensor:
        """Channels-last (oneDNN's fastest layout; GDN in place), in a new tensor: a block
        of the permuted image already passes as channels-last, but with a batch stride that
        makes the convolutions choose the slower contiguous layout (20 % of an encode)."""
        floats = torch.empty_like(pixels, dtype=torch.float32, memory_format=torch.channels_last)
        return analysis(floats.copy_(pixels).div_(255))

    if device.type == "cpu" and h * w <= SMALL_IMAGE:
        return run(x)  # all threads on one block: no margins computed twice (Kodak: 1.2x faster)
    if device.type == "cpu":
        return blockwise(run, x, block, ANALYSIS_MARGIN, Fraction(1, 16), stride=STRIDE,
                         progress="encode" if progress else "")
    return within_memory(lambda b: blockwise(run, x, b, ANALYSIS_MARGIN, Fraction(1, 16), workers=1,
                                             stride=STRIDE), device).cpu()


@dataclass
class Analysed:
    """An image after the analysis transform: everything a quality needs, computed once."""

    picture: Picture
    y: torch.Tensor  # before gains
    alpha: bytes
    metadata: dict  # what the file keeps: the picture's ICC profile and EXIF, or nothing
    enc: Encoder
    device: torch.device
    tile: int  # coding tile in pixels, written to the header

    @property
    def dec(self):
        return self.enc.decoder


def prepare(image, device: str = "auto", max_pixels: int = MAX_PIXELS, model=None, tile: int | None = None,
            progress: bool = False, strip_metadata: bool = False) -> Analysed:
    """Load and analyse an image once, for one or several qualities. model: a registered
    name ("hyperprior-64-128@3"), a folder of weights, or None for the default;
    strip_metadata: leave the ICC profile and EXIF out of the file; tile: the coding tile in
    pixels (None: the model's own, its latent codec's coding_tile)."""
    dev = resolve(device)
    enc = load_encoder(find(model))
    tile = enc.latent.coding_tile if tile is None else tile
    if tile < TILE_UNIT or tile % TILE_UNIT or tile > TILE_UNIT * 0xFFFF:  # the header holds tile / 64 in 16 bits
        raise DCNError(f"tile size {tile}: must be a multiple of {TILE_UNIT}, {TILE_UNIT} to {TILE_UNIT * 0xFFFF}")
    if enc.latent.max_tile and tile > enc.latent.max_tile:
        raise DCNError(f"tile size {tile}: model {enc.decoder.model.id} codes tiles of at most {enc.latent.max_tile} px")
    pic = load_picture(image, max_pixels)
    alpha = encode_alpha(pic.alpha) if pic.alpha is not None else b""
    return Analysed(pic, analyse(pic.rgb, enc, dev, ENCODE_BLOCK, progress), alpha,
                    {} if strip_metadata else pic.metadata, enc, dev, tile)


def header_for(a: Analysed, quality: float) -> container.Header:
    width, height = a.picture.size
    return container.Header(a.picture.mode, width, height, quality, a.dec.fingerprint, a.tile, a.dec.latent.sections)


def tile_symbols(a: Analysed, quality: float):
    """(the coding tiles' boxes, a function from a box to that tile's symbols) at a quality."""
    boxes = tile_boxes(header_for(a, quality))
    y = a.y * interpolate(a.enc.log_gain, quality)[None, :, None, None]
    codec = a.enc.latent.to("cpu", torch.float32)  # the hyper networks are small: always on the CPU

    @torch.no_grad()
    def run(box):
        t, l, h, w = box
        return codec.quantize(y[:, :, Z_TO_Y * t:Z_TO_Y * (t + h), Z_TO_Y * l:Z_TO_Y * (l + w)])

    return boxes, run


def quantize(a: Analysed, quality: float, effort: int = 0, progress: bool = False) -> Latents:
    """The symbols of every coding tile at a quality (nothing entropy-coded yet), the
    latent refined for this image first at an effort above 0 (refine.py)."""
    if effort:
        from .refine import refine
        return refine(a, quality, effort, progress)
    boxes, run = tile_symbols(a, quality)
    return Latents(parallel_map(run, boxes), boxes, a.enc.latent.symbols)


def write(a: Analysed, quality: float, latents: Latents) -> bytes:
    """The file of a quality's latents (from quantize at that quality)."""
    return _file(a, quality, parallel_map(a.enc.latent.write, latents.tiles))


def code(a: Analysed, quality: float, effort: int = 0, progress: bool = False) -> bytes:
    """The file at a quality and effort: write(quantize(...)). At effort 0 each tile is
    quantized and entropy-coded by the same task, so that one tile's entropy coding (numpy
    and constriction, which hold the GIL) overlaps another tile's networks (torch, which
    releases it)."""
    if effort:
        return write(a, quality, quantize(a, quality, effort, progress))
    boxes, run = tile_symbols(a, quality)
    return _file(a, quality, parallel_map(lambda box: a.enc.latent.write(run(box)), boxes))


def _file(a: Analysed, quality: float, sections: list) -> bytes:
    return container.write(container.Container(header_for(a, quality), tuple(sections), a.alpha, a.metadata))


def header_quality(quality: float, max_quality: float) -> float:
    """The quality as the header will hold it."""
    return container.quantize_quality(check_quality(quality, max_quality)) / container.QUALITY_SCALE


def encode(image, quality: float | None = None, device: str = "auto", max_pixels: int = MAX_PIXELS,
           model=None, tile: int | None = None, progress: bool = False, effort: int = DEFAULT_EFFORT,
           strip_metadata: bool = False) -> bytes:
    """Encode a path, file object or Pillow image at a quality (1 to the model's top level;
    None: the model's default, its lambda-0.013 level) and an effort (effort.py); returns .dcn
    bytes, with the image's ICC profile and EXIF unless strip_metadata."""
    check_effort(effort)
    enc = load_encoder(find(model))
    quality = header_quality(enc.decoder.default_quality if quality is None else quality, enc.decoder.max_quality)  # before the analysis: a bad quality fails fast
    a = prepare(image, device, max_pixels, enc.decoder.model, tile, progress, strip_metadata)
    return code(a, quality, effort, progress)
