"""Latent codecs: how one coding tile's latent y becomes the tile's sections and back.

Each kind of entropy model is one module here behind the interface of base.py; a model's
weights name their kind (metadata "latent"), and the container, the tiling, the pipelines
and the CLI work with any of them.
"""
from .base import LatentCodec, Latents, TileSymbols
from .checkerboard import ChannelGroupsCodec, CheckerboardCodec
from .hyperprior import HyperpriorCodec

KINDS: dict[str, type[LatentCodec]] = {c.kind: c for c in (HyperpriorCodec, CheckerboardCodec, ChannelGroupsCodec)}

__all__ = ["KINDS", "LatentCodec", "Latents", "TileSymbols", "HyperpriorCodec", "CheckerboardCodec", "ChannelGroupsCodec"]
