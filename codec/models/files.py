"""Where a model's weight files are and how they are named and fingerprinted: what the
registry needs, without loading any network (so `dcn info` and `dcn models` need no torch)."""
import hashlib
import os
from pathlib import Path

from ..errors import DCNError
from ..format.constants import FINGERPRINT_BYTES

DECODER_FILE = "decoder.safetensors"
ENCODER_FILE = "encoder.safetensors"


def default_dir() -> Path:
    """$DCN_WEIGHTS, else the weights/ folder beside the package (source checkout or
    editable install), else the copy installed inside the package."""
    if os.environ.get("DCN_WEIGHTS"):
        return Path(os.environ["DCN_WEIGHTS"])
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "weights", here / "model_weights"):
        if (candidate / "models.json").exists():
            return candidate
    return here.parent / "weights"


def fingerprint(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:FINGERPRINT_BYTES]


def file_fingerprint(path: Path) -> bytes:
    try:
        return fingerprint(Path(path).read_bytes())
    except OSError as exc:
        raise DCNError(f"cannot read weights {path}: {exc.strerror}") from None
