"""Small pure pyarrow and numpy helpers shared by ``cleaning``, ``reports`` and ``report_partials``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def one_array(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``values`` as one array (chunks of a dictionary column get one unified dictionary)."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def dictionary_encoded(values: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """``values`` dictionary-encoded in one array (an already encoded column is combined, not hashed again)."""
    if isinstance(values, pa.ChunkedArray) and not values.num_chunks:
        values = pa.array([], values.type)
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    encoded: pa.DictionaryArray = one_array(values)
    return encoded


def sorted_unique_rows(codes: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(code, key)`` rows of two non-negative integer arrays, sorted by code then key."""
    return sorted_unique_rows_of([(codes, keys)])


def sorted_unique_rows_of(pieces: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(code, key)`` rows of every ``(codes, keys)`` piece, sorted by code then key.

    Codes come back as int32, keys as int64. When a code and a key fit one int64 together (the usual
    case: a few hundred codes, order keys of about 45 bits) each piece is packed straight into one
    array, which is sorted in place (numpy's vectorised sort: ~0.03 s per million rows, a tenth of
    ``np.lexsort``) and unpacked into the kept rows. Each temporary of a day's rows is tens of MB that
    the kernel zeroes page by page, so the packed path makes three: the packed rows, the kept ones and
    the codes (at 8.2M rows 0.30-1.3 s before, when it made eight). Otherwise ``np.lexsort``.
    ``np.unique`` is not used: numpy 2.4's is hash-based and took 2 s on 1.6M int64 values here.
    """
    pieces = [(codes, keys) for codes, keys in pieces if len(codes)]
    if not pieces:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    low = min(min(int(codes.min()), int(keys.min())) for codes, keys in pieces)
    shift = max(int(keys.max()) for _, keys in pieces).bit_length()
    top = max(int(codes.max()) for codes, _ in pieces).bit_length()
    if top > 31:
        raise ValueError(f"codes must fit int32; the largest has {top} bits")
    if low < 0 or shift + top > 63:
        codes = np.concatenate([codes for codes, _ in pieces]).astype(np.int64, copy=False)
        keys = np.concatenate([keys for _, keys in pieces]).astype(np.int64, copy=False)
        rank = np.lexsort((keys, codes))
        codes, keys = codes[rank], keys[rank]
        fresh = _first_of_runs(codes) | _first_of_runs(keys)
        return codes[fresh].astype(np.int32), keys[fresh]
    packed = np.empty(sum(len(codes) for codes, _ in pieces), np.int64)
    start = 0
    for codes, keys in pieces:
        part = packed[start : start + len(codes)]
        np.left_shift(codes, shift, out=part, dtype=np.int64)
        np.bitwise_or(part, keys.astype(np.int64, copy=False), out=part)
        start += len(codes)
    packed.sort()
    packed = packed[_first_of_runs(packed)]
    out_codes = np.empty(len(packed), np.int32)
    np.right_shift(packed, shift, out=out_codes, casting="unsafe")  # codes below 2**31: a narrowing that loses nothing
    np.bitwise_and(packed, (1 << shift) - 1, out=packed)
    return out_codes, packed


def _first_of_runs(values: np.ndarray) -> np.ndarray:
    """True where a value differs from the one before it (always for the first)."""
    first = np.empty(len(values), bool)
    first[:1] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return first
