"""Training crops, each a pure function of (seed, sample index), so that a resumed or
distributed run sees exactly the crops an uninterrupted single run would."""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def list_images(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def split_holdout(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Every k-th image is held aside for evaluation; the rest is for training."""
    if count <= 0 or len(paths) <= count:
        return paths, []
    step = len(paths) // count
    held = set(range(step // 2, len(paths), step)[:count])
    return [p for i, p in enumerate(paths) if i not in held], [p for i, p in enumerate(paths) if i in held]


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class CropDataset(torch.utils.data.Dataset):
    """Decoded images kept in memory; item i is a random rescaled crop and a quality level.

    Sources are JPEGs: a random downscale by 0.5-1.0 hides their artifacts.
    """

    def __init__(self, images: list[np.ndarray], crop: int, seed: int, levels: int, min_scale: float = 0.5):
        self.images, self.crop, self.seed, self.levels, self.min_scale = images, crop, seed, levels, min_scale

    def __len__(self) -> int:
        return 2 ** 62

    def __getitem__(self, index: int):
        rng = np.random.default_rng((self.seed, index))
        img = self.images[rng.integers(len(self.images))]
        h, w = img.shape[:2]
        fit = self.crop / min(h, w)  # the smallest scale at which a crop still fits
        scale = rng.uniform(max(self.min_scale, fit), 1.0) if fit < 1 else fit
        window = min(h, w, int(np.ceil(self.crop / scale)))
        top = rng.integers(h - window + 1)
        left = rng.integers(w - window + 1)
        patch = Image.fromarray(img[top:top + window, left:left + window])
        if window != self.crop:
            patch = patch.resize((self.crop, self.crop), Image.Resampling.BICUBIC)
        arr = np.asarray(patch)
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        if rng.random() < 0.5:
            arr = arr[::-1]
        x = torch.from_numpy(np.array(arr)).permute(2, 0, 1).float() / 255
        return x, int(rng.integers(self.levels))
