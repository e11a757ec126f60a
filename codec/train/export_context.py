"""Export of the context networks to their integer form (latent/checkerboard.py): calibrate
their activations on training crops, quantize, and measure how often their table choices
differ from the float networks'."""
import copy
import json

import numpy as np
import torch

from ..entropy.tables import ScaleSpec
from ..latent.checkerboard import CheckerboardCodec, ChannelGroupsCodec, ContextNet, anchors
from ..nets.context import CONTEXT_CLAMP, group_sizes
from ..nets.intnet import ACT_MAX, frac_bits_for, layers_state, quantize_layers
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


def _context_nets(model: HyperpriorModel) -> list[tuple]:
    """(float network, the decoder file's prefixes of its two parts, what it reads) of each
    context network, in the order of the decoder file: the checkerboard's (it sees the
    anchors), then the groups' anchor networks (the anchors of their own group too), then
    their others' networks (every element before them)."""
    nets = [(model.context, ("ctx_int", "ep_int"), "anchors")]
    groups = getattr(model, "groups", None)
    if groups is not None:
        for phase, floats, reads in (("anchor", groups.anchor_nets, "anchors"), ("other", groups.other_nets, "all")):
            nets += [(net, (f"{phase}{g}_ctx_int", f"{phase}{g}_ep_int"), reads) for g, net in enumerate(floats, 1)]
    return nets


@torch.no_grad()
def activation_ranges(model: HyperpriorModel, latents: list[tuple]) -> list[tuple[float, list[float]]]:
    """For each context network: the largest |output| of its context convolution and the
    largest output of each hidden layer of its 1x1 chain, over the calibration latents (the
    float model's own coding passes, in float64)."""
    m = copy.deepcopy(model).double().eval()
    nets = [net for net, _, _ in _context_nets(m)]
    ranges = [[0.0, [0.0] * (len([c for c in n.params if isinstance(c, torch.nn.ReLU)]))] for n in nets]

    def record(i, hidden):
        def hook(_, __, out):
            if hidden is None:
                ranges[i][0] = max(ranges[i][0], float(out.abs().max()))
            else:
                ranges[i][1][hidden] = max(ranges[i][1][hidden], float(out.max()))
        return hook

    handles = []
    for i, net in enumerate(nets):
        handles.append(net.ctx.register_forward_hook(record(i, None)))
        relus = [c for c in net.params if isinstance(c, torch.nn.ReLU)]
        handles += [r.register_forward_hook(record(i, k)) for k, r in enumerate(relus)]
    try:
        for y, _, means, scales in latents:
            m.entropy_parameters(y, means, scales)
    finally:
        for h in handles:
            h.remove()
    return [(c, hidden) for c, hidden in ranges]


def quantize_net(net, ctx_max: float, hidden: list[float], spec: ScaleSpec, reads: str) -> ContextNet:
    """One context network in integer form."""
    net = copy.deepcopy(net).double()
    convs = [c for c in net.params if isinstance(c, torch.nn.Conv2d)]
    ctx_frac = frac_bits_for(ctx_max)
    ctx_layers = quantize_layers([net.ctx], [], ctx_frac, frac_in=0, in_max=CONTEXT_CLAMP)
    params = quantize_layers(convs, hidden, spec.frac_bits, frac_in=min(ctx_frac, spec.frac_bits), in_max=ACT_MAX)
    return ContextNet(ctx_layers, params, ctx_frac, spec.frac_bits, reads)


def context_tensors(nets: list, names: list[tuple[str, str]]) -> dict:
    out = {}
    for net, (ctx, params) in zip(nets, names):
        out.update({**layers_state(net.ctx, ctx), **layers_state(net.params, params),
                    f"{ctx}.frac": torch.tensor([net.ctx_frac, net.scale_frac])})
    return out


@torch.no_grad()
def context_agreement(model: HyperpriorModel, codec: CheckerboardCodec, latents: list[tuple],
                      spec: ScaleSpec) -> float:
    """Share of the table choices that the context networks make (all but those of the
    first group's anchors, which the scale network alone picks) that equal the float
    networks' on the same calibration latents."""
    thresholds = codec.hyper.scale_net.thresholds
    agree = total = 0
    m = copy.deepcopy(model).double().eval()
    first = codec.groups[0]
    for y, z, means, scales in latents[:: max(1, len(latents) // 16)]:
        _, float_scales = m.entropy_parameters(y, means, scales)
        ref = torch.searchsorted(thresholds, (float_scales[0] * 2 ** spec.frac_bits).contiguous(), right=True).numpy()
        got = codec.quantize(y.float(), z[0].numpy().astype(np.int32))["indices"]
        judged = np.ones(got.shape, bool)
        judged[first] = ~anchors(first.stop - first.start, *got.shape[1:])
        agree += int((ref[judged] == got[judged]).sum())
        total += int(judged.sum())
    return agree / max(total, 1)


def build(model: HyperpriorModel, images: list[np.ndarray], hyper_codec, spec: ScaleSpec) -> tuple[dict, dict, float]:
    """The context networks' tensors and metadata for the decoder file, and their table agreement."""
    latents = calibration_latents(model, images)
    ranges = activation_ranges(model, latents)
    described = _context_nets(model)
    nets = [quantize_net(f, c, hidden, spec, reads) for (f, _, reads), (c, hidden) in zip(described, ranges)]
    meta = {}
    if len(nets) > 1:
        half = (len(nets) - 1) // 2  # the groups after the first: an anchors' and an others' network each
        sizes = group_sizes(model.config.m)
        codec = ChannelGroupsCodec(hyper_codec, nets[0], sizes, tuple(nets[1:1 + half]), tuple(nets[1 + half:]))
        meta["groups"] = json.dumps(list(sizes))
    else:
        codec = CheckerboardCodec(hyper_codec, nets[0])
    tensors = context_tensors(nets, [names for _, names, _ in described])
    return tensors, meta, context_agreement(model, codec, latents, spec)
