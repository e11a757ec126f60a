"""`dcn export`: turn a training checkpoint into a model's weight files.

Writes decoder.safetensors (synthesis, mean network, integer scale network, integer
probability tables for y and z, inverse gains) and encoder.safetensors (analysis,
hyper-analysis, gains). Tables and the integer network are fixed here, once.
"""
import copy
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..entropy.tables import ScaleSpec, TableSet, gaussian_tables
from ..files import atomic_path
from ..latent.hyperprior import HyperpriorCodec
from ..models.files import DECODER_FILE, ENCODER_FILE
from ..nets.intnet import quantize
from ..nets.layers import pad_to_stride
from .data import list_images, load_rgb
from .model import HyperpriorModel, ModelConfig

Z_RANGE = 2 ** 12  # the grid on which the learned density of z is tabulated


def load_model(checkpoint: Path, weights: str = "") -> tuple[HyperpriorModel, dict, int]:
    """The model of a training checkpoint (its weight average if it kept one, or weights=
    "model" / "ema"), its training config and its step."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(checkpoint), "pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    model = HyperpriorModel(ModelConfig(**cfg["model"]))
    tensors = load_file(str(checkpoint))
    prefix = (weights or ("ema" if any(k.startswith("ema.") for k in tensors) else "model")) + "."
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return model.eval(), cfg, int(meta["step"])


@torch.no_grad()
def z_tables(model: HyperpriorModel, tail_mass: float) -> TableSet:
    """Per-channel tables from the learned density, clipped where its tails fall below
    tail_mass (the rest goes to the escape symbol)."""
    density = copy.deepcopy(model.z_density).double()
    c = len(density.biases[0])
    grid = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.float64)
    edges = torch.cat([grid - 0.5, grid[-1:] + 0.5])
    cdf = torch.sigmoid(density.logits_cdf(edges.repeat(c, 1, 1)))[:, 0].numpy()
    pmfs, lows = [], []
    for ch in range(c):
        lo = int(np.searchsorted(cdf[ch], tail_mass))  # first edge above the lower tail
        hi = int(np.searchsorted(cdf[ch], 1 - tail_mass))
        lo, hi = max(lo - 1, 0), min(max(hi, lo + 1), len(edges) - 1)
        inner = np.diff(cdf[ch][lo:hi + 1])
        pmfs.append(np.append(inner, max(0.0, 1 - inner.sum())))
        lows.append(int(grid[lo]))
    return TableSet.from_pmfs(pmfs, lows)


@torch.no_grad()
def calibration_z(model: HyperpriorModel, images: list[np.ndarray]) -> list[torch.Tensor]:
    zs = []
    for img in images:
        x = pad_to_stride(torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255)
        y = model.g_a(x)
        for level in range(len(model.config.lambdas)):
            zs.append(torch.round(model.h_a(y * torch.exp(model.log_gain[level])[None, :, None, None])))
    return zs


@torch.no_grad()
def activation_maxima(convs, zs) -> list[float]:
    hidden = [copy.deepcopy(c).double() for c in convs[:-1]]
    maxima = [0.0] * len(hidden)
    for z in zs:
        a = z.double()
        for i, conv in enumerate(hidden):
            a = torch.relu(conv(a))
            maxima[i] = max(maxima[i], float(a.max()))
    return maxima


def export(checkpoint: Path, out_dir: Path, calibration_dir: Path | None, max_images: int = 12) -> dict:
    model, cfg, step = load_model(checkpoint)
    spec = ScaleSpec()
    paths = list_images(Path(calibration_dir or cfg["data"]))
    paths = paths[:: max(1, len(paths) // max_images)][:max_images]
    if not paths:
        raise FileNotFoundError("export needs calibration images for the integer scale network")
    images = [load_rgb(p)[:256, :256] for p in paths]
    zs = calibration_z(model, images)
    convs = [m for m in model.h_s_scale if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    scale_net = quantize(convs, activation_maxima(convs, zs), spec.frac_bits, spec.thresholds())
    y_tab, z_tab = gaussian_tables(spec), z_tables(model, spec.tail_mass)
    y_tab.validate()
    z_tab.validate()

    # How often the integer network picks another table than the float one would.
    thresholds = scale_net.thresholds
    agree = total = 0
    for z in zs[:: max(1, len(zs) // 16)]:
        ref = torch.searchsorted(thresholds, (model.h_s_scale(z).double() * 2 ** spec.frac_bits).reshape(-1),
                                 right=True)
        got = torch.from_numpy(scale_net.indices(z[0].numpy().astype(np.int64))).reshape(-1)
        agree += int((ref == got).sum())
        total += ref.numel()

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    kind = "hyperprior" if model.config.context == "none" else model.config.context
    meta = {"n": str(model.config.n), "m": str(model.config.m), "act": model.config.act,
            "lambdas": json.dumps(list(model.config.lambdas)), "latent": kind, "scales": spec.to_json(),
            "step": str(step)}
    stats = {"scale_index_agreement": agree / max(total, 1), "z_table_entries": int(len(z_tab.counts))}
    decoder = {k: v for k, v in state.items() if k.startswith(("g_s.", "h_s_mean."))}
    decoder["log_inv_gain"] = state["log_inv_gain"]
    decoder.update(scale_net.state_dict())
    decoder.update(y_tab.tensors("y_tables"))
    decoder.update(z_tab.tensors("z_tables"))
    if kind != "hyperprior":
        from .export_context import build
        hyper = HyperpriorCodec(model.config.n, model.config.m, model.h_s_mean, scale_net, y_tab, z_tab, spec)
        tensors, context_meta, stats["context_index_agreement"] = build(model, images, hyper, spec)
        decoder.update(tensors)
        meta.update(context_meta)
    encoder = {k: v for k, v in state.items() if k.startswith(("g_a.", "h_a."))}
    encoder["log_gain"] = state["log_gain"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, tensors in ((DECODER_FILE, decoder), (ENCODER_FILE, encoder)):
        with atomic_path(out_dir / name) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
    return stats
