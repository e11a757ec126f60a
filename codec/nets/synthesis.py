"""Decoder-side networks: z -> (means, scales) of y, and quantized y -> image."""
from torch import nn

from .layers import SubpixelDeconv, activation, deconv, conv


class Synthesis(nn.Sequential):
    """Four stride-2 5x5 transposed convolutions with inverse GDN (or ReLU): y -> image."""

    def __init__(self, n: int, m: int, act: str = "gdn"):
        super().__init__(deconv(m, n), activation(act, n, True), deconv(n, n), activation(act, n, True),
                         deconv(n, n), activation(act, n, True), deconv(n, 3))


def for_decoding(synthesis: Synthesis) -> nn.Sequential:
    """The same network in its fastest CPU form (inputs channels-last): the last transposed
    convolution as a sub-pixel convolution. The other layers stay: oneDNN's transposed
    convolutions beat their sub-pixel forms when the output has many channels."""
    *body, last = synthesis
    return nn.Sequential(*body, SubpixelDeconv(last)).eval()


def stages(synthesis: nn.Sequential) -> list[nn.Sequential]:
    """for_decoding's network as its four upsampling stages (a transposed convolution and
    the activation after it): each doubles the resolution, and an output element reads
    input elements no further than one away (5x5 kernels at stride 2)."""
    layers = list(synthesis)
    return [nn.Sequential(*layers[i:i + 2]) for i in range(0, len(layers), 2)]


class HyperSynthesis(nn.Sequential):
    """z -> one parameter per element of y (used twice: for the means and for the scales).

    The scale network is evaluated in integer arithmetic at coding time (intnet.py), so it
    is kept to plain convolutions and ReLUs.
    """

    def __init__(self, n: int, m: int):
        super().__init__(deconv(n, n), nn.ReLU(), deconv(n, n), nn.ReLU(), conv(n, m, 3, 1))
