"""Checkerboard context model (He et al. 2021), training side: y is coded in two passes.

Pass 1 codes the anchors ((row + col) even) with the hyperprior's means and scales. Pass 2
codes the other half with means and scales corrected by a context network that sees the
anchors' symbols (their residuals round(y - mean), zero elsewhere): a 5x5 convolution
over them, then 1x1 layers over [hyper scales, context] that output a correction (delta
mean, delta scale). Its inputs are integers and fixed-point scales and it is only
convolutions and ReLUs, so the coding path evaluates it in integer arithmetic, like the
scale network: every table choice stays exact. Its last layer starts at zero, so a model
warm-started from the plain hyperprior begins exactly where that model is.
"""
import torch
from torch import nn

CONTEXT_CLAMP = 255  # the anchors' symbols are clamped to +-this before the context network


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """(1,1,h,w) float mask, 1 on the anchors ((row + col) even)."""
    r = torch.arange(h, device=device)[:, None]
    c = torch.arange(w, device=device)[None, :]
    return ((r + c) % 2 == 0).float()[None, None]


class CheckerboardContext(nn.Module):
    def __init__(self, m: int):
        super().__init__()
        self.ctx = nn.Conv2d(m, m, 5, padding=2)
        self.params = nn.Sequential(nn.Conv2d(2 * m, 2 * m, 1), nn.ReLU(), nn.Conv2d(2 * m, 2 * m, 1), nn.ReLU(),
                                    nn.Conv2d(2 * m, 2 * m, 1))
        nn.init.zeros_(self.params[-1].weight)
        nn.init.zeros_(self.params[-1].bias)

    def forward(self, anchor_symbols: torch.Tensor, means: torch.Tensor, scales: torch.Tensor):
        """Means and scales of the non-anchors from the anchors' symbols (zero elsewhere)."""
        ctx = self.ctx(anchor_symbols.clamp(-CONTEXT_CLAMP, CONTEXT_CLAMP))
        d_mean, d_scale = self.params(torch.cat([scales, ctx], 1)).chunk(2, 1)
        return means + d_mean, scales + d_scale
