"""Encoder-side networks: image -> latent y (analysis) and y -> hyper-latent z."""
from torch import nn

from .layers import activation, conv


class Analysis(nn.Sequential):
    """Four stride-2 5x5 convolutions with GDN (or ReLU): (B,3,H,W) -> (B,M,H/16,W/16)."""

    def __init__(self, n: int, m: int, act: str = "gdn"):
        super().__init__(conv(3, n), activation(act, n), conv(n, n), activation(act, n), conv(n, n),
                         activation(act, n), conv(n, m))


class HyperAnalysis(nn.Sequential):
    """y -> z at 1/4 of y's resolution, the side information for y's entropy model."""

    def __init__(self, n: int, m: int):
        super().__init__(conv(m, n, 3, 1), nn.ReLU(), conv(n, n), nn.ReLU(), conv(n, n))
