"""The one definition of every number the benchmark reports, used for every codec."""
import numpy as np
import torch
import torch.nn.functional as F


from ...image.metrics import bpp, psnr_rgb  # noqa: F401  (the codec's own definitions, for every codec)


_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_terms(x, y, win):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ch = x.shape[1]
    wh = win.view(1, 1, 1, -1).repeat(ch, 1, 1, 1)
    wv = win.view(1, 1, -1, 1).repeat(ch, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, wh, groups=ch), wv, groups=ch)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs
    return ssim.flatten(2).mean(-1), cs.flatten(2).mean(-1)


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (Wang et al. 2003) on 0-255 RGB, 5 scales, 11-tap Gaussian window, averaged
    over channels; the same definition as pytorch-msssim. NaN for images under 161 px."""
    if min(a.shape[:2]) <= 160:
        return float("nan")
    x = torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None]
    y = torch.from_numpy(b.astype(np.float32)).permute(2, 0, 1)[None]
    win = _gaussian().float()
    values = []
    for i in range(len(_MS_WEIGHTS)):
        ssim, cs = _ssim_terms(x, y, win)
        values.append(torch.relu(ssim if i == len(_MS_WEIGHTS) - 1 else cs))
        if i < len(_MS_WEIGHTS) - 1:
            pad = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    stack = torch.stack(values, 0)
    w = torch.tensor(_MS_WEIGHTS, dtype=torch.float64)[:, None, None]
    return float(torch.prod(stack ** w, dim=0).mean())


def ms_ssim_db(value: float) -> float:
    return float(-10 * np.log10(1 - value)) if value < 1 else float("inf")
