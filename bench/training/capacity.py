"""What limits the top quality, and what more latent channels would cost (issue #17, item 3).

    python bench/training/capacity.py ceiling weights/train-checkpoint.safetensors [--images 24]
    python bench/training/capacity.py free weights/train-checkpoint.safetensors [--image 05 --steps 150]
    python bench/training/capacity.py cost --m 128,192 [--threads 1]

ceiling: per level, forward pass on Kodak: PSNR-RGB with the latent rounded as coded, and
with the same latent not rounded at all (the transforms' own limit: no quantization, no
entropy model), and how many of y's channels hold 50 / 90 / 99 % of the level's bits.

free: the synthesis' own limit on one image at the top level: y optimised freely for the
MSE alone (no rate, no rounding; Adam from the analysis' latent), its PSNR every 25 steps.

cost: for each M (latent channels), a channel-group model of that width (N = 64, 12
levels, uneven groups as nets/context.py sizes them), untrained (two steps on a few training
crops, then exported): the median time of a training step (4 crops of 256², one thread)
and of decoding Kodak images, the latent codec and the synthesis timed apart, the widths
taking turns. Untrained weights code more symbols than trained ones (the ANS part is
overstated, alike for every width); the networks' cost does not depend on the weights.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from codec.image.metrics import psnr_rgb  # noqa: E402
from codec.nets.layers import pad_to_stride  # noqa: E402
from codec.train.data import load_rgb  # noqa: E402

KODAK = ROOT.parent / "shared" / "data" / "kodak"
TRAIN = ROOT.parent / "shared" / "data" / "train"


def _psnr(x_hat: torch.Tensor, img: np.ndarray) -> float:
    """PSNR-RGB of a synthesis output (padded, 0-1) against the image, on rounded pixels."""
    h, w = img.shape[:2]
    pixels = torch.round(x_hat[0, :, :h, :w].clamp(0, 1) * 255).permute(1, 2, 0).to(torch.uint8).numpy()
    return psnr_rgb(pixels, img)


@torch.no_grad()
def ceiling(checkpoint: Path, images: list[np.ndarray]) -> None:
    from codec.train.export import load_model
    model, _, step = load_model(checkpoint)
    model.eval()
    print(f"{checkpoint} (step {step}), {len(images)} Kodak images, forward pass")
    print("| level | lambda | PSNR rounded (dB) | PSNR not rounded (dB) | bpp | channels with 50 / 90 / 99 % of the bits |")
    print("|---:|---:|---:|---:|---:|---|")
    for level, lam in enumerate(model.config.lambdas):
        rounded, unrounded, bpp, shares = [], [], [], []
        for img in images:
            x0 = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
            h, w = x0.shape[-2:]
            x = pad_to_stride(x0)
            out = model(x, torch.tensor([level]))
            y = model.g_a(x) * torch.exp(model.log_gain[level])[None, :, None, None]
            x_open = model.g_s(y * torch.exp(model.log_inv_gain[level])[None, :, None, None])
            rounded.append(_psnr(out["x_hat"], img))
            unrounded.append(_psnr(x_open, img))
            bits = -torch.log2(out["y_lik"]).sum((0, 2, 3))
            bpp.append(float((bits.sum() - torch.log2(out["z_lik"]).sum()) / (h * w)))
            shares.append(bits / bits.sum())
        cum = torch.stack(shares).mean(0).sort(descending=True).values.cumsum(0)
        held = " / ".join(str(int((cum < f).sum()) + 1) for f in (0.5, 0.9, 0.99))
        print(f"| {level + 1} | {lam} | {np.mean(rounded):.2f} | {np.mean(unrounded):.2f} | {np.mean(bpp):.3f} | "
              f"{held} of {len(cum)} |")


def free(checkpoint: Path, img: np.ndarray, steps: int, lr: float) -> None:
    from codec.train.export import load_model
    model, _, step = load_model(checkpoint)
    model.eval().requires_grad_(False)
    x0 = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    h, w = x0.shape[-2:]
    x = pad_to_stride(x0)
    top = len(model.config.lambdas) - 1
    inv_gain = torch.exp(model.log_inv_gain[top])[None, :, None, None]

    def psnr(y: torch.Tensor) -> float:
        with torch.no_grad():
            return _psnr(model.g_s(y * inv_gain), img)

    with torch.no_grad():
        y = model.g_a(x) * torch.exp(model.log_gain[top])[None, :, None, None]
    print(f"{checkpoint} (step {step}), top level; the analysis' y: {psnr(y):.2f} dB, rounded {psnr(torch.round(y)):.2f} dB")
    y.requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    for i in range(1, steps + 1):
        loss = torch.mean((model.g_s(y * inv_gain)[:, :, :h, :w] - x0) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % 25 == 0:
            print(f"step {i}: {psnr(y):.2f} dB, rounded {psnr(torch.round(y)):.2f} dB", flush=True)


def config(m: int):
    """The default model's configuration (its levels), M = m."""
    from codec.models.registry import default_model
    from codec.models.weights import load_decoder
    from codec.train.model import ModelConfig
    return ModelConfig(64, m, context="checkerboard-groups", lambdas=tuple(load_decoder(default_model()).lambdas))


