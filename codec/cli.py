"""Command-line interface: a thin layer over the Python API.

`dcn` has every subcommand; `dcn-encode` and `dcn-decode` are the split executables (the
decoder never imports the encoder side). Errors print one line and exit non-zero.
"""
import functools
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from .errors import DCNError

MAX_PIXELS_HELP = "Refuse images larger than this many pixels."
DEFAULT_MAX_PIXELS = 2 ** 27

app = typer.Typer(help="DCN learned image codec.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"dcn: warning: {message}", file=sys.stderr)


def user_errors(fn):
    """Turn DCNError (and I/O errors) into a one-line message and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warnings.showwarning = _show_warning
        try:
            return fn(*args, **kwargs)
        except DCNError as exc:
            typer.echo(f"dcn: error: {exc}", err=True)
            raise typer.Exit(1)
        except OSError as exc:
            typer.echo(f"dcn: error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("dcn: interrupted", err=True)
            raise typer.Exit(130)
    return wrapper


def check_output(src: Path, dst: Path) -> None:
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise DCNError(f"{dst}: refusing to overwrite the input")
    if dst.is_dir():
        raise DCNError(f"{dst}: is a directory")
    if not dst.parent.exists():
        raise DCNError(f"{dst.parent}: no such directory")


def check_tile(tile: int) -> int:
    if tile < 64 or tile % 64:
        raise DCNError(f"--tile {tile}: must be a multiple of 64, at least 64")
    return tile


def read_input(path: Path) -> bytes:
    if not path.exists():
        raise DCNError(f"{path}: no such file")
    if path.is_dir():
        raise DCNError(f"{path}: is a directory")
    return path.read_bytes()


@user_errors
def encode_command(
    input: Path = typer.Argument(..., help="Image to encode (PNG, JPEG, WebP, TIFF, ...)."),
    output: Path = typer.Argument(..., help="The .dcn file to write."),
    quality: float = typer.Option(4.0, "--quality", "-q", help="1.0 (smallest) to 8.0 (best); any value between."),
    target_size: Optional[str] = typer.Option(None, help="Largest file that fits this size (e.g. 120KB, 40000)."),
    target_bpp: Optional[float] = typer.Option(None, help="Largest file within this many bits per pixel."),
    target_psnr: Optional[float] = typer.Option(None, help="Smallest file that reaches this PSNR (dB)."),
    best_effort: bool = typer.Option(False, help="If a target cannot be met, write the closest file and warn."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    tile: int = typer.Option(128, help="Coding tile in pixels (a multiple of 64): each tile's streams decode "
                                       "on their own. The default matches the training crops (see bench/README.md)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, help=MAX_PIXELS_HELP),
):
    """Encode an image to a .dcn file, at a quality or to a size, bpp or PSNR target."""
    from .files import atomic_write
    check_output(input, output)
    options = dict(device=device, max_pixels=max_pixels, tile=check_tile(tile), progress=True)
    if target_size is None and target_bpp is None and target_psnr is None:
        from .encoder import encode
        data = encode(input, quality, **options)
    else:
        from .ratecontrol import encode_to_target, parse_size
        size = parse_size(target_size) if target_size is not None else None
        data, info = encode_to_target(input, size, target_bpp, target_psnr, best_effort, **options)
        typer.echo(f"quality {info['quality']:g}: {info['bytes']} bytes, {info['bpp']:.4f} bpp"
                   + (f", {info['psnr']:.2f} dB" if "psnr" in info else ""))
    atomic_write(output, data)


@user_errors
def decode_command(
    input: Path = typer.Argument(..., help="The .dcn file to decode."),
    output: Path = typer.Argument(..., help="Image to write; the format follows the extension (.png, ...)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    tile: int = typer.Option(256, help="Tile size in pixels for the synthesis network (bounds memory)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, help=MAX_PIXELS_HELP),
):
    """Decode a .dcn file to an image."""
    from .decoder import decode
    from .files import atomic_write
    from .imageio import image_bytes
    check_output(input, output)
    image = decode(read_input(input), device=device, max_pixels=max_pixels, tile=check_tile(tile), progress=True)
    atomic_write(output, image_bytes(image, output))


@user_errors
def info_command(file: Path = typer.Argument(..., help="The .dcn file to describe.")):
    """Show a .dcn file's size, mode, quality, bits per pixel and section sizes."""
    from . import bitstream
    data = read_input(file)
    c = bitstream.read(data, max_pixels=2 ** 62)
    h = c.header
    typer.echo(f"file:        {file}")
    typer.echo(f"size:        {h.width}x{h.height}")
    typer.echo(f"mode:        {h.mode}")
    typer.echo(f"quality:     {h.quality:g}")
    typer.echo(f"bytes:       {len(data)}")
    typer.echo(f"bpp:         {8 * len(data) / (h.width * h.height):.4f}")
    typer.echo(f"weights:     {h.fingerprint.hex()}")
    typer.echo(f"tiles:       {h.grid[0]}x{h.grid[1]} of {h.tile} px")
    typer.echo("sections:    " + ", ".join(f"{k} {v} B" for k, v in c.section_sizes().items()))


app.command("encode")(encode_command)
app.command("decode")(decode_command)
app.command("info")(info_command)


@app.command("train")
@user_errors
def train_command(
    data: Path = typer.Argument(..., help="Directory of training images (searched recursively)."),
    out: Path = typer.Option(Path("runs/train"), help="Run directory: checkpoint and log.csv."),
    steps: int = typer.Option(10000, help="Total number of optimizer steps."),
    batch: int = typer.Option(8, help="Crops per step (per process)."),
    crop: int = typer.Option(128, help="Crop size in pixels (a multiple of 64)."),
    lr: float = typer.Option(1e-3, help="Adam learning rate (x0.1 after --decay-from)."),
    decay_from: float = typer.Option(0.85, help="Fraction of --steps after which the rate decays x0.1."),
    seed: int = typer.Option(0, help="Seed of the crops, levels and noise."),
    workers: int = typer.Option(1, help="Data loader processes."),
    threads: int = typer.Option(0, help="Torch threads per process (0: torch's default)."),
    eval_every: int = typer.Option(500, help="Evaluate on held-aside images every so many steps."),
    ckpt_every: int = typer.Option(200, help="Write the checkpoint every so many steps."),
    resume: bool = typer.Option(False, help="Continue from OUT/last.safetensors if it exists."),
    minutes: float = typer.Option(0.0, help="CPU-time budget in minutes (all processes): stop there, and "
                                            "place --decay-from by time instead of steps. 0: use --steps."),
    ema: float = typer.Option(0.0, help="Decay of an exponential moving average of the weights, which "
                                        "evaluation and export then use (0: off)."),
    snapshot_minutes: float = typer.Option(0.0, help="Also keep OUT/snap-<T>min.safetensors every so many "
                                                     "CPU minutes (0: off)."),
    n: int = typer.Option(64, "--n", "--channels", help="Channels of the transforms (N); --channels under "
                                                      "torchrun, which takes --n for its own options."),
    m: int = typer.Option(128, "--m", "--latent-channels", help="Channels of the latent (M); "
                                                              "--latent-channels under torchrun."),
    act: str = typer.Option("gdn", help="Nonlinearity of the transforms: gdn or relu."),
    proxy: str = typer.Option("mixed", help="Quantization proxy for the synthesis: mixed (rounding with "
                                            "straight-through gradient) or noise (additive uniform noise)."),
    init_gain: float = typer.Option(16.0, help="Initial scale of the latent (x gain of every level; 1: the "
                                                "plain initialisation, whose latent rounds to 0 at first)."),
    gain_lr: float = typer.Option(1.0, help="Learning-rate multiplier of the per-level gain vectors."),
    bf16: Optional[bool] = typer.Option(None, help="Run the analysis and synthesis transforms in bfloat16 "
                                                   "autocast (1.6x the steps per CPU second here). Default: on "
                                                   "where the CPU (AVX512-BF16) or GPU supports it."),
):
    """Train the codec's networks (also under torchrun for several processes)."""
    from .layers import ACTIVATIONS
    from .model import ModelConfig
    from .train import CHECKPOINT, TrainConfig, run
    if crop % 64:
        raise DCNError("--crop must be a multiple of 64")
    if proxy not in ("mixed", "noise"):
        raise DCNError("--proxy must be mixed or noise")
    if act not in ACTIVATIONS:
        raise DCNError(f"--act must be one of {', '.join(ACTIVATIONS)}")
    cfg = TrainConfig(data=str(data), out=str(out), steps=steps, batch=batch, crop=crop, lr=lr,
                      decay_from=decay_from, seed=seed, workers=workers, threads=threads,
                      eval_every=eval_every, ckpt_every=ckpt_every, minutes=minutes, ema=ema,
                      snapshot_minutes=snapshot_minutes, proxy=proxy, init_gain=init_gain, gain_lr=gain_lr,
                      bf16=bf16, model=ModelConfig(n, m, act))
    run(cfg, resume=resume)
    typer.echo(f"checkpoint: {out / CHECKPOINT}")


@app.command("export")
@user_errors
def export_command(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (last.safetensors)."),
    out: Path = typer.Option(Path("weights"), help="Directory for decoder/encoder.safetensors."),
    calibration: Optional[Path] = typer.Option(None, help="Images to calibrate the integer scale network "
                                                       "(default: the run's training data)."),
):
    """Write shipped weights (and integer coding tables) from a training checkpoint."""
    from .export import export
    stats = export(checkpoint, out, calibration)
    typer.echo(f"wrote {out}/decoder.safetensors and {out}/encoder.safetensors; "
               f"integer/float scale-table agreement {stats['scale_index_agreement']:.4%}")


@app.command("bench")
@user_errors
def bench_command(
    images: Path = typer.Argument(..., help="Directory of test images (e.g. the 24 Kodak PNGs)."),
    out: Path = typer.Option(Path("bench/results/latest"), help="Directory for JSON, CSV, plot and BD-rate table."),
    codecs: str = typer.Option("dcn,jpeg,jpeg444,webp,jpeg2000,avif,jxl,heic",
                               help="Comma-separated codecs; missing optional ones are skipped with a notice."),
    qualities: list[str] = typer.Option([], help="Override a codec's settings, e.g. --qualities dcn:1,2,4,8 "
                                                "(repeatable)."),
    jobs: int = typer.Option(1, help="Images measured in parallel (processes)."),
    limit: int = typer.Option(0, help="Use only the first N images (0: all)."),
):
    """Bits per pixel vs PSNR-RGB and MS-SSIM of DCN and classical codecs on the same images."""
    from .bench import peers, report
    from .bench.run import curves, sweep, write_csv
    from .data import list_images
    chosen = {}
    for name in [c.strip() for c in codecs.split(",") if c.strip()]:
        if name not in peers.PEERS:
            raise DCNError(f"unknown codec {name!r} (known: {', '.join(peers.PEERS)})")
        why = peers.PEERS[name].available()
        if why:
            typer.echo(f"dcn: skipping {name}: {why}", err=True)
        else:
            chosen[name] = peers.PEERS[name].settings
    for spec in qualities:
        name, _, values = spec.partition(":")
        if name not in chosen or not values:
            raise DCNError(f"--qualities {spec!r}: expected CODEC:q1,q2,... for a chosen codec")
        chosen[name] = tuple(float(v) for v in values.split(","))
    paths = list_images(images)[: limit or None]
    if not paths:
        raise DCNError(f"{images}: no images found")
    out.mkdir(parents=True, exist_ok=True)
    rows = sweep(paths, chosen, jobs)
    write_csv(rows, out / "per_image.csv")
    c = curves(rows)
    report.write_json(c, out)
    table = report.bd_markdown(c)
    (out / "bd_rate.md").write_text(table)
    if not report.plot(c, out / "rd.png", f"{images.name}: {len(paths)} images"):
        typer.echo("dcn: matplotlib is not installed: no plot (pip install 'dcn[bench]')", err=True)
    typer.echo(table)


@app.command("batch")
@user_errors
def batch_command(
    src: Path = typer.Argument(..., help="Source directory (walked recursively)."),
    dst: Path = typer.Argument(..., help="Destination directory; the source tree is mirrored under it."),
    to: str = typer.Option("dcn", help="dcn (images -> .dcn) or an image extension such as png "
                                       "(.dcn -> images)."),
    quality: float = typer.Option(4.0, "--quality", "-q", help="Quality for --to dcn, 1.0 to 8.0."),
    target_size: Optional[str] = typer.Option(None, help="Per file: largest that fits this size (e.g. 120KB)."),
    target_bpp: Optional[float] = typer.Option(None, help="Per file: largest within this many bits per pixel."),
    target_psnr: Optional[float] = typer.Option(None, help="Per file: smallest that reaches this PSNR (dB)."),
    best_effort: bool = typer.Option(False, help="Write the closest file when a target cannot be met."),
    jobs: int = typer.Option(1, help="Worker processes (torch threads are split between them)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    include: list[str] = typer.Option([], help="Only relative paths matching this glob (repeatable)."),
    exclude: list[str] = typer.Option([], help="Skip relative paths matching this glob (repeatable)."),
    force: bool = typer.Option(False, help="Redo outputs that are already up to date."),
    dry_run: bool = typer.Option(False, help="List what would be done, do nothing."),
    shard: Optional[str] = typer.Option(None, help="Process only shard K of N (K/N, K from 1). Default: from "
                                                   "SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX."),
    shard_count: Optional[int] = typer.Option(None, help="Number of shards for a Kubernetes indexed job."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, help=MAX_PIXELS_HELP),
):
    """Convert a directory tree: images to .dcn, or .dcn to images."""
    from . import batch
    from .quality import check_quality
    from PIL import Image
    to = to.lower().lstrip(".")
    if to != "dcn" and "." + to not in Image.registered_extensions():
        raise DCNError(f"--to {to}: not an image format Pillow can write")
    if to == "dcn":
        check_quality(quality)
    if not src.is_dir():
        raise DCNError(f"{src}: not a directory")
    index, count = batch.parse_shard(shard, shard_count)
    all_jobs = [j for j in batch.find_jobs(src, dst, to, include, exclude) if batch.in_shard(j.rel, index, count)]
    todo = all_jobs if force else [j for j in all_jobs if not batch.up_to_date(j, to)]
    skipped = len(all_jobs) - len(todo)
    if dry_run:
        for j in all_jobs:
            typer.echo(f"{'convert' if j in todo else 'up to date'}: {j.src} -> {j.dst}")
        typer.echo(f"{len(todo)} to convert, {skipped} up to date (shard {index + 1}/{count})")
        return
    dst.mkdir(parents=True, exist_ok=True)
    batch.remove_stale_temporaries(dst)
    targets = None
    if target_size is not None or target_bpp is not None or target_psnr is not None:
        from .ratecontrol import parse_size
        targets = dict(target_size=parse_size(target_size) if target_size is not None else None,
                       target_bpp=target_bpp, target_psnr=target_psnr, best_effort=best_effort)
    s = batch.run(todo, to, quality, device, max_pixels, jobs, targets)
    s.skipped = skipped
    rate = s.done / s.seconds if s.seconds else 0.0
    typer.echo(f"done {s.done}, skipped {s.skipped} (up to date), failed {len(s.failed)}; "
               f"{s.seconds:.1f} s, {rate:.2f} files/s")
    if s.done:
        coded = s.bytes_out if to == "dcn" else s.bytes_in
        typer.echo(f"bytes in {s.bytes_in:,}, out {s.bytes_out:,}, ratio {s.bytes_in / max(s.bytes_out, 1):.2f}:1, "
                   f"mean {8 * coded / max(s.pixels, 1):.3f} bpp")
    for rel, reason in s.failed:
        typer.echo(f"failed: {rel}: {reason}", err=True)
    if s.failed:
        raise typer.Exit(1)


encode_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
encode_app.command()(encode_command)
decode_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
decode_app.command()(decode_command)


def main():
    app()


def encode_main():
    encode_app()


def decode_main():
    decode_app()
