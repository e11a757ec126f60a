"""Decoder-side networks: z -> (means, scales) of y, and quantized y -> image."""
from torch import nn

from .layers import activation, deconv, conv


class Synthesis(nn.Sequential):
    """Four stride-2 5x5 transposed convolutions with inverse GDN (or ReLU): y -> image."""

    def __init__(self, n: int, m: int, act: str = "gdn"):
        super().__init__(deconv(m, n), activation(act, n, True), deconv(n, n), activation(act, n, True),
                         deconv(n, n), activation(act, n, True), deconv(n, 3))


class HyperSynthesis(nn.Sequential):
    """z -> one parameter per element of y (used twice: for the means and for the scales).

    The scale network is evaluated in integer arithmetic at coding time (intnet.py), so it
    is kept to plain convolutions and ReLUs.
    """

    def __init__(self, n: int, m: int):
        super().__init__(deconv(n, n), nn.ReLU(), deconv(n, n), nn.ReLU(), conv(n, m, 3, 1))
