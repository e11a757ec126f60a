"""Building blocks shared by the encoder- and decoder-side networks."""
import torch
from torch import nn
import torch.nn.functional as F

from ..format.constants import STRIDE


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016); inverse=True gives IGDN.

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2). beta and gamma are kept non-negative
    by storing their square roots; no entry starts at exactly 0, where the square's
    gradient would vanish and the entry could never grow.
    """

    PEDESTAL = 2.0 ** -18

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter(torch.sqrt(torch.eye(channels) * 0.1 + self.PEDESTAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_sqrt ** 2 + 1e-6
        gamma = self.gamma_sqrt ** 2
        if self.training:  # oneDNN's 1x1 convolution: fastest for channels-last training
            norm = F.conv2d(x * x, gamma[:, :, None, None], beta)
        else:  # a matmul gives the same pixels whatever the thread count; the 1x1 conv does not
            # Trained gammas hold float32 denormals (~1e-40), which make the matmul several
            # times slower on some CPUs (5.8x on an AMX Xeon) and add nothing to the sum.
            gamma = gamma.masked_fill(gamma < torch.finfo(gamma.dtype).tiny, 0)
            if x.is_contiguous(memory_format=torch.channels_last) and not (torch.is_grad_enabled() and x.requires_grad):
                return self._in_place(x, beta, gamma)
            pixels = x.permute(0, 2, 3, 1)  # no copy when x is channels-last, as decoding keeps it
            norm = torch.addmm(beta, (pixels * pixels).reshape(-1, x.shape[1]), gamma.t())
            norm = norm.reshape(pixels.shape).permute(0, 3, 1, 2)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm

    CHUNK = 2048  # pixels: a chunk's squares and norms (2 x 512 KB at 64 channels) stay in the cache

    def _in_place(self, x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """Decoding and encoding: x (channels-last, its own to overwrite) normalized in
        place, a chunk of pixels at a time. The same arithmetic per pixel as the matmul
        above, but the large activation is read and written once and nothing of its size
        is allocated: 2-3x faster where the activations outgrow the cache."""
        rows = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])  # a view: x is channels-last
        squares = x.new_empty((min(self.CHUNK, len(rows)), x.shape[1]))
        norms = torch.empty_like(squares)
        gamma_t = gamma.t()
        for start in range(0, len(rows), self.CHUNK):
            part = rows[start:start + self.CHUNK]
            sq, norm = squares[:len(part)], norms[:len(part)]
            torch.mul(part, part, out=sq)
            torch.addmm(beta, sq, gamma_t, out=norm)
            norm.sqrt_()
            part.mul_(norm) if self.inverse else part.div_(norm)
        return x


ACTIVATIONS = ("gdn", "relu")


def activation(kind: str, channels: int, inverse: bool = False) -> nn.Module:
    """The nonlinearity between the transforms' convolutions: GDN/IGDN, or a cheaper ReLU."""
    if kind == "gdn":
        return GDN(channels, inverse)
    if kind == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {kind!r} (choose from {', '.join(ACTIVATIONS)})")


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


class SubpixelDeconv(nn.Module):
    """A stride-2 5x5 transposed convolution (padding 2, output padding 1) as one 3x3
    convolution to the four output phases and a pixel shuffle: the same sums in another
    order. Output pixel 2m + a gathers input m - 1, m, m + 1 through taps 4, 2, 0 (a = 0)
    or -, 3, 1 (a = 1), in each dimension. Faster on a CPU where the output has few
    channels (the synthesis' last layer: 0.058 against 0.106 s for 512x768 pixels)."""

    TAPS = ((4, 2, 0), (None, 3, 1))

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        w = deconv.weight.detach()  # (in, out, 5, 5)
        k = w.new_zeros(w.shape[1], 2, 2, w.shape[0], 3, 3)
        for a, rows in enumerate(self.TAPS):
            for b, cols in enumerate(self.TAPS):
                for u, tu in enumerate(rows):
                    for v, tv in enumerate(cols):
                        if tu is not None and tv is not None:
                            k[:, a, b, :, u, v] = w[:, :, tu, tv].t()
        k, bias = k.reshape(-1, w.shape[0], 3, 3), deconv.bias.detach().repeat_interleave(4)
        self.outputs = len(bias)
        pad = -len(bias) % 16  # 12 outputs -> 16: oneDNN's kernels run whole vectors (the last layer 1.2x faster)
        self.weight = nn.Parameter(torch.cat([k, k.new_zeros(pad, *k.shape[1:])]), requires_grad=False)
        self.bias = nn.Parameter(torch.cat([bias, bias.new_zeros(pad)]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1)[:, :self.outputs], 2)


def frozen(module: nn.Module) -> nn.Module:
    """A shipped network: evaluation mode, no gradients for its weights (an encoder that
    refines its latent differentiates through it, never into it)."""
    return module.eval().requires_grad_(False)


def sub_state(tensors: dict, prefix: str) -> dict:
    """The state dict of one network inside a weights file's tensors (keys PREFIX.*)."""
    return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def pad_to_stride(x: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Replicate-pad (B,C,H,W) on the bottom/right to multiples of stride; decode crops back."""
    h, w = x.shape[-2:]
    ph, pw = -h % stride, -w % stride
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
