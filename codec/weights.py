"""Loading the shipped weights: decoder.safetensors (everything a decoder needs) and
encoder.safetensors (the analysis side). No pickle anywhere."""
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes

from .errors import DCNError
from .intnet import IntegerScaleNet
from .synthesis import HyperSynthesis, Synthesis, for_decoding
from .tables import TableSet

DECODER_FILE = "decoder.safetensors"
ENCODER_FILE = "encoder.safetensors"
FINGERPRINT_BYTES = 4


def default_dir() -> Path:
    """$DCN_WEIGHTS, else the weights/ folder beside the package (source checkout or
    editable install), else the copy installed inside the package."""
    if os.environ.get("DCN_WEIGHTS"):
        return Path(os.environ["DCN_WEIGHTS"])
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "weights", here / "model_weights"):
        if (candidate / DECODER_FILE).exists():
            return candidate
    return here.parent / "weights"


def read_weights(path: Path) -> tuple[dict, dict, bytes]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DCNError(f"cannot read weights {path}: {exc.strerror}") from None
    try:
        tensors = load_bytes(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8:8 + header_len]).get("__metadata__", {})
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise DCNError(f"damaged weights file {path}: {exc}") from None
    return tensors, meta, raw


def table_set(tensors: dict, prefix: str) -> TableSet:
    return TableSet(tensors[f"{prefix}.counts"].numpy(), tensors[f"{prefix}.offsets"].numpy(),
                    tensors[f"{prefix}.lows"].numpy())


def table_tensors(tables: TableSet, prefix: str) -> dict:
    return {f"{prefix}.counts": torch.from_numpy(tables.counts), f"{prefix}.offsets": torch.from_numpy(tables.offsets),
            f"{prefix}.lows": torch.from_numpy(tables.lows)}


def sub_state(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


@dataclass
class DecoderWeights:
    synthesis: torch.nn.Sequential  # for_decoding(Synthesis)
    mean_net: HyperSynthesis
    scale_net: IntegerScaleNet
    log_inv_gain: torch.Tensor
    y_tables: TableSet
    z_tables: TableSet
    n: int
    m: int
    fingerprint: bytes


def fingerprint(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:FINGERPRINT_BYTES]


@lru_cache(maxsize=4)
def load_decoder(directory: Path | None = None) -> DecoderWeights:
    tensors, meta, raw = read_weights(Path(directory or default_dir()) / DECODER_FILE)
    n, m = int(meta["n"]), int(meta["m"])
    synthesis, mean_net = Synthesis(n, m, meta.get("act", "gdn")), HyperSynthesis(n, m)
    synthesis.load_state_dict(sub_state(tensors, "g_s"))
    mean_net.load_state_dict(sub_state(tensors, "h_s_mean"))
    return DecoderWeights(for_decoding(synthesis), mean_net.eval(), IntegerScaleNet.from_state_dict(tensors),
                          tensors["log_inv_gain"], table_set(tensors, "y_tables"), table_set(tensors, "z_tables"),
                          n, m, fingerprint(raw))
