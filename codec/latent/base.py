"""The latent-codec interface, and the image's latents assembled from its coding tiles.

A coding tile of h x w elements of z (4h x 4w of y) is coded on its own: quantize()
turns its latent into integer symbols, write() entropy-codes them into the tile's
sections, read() is write()'s inverse, and latent() turns the symbols back into the
dequantized latent that the synthesis sees. Everything that decides a symbol or a table
is exact (integer), so read() returns the same symbols on every machine.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from ..defaults import CODING_TILE

TileSymbols = dict  # name -> integer array (C, rows, cols) at that symbol's resolution


class LatentCodec(ABC):
    kind: str  # the weights' metadata "latent" names it
    sections: int  # sections per coding tile in the file
    section_names: tuple[str, ...]  # what each section holds (dcn info shows them)
    # (name, elements per element of z along each axis) of every symbol array, in hash order
    symbols: tuple[tuple[str, int], ...]
    max_tile: int = 0  # the largest coding tile in pixels its files may have (0: any)
    coding_tile: int = CODING_TILE  # the encoder's default coding tile in pixels

    @abstractmethod
    def with_encoder(self, tensors: dict, meta: dict) -> "LatentCodec":
        """This codec with its encoder-side networks (from encoder.safetensors) attached."""

    @abstractmethod
    def to(self, device: torch.device, dtype: torch.dtype) -> "LatentCodec":
        """Move the float networks that latent() runs; called once before the tiles run in parallel."""

    @abstractmethod
    def hyper_symbols(self, y: torch.Tensor) -> np.ndarray:
        """A tile's latent after the gains, (1, M, 4h, 4w) float32 on the CPU -> its z, the
        integer side information (N, h, w) that quantize() codes by default. Encoder side."""

    @abstractmethod
    def quantize(self, y: torch.Tensor, z: np.ndarray | None = None) -> TileSymbols:
        """A tile's latent after the gains -> its symbols, with side information z (None:
        hyper_symbols(y)); table choices may be left out: write() computes what it lacks. Encoder side."""

    @abstractmethod
    def entropy_parameters(self, y: torch.Tensor, z: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The mean (float64) and table index of every element of a tile's y, (M, 4h, 4w),
        exactly as quantize(y, z) codes them: what an encoder that optimises y for its
        rate (pipeline/refine.py) holds fixed between steps. Encoder side."""

    @abstractmethod
    def write(self, tile: TileSymbols) -> tuple[bytes, ...]:
        """Entropy-code a tile's symbols into its `sections` sections."""

    @abstractmethod
    def read(self, sections: tuple[bytes, ...], rows: int, cols: int) -> TileSymbols:
        """Decode a tile of rows x cols elements of z from its sections alone (DCNError if corrupt)."""

    @abstractmethod
    def latent(self, tile: TileSymbols, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The dequantized latent of a tile, (1, M, 4h, 4w), before the inverse gains."""


@dataclass
class Latents:
    """An image's latents: every coding tile's symbols and where the tile lies."""

    tiles: list  # TileSymbols per coding tile, row by row
    boxes: list  # (top, left, rows, cols) of each tile in elements of z
    symbols: tuple  # the codec's (name, scale) of each symbol array

    def arrays(self) -> dict[str, np.ndarray]:
        """Every symbol array of the whole image, in the codec's order (tiles that lack one
        of them, as the encoder's before entropy coding, are left out)."""
        return {name: self.array(name) for name, _ in self.symbols if all(name in t for t in self.tiles)}

    @property
    def extent(self) -> tuple[int, int]:
        """Rows and columns of z that the tiles cover."""
        return max(t + h for t, _, h, _ in self.boxes), max(l + w for _, l, _, w in self.boxes)

    def array(self, name: str) -> np.ndarray:
        """One symbol array of the whole image."""
        scale = dict(self.symbols)[name]
        rows, cols = self.extent
        first = self.tiles[0][name]
        out = np.zeros((first.shape[0], scale * rows, scale * cols), first.dtype)
        for (t, l, h, w), tile in zip(self.boxes, self.tiles):
            out[:, scale * t:scale * (t + h), scale * l:scale * (l + w)] = tile[name]
        return out
