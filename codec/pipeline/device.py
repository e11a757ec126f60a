"""--device auto|cpu|cuda."""
import torch

from ..errors import DCNError

DEVICES = ("auto", "cpu", "cuda")


def resolve(device: str) -> torch.device:
    if device not in DEVICES:
        raise DCNError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DCNError("--device cuda: no CUDA device is available")
    return torch.device(device)
