"""The full variable-rate model as trained: transforms, hyperprior, optional checkerboard
context. Coding uses its exported parts (models/, latent/); this module is for training
and export only."""
import math

import torch
from torch import nn

from ..models.quality import LAMBDAS
from .config import CONTEXTS, ModelConfig  # noqa: F401  (re-exported: the model is built from it)
from ..nets.analysis import Analysis, HyperAnalysis
from ..nets.context import ChannelGroups, CheckerboardContext, anchor_mask
from ..nets.density import FactorizedDensity, gaussian_likelihood
from ..nets.synthesis import HyperSynthesis, Synthesis


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


class HyperpriorModel(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        n, m = config.n, config.m
        self.config = config
        self.g_a = Analysis(n, m, config.act)
        self.h_a = HyperAnalysis(n, m)
        self.g_s = Synthesis(n, m, config.act)
        self.h_s_mean = HyperSynthesis(n, m)
        self.h_s_scale = HyperSynthesis(n, m)
        self.z_density = FactorizedDensity(n)
        if config.context in ("checkerboard", "checkerboard-groups"):
            self.context = CheckerboardContext(m)
        if config.context == "checkerboard-groups":
            self.groups = ChannelGroups(m)
        # Gains grow like sqrt(lambda): the quantization step of y shrinks as quality rises.
        lambdas = config.lambdas
        log_gain = 0.5 * torch.log(torch.tensor(lambdas) / lambdas[len(lambdas) // 2])
        self.log_gain = nn.Parameter(log_gain[:, None].repeat(1, m).clone())
        self.log_inv_gain = nn.Parameter(-log_gain[:, None].repeat(1, m).clone())

    def scale_latent_init(self, factor: float) -> None:
        """Multiply every gain by factor (and the inverse gains by 1/factor) before training.

        At the default initialisation y is ~0.03 and rounds to 0 everywhere, so the synthesis
        sees nothing until the analysis has grown its outputs; a larger gain starts it live.
        """
        with torch.no_grad():
            self.log_gain += math.log(factor)
            self.log_inv_gain -= math.log(factor)

    def forward(self, x: torch.Tensor, level: torch.Tensor, proxy: str = "mixed", bf16: bool = False) -> dict:
        """x in [0,1], (B,3,H,W) with H, W multiples of 64; level: (B,) indices into config.lambdas.

        proxy "mixed" (Minnen & Singh 2020): additive noise for the rate terms, rounding with a
        straight-through gradient for what the synthesis sees; "noise": additive noise for
        both (Ballé et al. 2017). In eval mode the rates are those of the rounded values, as coded.
        bf16: the analysis and synthesis transforms in bfloat16 autocast (training speed); the
        entropy model stays in float32.
        """
        gain = torch.exp(self.log_gain[level])[:, :, None, None]
        inv_gain = torch.exp(self.log_inv_gain[level])[:, :, None, None]
        y = _transform(self.g_a, x, bf16) * gain
        z = self.h_a(y)
        if self.training and proxy == "noise":
            z_tilde = _noisy(z)
            means, scales = self.h_s_mean(z_tilde), self.h_s_scale(z_tilde)
            y_tilde = _noisy(y)
            return {"x_hat": _transform(self.g_s, y_tilde * inv_gain, bf16),
                    "y_lik": gaussian_likelihood(y_tilde, means, scales), "z_lik": self.z_density.likelihood(z_tilde)}
        z_hat = ste_round(z)
        z_lik = self.z_density.likelihood(_noisy(z) if self.training else z_hat)
        means, scales = self.entropy_parameters(y, self.h_s_mean(z_hat), self.h_s_scale(z_hat))
        y_hat = ste_round(y - means) + means
        y_lik = gaussian_likelihood(_noisy(y) if self.training else y_hat, means, scales)
        x_hat = _transform(self.g_s, y_hat * inv_gain, bf16)
        return {"x_hat": x_hat, "y_lik": y_lik, "z_lik": z_lik}

    def entropy_parameters(self, y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor):
        """The means and scales that code y: the hyperprior's, corrected by the context model."""
        if self.config.context == "checkerboard":
            anchors = anchor_mask(*y.shape[-2:], device=y.device).to(y.dtype)
            ctx_means, ctx_scales = self.context(ste_round(y - means) * anchors, means, scales)
            return torch.lerp(ctx_means, means, anchors), torch.lerp(ctx_scales, scales, anchors)
        if self.config.context == "checkerboard-groups":
            return self._grouped(y, means, scales)
        return means, scales

    def _grouped(self, y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor):
        """Means and scales of y under the checkerboard with channel groups (nets/context.py):
        the anchors group by group, then the others group by group."""
        anchors = anchor_mask(*y.shape[-2:], device=y.device).to(y.dtype)
        groups = self.groups
        a_means, a_scales, a_symbols = [], [], []  # per group
        for g, sl in enumerate(groups.slices):
            mean, scale = means[:, sl], scales[:, sl]
            if g:
                d_mean, d_scale = groups.anchor_nets[g - 1](torch.cat(a_symbols, 1), scale)
                mean, scale = mean + d_mean, scale + d_scale
            a_means.append(mean)
            a_scales.append(scale)
            a_symbols.append(ste_round(y[:, sl] - mean) * anchors)
        c_means, c_scales = self.context(torch.cat(a_symbols, 1), means, scales)
        out_means, out_scales, symbols = [], [], []
        for g, sl in enumerate(groups.slices):
            mean, scale = c_means[:, sl], c_scales[:, sl]
            if g:
                d_mean, d_scale = groups.other_nets[g - 1](torch.cat(symbols, 1), scales[:, sl])
                mean, scale = mean + d_mean, scale + d_scale
            symbols.append(torch.lerp(ste_round(y[:, sl] - mean), a_symbols[g], anchors))
            out_means.append(torch.lerp(mean, a_means[g], anchors))
            out_scales.append(torch.lerp(scale, a_scales[g], anchors))
        return torch.cat(out_means, 1), torch.cat(out_scales, 1)


def _transform(net: nn.Module, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    """net(x), in bfloat16 autocast if asked (1.6x the training steps per CPU second with
    AVX512-BF16), back to float32."""
    if not bf16:
        return net(x)
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        return net(x).float()


def _noisy(x: torch.Tensor) -> torch.Tensor:
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


def rd_loss(out: dict, x: torch.Tensor, level: torch.Tensor, lambdas=LAMBDAS, level_weight: float = 0.0) -> dict:
    """Per-sample lambda * 255^2 * MSE + bits per pixel, averaged over the batch.

    level_weight p: each sample's loss times (lambda_mid / lambda)^p (lambda_mid: the middle
    level's, as for the gains). A top level's loss is ~100x a bottom level's, so with p = 0
    the shared transforms learn almost only from the high rates; p ~ 0.6 evens the levels
    out. A level's own rate-distortion trade-off does not change with its weight."""
    b, _, h, w = x.shape
    pixels = h * w
    bits = (-torch.log2(out["y_lik"])).flatten(1).sum(1) + (-torch.log2(out["z_lik"])).flatten(1).sum(1)
    bpp = bits / pixels
    mse = ((out["x_hat"] - x) ** 2).flatten(1).mean(1)
    lams = torch.tensor(lambdas, device=x.device, dtype=torch.float64)
    lam = lams[level]
    weight = (lams[len(lambdas) // 2] / lam) ** level_weight
    loss = (weight.float() * (lam.float() * 255 ** 2 * mse + bpp)).mean()
    return {"loss": loss, "bpp": bpp.detach(), "mse": mse.detach()}
