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


def group_sizes(m: int) -> tuple[int, ...]:
    """Uneven channel groups (He et al. 2022, ELIC), the first ones small: M/8, M/8, M/4,
    and the rest (16, 16, 32, 64 for M = 128)."""
    return (m // 8, m // 8, m // 4, m - 2 * (m // 8) - m // 4)


class _GroupNet(nn.Module):
    """Corrections (delta mean, delta scale) of one channel group from the symbols of the
    groups before it (a 3x3 convolution) and the group's own hyper scales (1x1 layers).
    Its last layer starts at zero: the model begins where it was warm-started."""

    def __init__(self, before: int, size: int):
        super().__init__()
        self.ctx = nn.Conv2d(before, 2 * size, 3, padding=1)
        self.params = nn.Sequential(nn.Conv2d(3 * size, 2 * size, 1), nn.ReLU(), nn.Conv2d(2 * size, 2 * size, 1),
                                    nn.ReLU(), nn.Conv2d(2 * size, 2 * size, 1))
        nn.init.zeros_(self.params[-1].weight)
        nn.init.zeros_(self.params[-1].bias)

    def forward(self, symbols: torch.Tensor, scales: torch.Tensor):
        ctx = self.ctx(symbols.clamp(-CONTEXT_CLAMP, CONTEXT_CLAMP))
        return self.params(torch.cat([scales, ctx], 1)).chunk(2, 1)


class ChannelGroups(nn.Module):
    """Channel groups on top of the checkerboard (He et al. 2022; training side):
    y's channels in four groups (group_sizes), coded in eight passes: the anchors group by
    group, each group's seeing the anchors of the groups before it, then the others group by
    group, each seeing the checkerboard context (all anchors) and every symbol of the
    groups before it. Inputs are symbols and scales, as the checkerboard's: integer-ready."""

    def __init__(self, m: int):
        super().__init__()
        groups = group_sizes(m)
        starts = [sum(groups[:g]) for g in range(len(groups))]
        self.slices = [slice(s, s + n) for s, n in zip(starts, groups)]
        self.anchor_nets = nn.ModuleList([_GroupNet(s, n) for s, n in zip(starts[1:], groups[1:])])
        self.other_nets = nn.ModuleList([_GroupNet(s, n) for s, n in zip(starts[1:], groups[1:])])
