"""The full variable-rate mean-scale hyperprior, as trained. Coding uses its parts
separately (encoder.py, decoder.py); this module is for training and export only."""
from dataclasses import dataclass, asdict

import torch
from torch import nn

from .analysis import Analysis, HyperAnalysis
from .density import FactorizedDensity, gaussian_likelihood
from .quality import LAMBDAS
from .synthesis import HyperSynthesis, Synthesis


@dataclass(frozen=True)
class ModelConfig:
    n: int = 128
    m: int = 192

    def to_dict(self) -> dict:
        return asdict(self)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


class HyperpriorModel(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        n, m = config.n, config.m
        self.config = config
        self.g_a = Analysis(n, m)
        self.h_a = HyperAnalysis(n, m)
        self.g_s = Synthesis(n, m)
        self.h_s_mean = HyperSynthesis(n, m)
        self.h_s_scale = HyperSynthesis(n, m)
        self.z_density = FactorizedDensity(n)
        # Gains grow like sqrt(lambda): the quantization step of y shrinks as quality rises.
        log_gain = 0.5 * torch.log(torch.tensor(LAMBDAS) / LAMBDAS[len(LAMBDAS) // 2])
        self.log_gain = nn.Parameter(log_gain[:, None].repeat(1, m).clone())
        self.log_inv_gain = nn.Parameter(-log_gain[:, None].repeat(1, m).clone())

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> dict:
        """x in [0,1], (B,3,H,W) with H, W multiples of 64; level: (B,) indices into LAMBDAS.

        Mixed quantization (Minnen & Singh 2020): additive noise for the rate terms, rounding
        with a straight-through gradient for what the synthesis sees.
        """
        gain = torch.exp(self.log_gain[level])[:, :, None, None]
        inv_gain = torch.exp(self.log_inv_gain[level])[:, :, None, None]
        y = self.g_a(x) * gain
        z = self.h_a(y)
        z_lik = self.z_density.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5))
        z_hat = ste_round(z)
        means = self.h_s_mean(z_hat)
        scales = self.h_s_scale(z_hat)
        y_lik = gaussian_likelihood(y + torch.empty_like(y).uniform_(-0.5, 0.5), means, scales)
        y_hat = ste_round(y - means) + means
        x_hat = self.g_s(y_hat * inv_gain)
        return {"x_hat": x_hat, "y_lik": y_lik, "z_lik": z_lik}


def rd_loss(out: dict, x: torch.Tensor, level: torch.Tensor) -> dict:
    """Per-sample lambda * 255^2 * MSE + bits per pixel, averaged over the batch."""
    b, _, h, w = x.shape
    pixels = h * w
    bits = (-torch.log2(out["y_lik"])).flatten(1).sum(1) + (-torch.log2(out["z_lik"])).flatten(1).sum(1)
    bpp = bits / pixels
    mse = ((out["x_hat"] - x) ** 2).flatten(1).mean(1)
    lam = torch.tensor(LAMBDAS, device=x.device)[level]
    loss = (lam * 255 ** 2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp.detach(), "mse": mse.detach()}
