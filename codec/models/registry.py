"""The model registry: every released model, found by name or by a file's fingerprint.

weights/models.json lists each release: name, version, fingerprint (the first 4 bytes of
the SHA-256 of its decoder.safetensors) and the folder of its weight files. A .dcn file
carries the fingerprint, so every released model keeps decoding after an upgrade. A
folder of weights that is not registered (a model a user trained and exported) can be
used too, by path: it is then its own registry of one.
"""
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DCNError
from .files import DECODER_FILE, ENCODER_FILE, default_dir, file_fingerprint

REGISTRY_FILE = "models.json"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: int
    fingerprint: str  # hex, 8 digits
    directory: Path
    released: str = ""
    training: str = ""
    kind: str = "hyperprior"  # its latent codec (latent/)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    @property
    def has_encoder(self) -> bool:
        return (self.directory / ENCODER_FILE).is_file()


@lru_cache(maxsize=8)
def registry(directory: Path | None = None) -> tuple[ModelInfo, ...]:
    """The released models, oldest first."""
    root = Path(directory or default_dir())
    try:
        entries = json.loads((root / REGISTRY_FILE).read_text())["models"]
    except (OSError, ValueError, KeyError) as exc:
        raise DCNError(f"cannot read the model registry {root / REGISTRY_FILE}: {exc}") from None
    return tuple(ModelInfo(e["name"], int(e["version"]), e["fingerprint"], root / e["dir"], e.get("released", ""),
                           e.get("training", ""), e.get("latent", "hyperprior")) for e in entries)


def local_model(directory: Path) -> ModelInfo:
    """An unregistered folder of weights (decoder.safetensors, maybe encoder.safetensors)."""
    directory = Path(directory)
    if not (directory / DECODER_FILE).is_file():
        raise DCNError(f"{directory}: no {DECODER_FILE} there")
    return ModelInfo(f"local:{directory}", 0, file_fingerprint(directory / DECODER_FILE).hex(), directory)


def default_model() -> ModelInfo:
    """The newest released model that ships an encoder."""
    with_encoder = [m for m in registry() if m.has_encoder]
    if not with_encoder:
        raise DCNError("no released model with an encoder is installed")
    return with_encoder[-1]


def find(model: "str | Path | ModelInfo | None" = None) -> ModelInfo:
    """A model by name ("checkerboard-groups-64-128@1", or the newest version of a bare name), by
    the path of a folder of weights, or the default (None)."""
    if isinstance(model, ModelInfo):
        return model
    if model is None or model == "":
        return default_model()
    if isinstance(model, Path) or "/" in str(model) or Path(str(model)).is_dir():
        return local_model(Path(model))
    name, _, version = str(model).partition("@")
    matches = [m for m in registry() if m.name == name and (not version or str(m.version) == version)]
    if not matches:
        known = ", ".join(m.id for m in registry())
        raise DCNError(f"unknown model {model!r} (known: {known})")
    return matches[-1]


def by_fingerprint(fp: bytes, extra: "Path | None" = None) -> ModelInfo:
    """The model a file was encoded with; extra: a folder of weights to consider first."""
    if extra is not None:
        local = local_model(extra)
        if local.fingerprint == fp.hex():
            return local
    for m in registry():
        if m.fingerprint == fp.hex():
            return m
    raise DCNError(f"file was encoded with an unknown model (fingerprint {fp.hex()}); this dcn knows "
                   f"{', '.join(f'{m.id} ({m.fingerprint})' for m in registry())}")
