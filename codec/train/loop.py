"""The training loop of `dcn train`: CPU-friendly, resumable, and DistributedDataParallel-
ready (launch under torchrun for several processes)."""
import copy
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..format.constants import STRIDE
from ..image.metrics import psnr_rgb
from ..nets.layers import pad_to_stride
from .checkpoint import carry_adam_state, load_checkpoint, read_config, save_checkpoint, warm_start
from .config import TrainConfig
from .data import CropDataset, list_images, load_rgb, split_holdout
from .distributed import all_reduce_sum, finish, start
from .model import HyperpriorModel, ModelConfig, rd_loss

CHECKPOINT = "last.safetensors"


def progress(cfg: TrainConfig, step: int, cpu_seconds: float) -> float:
    """How far the run is, 0..1: by CPU time under a time budget, else by steps."""
    return cpu_seconds / (60 * cfg.minutes) if cfg.minutes else step / cfg.steps


def param_groups(model: HyperpriorModel, cfg: TrainConfig) -> list[dict]:
    """The gain vectors in a group of their own: Adam moves a parameter by about lr per step,
    so at lr 1e-3 a log-gain needs thousands of steps to travel the factor of the init gain.
    So are the parts a warm start left new (cfg.fresh), which start from nothing beside
    trained ones."""
    gains = [model.log_gain, model.log_inv_gain]
    new = [p for name, p in model.named_parameters() if name in cfg.fresh]
    rest = [p for p in model.parameters() if all(p is not g for g in gains + new)]
    return [{"params": rest, "scale": 1.0}, {"params": gains, "scale": cfg.gain_lr}] + \
        ([{"params": new, "scale": cfg.new_lr}] if new else [])


def learning_rate(cfg: TrainConfig, step: int, cpu_seconds: float = 0.0) -> float:
    if step < cfg.warmup:
        return cfg.lr * (0.1 + 0.9 * step / cfg.warmup)
    return cfg.lr * (0.1 if progress(cfg, step, cpu_seconds) >= cfg.decay_from else 1.0)


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """Weight averaging: smooths Adam's noise at any point of a run, not only after the decay."""
    decay = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)


@torch.no_grad()
def evaluate(model: HyperpriorModel, images: list[np.ndarray], levels: tuple | None = None) -> dict:
    """Forward-pass PSNR and likelihood bpp on held-aside images, per level (default: a
    low, a middle and a high one; model 1's 2, 4 and 7)."""
    count = len(model.config.lambdas)
    levels = levels or ((1, 3, 6) if count == 8 else tuple(sorted({min(1, count - 1), count // 2, max(count - 2, 0)})))
    model.eval()
    result = {}
    for level in levels:
        psnrs, bpps = [], []
        for img in images:
            x = torch.tensor(img).permute(2, 0, 1)[None].float() / 255
            h, w = x.shape[-2:]
            out = model(pad_to_stride(x, STRIDE), torch.tensor([level]))
            x_hat = torch.round(out["x_hat"][0, :, :h, :w].clamp(0, 1) * 255).permute(1, 2, 0)
            psnrs.append(min(psnr_rgb(x_hat.to(torch.uint8).numpy(), img), 100.0))
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


def run(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> HyperpriorModel:
    """Train until cfg.steps (checkpointing to cfg.out); returns the trained model."""
    rank, world = start()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    paths = list_images(Path(cfg.data))
    if not paths:  # before the run folder exists: a failed start leaves nothing behind
        raise FileNotFoundError(f"no images under {cfg.data}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT
    if resume and ckpt.exists():  # the architecture and data stream are the run's, not the caller's
        saved = read_config(ckpt)
        cfg.model, cfg.seed, cfg.fresh = ModelConfig(**saved["model"]), saved["seed"], tuple(saved.get("fresh", ()))
    torch.manual_seed(cfg.seed)
    device = torch.device(f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu")

    train_paths, held_paths = split_holdout(paths, cfg.holdout)
    images = [load_rgb(p) for p in train_paths]
    held = [load_rgb(p) for p in held_paths] if rank == 0 else []

    if cfg.bf16 is None:
        cfg.bf16 = bf16_supported(device)
    model = HyperpriorModel(cfg.model).to(device, memory_format=torch.channels_last)
    warm = cfg.init_from and not (resume and ckpt.exists())
    if warm:
        cfg.fresh = tuple(warm_start(model, Path(cfg.init_from)))
        if rank == 0 and progress:
            print(f"warm start from {cfg.init_from}; new: {', '.join(sorted({k.split('.')[0] for k in cfg.fresh})) or '-'}")
    elif cfg.init_gain != 1.0:
        model.scale_latent_init(cfg.init_gain)
    opt = torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr)
    if warm:
        carry_adam_state(model, Path(cfg.init_from), opt, cfg.fresh)
    ema = copy.deepcopy(model) if cfg.ema else None
    step, cpu_seconds, wall_seconds = 0, 0.0, 0.0
    if resume and ckpt.exists():
        step, cpu_seconds, wall_seconds = load_checkpoint(ckpt, model, opt, ema)
        model.to(device, memory_format=torch.channels_last)
        if ema is not None:
            ema.to(device, memory_format=torch.channels_last)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    dataset = CropDataset(images, cfg.crop, cfg.seed, len(cfg.model.lambdas))
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
    # The budget's clock: the process's CPU time on a CPU; on a GPU the host idles while the
    # device works, so wall time there (cpu_seconds then counts device seconds).
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    t_last, w_last = clock(), time.perf_counter()
    for x, level in loader:
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        level = level.to(device)
        lr = learning_rate(cfg, step, cpu_seconds)
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        out_ = net(x, level, cfg.proxy, cfg.bf16)
        losses = rd_loss(out_, x, level, cfg.model.lambdas, cfg.level_weight)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        if ema is not None:
            update_ema(ema, model, cfg.ema, step)
        step += 1
        now, w_now = clock(), time.perf_counter()
        spent = now - t_last
        if world > 1 and cfg.minutes:  # the run's CPU time, the same on every replica: same lr, same last step
            spent = all_reduce_sum(spent, device)
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
            while cfg.snapshot_minutes and cpu_seconds >= 60 * cfg.snapshot_minutes * (snapshots + 1) \
                    and (not cfg.minutes or cfg.snapshot_minutes * (snapshots + 1) <= cfg.minutes * (1 + 1e-9)):
                snapshots += 1  # a slow step may cross several snapshot times (up to the budget): one file each
                save_checkpoint(out / f"snap-{snapshots * cfg.snapshot_minutes:g}min.safetensors", model, opt,
                                step, cfg, cpu_seconds, wall_seconds, ema)
        if done:
            break
    if bar:
        bar.close()
    if log:
        log.close()
    finish(world)
    return model
