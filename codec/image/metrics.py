"""Rate and distortion, defined once for the encoder's rate control and the benchmark.
NumPy is imported where it is used: `dcn info` needs only bpp, and starts faster without it."""
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def bpp(num_bytes: int, width: int, height: int) -> float:
    """Bits per pixel of a whole file: 8 * bytes / (W * H)."""
    return 8.0 * num_bytes / (width * height)


def psnr_rgb(a: "np.ndarray", b: "np.ndarray") -> float:
    """10 log10(255^2 / MSE) over all channels of two uint8 images of the same shape."""
    import numpy as np
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
