"""DCN, a learned image codec.

    import codec
    data = codec.encode("photo.png", quality=4.0)   # -> bytes of a .dcn file
    image = codec.decode(data)                      # -> PIL.Image.Image

Quality is continuous from 1.0 (smallest files) to 8.0 (best quality). Importing codec
also lets Pillow open and save .dcn files (codec/pillow.py).
"""
from . import pillow  # noqa: F401  (registers the DCN format with Pillow)
from .errors import DCNError
from .quality import DEFAULT_QUALITY, MAX_QUALITY, MIN_QUALITY

__all__ = ["encode", "decode", "DCNError", "MIN_QUALITY", "MAX_QUALITY", "DEFAULT_QUALITY"]


def encode(image, quality: float = DEFAULT_QUALITY, *, target_size: int | None = None,
           target_bpp: float | None = None, target_psnr: float | None = None, best_effort: bool = False,
           **options) -> bytes:
    """Encode a path, file object or PIL image; options: device, max_pixels, weights_dir, tile.

    With target_size (bytes), target_bpp or target_psnr (dB), the quality is searched for
    instead (largest that fits / smallest that reaches the target); an unreachable target
    raises DCNError unless best_effort, which returns the closest file with a warning.
    """
    if target_size is None and target_bpp is None and target_psnr is None:
        from .encoder import encode as _encode
        return _encode(image, quality, **options)
    from .ratecontrol import encode_to_target
    return encode_to_target(image, target_size, target_bpp, target_psnr, best_effort, **options)[0]


def decode(data: bytes, **options):
    """Decode the bytes of a .dcn file to a PIL image; options: device, max_pixels, weights_dir."""
    from .decoder import decode as _decode
    return _decode(data, **options)
