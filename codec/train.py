"""`dcn train`: CPU-friendly training of the variable-rate hyperprior, resumable and
DistributedDataParallel-ready (launch under torchrun for several processes)."""
import copy
import csv
import json
import math
import os
import time
from dataclasses import dataclass, asdict, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from .data import CropDataset, list_images, load_rgb, split_holdout
from .layers import pad_to_stride
from .model import HyperpriorModel, ModelConfig, rd_loss

CHECKPOINT = "last.safetensors"


@dataclass
class TrainConfig:
    data: str
    out: str
    steps: int = 10000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-3
    warmup: int = 100
    decay_from: float = 0.85  # fraction of steps after which lr drops x0.1
    clip: float = 1.0
    seed: int = 0
    workers: int = 1
    threads: int = 0  # 0: torch's default
    holdout: int = 4
    eval_every: int = 500
    ckpt_every: int = 200
    minutes: float = 0.0  # >0: stop after this much CPU time; the lr schedule follows it, not steps
    ema: float = 0.0  # >0: keep an exponential moving average of the weights (evaluated, exported)
    snapshot_minutes: float = 0.0  # >0: keep a copy of the checkpoint every so many CPU minutes
    proxy: str = "mixed"  # quantization proxy for the synthesis: "mixed" (rounding, STE) or "noise"
    init_gain: float = 16.0  # initial scale of the latent (see HyperpriorModel.scale_latent_init)
    gain_lr: float = 1.0  # learning-rate multiplier of the per-level gain vectors
    bf16: bool | None = None  # analysis and synthesis in bfloat16 autocast; None: where the hardware has it
    model: ModelConfig = field(default_factory=ModelConfig)


def progress(cfg: TrainConfig, step: int, cpu_seconds: float) -> float:
    """How far the run is, 0..1: by CPU time under a time budget, else by steps."""
    return cpu_seconds / (60 * cfg.minutes) if cfg.minutes else step / cfg.steps


def param_groups(model: HyperpriorModel, cfg: TrainConfig) -> list[dict]:
    """The gain vectors in a group of their own: Adam moves a parameter by about lr per step,
    so at lr 1e-3 a log-gain needs thousands of steps to travel the factor of the init gain."""
    gains = [model.log_gain, model.log_inv_gain]
    rest = [p for p in model.parameters() if all(p is not g for g in gains)]
    return [{"params": rest, "scale": 1.0}, {"params": gains, "scale": cfg.gain_lr}]


def learning_rate(cfg: TrainConfig, step: int, cpu_seconds: float = 0.0) -> float:
    if step < cfg.warmup:
        return cfg.lr * (0.1 + 0.9 * step / cfg.warmup)
    return cfg.lr * (0.1 if progress(cfg, step, cpu_seconds) >= cfg.decay_from else 1.0)


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """Weight averaging: smooths Adam's noise at any point of a run, not only after the decay."""
    decay = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)


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
    meta = {"step": str(step), "config": json.dumps(asdict(cfg)), "cpu_seconds": repr(cpu_seconds),
            "processes": str(dist.get_world_size() if dist.is_initialized() else 1),
            "wall_seconds": repr(wall_seconds)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


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
    return int(meta["step"]), float(meta.get("cpu_seconds", "0")), float(meta.get("wall_seconds", "0"))


def read_config(path: Path) -> dict:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["config"])


@torch.no_grad()
def evaluate(model: HyperpriorModel, images: list[np.ndarray], levels=(1, 3, 6)) -> dict:
    """Forward-pass PSNR and likelihood bpp on held-aside images, per level."""
    model.eval()
    result = {}
    for level in levels:
        psnrs, bpps = [], []
        for img in images:
            x = torch.tensor(img).permute(2, 0, 1)[None].float() / 255
            h, w = x.shape[-2:]
            out = model(pad_to_stride(x), torch.tensor([level]))
            x_hat = out["x_hat"][..., :h, :w].clamp(0, 1)
            mse = torch.mean((torch.round(x_hat * 255) - torch.round(x * 255)) ** 2).item()
            psnrs.append(10 * math.log10(255 ** 2 / max(mse, 1e-10)))
            bits = -torch.log2(out["y_lik"]).sum() - torch.log2(out["z_lik"]).sum()
            bpps.append(bits.item() / (h * w))
        result[f"q{level + 1}_psnr"] = float(np.mean(psnrs))
        result[f"q{level + 1}_bpp"] = float(np.mean(bpps))
    model.train()
    return result


