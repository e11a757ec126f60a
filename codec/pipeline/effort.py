"""Encoder effort levels: how an encode refines the image's latent (refine.py), as phases
of refinement steps. Kept free of torch so that the command line can check a level at once."""
from dataclasses import dataclass

from ..defaults import DEFAULT_EFFORT, MAX_EFFORT  # noqa: F401  (re-exported; the levels' bounds, for --help)
from ..errors import DCNError


@dataclass(frozen=True)
class Phase:
    """Steps of Adam on the latent, its rounding annealed from soft to hard over them."""

    steps: int  # per block of at most 768 x 768 pixels
    noisy: bool  # stochastic Gumbel annealing (True) or the same rounding without its noise
    learning_rate: float  # Adam's, in quantization steps of y


# effort -> its ways to refine, each a sequence of phases from the analysis' latent; with
# several, the file that costs least (bpp + lambda * MSE, measured) is kept. Noise-free
# annealing gains more in a few steps and loses in many (the latent learns to sit where
# soft rounding flatters it), so the longer levels also try the short one.
# Measured: bench/README.md ("Encoder effort"); times and gains: README, bench/results/effort-*
SHORT = (Phase(8, False, 0.02),)
LEVELS = {0: (), 1: (SHORT,), 2: (SHORT, (Phase(24, True, 0.03),)), 3: (SHORT, (Phase(64, True, 0.03),))}
STEPS = {effort: sum(p.steps for phases in ways for p in phases) for effort, ways in LEVELS.items()}


def check_effort(effort: int) -> int:
    if isinstance(effort, bool) or not isinstance(effort, int) or effort not in LEVELS:
        raise DCNError(f"effort must be an integer from 0 to {MAX_EFFORT}, got {effort!r}")
    return effort
