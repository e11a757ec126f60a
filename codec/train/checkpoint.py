"""Training checkpoints: model (and its weight average), Adam state, RNG state and the
run's clock in one safetensors file, so that a resumed run continues exactly; and warm
starts from another run's weights."""
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from ..files import atomic_path
from ..models.quality import LAMBDAS
from .config import TrainConfig
from .model import HyperpriorModel


def save_checkpoint(path: Path, model, opt, step: int, cfg: TrainConfig, cpu_seconds: float,
                    wall_seconds: float, ema=None) -> None:
    """Model (and its average), Adam state and RNG state in one safetensors file, written atomically."""
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v.contiguous() for k, v in ema.state_dict().items()})
    for i, p in enumerate(model.parameters()):
        for k, v in opt.state.get(p, {}).items():
            tensors[f"opt.{i}.{k}"] = v.contiguous() if v.dim() else v.reshape(1)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():  # the noise of a GPU run is drawn there
        tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    meta = {"step": str(step), "config": json.dumps(asdict(cfg)), "cpu_seconds": repr(cpu_seconds),
            "processes": str(dist.get_world_size() if dist.is_initialized() else 1),
            "wall_seconds": repr(wall_seconds)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: Path, model, opt, ema=None) -> tuple[int, float, float]:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:
        prefix = "ema." if any(k.startswith("ema.") for k in tensors) else "model."
        ema.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for i, p in enumerate(model.parameters()):
        state = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if state:
            state["step"] = state["step"].reshape(())
            state = {k: (v if k == "step" else v.to(memory_format=torch.channels_last)
                         if v.dim() == 4 else v) for k, v in state.items()}
            opt.state[p] = state
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available() and len(tensors["rng.cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(list(tensors["rng.cuda"]))
    return int(meta["step"]), float(meta.get("cpu_seconds", "0")), float(meta.get("wall_seconds", "0"))


def warm_start(model: HyperpriorModel, checkpoint: Path) -> list[str]:
    """Start from another run's weights where the parts match (same name and shape).

    The per-level gain vectors are carried over even where the level tables differ: each
    channel's log-gain is interpolated piecewise-linearly in log(lambda) between the source
    levels and extrapolated from the end segments. Returns the names left at their
    initialisation (new parts, such as a context model)."""
    tensors = load_file(str(checkpoint))
    prefix = "ema." if any(k.startswith("ema.") for k in tensors) else "model."
    source = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    src_lambdas = read_config(checkpoint)["model"].get("lambdas", list(LAMBDAS))
    x_src, x_dst = np.log(src_lambdas), np.log(model.config.lambdas)
    state = model.state_dict()
    fresh = []
    with torch.no_grad():
        for name, value in state.items():
            if name in ("log_gain", "log_inv_gain") and name in source:
                g = source[name].double().numpy()  # (levels, m)
                value.copy_(torch.from_numpy(np.stack([_interp_extrap(x_dst, x_src, g[:, c])
                                                        for c in range(g.shape[1])], 1)))
            elif name in source and source[name].shape == value.shape:
                value.copy_(source[name])
            else:
                fresh.append(name)
    return fresh


def carry_adam_state(model: HyperpriorModel, checkpoint: Path, opt, fresh) -> None:
    """After warm_start: the source run's Adam state of every weight it copied unchanged
    (a fresh Adam moves every weight by about lr at first: a jolt to a trained model). The
    checkpoint keys the state by position in the source model's parameters."""
    from .config import ModelConfig
    tensors = load_file(str(checkpoint))
    source_config = read_config(checkpoint)["model"]
    source_index = {name: i for i, (name, _) in enumerate(HyperpriorModel(ModelConfig(**source_config))
                                                           .named_parameters())}
    for name, p in model.named_parameters():
        i = source_index.get(name)
        if i is None or name in fresh or name in ("log_gain", "log_inv_gain") and \
                list(source_config.get("lambdas", LAMBDAS)) != list(model.config.lambdas):
            continue
        state = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if state and all(v.shape == p.shape for k, v in state.items() if k != "step"):
            state["step"] = state["step"].reshape(())
            opt.state[p] = {k: v.to(memory_format=torch.channels_last) if v.dim() == 4 else v
                            for k, v in state.items()}


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y


def read_config(path: Path) -> dict:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["config"])
