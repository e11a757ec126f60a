"""The quality scale: a table of rate levels, each with a lambda and learned gain vectors.

Quality is continuous from MIN_QUALITY to the model's number of levels; level i sits at
quality i + 1 and a value between two levels interpolates their log-gains (Cui et al. 2021).
"""
import math
from typing import TYPE_CHECKING

from ..errors import DCNError

if TYPE_CHECKING:  # the quality scale itself needs no torch (dcn info, --help)
    import torch

# lambda for the loss  lambda * 255^2 * MSE + bpp, one per level (CompressAI's MSE table):
# model 1's levels, and the default of `dcn train`.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
MIN_QUALITY = 1.0
MAX_QUALITY = float(len(LAMBDAS))  # model 1's; another model's is its number of levels
DEFAULT_QUALITY = 4.0  # model 1's level at DEFAULT_LAMBDA; other models default to theirs
DEFAULT_LAMBDA = 0.013


def check_quality(quality: float, max_quality: float = MAX_QUALITY) -> float:
    quality = float(quality)
    if not (MIN_QUALITY <= quality <= max_quality) or math.isnan(quality):
        raise DCNError(f"quality must be between {MIN_QUALITY:g} and {max_quality:g}, got {quality:g}")
    return quality


def interpolate(log_gains: "torch.Tensor", quality: float) -> "torch.Tensor":
    """Gain vector for a continuous quality: exp of the linear blend of neighbouring log-gains."""
    levels = len(log_gains)
    pos = check_quality(quality, float(levels)) - MIN_QUALITY
    lo = min(int(pos), levels - 2)
    t = pos - lo
    return ((1 - t) * log_gains[lo] + t * log_gains[lo + 1]).exp()
