"""Small pure pyarrow helpers shared by ``cleaning`` and ``reports``."""

from __future__ import annotations

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
