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
from .decoder import latent_shapes, z_table_index
from .device import resolve
from .imageio import load_picture
from .layers import pad_to_stride
from .quality import DEFAULT_QUALITY, check_quality, interpolate
from .tiling import DEFAULT_TILE, tiled
from .weights import ENCODER_FILE, default_dir, load_decoder, read_weights, sub_state


@dataclass
class EncoderWeights:
    analysis: Analysis
    hyper_analysis: HyperAnalysis
    log_gain: torch.Tensor


@lru_cache(maxsize=4)
def load_encoder(directory: Path | None = None) -> EncoderWeights:
    tensors, meta, _ = read_weights(Path(directory or default_dir()) / ENCODER_FILE)
    n, m = int(meta["n"]), int(meta["m"])
    analysis, hyper = Analysis(n, m), HyperAnalysis(n, m)
    analysis.load_state_dict(sub_state(tensors, "g_a"))
    hyper.load_state_dict(sub_state(tensors, "h_a"))
    return EncoderWeights(analysis.eval(), hyper.eval(), tensors["log_gain"])


ANALYSIS_MARGIN = 32  # pixels: the analysis' receptive field reaches 30


@torch.no_grad()
def analyse(rgb: np.ndarray, enc: EncoderWeights, device: torch.device, tile: int = DEFAULT_TILE) -> torch.Tensor:
    """(H,W,3) uint8 -> the latent y before gains, (1, M, h/16, w/16), on the CPU; in tiles
    on the CPU."""
    x = pad_to_stride(torch.tensor(rgb, device=device).permute(2, 0, 1)[None].float() / 255)
    analysis = enc.analysis.to(device)
    if device.type == "cpu":
        return tiled(analysis, x, tile, ANALYSIS_MARGIN, Fraction(1, 16))
    return analysis(x).cpu()


def encode(image, quality: float = DEFAULT_QUALITY, device: str = "auto",
           max_pixels: int = bitstream.MAX_PIXELS, weights_dir: Path | None = None) -> bytes:
    """Encode a path, file object or Pillow image at a quality in [1, 8]; returns .dcn bytes."""
    quality = bitstream.quantize_quality(check_quality(quality)) / bitstream.QUALITY_SCALE
    dev = resolve(device)
    pic = load_picture(image, max_pixels)
    dec, enc = load_decoder(weights_dir), load_encoder(weights_dir)
    y = analyse(pic.rgb, enc, dev) * interpolate(enc.log_gain, quality)[None, :, None, None]
    with torch.no_grad():  # the hyper networks are small: always on the CPU
        z = torch.round(enc.hyper_analysis.cpu()(y)).clamp(-entropy.MAX_ABS, entropy.MAX_ABS)
        means = dec.mean_net.to("cpu", torch.float32)(z)
    z_int = z[0].numpy().astype(np.int64)
    width, height = pic.size
    z_shape, _ = latent_shapes(dec, width, height)
    z_bytes = entropy.encode(z_int, z_table_index(dec, z_shape), dec.z_tables)
    symbols = torch.round(y - means)[0].numpy().astype(np.int64)
    y_bytes = entropy.encode(symbols, dec.scale_net.indices(z_int), dec.y_tables)
    header = bitstream.Header(pic.mode, width, height, quality, dec.fingerprint)
    alpha = encode_alpha(pic.alpha) if pic.alpha is not None else b""
    return bitstream.write(bitstream.Container(header, z_bytes, y_bytes, alpha))
