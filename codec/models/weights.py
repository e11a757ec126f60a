"""Loading a model's weights: decoder.safetensors (everything a decoder needs) and
encoder.safetensors (the analysis side). No pickle anywhere.

The decoder file's metadata says what the model is: n, m, act (the transforms), lambdas
(the rate levels), latent (the kind of latent codec, latent/) and scales (its table grid);
files from before these keys existed are model 1's, whose values are the defaults here.
"""
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes

from ..errors import DCNError
from ..latent import KINDS, LatentCodec
from .files import DECODER_FILE, ENCODER_FILE, default_dir, fingerprint  # noqa: F401  (re-exported)
from ..nets.layers import frozen, sub_state
from ..nets.synthesis import Synthesis, for_decoding
from .quality import DEFAULT_LAMBDA, LAMBDAS

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


@dataclass
class Decoder:
    """A model's decoder side: its latent codec, the synthesis and the inverse gains."""

    model: object  # registry.ModelInfo
    latent: LatentCodec
    synthesis: torch.nn.Sequential  # for_decoding(Synthesis)
    log_inv_gain: torch.Tensor  # (levels, M)
    fingerprint: bytes
    lambdas: tuple  # of its levels

    @property
    def max_quality(self) -> float:
        return float(len(self.log_inv_gain))

    @property
    def default_quality(self) -> float:
        """The level trained at lambda 0.013 (or the nearest): quality 4 for model 1, and
        about the same rate and PSNR for any model, whatever its level table."""
        return float(1 + min(range(len(self.lambdas)), key=lambda i: abs(math.log(self.lambdas[i] / DEFAULT_LAMBDA))))


@dataclass
class Encoder:
    """A model's encoder side: the analysis, the gains, and its latent codec able to quantize."""

    decoder: Decoder
    analysis: torch.nn.Module
    log_gain: torch.Tensor
    latent: LatentCodec


def latent_codec(tensors: dict, meta: dict) -> LatentCodec:
    kind = meta.get("latent", "hyperprior")
    if kind not in KINDS:
        raise DCNError(f"this dcn cannot decode models with a {kind!r} latent codec; a newer dcn may")
    try:
        return KINDS[kind].from_weights(tensors, meta)
    except (KeyError, ValueError, RuntimeError) as exc:  # a tensor or a key missing, or of the wrong shape
        raise DCNError(f"damaged weights: the {kind} latent codec's parts do not load ({exc})") from None


@lru_cache(maxsize=8)
def load_decoder(model) -> Decoder:
    """model: a registry.ModelInfo. The file must still be the one registered."""
    tensors, meta, raw = read_weights(model.directory / DECODER_FILE)
    if fingerprint(raw).hex() != model.fingerprint:
        raise DCNError(f"{model.directory / DECODER_FILE} is not model {model.id}'s decoder "
                       f"(fingerprint {fingerprint(raw).hex()}, registered {model.fingerprint})")
    n, m = int(meta["n"]), int(meta["m"])
    synthesis = Synthesis(n, m, meta.get("act", "gdn"))
    synthesis.load_state_dict(sub_state(tensors, "g_s"))
    lambdas = tuple(json.loads(meta["lambdas"])) if "lambdas" in meta else LAMBDAS
    return Decoder(model, latent_codec(tensors, meta), frozen(for_decoding(synthesis)), tensors["log_inv_gain"],
                   fingerprint(raw), lambdas)


@lru_cache(maxsize=8)
def load_encoder(model) -> Encoder:
    from ..nets.analysis import Analysis  # encoder side: imported only here
    if not model.has_encoder:
        raise DCNError(f"model {model.id} ships no encoder (only its decoder, for old files); "
                       "choose another with --model")
    dec = load_decoder(model)
    tensors, meta, _ = read_weights(model.directory / ENCODER_FILE)
    n, m = int(meta["n"]), int(meta["m"])
    analysis = Analysis(n, m, meta.get("act", "gdn"))
    analysis.load_state_dict(sub_state(tensors, "g_a"))
    return Encoder(dec, frozen(analysis), tensors["log_gain"], dec.latent.with_encoder(tensors, meta))
