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

_categorical = constriction.stream.model.Categorical
_uniform = constriction.stream.model.Uniform()


def _model(tables: TableSet, k: int):
    return _categorical(tables.table(k).astype(np.float64), perfect=False)


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
    values = np.clip(values.reshape(-1), -MAX_ABS, MAX_ABS)
    table_index = table_index.reshape(-1)
    groups = []
    escapes = []
    for k in np.unique(table_index):
        vals = values[table_index == k]
        low = tables.lows[k]
        n = len(tables.table(k))
        sym = vals - low
        out = (sym < 0) | (sym > n - 2)
        sym[out] = n - 1
        groups.append((k, sym.astype(np.int32)))
        escapes.append(np.where(vals[out] < low, low - 1 - vals[out], vals[out] - (low + n - 2) - 1)
                       * 2 + (vals[out] > low))  # excess*2 + side
    esc = np.concatenate(escapes) if escapes else np.zeros(0, np.int64)
    side, excess = esc & 1, esc >> 1
    nbits = np.array([int(e).bit_length() for e in excess], dtype=np.int32)
    long = nbits >= 2
    if long.any():
        coder.encode_reverse((excess[long] - (1 << (nbits[long] - 1))).astype(np.int32), _uniform,
                             (1 << (nbits[long] - 1)).astype(np.int32))
    if len(esc):
        coder.encode_reverse(nbits, _uniform, np.full(len(esc), ESCAPE_LENGTHS, np.int32))
        coder.encode_reverse(side.astype(np.int32), _uniform, np.full(len(esc), 2, np.int32))
    for k, sym in reversed(groups):
        coder.encode_reverse(sym, _model(tables, k))


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
        shape = table_index.shape
        table_index = table_index.reshape(-1)
        values = np.zeros(table_index.shape, dtype=np.int32)
        escaped = []
        for k in np.unique(table_index):
            where = np.flatnonzero(table_index == k)
            n = len(tables.table(k))
            sym = coder.decode(_model(tables, k), len(where)).astype(np.int64)
            values[where] = sym + tables.lows[k]
            out = sym == n - 1
            escaped.append((where[out], tables.lows[k], n))
        count = sum(len(w) for w, _, _ in escaped)
        if count:
            side = coder.decode(_uniform, np.full(count, 2, np.int32)).astype(np.int64)
            nbits = coder.decode(_uniform, np.full(count, ESCAPE_LENGTHS, np.int32)).astype(np.int64)
            excess = np.where(nbits >= 1, 1 << np.maximum(nbits - 1, 0), 0)
            long = nbits >= 2
            if long.any():
                excess[long] += coder.decode(_uniform, (1 << (nbits[long] - 1)).astype(np.int32))
            i = 0
            for where, low, n in escaped:
                e, s = excess[i:i + len(where)], side[i:i + len(where)]
                values[where] = np.where(s == 1, low + n - 2 + 1 + e, low - 1 - e)
                i += len(where)
            if np.abs(values).max() > MAX_ABS:  # the escape code reaches 2**21; the format stops at MAX_ABS
                raise DCNError(f"corrupt file: a coded value exceeds ±{MAX_ABS}")
        return values.reshape(shape)
