"""Entropy coding of integer symbols with constriction's ANS coder and integer tables.

A section codes a flat array of integers, each with the index of its table. Symbols are
coded grouped by table (one vectorized call per table, in table order); values outside
a table's range are coded as the table's escape symbol followed, after all groups, by an
Exp-Golomb-like code of the excess with uniform models. Magnitudes are limited to
MAX_ABS so that every value round-trips exactly. One stream may hold several such parts,
decoded one after the other (a later part's tables may depend on an earlier part's values).
"""
import constriction
import numpy as np

from ..errors import DCNError
from ..format.constants import ESCAPE_LENGTHS, MAX_ABS
from .tables import TableSet

_uniform = constriction.stream.model.Uniform()


def _groups(table_index: np.ndarray, tables: TableSet) -> tuple[np.ndarray, np.ndarray]:
    """The coding order (positions grouped by table, in table order, each group in
    position order) and how many elements each table codes."""
    flat = table_index.reshape(-1)
    return np.argsort(flat, kind="stable"), np.bincount(flat, minlength=len(tables))


Part = tuple  # (values, table_index, tables): one array coded with its tables


def encode(values: np.ndarray, table_index: np.ndarray, tables: TableSet) -> bytes:
    """A stream of one part."""
    return encode_parts((values, table_index, tables))


def encode_parts(*parts: Part) -> bytes:
    """One stream holding the parts, in the order Reader.decode will take them out."""
    coder = constriction.stream.stack.AnsCoder()
    for values, table_index, tables in reversed(parts):  # a stack: the last pushed pops first
        _push(coder, values, table_index, tables)
    return coder.get_compressed().tobytes()


def _push(coder, values: np.ndarray, table_index: np.ndarray, tables: TableSet) -> None:
    order, counts = _groups(table_index, tables)
    k = table_index.reshape(-1)[order]
    vals = np.clip(values.reshape(-1)[order].astype(np.int64), -MAX_ABS, MAX_ABS)
    low, n = tables.lows[k], tables.lengths[k]
    sym = vals - low
    out = (sym < 0) | (sym > n - 2)
    sym[out] = n[out] - 1
    v, lo, top = vals[out], low[out], low[out] + n[out] - 2
    esc = np.where(v < lo, lo - 1 - v, v - top - 1) * 2 + (v > lo)  # excess*2 + side
    side, excess = esc & 1, esc >> 1
    nbits = np.array([int(e).bit_length() for e in excess], dtype=np.int32)
    long = nbits >= 2
    if long.any():
        coder.encode_reverse((excess[long] - (1 << (nbits[long] - 1))).astype(np.int32), _uniform,
                             (1 << (nbits[long] - 1)).astype(np.int32))
    if len(esc):
        coder.encode_reverse(nbits, _uniform, np.full(len(esc), ESCAPE_LENGTHS, np.int32))
        coder.encode_reverse(side.astype(np.int32), _uniform, np.full(len(esc), 2, np.int32))
    sym = sym.astype(np.int32)
    ends = np.cumsum(counts)
    for t in np.flatnonzero(counts)[::-1]:
        coder.encode_reverse(sym[ends[t] - counts[t]:ends[t]], tables.models[t])


def decode(data: bytes, table_index: np.ndarray, tables: TableSet) -> np.ndarray:
    """Inverse of encode; table_index must be the encoder's. Corrupt data -> DCNError."""
    reader = Reader(data)
    values = reader.decode(table_index, tables)
    reader.finish()
    return values


def _corrupt(exc: Exception) -> DCNError:
    return DCNError(f"corrupt file: entropy decoding failed ({exc})")


class Reader:
    """Takes the parts of an encode_parts stream out in order; finish() checks that
    nothing is left. Corrupt data -> DCNError."""

    def __init__(self, data: bytes):
        if len(data) % 4:
            raise DCNError("corrupt file: entropy-coded section length is not a multiple of 4")
        try:
            self._coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype=np.uint32).copy())
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise _corrupt(exc) from None

    def decode(self, table_index: np.ndarray, tables: TableSet) -> np.ndarray:
        """The next part's values, shaped as table_index (the encoder's)."""
        try:
            return self._decode(table_index, tables)
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise _corrupt(exc) from None

    def finish(self) -> None:
        if not self._coder.is_empty():
            raise DCNError("corrupt file: entropy-coded section has trailing data")

    def _decode(self, table_index: np.ndarray, tables: TableSet) -> np.ndarray:
        coder = self._coder
        order, counts = _groups(table_index, tables)
        parts = [coder.decode(tables.models[t], int(counts[t])) for t in np.flatnonzero(counts)]
        sym = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        k = table_index.reshape(-1)[order]
        low, n = tables.lows[k], tables.lengths[k]
        vals = sym + low
        out = np.flatnonzero(sym == n - 1)
        if len(out):
            count = len(out)
            side = coder.decode(_uniform, np.full(count, 2, np.int32)).astype(np.int64)
            nbits = coder.decode(_uniform, np.full(count, ESCAPE_LENGTHS, np.int32)).astype(np.int64)
            excess = np.where(nbits >= 1, 1 << np.maximum(nbits - 1, 0), 0)
            long = nbits >= 2
            if long.any():
                excess[long] += coder.decode(_uniform, (1 << (nbits[long] - 1)).astype(np.int32))
            lo, top = low[out], low[out] + n[out] - 2
            vals[out] = np.where(side == 1, top + 1 + excess, lo - 1 - excess)
            if np.abs(vals[out]).max() > MAX_ABS:  # the escape code reaches 2**21; the format stops at MAX_ABS
                raise DCNError(f"corrupt file: a coded value exceeds ±{MAX_ABS}")
        values = np.empty(len(order), np.int32)
        values[order] = vals
        return values.reshape(table_index.shape)
