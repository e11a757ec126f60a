"""Entropy coding of integer symbols with constriction's ANS coder and integer tables.

A section codes a flat array of integers, each with the index of its table. Symbols are
coded grouped by table (one vectorized call per table, in table order); values outside
a table's range are coded as the table's escape symbol followed, after all groups, by an
Exp-Golomb-like code of the excess with uniform models. Magnitudes are limited to
MAX_ABS so that every value round-trips exactly.
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


def encode(values: np.ndarray, table_index: np.ndarray, tables: TableSet) -> bytes:
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
    coder = constriction.stream.stack.AnsCoder()
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
    return coder.get_compressed().tobytes()


def decode(data: bytes, table_index: np.ndarray, tables: TableSet) -> np.ndarray:
    """Inverse of encode; table_index must be the encoder's. Corrupt data -> DCNError."""
    if len(data) % 4:
        raise DCNError("corrupt file: entropy-coded section length is not a multiple of 4")
    shape = table_index.shape
    table_index = table_index.reshape(-1)
    values = np.zeros(table_index.shape, dtype=np.int32)
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype=np.uint32).copy())
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
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise DCNError(f"corrupt file: entropy decoding failed ({exc})") from None
    if not coder.is_empty():
        raise DCNError("corrupt file: entropy-coded section has trailing data")
    return values.reshape(shape)
