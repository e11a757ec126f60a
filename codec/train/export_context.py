"""Export of the checkerboard context network to its integer form (latent/checkerboard.py):
calibrate its activations on training crops, quantize, and measure how often its table
choices differ from the float network's."""
import copy

import numpy as np
import torch

from ..entropy.tables import ScaleSpec
from ..latent.checkerboard import CheckerboardCodec, ContextNet, anchors
from ..nets.context import CONTEXT_CLAMP
from ..nets.intnet import ACT_MAX, IntegerScaleNet, frac_bits_for, layers_state, quantize_layers
from ..nets.layers import pad_to_stride
from .model import HyperpriorModel


@torch.no_grad()
def calibration_latents(model: HyperpriorModel, images: list[np.ndarray]) -> list[tuple]:
    """(y after gains, z, means, scales) of each calibration crop at every level (float64)."""
    out = []
    m = copy.deepcopy(model).double()
    for img in images:
        x = pad_to_stride(torch.from_numpy(img.copy()).permute(2, 0, 1)[None].double() / 255)
        y0 = m.g_a(x)
        for level in range(len(model.config.lambdas)):
            y = y0 * torch.exp(m.log_gain[level])[None, :, None, None]
            z = torch.round(m.h_a(y))
            out.append((y, z, m.h_s_mean(z), m.h_s_scale(z)))
    return out


@torch.no_grad()
def quantize_context(model: HyperpriorModel, latents: list[tuple], spec: ScaleSpec) -> ContextNet:
    ctx = copy.deepcopy(model.context).double()
    convs = [c for c in ctx.params if isinstance(c, torch.nn.Conv2d)]
    ctx_max, hidden = 0.0, [0.0] * (len(convs) - 1)
    for y, _, means, scales in latents:
        mask = torch.from_numpy(anchors(y.shape[1], *y.shape[-2:]).copy())[None]
        c = ctx.ctx(torch.round(y - means).clamp(-CONTEXT_CLAMP, CONTEXT_CLAMP) * mask)
        ctx_max = max(ctx_max, float(c.abs().max()))
        a = torch.cat([scales, c], 1)
        for i, conv in enumerate(convs[:-1]):
            a = torch.relu(conv(a))
            hidden[i] = max(hidden[i], float(a.max()))
    ctx_frac = frac_bits_for(ctx_max)
    ctx_layers = quantize_layers([ctx.ctx], [], ctx_frac, frac_in=0, in_max=CONTEXT_CLAMP)
    params = quantize_layers(convs, hidden, spec.frac_bits, frac_in=min(ctx_frac, spec.frac_bits), in_max=ACT_MAX)
    return ContextNet(ctx_layers, params, ctx_frac, spec.frac_bits)


def context_tensors(net: ContextNet) -> dict:
    return {**layers_state(net.ctx, "ctx_int"), **layers_state(net.params, "ep_int"),
            "ctx_int.frac": torch.tensor([net.ctx_frac, net.scale_frac])}


@torch.no_grad()
def context_agreement(model: HyperpriorModel, codec: CheckerboardCodec, latents: list[tuple],
                      spec: ScaleSpec) -> float:
    """Share of the second pass's table choices that equal the float network's."""
    thresholds = codec.hyper.scale_net.thresholds
    agree = total = 0
    ctx = copy.deepcopy(model.context).double()
    for y, z, means, scales in latents[:: max(1, len(latents) // 16)]:
        mask = anchors(y.shape[1], *y.shape[-2:])
        first = np.where(mask, torch.round(y - means)[0].numpy(), 0).astype(np.int64)
        got, _ = codec._second_pass(codec.hyper.scale_net.fixed_point_scales(z[0].numpy().astype(np.int64)), first)
        _, float_scales = ctx(torch.from_numpy(first)[None].double(), means, scales)
        ref = torch.searchsorted(thresholds, (float_scales[0] * 2 ** spec.frac_bits).reshape(-1), right=True)
        others = ~mask.reshape(-1)
        agree += int((ref.numpy()[others] == got.reshape(-1)[others]).sum())
        total += int(others.sum())
    return agree / max(total, 1)


def build(model: HyperpriorModel, images: list[np.ndarray], scale_net: IntegerScaleNet, hyper_codec,
          spec: ScaleSpec) -> tuple[dict, float]:
    """The context network's tensors for the decoder file, and its table agreement."""
    latents = calibration_latents(model, images)
    net = quantize_context(model, latents, spec)
    codec = CheckerboardCodec(hyper_codec, net)
    return context_tensors(net), context_agreement(model, codec, latents, spec)
