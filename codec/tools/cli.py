"""Command-line interface: a thin layer over the Python API.

`dcn` has every subcommand; `dcn-encode` and `dcn-decode` are the split executables (the
decoder never imports the encoder side). Errors print one line and exit non-zero.
"""
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from ..console import one_heap, quick_exit as quick_exit_now, user_errors
from ..defaults import DECODE_BLOCK, DEFAULT_EFFORT, MAX_EFFORT, PNG_COMPRESS
from ..errors import DCNError

EFFORT_HELP = ("Encoder effort, 0 to 3: time spent refining the latent for this image, for smaller files at the "
               "same quality (0: none; 1: about 3 s and 8 % smaller for a Kodak image; 3: about 30 s; see the "
               "README's table). Any decoder reads the result.")
METADATA_NAMES = {"icc_profile": "ICC profile", "exif": "EXIF"}
MAX_PIXELS_HELP = "Refuse images larger than this many pixels (counted padded to multiples of 64)."
DEFAULT_MAX_PIXELS = 2 ** 27
PNG_COMPRESS_HELP = (f"zlib level of PNG output, 0 to 9 (default {PNG_COMPRESS}: 2-3 times as fast as 6, files "
                     "within about 8 % of its size; 9 for the smallest files, several times slower).")

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="DCN learned image codec.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, context_settings=HELP)


