"""--device auto|cpu|cuda, and running the big networks within a GPU's memory."""
import warnings
from typing import Callable, TypeVar

import torch

from ..errors import DCNError

DEVICES = ("auto", "cpu", "cuda")
GPU_BLOCK = 2048  # pixels: a block of the big networks on a GPU (the synthesis needs ~1.5 GB for one)
MIN_GPU_BLOCK = 256  # the smallest block tried after running out of GPU memory
T = TypeVar("T")


def resolve(device: str) -> torch.device:
    if device not in DEVICES:
        raise DCNError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DCNError("--device cuda: no CUDA device is available")
    return torch.device(device)


def within_memory(run: Callable[[int], T], device: torch.device, block: int = GPU_BLOCK) -> T:
    """run(block) on a GPU, the block halved each time the GPU runs out of memory (a
    smaller GPU, or one shared with other work), down to MIN_GPU_BLOCK; then a one-line
    error that points to the CPU. On the CPU, run(block) once."""
    while True:
        try:
            return run(block)
        except torch.cuda.OutOfMemoryError:
            if device.type != "cuda":
                raise
            if block <= MIN_GPU_BLOCK:
                raise DCNError(f"out of GPU memory even in blocks of {block} px: use --device cpu") from None
            torch.cuda.empty_cache()
            block //= 2
            warnings.warn(f"out of GPU memory: retrying in blocks of {block} px", stacklevel=2)
