"""Encoding: image -> analysis -> y, z -> integer symbols -> entropy coding -> container."""
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import bitstream, entropy
from .alpha import encode_alpha
from .analysis import Analysis, HyperAnalysis
from .decoder import Latents, tile_boxes, z_table_index
from .device import resolve
from .imageio import Picture, load_picture
from .layers import STRIDE
from .quality import DEFAULT_QUALITY, check_quality, interpolate
from .errors import DCNError
from .tiling import ENCODE_TILE, map_tiles, tiled
from .weights import ENCODER_FILE, DecoderWeights, default_dir, load_decoder, read_weights, sub_state


@dataclass
class EncoderWeights:
    analysis: Analysis
    hyper_analysis: HyperAnalysis
    log_gain: torch.Tensor


@lru_cache(maxsize=4)
def load_encoder(directory: Path | None = None) -> EncoderWeights:
    tensors, meta, _ = read_weights(Path(directory or default_dir()) / ENCODER_FILE)
    n, m = int(meta["n"]), int(meta["m"])
    analysis, hyper = Analysis(n, m, meta.get("act", "gdn")), HyperAnalysis(n, m)
    analysis.load_state_dict(sub_state(tensors, "g_a"))
    hyper.load_state_dict(sub_state(tensors, "h_a"))
    return EncoderWeights(analysis.eval(), hyper.eval(), tensors["log_gain"])


CODING_TILE = 128  # pixels: the training crop, so the hyper networks see what they were trained on (bench/results/tiling-rate-*)
ANALYSIS_MARGIN = 32  # pixels: the analysis' receptive field reaches 30


@torch.no_grad()
def analyse(rgb: np.ndarray, enc: EncoderWeights, device: torch.device, tile: int = ENCODE_TILE,
            progress: bool = False) -> torch.Tensor:
    """(H,W,3) uint8 -> the latent y before gains, (1, M, h/16, w/16), on the CPU. On the
    CPU the image stays uint8 and each tile is converted to float on its own."""
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % STRIDE), (0, -w % STRIDE), (0, 0)), mode="edge")
    x = torch.from_numpy(padded).to(device).permute(2, 0, 1)[None]
    analysis = enc.analysis.to(device)

    def run(tile_pixels: torch.Tensor) -> torch.Tensor:
        return analysis(tile_pixels.float() / 255)

    if device.type == "cpu":
        return tiled(run, x, tile, ANALYSIS_MARGIN, Fraction(1, 16), stride=STRIDE,
                     progress="encode" if progress else "")
    return run(x).cpu()


@dataclass
class Analysed:
    """An image after the analysis transform: everything a quality needs, computed once."""

    picture: Picture
    y: torch.Tensor  # before gains
    alpha: bytes
    enc: EncoderWeights
    dec: DecoderWeights
    device: torch.device
    tile: int  # coding tile in pixels, written to the header


def prepare(image, device: str = "auto", max_pixels: int = bitstream.MAX_PIXELS, weights_dir: Path | None = None,
            tile: int = CODING_TILE, progress: bool = False) -> Analysed:
    dev = resolve(device)
    if tile < bitstream.TILE_UNIT or tile % bitstream.TILE_UNIT:
        raise DCNError(f"tile size {tile}: must be a multiple of {bitstream.TILE_UNIT}, at least {bitstream.TILE_UNIT}")
    pic = load_picture(image, max_pixels)
    dec, enc = load_decoder(weights_dir), load_encoder(weights_dir)
    alpha = encode_alpha(pic.alpha) if pic.alpha is not None else b""
    return Analysed(pic, analyse(pic.rgb, enc, dev, ENCODE_TILE, progress), alpha, enc, dec, dev, tile)


def code_tile(y: torch.Tensor, enc: EncoderWeights, dec: DecoderWeights, sections: bool = True):
    """One coding tile's latent (after gains) -> its z and y sections, and its symbols.
    The hyper networks see this tile only, so that the tile decodes on its own.
    sections=False: the symbols only (what a reconstruction needs), no entropy coding."""
    z = torch.round(enc.hyper_analysis(y)).clamp(-entropy.MAX_ABS, entropy.MAX_ABS)
    means = dec.mean_net(z)
    z_int = z[0].numpy().astype(np.int32)
    symbols = torch.round(y - means).clamp_(-entropy.MAX_ABS, entropy.MAX_ABS)[0].numpy().astype(np.int32)
    if not sections:
        return None, z_int, symbols, None
    return entropy_code_tile(z_int, symbols, dec)


def entropy_code_tile(z_int: np.ndarray, symbols: np.ndarray, dec: DecoderWeights):
    """One tile's integer z and y -> its two sections (and what code_tile returns)."""
    z_bytes = entropy.encode(z_int, z_table_index(dec.n, *z_int.shape[1:]), dec.z_tables)
    indices = dec.scale_net.indices(z_int)
    return (z_bytes, entropy.encode(symbols, indices, dec.y_tables)), z_int, symbols, indices


@torch.no_grad()
def code(a: Analysed, quality: float, sections: bool = True, latents: Latents | None = None) -> tuple[bytes | None, Latents]:
    """The file for one quality (already quantized to the header's precision) and its
    latents; sections=False: the latents only (no file, no table indices). latents: this
    quality's latents from an earlier code(..., sections=False), entropy-coded as they are
    instead of running the hyper networks again."""
    width, height = a.picture.size
    header = bitstream.Header(a.picture.mode, width, height, quality, a.dec.fingerprint, a.tile)
    boxes = tile_boxes(header)
    if latents is not None:
        def run(box):
            t, l, h, w = box
            return entropy_code_tile(latents.z[:, t:t + h, l:l + w], latents.y[:, 4 * t:4 * (t + h), 4 * l:4 * (l + w)],
                                     a.dec)
    else:
        y = a.y * interpolate(a.enc.log_gain, quality)[None, :, None, None]
        a.enc.hyper_analysis.cpu()  # the hyper networks are small: always on the CPU
        a.dec.mean_net.to("cpu", torch.float32)

        def run(box):
            t, l, h, w = box
            return code_tile(y[:, :, 4 * t:4 * (t + h), 4 * l:4 * (l + w)], a.enc, a.dec, sections)

    coded = map_tiles(run, boxes)
    latents = Latents.assemble(boxes, [c[1:] for c in coded], a.dec.n, a.dec.m)
    if not sections:
        return None, latents
    return bitstream.write(bitstream.Container(header, tuple(c[0] for c in coded), a.alpha)), latents


def header_quality(quality: float) -> float:
    return bitstream.quantize_quality(check_quality(quality)) / bitstream.QUALITY_SCALE


def encode(image, quality: float = DEFAULT_QUALITY, device: str = "auto",
           max_pixels: int = bitstream.MAX_PIXELS, weights_dir: Path | None = None,
           tile: int = CODING_TILE, progress: bool = False) -> bytes:
    """Encode a path, file object or Pillow image at a quality in [1, 8]; returns .dcn bytes."""
    quality = header_quality(quality)
    return code(prepare(image, device, max_pixels, weights_dir, tile, progress), quality)[0]