def bf16_supported(device: torch.device) -> bool:
    """Native bfloat16 convolutions (AVX512-BF16 / AMX on CPU); elsewhere autocast only emulates them."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _distributed() -> tuple[int, int]:
    if "RANK" not in os.environ:
        return 0, 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def run(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> HyperpriorModel:
    """Train until cfg.steps (checkpointing to cfg.out); returns the trained model."""
    rank, world = _distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT
    if resume and ckpt.exists():  # the architecture and data stream are the run's, not the caller's
        saved = read_config(ckpt)
        cfg.model, cfg.seed = ModelConfig(**saved["model"]), saved["seed"]
    torch.manual_seed(cfg.seed)
    device = torch.device(f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu")

    paths = list_images(Path(cfg.data))
    if not paths:
        raise FileNotFoundError(f"no images under {cfg.data}")
    train_paths, held_paths = split_holdout(paths, cfg.holdout)
    images = [load_rgb(p) for p in train_paths]
    held = [load_rgb(p) for p in held_paths] if rank == 0 else []

    if cfg.bf16 is None:
        cfg.bf16 = bf16_supported(device)
    model = HyperpriorModel(cfg.model).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr)
    if cfg.init_gain != 1.0:
        model.scale_latent_init(cfg.init_gain)
    ema = copy.deepcopy(model) if cfg.ema else None
    step, cpu_seconds, wall_seconds = 0, 0.0, 0.0
    if resume and ckpt.exists():
        step, cpu_seconds, wall_seconds = load_checkpoint(ckpt, model, opt, ema)
        model.to(device, memory_format=torch.channels_last)
        if ema is not None:
            ema.to(device, memory_format=torch.channels_last)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    dataset = CropDataset(images, cfg.crop, cfg.seed)
    batches = ([(((s * world + rank) * cfg.batch) + j) for j in range(cfg.batch)] for s in range(step, cfg.steps))
    # Its own generator: the loader must not draw from the global RNG that the noise uses.
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers,
                                         prefetch_factor=4 if cfg.workers else None,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    log_path = out / "log.csv"
    log = open(log_path, "a", newline="") if rank == 0 else None
    writer = csv.writer(log) if log else None
    if writer and log_path.stat().st_size == 0:
        writer.writerow(["step", "cpu_seconds", "wall_seconds", "loss", "bpp", "psnr", "lr", "eval"])

    bar = None
    if rank == 0 and progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=step, unit="step", dynamic_ncols=True)
    snapshots = int(cpu_seconds // (60 * cfg.snapshot_minutes)) if cfg.snapshot_minutes else 0
    t_last, w_last = time.process_time(), time.perf_counter()
    for x, level in loader:
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        level = level.to(device)
        lr = learning_rate(cfg, step, cpu_seconds)
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        out_ = net(x, level, cfg.proxy, cfg.bf16)
        losses = rd_loss(out_, x, level)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        if ema is not None:
            update_ema(ema, model, cfg.ema, step)
        step += 1
        now, w_now = time.process_time(), time.perf_counter()
        spent = now - t_last
        if world > 1 and cfg.minutes:  # the run's CPU time, the same on every replica: same lr, same last step
            spent = torch.tensor([spent], dtype=torch.float64)
            dist.all_reduce(spent)
            spent = float(spent)
        cpu_seconds += spent
        wall_seconds += w_now - w_last
        t_last, w_last = now, w_now
        done = step == cfg.steps or bool(cfg.minutes and cpu_seconds >= 60 * cfg.minutes)
        if rank == 0:
            psnr = float(torch.mean(-10 * torch.log10(losses["mse"].clamp_min(1e-10))))
            bpp = float(losses["bpp"].mean())
            ev = evaluate(ema if ema is not None else model, held) if held and step % cfg.eval_every == 0 else None
            writer.writerow([step, round(cpu_seconds, 1), round(wall_seconds, 1), f"{losses['loss'].item():.4f}", f"{bpp:.4f}",
                             f"{psnr:.3f}", f"{lr:.2e}", json.dumps(ev) if ev else ""])
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{losses['loss'].item():.3f}", bpp=f"{bpp:.3f}", psnr=f"{psnr:.2f}")
            if step % cfg.ckpt_every == 0 or done:
                log.flush()
                save_checkpoint(ckpt, model, opt, step, cfg, cpu_seconds, wall_seconds, ema)
            if cfg.snapshot_minutes and cpu_seconds >= 60 * cfg.snapshot_minutes * (snapshots + 1):
                snapshots += 1
                save_checkpoint(out / f"snap-{snapshots * cfg.snapshot_minutes:g}min.safetensors", model, opt,
                                step, cfg, cpu_seconds, wall_seconds, ema)
        if done:
            break
    if bar:
        bar.close()
    if log:
        log.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return model


if __name__ == "__main__":  # python -m codec.train, same options as `dcn train`
    import typer

    from .cli import train_command
    typer.run(train_command)
