"""Encoder effort levels: how many refinement steps (refine.py) an encode spends on the
image's latent. Kept free of torch so that the command line can check a level at once."""
from ..defaults import DEFAULT_EFFORT, MAX_EFFORT  # noqa: F401  (re-exported; the levels' bounds, for --help)
from ..errors import DCNError

# effort -> refinement steps per block of 1024 x 1024 pixels (0: the analysis' latent as
# it is, today's encoder bit for bit); times and gains: README, bench/results/effort-*
STEPS = {0: 0, 1: 8, 2: 24, 3: 64}


def check_effort(effort: int) -> int:
    if isinstance(effort, bool) or not isinstance(effort, int) or effort not in STEPS:
        raise DCNError(f"effort must be an integer from 0 to {MAX_EFFORT}, got {effort!r}")
    return effort
