"""Integer probability tables for the entropy coder.

Every table is a pmf of integer counts summing to 2**PRECISION, every count >= 1, over the
values low .. low+len-2, plus a last entry for the escape symbol (a value outside that
range, coded separately; see ans.py). The tables are computed once at export and shipped
with the decoder weights, so coding never depends on floating-point maths. The scale
grid that picks a table for each element of y belongs to the model (ScaleSpec, stored in
its weights' metadata).
"""
import json
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from ..format.constants import PRECISION


@dataclass(frozen=True)
class ScaleSpec:
    """The Gaussian tables of y: `count` scales log-spaced from `min` to `max`, chosen by a
    fixed-point scale with `frac_bits` fractional bits; tails below `tail_mass` (of z's
    tables) go to the escape symbol. The defaults are model 1's (every release so far)."""

    min: float = 0.11
    max: float = 256.0
    count: int = 64
    frac_bits: int = 12
    tail_mass: float = 1e-9

    def scales(self) -> np.ndarray:
        return np.exp(np.linspace(np.log(self.min), np.log(self.max), self.count))

    def thresholds(self) -> np.ndarray:
        """Fixed-point boundaries between neighbouring scales (geometric means): index =
        number of thresholds <= the predicted fixed-point scale."""
        s = self.scales()
        return np.round(np.sqrt(s[:-1] * s[1:]) * 2 ** self.frac_bits).astype(np.int64)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> "ScaleSpec":
        return cls(**json.loads(text)) if text else cls()


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Float pmf (escape mass last) -> int counts, each >= 1, summing to 2**PRECISION."""
    total = 2 ** PRECISION
    pmf = np.maximum(pmf, 0) / max(pmf.sum(), 1e-300)
    counts = np.maximum(1, np.round(pmf * (total - len(pmf)))).astype(np.int64)
    counts[np.argmax(counts)] += total - counts.sum()
    if counts.min() < 1:
        raise ValueError("table too long for the coder's precision")
    return counts


@dataclass
class TableSet:
    """Several tables in one flat array: table k is counts[offsets[k]:offsets[k+1]]."""

    counts: np.ndarray  # int32
    offsets: np.ndarray  # int64, len = tables + 1
    lows: np.ndarray  # int64, smallest value of each table

    def __len__(self) -> int:
        return len(self.lows)

    def table(self, k: int) -> np.ndarray:
        return self.counts[self.offsets[k]:self.offsets[k + 1]]

    @cached_property
    def lengths(self) -> np.ndarray:
        """Entries of each table, escape included."""
        return np.diff(self.offsets)

    @cached_property
    def models(self) -> list:
        """constriction's model of each table, built once (immutable: threads share them)."""
        import constriction
        return [constriction.stream.model.Categorical(self.table(k).astype(np.float64), perfect=False)
                for k in range(len(self))]

    @classmethod
    def from_pmfs(cls, pmfs: list[np.ndarray], lows: list[int]) -> "TableSet":
        counts = [quantize_pmf(p) for p in pmfs]
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in counts])])
        return cls(np.concatenate(counts).astype(np.int32), offsets.astype(np.int64),
                   np.asarray(lows, dtype=np.int64))

    @classmethod
    def from_tensors(cls, tensors: dict, prefix: str) -> "TableSet":
        """From a weights file's tensors PREFIX.counts, .offsets, .lows."""
        return cls(tensors[f"{prefix}.counts"].numpy(), tensors[f"{prefix}.offsets"].numpy(),
                   tensors[f"{prefix}.lows"].numpy())

    def tensors(self, prefix: str) -> dict:
        import torch
        return {f"{prefix}.counts": torch.from_numpy(self.counts), f"{prefix}.offsets": torch.from_numpy(self.offsets),
                f"{prefix}.lows": torch.from_numpy(self.lows)}

    def validate(self) -> None:
        if len(self.offsets) != len(self.lows) + 1 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.counts) or np.any(np.diff(self.offsets) < 2):
            raise ValueError("malformed table set")
        for k in range(len(self)):
            t = self.table(k)
            if t.min() < 1 or int(t.sum()) != 2 ** PRECISION:
                raise ValueError(f"table {k} is not normalized")


def gaussian_tables(spec: ScaleSpec) -> TableSet:
    """One table per scale of the spec: a zero-mean Gaussian discretized to integers."""
    from math import erfc, sqrt
    pmfs, lows = [], []
    for s in spec.scales():
        r = max(1, int(np.ceil(6.0 * s)))
        v = np.arange(-r, r + 2) - 0.5  # interval edges
        cdf = np.array([0.5 * erfc(-e / (s * sqrt(2))) for e in v])
        inner = np.diff(cdf)
        pmfs.append(np.append(inner, 1 - inner.sum()))
        lows.append(-r)
    return TableSet.from_pmfs(pmfs, lows)
