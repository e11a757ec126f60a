"""DCN, a learned image codec.

    import codec
    data = codec.encode("photo.png", quality=4.0)   # -> bytes of a .dcn file
    image = codec.decode(data)                      # -> PIL.Image.Image

Quality is continuous from 1.0 (smallest files) to the model's top level (12.0 for the
default model, checkerboard-groups-64-128@1; MAX_QUALITY and DEFAULT_QUALITY below are the
8-level hyperprior models'). Every released model keeps decoding: a file names its model, and
`codec.models()` lists them. Importing codec also lets Pillow open and save .dcn files
(codec/pillow.py).
"""
from os import PathLike

from . import pillow  # noqa: F401  (registers the DCN format with Pillow)
from .errors import DCNError
from .models.quality import DEFAULT_QUALITY, MAX_QUALITY, MIN_QUALITY

__all__ = ["encode", "decode", "models", "DCNError", "MIN_QUALITY", "MAX_QUALITY", "DEFAULT_QUALITY", "__version__"]



def __getattr__(name: str):
    """__version__ on first use: importlib.metadata costs every `dcn` command ~0.05 s to start."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("dcn")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0+unknown"


def encode(image, quality: float | None = None, *, model=None, target_size: int | None = None,
           target_bpp: float | None = None, target_psnr: float | None = None, best_effort: bool = False,
           **options) -> bytes:
    """Encode an image: a path (str or Path), the bytes of an image file, a binary file
    object, a PIL image, or a uint8 NumPy array (H x W grey, H x W x 3 RGB, H x W x 4 RGBA).
    Options: device, max_pixels, tile, effort, strip_metadata (leave the ICC profile and
    EXIF out; kept by default).

    quality: 1.0 to the model's top level; None: the model's default (6.0 for the default
    model: its level trained at lambda 0.013).
    model: a registered model's name ("checkerboard-groups-64-128@1", or a bare name for its newest
    version), a folder of exported weights, or None for the newest released model.
    With target_size (bytes), target_bpp or target_psnr (dB), the quality is searched for
    instead (largest that fits / smallest that reaches the target; not with quality); an
    unreachable target raises DCNError unless best_effort, which returns the closest file
    with a warning.
    effort: 0 (default: no refinement) to 3 (about 30 s for a Kodak image): encode time
    spent refining the latent for this image, for a smaller file at the same quality; the
    file decodes with any dcn.
    """
    from .image.io import image_source
    image = image_source(image)
    if target_size is None and target_bpp is None and target_psnr is None:
        from .pipeline.encode import encode as _encode
        return _encode(image, quality, model=model, **options)
    if quality is not None:
        raise DCNError("give a quality or a target (size, bpp or PSNR), not both")
    from .pipeline.ratecontrol import encode_to_target
    return encode_to_target(image, target_size, target_bpp, target_psnr, best_effort, model=model, **options)[0]


def decode(data, **options):
    """Decode a .dcn file (its bytes, a path, or a binary file object) to a PIL image with
    the model the file names; options: device, max_pixels, weights_dir (a folder of
    unregistered weights to consider)."""
    from .format.limits import max_file_bytes, read_bounded, read_regular
    from .format.constants import MAX_PIXELS
    from .pipeline.decode import decode as _decode
    limit = max_file_bytes(options.get("max_pixels", MAX_PIXELS))
    if isinstance(data, (str, PathLike)):
        data = read_regular(data, limit)
    elif hasattr(data, "read"):
        data = read_bounded(data, limit, getattr(data, "name", "input"))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"codec.decode takes the bytes of a .dcn file, a path or a binary file object, "
                        f"not {type(data).__name__}")
    return _decode(bytes(data), **options)


def models() -> list[dict]:
    """The released models, oldest first: id, fingerprint, whether it can encode, training."""
    from .models.registry import registry
    return [{"id": m.id, "fingerprint": m.fingerprint, "encoder": m.has_encoder, "released": m.released,
             "training": m.training} for m in registry()]
