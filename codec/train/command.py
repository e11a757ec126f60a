"""`dcn train` and `dcn export` (also `python -m codec.train`): options map onto TrainConfig,
whose own defaults and validation they use."""
from pathlib import Path
from typing import Optional

import typer

from ..console import user_errors
from ..errors import DCNError
from ..models.quality import LAMBDAS
from .config import TrainConfig
from .config import ModelConfig

D = TrainConfig(data="", out="")  # the defaults
M = ModelConfig  # its defaults, as class attributes: showing --help builds no model (and imports no torch)


@user_errors
def train_command(
    data: Path = typer.Argument(..., help="Directory of training images (searched recursively)."),
    out: Path = typer.Option(Path("runs/train"), help="Run directory: checkpoint and log.csv."),
    steps: int = typer.Option(D.steps, help="Total number of optimizer steps."),
    batch: int = typer.Option(D.batch, help="Crops per step (per process)."),
    crop: int = typer.Option(D.crop, help="Crop size in pixels (a multiple of 64)."),
    lr: float = typer.Option(D.lr, help="Adam learning rate (x0.1 after --decay-from)."),
    decay_from: float = typer.Option(D.decay_from, help="Fraction of --steps after which the rate decays x0.1."),
    seed: int = typer.Option(D.seed, help="Seed of the crops, levels and noise."),
    workers: int = typer.Option(D.workers, help="Data loader processes."),
    threads: int = typer.Option(D.threads, help="Torch threads per process (0: torch's default)."),
    eval_every: int = typer.Option(D.eval_every, help="Evaluate on held-aside images every so many steps."),
    ckpt_every: int = typer.Option(D.ckpt_every, help="Write the checkpoint every so many steps."),
    resume: bool = typer.Option(False, help="Continue from OUT/last.safetensors if it exists."),
    minutes: float = typer.Option(D.minutes, help="CPU-time budget in minutes (all processes): stop there, and "
                                                  "place --decay-from by time instead of steps. 0: use --steps."),
    ema: float = typer.Option(D.ema, help="Decay of an exponential moving average of the weights, which "
                                          "evaluation and export then use (0: off)."),
    snapshot_minutes: float = typer.Option(D.snapshot_minutes, help="Also keep OUT/snap-<T>min.safetensors every "
                                                                    "so many CPU minutes (0: off)."),
    n: int = typer.Option(M.n, "--n", "--channels", help="Channels of the transforms (N); --channels under "
                                                         "torchrun, which takes --n for its own options."),
    m: int = typer.Option(M.m, "--m", "--latent-channels", help="Channels of the latent (M); "
                                                                "--latent-channels under torchrun."),
    act: str = typer.Option(M.act, help="Nonlinearity of the transforms: gdn or relu."),
    context: str = typer.Option(M.context, help="Latent context model: none, checkerboard (two passes), or "
                                                "checkerboard-groups (eight: the checkerboard over four channel groups)."),
    lambdas: str = typer.Option("", help="Comma-separated lambda of each rate level, ascending (default: the "
                                         "8 levels of model 1, 0.0018 ... 0.18)."),
    proxy: str = typer.Option(D.proxy, help="Quantization proxy for the synthesis: mixed (rounding with "
                                            "straight-through gradient) or noise (additive uniform noise)."),
    init_gain: float = typer.Option(D.init_gain, help="Initial scale of the latent (x gain of every level; 1: "
                                                      "the plain initialisation, whose latent rounds to 0 at first)."),
    init_from: Optional[Path] = typer.Option(None, help="Start from this checkpoint's weights (and Adam state) where the parts "
                                                        "match (gains extended to the level table); new parts "
                                                        "keep their initialisation."),
    gain_lr: float = typer.Option(D.gain_lr, help="Learning-rate multiplier of the per-level gain vectors."),
    new_lr: float = typer.Option(D.new_lr, help="Learning-rate multiplier of the parts that --init-from leaves "
                                                "new (kept by the run: give it again on --resume)."),
    level_weight: float = typer.Option(D.level_weight, help="Weight each sample's loss by (lambda_mid / lambda)^this: "
                                                            "0 lets the high rates dominate the shared networks, "
                                                            "about 0.6 evens the levels out (give it again on --resume)."),
    bf16: Optional[bool] = typer.Option(D.bf16, help="Run the analysis and synthesis transforms in bfloat16 "
                                                     "autocast (1.6x the steps per CPU second here). Default: on "
                                                     "where the CPU (AVX512-BF16) or GPU supports it."),
):
    """Train the codec's networks (also under torchrun for several processes)."""
    from .loop import CHECKPOINT, run
    if init_from is not None and not init_from.is_file():
        raise DCNError(f"--init-from: no such checkpoint: {init_from}")
    try:
        levels = tuple(float(v) for v in lambdas.split(",")) if lambdas else LAMBDAS
        cfg = TrainConfig(data=str(data), out=str(out), steps=steps, batch=batch, crop=crop, lr=lr,
                          decay_from=decay_from, seed=seed, workers=workers, threads=threads,
                          eval_every=eval_every, ckpt_every=ckpt_every, minutes=minutes, ema=ema,
                          snapshot_minutes=snapshot_minutes, proxy=proxy, init_gain=init_gain, gain_lr=gain_lr, new_lr=new_lr,
                          level_weight=level_weight,
                          bf16=bf16, init_from=str(init_from or ""),
                          model=ModelConfig(n, m, act, context, levels)).validate()
    except ValueError as exc:
        raise DCNError(str(exc)) from None
    run(cfg, resume=resume)
    typer.echo(f"checkpoint: {out / CHECKPOINT}")


@user_errors
def export_command(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (last.safetensors)."),
    out: Path = typer.Option(..., help="Directory for the model's decoder/encoder.safetensors."),
    calibration: Optional[Path] = typer.Option(None, help="Images to calibrate the integer scale network "
                                                       "(default: the run's training data)."),
):
    """Write a model's weight files (and integer coding tables) from a training checkpoint.
    Use them with `dcn encode --model OUT`; releasing them is registering them (weights/README.md)."""
    from .export import export
    try:
        stats = export(checkpoint, out, calibration)
    except ValueError as exc:
        raise DCNError(str(exc)) from None
    typer.echo(f"wrote {out}/decoder.safetensors and {out}/encoder.safetensors; "
               f"integer/float scale-table agreement {stats['scale_index_agreement']:.4%}"
               + (f", context {stats['context_index_agreement']:.4%}" if "context_index_agreement" in stats else ""))
