"""The codecs the benchmark compares: DCN and Pillow's (or plugins') classical codecs.

Each is encode(rgb uint8 array, setting) -> bytes and decode(bytes) -> rgb array, with a
default sweep of settings spanning about 0.1-2 bpp on photographs.
"""
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, features


@dataclass(frozen=True)
class Peer:
    name: str
    description: str
    settings: tuple
    encode: Callable[[np.ndarray, float], bytes]
    available: Callable[[], str | None]  # None when usable, else why not


def _pillow_encode(fmt: str, **fixed):
    def encode(rgb: np.ndarray, setting) -> bytes:
        buf = io.BytesIO()
        kwargs = {k: (v(setting) if callable(v) else v) for k, v in fixed.items()}
        Image.fromarray(rgb).save(buf, format=fmt, **kwargs)
        return buf.getvalue()
    return encode


def decode_with_pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _feature(name: str):
    return lambda: None if features.check(name) else f"Pillow was built without {name}"


def _module(name: str, extra: str = "bench"):
    def check():
        try:
            __import__(name)
            return None
        except ImportError:
            return f"{name} is not installed (pip install 'dcn[{extra}]')"
    return check


def _dcn_encoder(model: str | None, effort: int = 0):
    def encode(rgb: np.ndarray, quality: float) -> bytes:
        from ...pipeline.encode import encode as dcn_encode
        return dcn_encode(Image.fromarray(rgb), quality, model=model, effort=effort)
    return encode


def _dcn_settings(model: str | None) -> tuple:
    """Every trained level of the model, and the half levels at the low end."""
    from ...models.registry import find
    from ...models.weights import load_decoder
    top = int(load_decoder(find(model)).max_quality)
    return (1, 1.5, 2, 2.5) + tuple(range(3, top + 1))


def dcn_peer(model: str) -> Peer:
    """DCN with another model than the default: a released model's name or a folder of
    exported weights (`--codecs dcn=runs/x/model`); settings span its quality range."""
    return Peer(f"dcn={model}", f"DCN with model {model}", _dcn_settings(model), _dcn_encoder(model), lambda: None)


def get(name: str) -> Peer:
    if name.startswith("dcn="):
        return dcn_peer(name[4:])
    if is_dcn(name):  # the default model's whole range (12 levels for the checkerboard models, 8 before)
        p = PEERS[name]
        return Peer(name, p.description, _dcn_settings(None), p.encode, p.available)
    return PEERS[name]


def is_dcn(name: str) -> bool:
    """DCN itself: the default model at any effort, or another model (dcn=MODEL)."""
    return name == "dcn" or name.startswith("dcn=") or name in EFFORTS


def _jxl_encode(rgb, q):
    import pillow_jxl  # noqa: F401  (registers the JXL format)
    return _pillow_encode("JXL", quality=lambda s: int(s), effort=7)(rgb, q)


def _heic_encode(rgb, q):
    import pillow_heif
    pillow_heif.register_heif_opener()
    return _pillow_encode("HEIF", quality=lambda s: int(s), chroma=444)(rgb, q)


EFFORTS = {f"dcn-e{e}": e for e in (1, 2, 3)}  # pipeline/effort.py's levels above 0
JPEG_Q = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
PEERS = {
    "dcn": Peer("dcn", "DCN (this codec, shipped weights)", (), _dcn_encoder(None), lambda: None),  # get() fills
                                                                                                # the settings
    **{name: Peer(name, f"DCN (shipped weights), encoder effort {e}: the latent refined for each image",
                  (), _dcn_encoder(None, e), lambda: None) for name, e in EFFORTS.items()},
    "jpeg": Peer("jpeg", "Pillow JPEG (libjpeg-turbo), 4:2:0, optimized Huffman", JPEG_Q,
                 _pillow_encode("JPEG", quality=lambda s: int(s), optimize=True), _feature("jpg")),
    "jpeg444": Peer("jpeg444", "Pillow JPEG, 4:4:4, optimized Huffman", JPEG_Q,
                    _pillow_encode("JPEG", quality=lambda s: int(s), subsampling=0, optimize=True), _feature("jpg")),
    "webp": Peer("webp", "Pillow WebP (libwebp), method 6", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
                 _pillow_encode("WEBP", quality=lambda s: int(s), method=6), _feature("webp")),
    "jpeg2000": Peer("jpeg2000", "Pillow JPEG 2000 (OpenJPEG), rate = 24/bpp target, 9/7 wavelet, "
                                 "irreversible colour transform (mct=1)",
                     (0.08, 0.12, 0.18, 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0),
                     _pillow_encode("JPEG2000", quality_mode="rates", quality_layers=lambda s: [24.0 / s],
                                    irreversible=True, mct=1), _feature("jpg_2000")),
    "avif": Peer("avif", "Pillow AVIF (libavif), 4:4:4, speed 6", (10, 20, 30, 40, 50, 60, 70, 80, 90),
                 _pillow_encode("AVIF", quality=lambda s: int(s), subsampling="4:4:4", speed=6), _feature("avif")),
    "jxl": Peer("jxl", "JPEG XL (pillow-jxl-plugin), effort 7", (10, 20, 30, 40, 50, 60, 70, 80, 90),
                _jxl_encode, _module("pillow_jxl")),
    "heic": Peer("heic", "HEIC (pillow-heif), 4:4:4", (5, 10, 15, 20, 30, 40, 50, 60, 70),
                 _heic_encode, _module("pillow_heif")),
}


def decode(name: str, data: bytes) -> np.ndarray:
    if is_dcn(name):
        from pathlib import Path

        from ...pipeline.decode import decode as dcn_decode
        folder = Path(name[4:]) if name.startswith("dcn=") and Path(name[4:]).is_dir() else None
        return np.asarray(dcn_decode(data, weights_dir=folder).convert("RGB"))
    if name == "jxl":
        import pillow_jxl  # noqa: F401
    if name == "heic":
        import pillow_heif
        pillow_heif.register_heif_opener()
    return decode_with_pillow(data)