def untrained(m: int, folder: Path) -> Path:
    """A channel-group model with M = m after two training steps, exported to folder."""
    from codec.train.config import TrainConfig
    from codec.train.export import export
    from codec.train.loop import run
    crops = folder / "crops"
    crops.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in TRAIN.rglob("*") if p.suffix.lower() in (".jpg", ".png"))[:6]:
        (crops / path.name).write_bytes(path.read_bytes())
    run(TrainConfig(data=str(crops), out=str(folder / "run"), steps=2, batch=1, crop=256, workers=0, holdout=1,
                    eval_every=100, ckpt_every=100, warmup=1, model=config(m)),
        progress=False)
    export(folder / "run" / "last.safetensors", folder / "weights", crops)
    return folder / "weights"


def step_time(m: int, steps: int = 6) -> float:
    """Median seconds of one training step (forward, backward, Adam) of 4 crops of 256²."""
    from codec.train.model import HyperpriorModel, rd_loss
    model = HyperpriorModel(config(m))
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    g = torch.Generator().manual_seed(0)
    x = torch.rand((4, 3, 256, 256), generator=g)
    level = torch.tensor([0, 4, 8, 11])
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = rd_loss(model(x, level), x, level, model.config.lambdas)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def cost(widths: list[int], images: list[np.ndarray], runs: int) -> None:
    import codec
    from codec.format import container
    from codec.pipeline.decode import decode_latents, decoder_for, synthesize
    from limits import cpu_model
    with tempfile.TemporaryDirectory() as tmp:
        folders = {m: untrained(m, Path(tmp) / f"m{m}") for m in widths}
        files = {m: [container.read(codec.encode(img, model=folders[m])) for img in images] for m in widths}
        decoders = {m: decoder_for(files[m][0].header, folders[m]) for m in widths}
        parts = {m: ([], []) for m in widths}
        for _ in range(runs):
            for i in range(len(images)):
                for m in widths:
                    c = files[m][i]
                    start = time.perf_counter()
                    latents = decode_latents(c, decoders[m])
                    middle = time.perf_counter()
                    synthesize(latents, decoders[m], c.header.quality, c.header.width, c.header.height,
                               torch.device("cpu"))
                    parts[m][0].append(middle - start)
                    parts[m][1].append(time.perf_counter() - middle)
        steps = {m: step_time(m) for m in widths}
    print(f"{cpu_model()}, {torch.get_num_threads()} thread(s); {len(images)} Kodak images x {runs} runs, "
          "default quality; medians")
    base = widths[0]
    total = {m: statistics.median(a + s for a, s in zip(*parts[m])) for m in widths}
    print("| M | latent codec (ms) | synthesis (ms) | decode (ms) | vs M = %d | training step (s) | vs M = %d |" % (base, base))
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for m in widths:
        print(f"| {m} | {statistics.median(parts[m][0]) * 1000:.1f} | {statistics.median(parts[m][1]) * 1000:.1f} | "
              f"{total[m] * 1000:.1f} | {total[m] / total[base]:.2f}x | {steps[m]:.3f} | {steps[m] / steps[base]:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("ceiling", "free", "cost"))
    ap.add_argument("checkpoint", nargs="?", type=Path, help="ceiling, free: a training checkpoint")
    ap.add_argument("--image", default="05", help="free: the Kodak image")
    ap.add_argument("--steps", type=int, default=150, help="free: Adam steps")
    ap.add_argument("--lr", type=float, default=0.05, help="free: Adam's learning rate")
    ap.add_argument("--m", default="128,192", help="cost: latent widths, the first the reference")
    ap.add_argument("--images", type=int, default=0, help="Kodak images (default: 24 for ceiling, 6 for cost)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(KODAK.glob("kodim*.png"))
    count = args.images or (24 if args.what == "ceiling" else 6)
    images = [load_rgb(p) for p in paths[::max(1, len(paths) // count)][:count]]
    if args.what != "cost" and args.checkpoint is None:
        ap.error(f"{args.what} needs a checkpoint")
    if args.what == "ceiling":
        ceiling(args.checkpoint, images)
    elif args.what == "free":
        free(args.checkpoint, load_rgb(KODAK / f"kodim{args.image}.png"), args.steps, args.lr)
    else:
        cost([int(m) for m in args.m.split(",")], images, args.runs)


if __name__ == "__main__":
    main()
