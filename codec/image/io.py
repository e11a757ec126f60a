"""Image input and output: every Pillow mode mapped onto what the codec stores
(RGB or grey pixels, plus an optional lossless alpha plane).

Policies: EXIF orientation is applied (and the tag dropped from the EXIF that is kept);
the ICC profile and EXIF are kept, except an ICC profile of a colour space the pixels are
converted out of (CMYK, LAB, ...), which is dropped with a warning; palette, CMYK, 1-bit and other modes are converted
to RGB/L (palette transparency becomes alpha); 16- and 32-bit images are reduced to 8 bits
with a warning; animated images use their first frame, with a warning.
"""
import io
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..defaults import PNG_COMPRESS
from ..errors import DCNError
from ..format.limits import check_area

_pillow_guard = threading.Lock()  # Image.MAX_IMAGE_PIXELS is global: one open at a time changes it


@dataclass
class Picture:
    """What the codec encodes: pixels (H,W,3) uint8, the mode to restore, optional alpha (H,W)."""

    rgb: np.ndarray
    mode: str  # "L", "RGB", "LA" or "RGBA"
    alpha: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)  # "icc_profile", "exif" -> bytes, as Pillow names them

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def open_image(source, max_pixels: int) -> Image.Image:
    """Open a path, bytes or file object, bounding the claimed size before decoding."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise DCNError(f"{path}: no such file")
        if path.is_dir():
            raise DCNError(f"{path}: is a directory, not an image")
        if not path.is_file():  # a FIFO or a device would hang or never end
            raise DCNError(f"{path}: not a regular file")
        if path.stat().st_size == 0:
            raise DCNError(f"{path}: empty file")
        name = str(path)
    else:
        name = "input"
    try:
        with warnings.catch_warnings(), _pillow_guard:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved = Image.MAX_IMAGE_PIXELS  # Pillow refuses over twice this; our own limit decides, below
            Image.MAX_IMAGE_PIXELS = None
            try:
                im = Image.open(source)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise DCNError(f"{name}: not a recognised image file") from None
    except Image.DecompressionBombError as exc:
        raise DCNError(f"{name}: {exc}") from None
    except OSError as exc:
        raise DCNError(f"{name}: cannot read ({exc})") from None
    check_area(im.width, im.height, max_pixels, name)
    if getattr(im, "n_frames", 1) > 1:
        warnings.warn(f"{name}: animated image, encoding only its first frame", stacklevel=2)
    rawmodes = [t.args for t in getattr(im, "tile", []) if isinstance(getattr(t, "args", None), str)]
    if im.mode in ("RGB", "RGBA") and any(";16" in r for r in rawmodes):  # Pillow reduces these as it loads
        warnings.warn(f"{name}: 16-bit {im.mode} image reduced to 8 bits per channel", stacklevel=2)
    try:
        im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise DCNError(f"{name}: damaged or truncated image ({exc})") from None
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    a = np.asarray(im)
    if a.dtype == np.uint8:
        return im
    warnings.warn(f"{im.mode} image reduced to 8 bits per channel", stacklevel=3)
    if a.dtype.kind == "f" and not np.isfinite(a).all():  # one NaN would make the scale, and the image, NaN
        raise DCNError(f"{im.mode} image holds NaN or infinite values")
    if a.min() < 0:  # signed 32-bit images: negative values would wrap around to bright ones
        warnings.warn(f"{im.mode} image has negative values (down to {a.min():g}): clipped to 0", stacklevel=3)
        a = np.maximum(a, 0)
    if a.dtype.kind == "f":
        a = np.clip(a, 0, 1) * 255 if a.max() <= 1 else np.clip(a, 0, 255)
    elif a.max() > 255:
        a = a.astype(np.float64) * (255 / (65535 if a.max() <= 65535 else a.max()))
    return Image.fromarray(np.round(a).astype(np.uint8))


def to_picture(im: Image.Image) -> Picture:
    try:
        ImageOps.exif_transpose(im, in_place=True)  # in place: no second copy of a large image; drops the tag
    except Exception:  # a malformed EXIF block is not worth refusing the image for
        pass
    metadata = {k: bytes(im.info[k]) for k in ("icc_profile", "exif")
                if isinstance(im.info.get(k), (bytes, bytearray)) and im.info[k]}
    if "icc_profile" in metadata and im.mode not in ("L", "LA", "RGB", "RGBA", "P", "PA", "1", "I;16", "I;16B",
                                                     "I;16L", "I;16N", "I", "F"):
        warnings.warn(f"the ICC profile of a {im.mode} image does not describe the converted pixels: dropped",
                      stacklevel=3)
        del metadata["icc_profile"]
    picture = _pixels(im)
    picture.metadata = metadata
    return picture


def _pixels(im: Image.Image) -> Picture:
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "PA":
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _to_8bit(im)
    elif im.mode not in ("L", "LA", "RGB", "RGBA"):  # CMYK, YCbCr, LAB, RGBX, RGBa (premultiplied) ...
        try:  # by the last band, not the mode's name: LAB has no alpha, RGBa has
            im = im.convert("RGBA" if im.getbands()[-1] in ("A", "a") else "RGB")
        except ValueError:
            raise DCNError(f"unsupported image mode {im.mode}") from None
    a = np.asarray(im)
    if im.mode == "L":
        return Picture(np.repeat(a[:, :, None], 3, axis=2), "L")
    if im.mode == "LA":
        return Picture(np.repeat(a[:, :, :1], 3, axis=2), "LA", np.ascontiguousarray(a[:, :, 1]))
    if im.mode == "RGBA":
        return Picture(np.ascontiguousarray(a[:, :, :3]), "RGBA", np.ascontiguousarray(a[:, :, 3]))
    return Picture(np.ascontiguousarray(a), "RGB")


def image_source(image):
    """What codec.encode takes, as load_picture takes it: a path, a file object or a PIL
    image; bytes become a file object, a uint8 array a PIL image. Another type: TypeError."""
    if isinstance(image, (str, Path, Image.Image)) or hasattr(image, "read"):
        return image
    if isinstance(image, os.PathLike):
        return Path(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(image))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
            raise TypeError(f"a NumPy image must be uint8, H x W, H x W x 3 or H x W x 4; got {image.dtype} "
                            f"{' x '.join(map(str, image.shape))}")
        return Image.fromarray(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    raise TypeError(f"codec.encode takes a path, the bytes of an image file, a binary file object, a PIL image "
                    f"or a uint8 NumPy array, not {type(image).__name__}")


def load_picture(source, max_pixels: int) -> Picture:
    name = str(source) if isinstance(source, (str, Path)) else "input"
    try:
        if isinstance(source, Image.Image):
            check_area(source.width, source.height, max_pixels)
            return to_picture(source)
        with open_image(source, max_pixels) as im:
            return to_picture(im)
    except DCNError:
        raise
    except MemoryError:
        raise DCNError(f"{name}: not enough memory to load the image") from None
    except Exception as exc:  # Pillow's parsers raise many types (TypeError, struct.error, ...) on hostile files
        raise DCNError(f"{name}: damaged or unsupported image ({type(exc).__name__}: {exc})") from None


def to_image(rgb: np.ndarray, mode: str, alpha: np.ndarray | None = None, metadata: dict | None = None) -> Image.Image:
    """Decoded pixels back to a Pillow image of the original mode, its metadata in .info
    (where Pillow's writers look for it)."""
    if mode in ("L", "LA"):
        grey = np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        image = Image.fromarray(grey)
    else:
        image = Image.fromarray(rgb)
    if alpha is not None:
        image = Image.merge(mode, image.split() + (Image.fromarray(alpha),))
    image.info.update(metadata or {})
    return image


def output_format(path: Path, name: str | None = None) -> str:
    """The Pillow format a decoded image is written in: `name` (png, jpeg, ...) if given,
    else from the output's extension."""
    suffix = "." + name.lower().lstrip(".") if name else Path(path).suffix.lower()
    if suffix == ".dcn":  # a second lossy generation is never what a decode is for
        raise DCNError(f"{path}: decoding writes an image (e.g. .png), not another .dcn file")
    Image.preinit()  # PNG, JPEG, BMP, GIF, PPM: no need to import every plugin (0.1 s) for those
    fmt = Image.EXTENSION.get(suffix) or Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        what = f"--format {name}" if name else str(path)
        raise DCNError(f"{what}: unknown output image format (use e.g. png)")
    return fmt


JPEG_QUALITY = 95  # a decode written as JPEG: high, so that the second lossy step costs little


def image_bytes(im: Image.Image, path: Path, fmt: str | None = None, jpeg_quality: int = JPEG_QUALITY,
                png_compress: int = PNG_COMPRESS) -> bytes:
    """Encode a decoded image for a path, in `fmt` (a Pillow format name) or the format its
    extension names."""
    buf = io.BytesIO()
    fmt = fmt or output_format(path)
    if fmt == "JPEG" and im.mode in ("LA", "RGBA"):
        raise DCNError(f"{path}: JPEG cannot store the alpha channel; use .png")
    options = {k: v for k, v in im.info.items() if k in ("icc_profile", "exif")}  # formats without them ignore them
    if fmt == "JPEG":
        options["quality"] = jpeg_quality
    if fmt == "PNG":
        options["compress_level"] = png_compress
    try:
        im.save(buf, format=fmt, **options)
    except (OSError, ValueError, KeyError) as exc:
        raise DCNError(f"{path}: cannot write {fmt} ({exc})") from None
    return buf.getvalue()
