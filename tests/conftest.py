import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
KODAK = SHARED / "kodak"
TRAIN = SHARED / "train"


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth image with edges and texture: something the codec must really code."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([
        128 + 100 * np.sin(xx / (7 + 3 * c) + yy / (11 + c)) * np.cos(yy / 13) for c in range(3)
    ], axis=2)
    img[(xx // 16 + yy // 16) % 3 == 0] += 40
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rgb = Image.fromarray(photo_like(width, height, seed))
    if mode == "RGB":
        return rgb
    if mode == "L":
        return rgb.convert("L")
    alpha = Image.fromarray(np.random.default_rng(seed + 1).integers(0, 256, (height, width), dtype=np.uint8))
    if mode == "RGBA":
        return Image.merge("RGBA", (*rgb.split(), alpha))
    if mode == "LA":
        return Image.merge("LA", (rgb.convert("L"), alpha))
    raise ValueError(mode)


def run_cli(*args, env=None, timeout=300):
    """Run a console script of this package in a subprocess."""
    exe = Path(sys.executable).parent / args[0]
    return subprocess.run([str(exe), *map(str, args[1:])], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-10)))


@pytest.fixture(scope="session")
def sample_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "sample.png"
    make_image(96, 80).save(path)
    return path


def hyperprior_part(latent):
    """The hyperprior codec inside a model's latent codec (the checkerboard codec wraps one)."""
    return getattr(latent, "hyper", latent)