def _version(value: bool) -> None:
    if value:
        from .. import __version__
        typer.echo(f"dcn {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """DCN learned image codec."""


def progress_wanted() -> bool:
    """Progress bars only for a person watching: not in logs, pipes or CI."""
    return sys.stderr.isatty()


def one_output(positional: Optional[Path], option: Optional[Path]) -> Path:
    if (positional is None) == (option is None):
        raise DCNError("give the output once: as the second argument or with -o/--output")
    return positional if positional is not None else option


def check_output(src: Path, dst: Path) -> None:
    if is_stdio(dst):
        return
    if not is_stdio(src) and dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise DCNError(f"{dst}: refusing to overwrite the input")
    if dst.is_dir():
        raise DCNError(f"{dst}: is a directory")
    if not dst.parent.exists():
        raise DCNError(f"{dst.parent}: no such directory")


def check_tile(tile: int) -> int:
    if tile < 64 or tile % 64:
        raise DCNError(f"--tile {tile}: must be a multiple of 64, at least 64")
    return tile


def is_stdio(path: Optional[Path]) -> bool:
    """`-` means stdin (as an input) or stdout (as an output), as for cwebp and djxl."""
    return path is not None and str(path) == "-"


def read_stdin(limit: int) -> bytes:
    from ..format.limits import read_bounded
    data = read_bounded(sys.stdin.buffer, limit, "-: standard input")
    if not data:
        raise DCNError("-: nothing on standard input")
    return data


def read_input(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """A .dcn file's bytes (stdin for `-`): a regular file, no larger than the pixel limit allows."""
    from ..format.limits import max_file_bytes, read_regular
    if is_stdio(path):
        return read_stdin(max_file_bytes(max_pixels))
    return read_regular(path, max_file_bytes(max_pixels))


def write_output(path: Path, data: bytes) -> None:
    """To stdout for `-` (never a file named `-`), else atomically."""
    if is_stdio(path):
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader went away (e.g. `| head`): say so once, no traceback at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise DCNError("-: standard output was closed before everything was written") from None
        return
    from ..files import atomic_write, remove_dead_temporaries
    remove_dead_temporaries(Path(path).parent)  # what a killed encode or decode left here
    atomic_write(path, data)


@user_errors
def encode_command(
    input: Path = typer.Argument(..., help="Image to encode (PNG, JPEG, WebP, TIFF, ...); - for stdin."),
    output: Optional[Path] = typer.Argument(None, help="The .dcn file to write (or -o); - for stdout."),
    output_option: Optional[Path] = typer.Option(None, "-o", "--output", help="The .dcn file to write."),
    quality: Optional[float] = typer.Option(None, "--quality", "-q", help="1.0 (smallest) to the model's best "
                                            "(12.0 for the default model); any value between. Default: the model's "
                                            "(6.0 for the default model)."),
    target_size: Optional[str] = typer.Option(None, help="Largest file that fits this size (e.g. 120KB, 40000)."),
    target_bpp: Optional[float] = typer.Option(None, help="Largest file within this many bits per pixel."),
    target_psnr: Optional[float] = typer.Option(None, help="Smallest file that reaches this PSNR (dB)."),
    best_effort: bool = typer.Option(False, help="If a target cannot be met, write the closest file and warn."),
    effort: int = typer.Option(DEFAULT_EFFORT, "--effort", "-e", min=0, max=MAX_EFFORT,
                               help=EFFORT_HELP),
    strip_metadata: bool = typer.Option(False, "--strip-metadata", help="Leave the ICC profile and EXIF out of "
                                        "the file (kept by default and written back on decode)."),
    model: Optional[str] = typer.Option(None, help="Model to encode with: a released model's name (see "
                                                   "`dcn models`; default: the newest) or a folder of weights."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    tile: Optional[int] = typer.Option(None, help="Coding tile in pixels (a multiple of 64): each tile's streams "
                                                  "decode on their own. Default: the model's (256; 512 for the "
                                                  "channel-group models), measured in bench/README.md."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, help=MAX_PIXELS_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No warnings, no progress and no report; errors only."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report what was written: size, quality, bpp, "
                                                                 "model, effort, time (on stderr)."),
):
    """Encode an image to a .dcn file, at a quality or to a size, bpp or PSNR target."""
    import io
    import time
    start = time.perf_counter()
    if quiet:
        import warnings
        warnings.simplefilter("ignore")
    output = one_output(output, output_option)
    check_output(input, output)
    check_targets(quality, target_size, target_bpp, target_psnr)
    if effort:
        one_heap()  # before any worker thread exists
    source = input
    if is_stdio(input):
        from ..format.limits import max_file_bytes
        source = io.BytesIO(read_stdin(2 * max_file_bytes(max_pixels)))  # 8 bytes a pixel: 16-bit RGBA
    options = dict(device=device, max_pixels=max_pixels, tile=tile if tile is None else check_tile(tile),
                   progress=progress_wanted() and not quiet, model=model, effort=effort,
                   strip_metadata=strip_metadata)
    if target_size is None and target_bpp is None and target_psnr is None:
        from ..pipeline.encode import encode
        data = encode(source, quality, **options)
    else:
        from ..pipeline.ratecontrol import encode_to_target, parse_size
        size = parse_size(target_size) if target_size is not None else None
        data, info = encode_to_target(source, size, target_bpp, target_psnr, best_effort, **options)
        if not quiet:
            typer.echo(f"quality {info['quality']:g}: {info['bytes']} bytes, {info['bpp']:.4f} bpp"
                       + (f", {info['psnr']:.2f} dB" if "psnr" in info else ""), err=is_stdio(output))
    write_output(output, data)
    if verbose and not quiet:
        report(input, output, data, time.perf_counter() - start, f", effort {effort}")


def check_targets(quality, *targets) -> None:
    """A quality and a target together: one of them would be ignored."""
    given = sum(t is not None for t in targets)
    if given > 1:
        raise DCNError("give one target: --target-size, --target-bpp or --target-psnr")
    if given and quality is not None:
        raise DCNError("give --quality or a target (--target-size, --target-bpp, --target-psnr), not both")


def report(source: Path, output: Path, data: bytes, seconds: float, extra: str = "") -> None:
    """-v: one line on stderr about the .dcn file that was read or written."""
    from ..format import container
    from ..models.registry import by_fingerprint
    h = container.peek_header(data, max_pixels=2 ** 62)
    try:
        model = by_fingerprint(h.fingerprint).id
    except DCNError:
        model = h.fingerprint.hex()
    typer.echo(f"{source} -> {output}: {h.width}x{h.height} {h.mode}, quality {h.quality:g}, {len(data)} bytes, "
               f"{8 * len(data) / (h.width * h.height):.4f} bpp, model {model}{extra}, {seconds:.2f} s", err=True)


@user_errors
def decode_command(
    input: Path = typer.Argument(..., help="The .dcn file to decode; - for stdin."),
    output: Optional[Path] = typer.Argument(None, help="Image to write; the format follows the extension "
                                                       "(.png, ...). Or -o. - for stdout (PNG unless --format)."),
    output_option: Optional[Path] = typer.Option(None, "-o", "--output", help="Image to write."),
    image_format: Optional[str] = typer.Option(None, "--format", help="Image format to write (png, jpeg, webp, "
                                                                      "...): for stdout, or instead of the "
                                                                      "extension."),
    jpeg_quality: int = typer.Option(95, "--jpeg-quality", min=1, max=100,
                                     help="Quality when writing JPEG (1-100)."),
    png_compress: int = typer.Option(PNG_COMPRESS, "--png-compress", min=0, max=9, help=PNG_COMPRESS_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No warnings and no progress; errors only."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report what was decoded: size, quality, bpp, "
                                                                 "model, time (on stderr)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    block: int = typer.Option(DECODE_BLOCK, "--block", "--tile",
                              help="Block size in pixels for the synthesis network (bounds memory; --tile is its "
                                   "old name)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, help=MAX_PIXELS_HELP),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A folder of exported weights (`dcn export`) "
                                                                   "to consider beside the released models: for "
                                                                   "files encoded with a model you trained."),
):
    """Decode a .dcn file to an image (with the model the file names)."""
    import time
    from ..image.io import image_bytes, output_format
    start = time.perf_counter()
    if quiet:
        import warnings
        warnings.simplefilter("ignore")
    output = one_output(output, output_option)
    check_output(input, output)
    if is_stdio(output) and image_format is None:
        image_format = "png"
    fmt = output_format(output, image_format)  # an unusable format fails now, not after the decode
    data = read_input(input, max_pixels)
    from ..pipeline.decode import decode
    image = decode(data, device=device, max_pixels=max_pixels, block=check_tile(block),
                   progress=progress_wanted() and not quiet, weights_dir=weights)
    write_output(output, image_bytes(image, output, fmt, jpeg_quality, png_compress))
    if verbose and not quiet:
        report(input, output, data, time.perf_counter() - start)


@user_errors
def info_command(file: Path = typer.Argument(..., help="The .dcn file to describe.")):
    """Show a .dcn file's size, mode, quality, model, bits per pixel and section sizes."""
    from ..format import container
    from ..image.metrics import bpp
    from ..format.sections import SECTION_NAMES
    from ..models.registry import by_fingerprint
    data = read_input(file)
    c = container.read_index(data, max_pixels=2 ** 62)  # describes files larger than a decode allows, too
    h = c.header
    try:
        found = by_fingerprint(h.fingerprint)
        model, names = found.id, SECTION_NAMES.get(found.kind, ())
    except DCNError:
        model, names = "unknown to this dcn", ()
    typer.echo(f"file:        {file}")
    typer.echo(f"size:        {h.width}x{h.height}")
    typer.echo(f"mode:        {h.mode}")
    typer.echo(f"quality:     {h.quality:g}")
    typer.echo(f"bytes:       {len(data)}")
    typer.echo(f"bpp:         {bpp(len(data), h.width, h.height):.4f}")
    typer.echo(f"model:       {model} (fingerprint {h.fingerprint.hex()})")
    typer.echo(f"format:      version {h.version}")
    typer.echo(f"tiles:       {h.grid[0]}x{h.grid[1]} of {h.tile} px")
    typer.echo("sections:    " + ", ".join(f"{k} {v} B" for k, v in c.section_sizes(names).items()))
    items = container.read_metadata(data, c)
    typer.echo("metadata:    " + (", ".join(f"{METADATA_NAMES[k]} {len(v)} B" for k, v in items.items()) or "none"))


app.command("encode")(encode_command)
app.command("decode")(decode_command)
app.command("info")(info_command)


@app.command("models")
@user_errors
def models_command():
    """List the released models: every one decodes; those with an encoder can encode (--model)."""
    from ..models.registry import default_model, registry
    default = default_model()
    width = max(len(m.id) for m in registry())
    for m in registry():
        role = "encode+decode" if m.has_encoder else "decode only"
        mark = "  (default)" if m == default else ""
        typer.echo(f"{m.id:{width}}  {m.fingerprint}  {role:13}  {m.released}  {m.training}{mark}")


def _register_training_commands() -> None:
    """Only for `dcn`: the split executables never import the training code."""
    from ..train.command import export_command, train_command
    app.command("train")(train_command)
    app.command("export")(export_command)


@app.command("bench")
@user_errors
def bench_command(
    images: Path = typer.Argument(..., help="Directory of test images (e.g. the 24 Kodak PNGs)."),
    out: Path = typer.Option(Path("bench/results/latest"), help="Directory for JSON, CSV, plot and BD-rate table."),
    codecs: str = typer.Option("dcn,jpeg,jpeg444,webp,jpeg2000,avif,jxl,heic",
                               help="Comma-separated codecs; missing optional ones are skipped with a notice. "
                                    "dcn=MODEL adds DCN with another model (a released name or a weights folder); "
                                    "dcn-e1, dcn-e2, dcn-e3 add DCN at an encoder effort (slow: see --qualities)."),
    qualities: list[str] = typer.Option([], help="Override a codec's settings, e.g. --qualities dcn:1,2,4,8 "
                                                "(repeatable)."),
    jobs: int = typer.Option(1, help="Images measured in parallel (processes)."),
    limit: int = typer.Option(0, help="Use only the first N images (0: all)."),
    report_page: bool = typer.Option(False, "--report", help="Also write report.html: RD curves, BD-rates, times and "
                                                        "side-by-side crops of every codec at DCN's file sizes."),
    report_images: int = typer.Option(3, help="Images shown as crops in report.html (the first N)."),
):
    """Bits per pixel vs PSNR-RGB and MS-SSIM of DCN and classical codecs on the same images."""
    from ..train.data import list_images
    from .bench import peers, report
    from .bench.run import curves, sweep, write_csv
    chosen = {}
    for name in [c.strip() for c in codecs.split(",") if c.strip()]:
        if name not in peers.PEERS and not name.startswith("dcn="):
            raise DCNError(f"unknown codec {name!r} (known: {', '.join(peers.PEERS)}, dcn=MODEL)")
        why = peers.get(name).available()
        if why:
            typer.echo(f"dcn: skipping {name}: {why}", err=True)
        else:
            chosen[name] = peers.get(name).settings
    for spec in qualities:
        name, _, values = spec.partition(":")
        if name not in chosen or not values:
            raise DCNError(f"--qualities {spec!r}: expected CODEC:q1,q2,... for a chosen codec")
        chosen[name] = tuple(float(v) for v in values.split(","))
    paths = list_images(images)[: limit or None]
    if not paths:
        raise DCNError(f"{images}: no images found")
    out.mkdir(parents=True, exist_ok=True)
    rows = sweep(paths, chosen, jobs, progress=progress_wanted())
    write_csv(rows, out / "per_image.csv")
    c = curves(rows)
    report.write_json(c, out)
    table = report.bd_markdown(c)
    (out / "bd_rate.md").write_text(table)
    if not report.plot(c, out / "rd.png", f"{images.name}: {len(paths)} images"):
        typer.echo("dcn: matplotlib is not installed: no plot (pip install 'dcn[bench]')", err=True)
    typer.echo(table)
    if report_page:
        from .bench import page
        typer.echo(f"report: {page.write(out, c, paths[:max(1, report_images)], chosen, f'{images.name}: {len(paths)} images')}")


@app.command("batch")
@user_errors
def batch_command(
    src: Path = typer.Argument(..., help="Source directory (walked recursively)."),
    dst: Path = typer.Argument(..., help="Destination directory; the source tree is mirrored under it."),
    to: str = typer.Option("dcn", help="dcn (images -> .dcn) or an image extension such as png "
                                       "(.dcn -> images)."),
    quality: Optional[float] = typer.Option(None, "--quality", "-q", help="Quality for --to dcn (1.0 to the "
                                                                         "model's best; default: the model's)."),
    model: Optional[str] = typer.Option(None, help="Model for --to dcn (default: the newest released)."),
    target_size: Optional[str] = typer.Option(None, help="Per file: largest that fits this size (e.g. 120KB)."),
    target_bpp: Optional[float] = typer.Option(None, help="Per file: largest within this many bits per pixel."),
    target_psnr: Optional[float] = typer.Option(None, help="Per file: smallest that reaches this PSNR (dB)."),
    best_effort: bool = typer.Option(False, help="Write the closest file when a target cannot be met."),
    effort: int = typer.Option(DEFAULT_EFFORT, "--effort", "-e", min=0, max=MAX_EFFORT,
                               help=EFFORT_HELP),
    strip_metadata: bool = typer.Option(False, "--strip-metadata", help="Leave the ICC profile and EXIF out of "
                                        "the file (kept by default and written back on decode)."),
    png_compress: int = typer.Option(PNG_COMPRESS, "--png-compress", min=0, max=9, help=PNG_COMPRESS_HELP),
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
    from PIL import Image

    from ..files import remove_dead_temporaries
    from ..models.registry import find
    from ..models.weights import load_decoder
    from ..models.quality import check_quality
    from . import batch, batch_plan as plan
    to = to.lower().lstrip(".")
    check_targets(quality, target_size, target_bpp, target_psnr)
    if effort:
        one_heap()  # inherited by the worker processes
    if to != "dcn" and "." + to not in Image.registered_extensions():
        raise DCNError(f"--to {to}: not an image format Pillow can write")
    chosen = find(model) if to == "dcn" else None
    if to == "dcn":
        top, default = load_decoder(chosen).max_quality, load_decoder(chosen).default_quality
        check_quality(quality if quality is not None else default, top)
    if not src.is_dir():
        raise DCNError(f"{src}: not a directory")
    targets = None
    if target_size is not None or target_bpp is not None or target_psnr is not None:
        from ..pipeline.ratecontrol import parse_size
        targets = dict(target_size=parse_size(target_size) if target_size is not None else None,
                       target_bpp=target_bpp, target_psnr=target_psnr, best_effort=best_effort)
    # what an output's record must match for it to be up to date
    settings = {"to": to, "model": chosen.fingerprint, "quality": quality if quality is not None else default,
                "targets": targets} if to == "dcn" else {"to": to}
    if to == "dcn":  # only when set: records written before these options existed stay valid
        settings.update({k: v for k, v in (("effort", effort), ("strip_metadata", strip_metadata)) if v})
    index, count = plan.parse_shard(shard, shard_count)
    found = plan.find_jobs(src, dst, to, include, exclude)
    if not found:  # most likely the wrong folder: say so, and make no destination
        import warnings
        warnings.warn(f"nothing to convert: no {'images' if to == 'dcn' else '.dcn files'} under {src}"
                      + (" matching --include/--exclude" if include or exclude else ""))
        return
    all_jobs = [j for j in found if plan.in_shard(j.rel, index, count)]
    refused = plan.collisions(all_jobs)
    refused.update({j.rel: f"{j.dst} exists in the source tree and was not written by dcn batch: not overwritten"
                    for j in all_jobs if j.rel not in refused and plan.foreign_output(j, src)})
    todo = [j for j in all_jobs if j.rel not in refused and (force or not plan.up_to_date(j, settings))]
    skipped = len(all_jobs) - len(todo) - len(refused)
    if dry_run:
        for j in all_jobs:
            what = "refused" if j.rel in refused else "convert" if j in todo else "up to date"
            typer.echo(f"{what}: {j.src} -> {j.dst}" + (f" ({refused[j.rel]})" if j.rel in refused else ""))
        typer.echo(f"{len(todo)} to convert, {skipped} up to date, {len(refused)} refused (shard {index + 1}/{count})")
        return
    dst.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(dst, recursive=True)  # a killed run's, never a live one's
    options = dict(targets or {}, effort=effort, strip_metadata=strip_metadata) if to == "dcn" else \
        dict(png_compress=png_compress)
    s = batch.run(todo, to, quality, device, max_pixels, jobs, options, chosen,
                  progress=progress_wanted(), settings=settings)
    s.skipped = skipped
    s.failed = list(refused.items()) + s.failed
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


encode_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, context_settings=HELP)
encode_app.command()(encode_command)
decode_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, context_settings=HELP)
decode_app.command()(decode_command)


def _run(typer_app: typer.Typer, quick_exit: bool = False) -> None:
    """Run a command; usage errors too end in one line on stderr and exit status 1.
    quick_exit: leave without the interpreter's teardown once the command is done (see
    console.quick_exit), for the commands that only read and write files."""
    try:
        code = typer_app(standalone_mode=False)
        if quick_exit:
            quick_exit_now(code if isinstance(code, int) else 0)
    except Exception as exc:
        # click's UsageError (exit code 2), wherever this typer version keeps click
        if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
            if type(exc).__name__ == "Abort":  # Ctrl-C at a prompt
                typer.echo("dcn: interrupted", err=True)
                sys.exit(130)
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"dcn: error: {exc.format_message()}{hint}".replace("\n", " "), err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


QUICK_EXIT = ("encode", "decode")  # commands whose work is done when they return: no processes, no servers


def main():
    _register_training_commands()
    _run(app, quick_exit=sys.argv[1:2] and sys.argv[1] in QUICK_EXIT)


def encode_main():
    _run(encode_app, quick_exit=True)


def decode_main():
    _run(decode_app, quick_exit=True)
