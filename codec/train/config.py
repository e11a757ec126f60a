"""`dcn train`'s settings in one place: defaults, and validation that does not depend on
how the run was launched (CLI, torchrun, or Python)."""
from dataclasses import asdict, dataclass, field

from ..models.quality import LAMBDAS

CONTEXTS = ("none", "checkerboard", "checkerboard-groups")


@dataclass(frozen=True)
class ModelConfig:
    n: int = 64  # N=128, M=192 trains 6x slower per step on a CPU and was worse at every budget measured
    m: int = 128
    act: str = "gdn"  # nonlinearity of the analysis and synthesis transforms
    context: str = "none"  # "none": hyperprior only; "checkerboard": two-pass context model (context.py)
    lambdas: tuple = LAMBDAS  # one rate level per lambda, ascending

    def __post_init__(self):
        object.__setattr__(self, "lambdas", tuple(float(v) for v in self.lambdas))
        if self.context not in CONTEXTS:
            raise ValueError(f"unknown context {self.context!r} (choose from {', '.join(CONTEXTS)})")
        if len(self.lambdas) < 2 or list(self.lambdas) != sorted(set(self.lambdas)) or self.lambdas[0] <= 0:
            raise ValueError("lambdas must be at least two distinct positive values, ascending")

    def to_dict(self) -> dict:
        return asdict(self)



PROXIES = ("mixed", "noise")


@dataclass
class TrainConfig:
    data: str
    out: str
    steps: int = 10000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-3
    warmup: int = 100
    decay_from: float = 0.85  # fraction of steps after which lr drops x0.1
    clip: float = 1.0
    seed: int = 0
    workers: int = 1
    threads: int = 0  # 0: torch's default
    holdout: int = 4
    eval_every: int = 500
    ckpt_every: int = 200
    minutes: float = 0.0  # >0: stop after this much CPU time (wall time on a GPU); the lr schedule follows it
    ema: float = 0.0  # >0: keep an exponential moving average of the weights (evaluated, exported)
    snapshot_minutes: float = 0.0  # >0: keep a copy of the checkpoint every so many CPU minutes
    proxy: str = "mixed"  # quantization proxy for the synthesis: "mixed" (rounding, STE) or "noise"
    init_gain: float = 16.0  # initial scale of the latent (see HyperpriorModel.scale_latent_init)
    gain_lr: float = 1.0  # learning-rate multiplier of the per-level gain vectors
    level_weight: float = 0.0  # each sample's loss x (lambda_mid / lambda)^this (model.rd_loss)
    bf16: bool | None = None  # analysis and synthesis in bfloat16 autocast; None: where the hardware has it
    init_from: str = ""  # a checkpoint whose matching weights start a new run (see warm_start)
    new_lr: float = 1.0  # learning-rate multiplier of the parts that warm start left new
    fresh: tuple = ()  # their names (set by the warm start, kept by the checkpoint)
    model: ModelConfig = field(default_factory=ModelConfig)

    def validate(self) -> "TrainConfig":
        """ValueError naming the first bad setting."""
        from ..nets.layers import ACTIVATIONS  # torch, so here and not where the defaults are read (--help)
        if self.model.act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.model.act!r} (choose from {', '.join(ACTIVATIONS)})")
        if self.crop % 64 or self.crop < 64:
            raise ValueError("--crop must be a multiple of 64")
        if self.proxy not in PROXIES:
            raise ValueError(f"--proxy must be one of {', '.join(PROXIES)}")
        for name in ("steps", "batch", "warmup", "eval_every", "ckpt_every"):
            if getattr(self, name) < (0 if name == "warmup" else 1):
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if self.new_lr <= 0 or self.gain_lr <= 0:
            raise ValueError("--gain-lr and --new-lr must be positive")
        if self.lr <= 0 or self.minutes < 0 or self.snapshot_minutes < 0 or not 0 <= self.ema < 1:
            raise ValueError("--lr must be positive, --minutes and --snapshot-minutes not negative, --ema in [0, 1)")
        if not 0 <= self.level_weight <= 2:
            raise ValueError("--level-weight must be from 0 to 2")
        return self
