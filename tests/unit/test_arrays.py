"""The shared array helpers against plain-Python definitions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_app.arrays import sorted_unique_rows, sorted_unique_rows_of
from tests.helpers import examples

# Keys below 2**20 pack with any small code into one int64 (the sort path); keys near 2**62 with codes above 1
# do not (the lexsort path). Few distinct values, so rows repeat.
ROWS = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from([0, 1, 7, 2**20 - 1, 2**61, 2**62 - 1, 2**62 + 3])), max_size=60
)


@settings(max_examples=examples(200))
@given(ROWS)
def test_sorted_unique_rows_is_the_sorted_set_of_rows(rows: list[tuple[int, int]]) -> None:
    codes = np.array([c for c, _ in rows], np.int32)
    keys = np.array([k for _, k in rows], np.int64)
    got_codes, got_keys = sorted_unique_rows(codes, keys)
    assert got_codes.dtype == np.int32
    assert got_keys.dtype == np.int64
    assert list(zip(got_codes.tolist(), got_keys.tolist(), strict=True)) == sorted(set(rows))


@settings(max_examples=examples(200))
@given(st.lists(ROWS, max_size=5), st.booleans())
def test_the_rows_of_several_pieces_are_the_sorted_set_of_all_of_them(pieces: list[Any], wide: bool) -> None:
    """Pieces are packed straight into one array (or concatenated for lexsort): empty ones, int32 or int64
    codes, rows repeated across pieces."""
    arrays = [
        (np.array([c for c, _ in rows], np.int64 if wide else np.int32), np.array([k for _, k in rows], np.int64))
        for rows in pieces
    ]
    got_codes, got_keys = sorted_unique_rows_of(arrays)
    assert got_codes.dtype == np.int32
    assert got_keys.dtype == np.int64
    rows = {row for piece in pieces for row in piece}
    assert list(zip(got_codes.tolist(), got_keys.tolist(), strict=True)) == sorted(rows)


def test_wide_keys_take_the_lexsort_path_and_small_ones_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Packed into one int64 and sorted once when code and key fit together; lexsort when they do not."""
    calls: list[int] = []
    lexsort = np.lexsort

    def counted(keys: Any) -> Any:
        calls.append(1)
        return lexsort(keys)

    monkeypatch.setattr(np, "lexsort", counted)
    small = sorted_unique_rows(np.array([3, 1, 3, 1], np.int32), np.array([5, 9, 5, 2], np.int64))
    assert [a.tolist() for a in small] == [[1, 1, 3], [2, 9, 5]]
    assert not calls
    wide = sorted_unique_rows(np.array([3, 1, 3, 1], np.int32), np.array([2**62, 9, 2**62, 2], np.int64))
    assert [a.tolist() for a in wide] == [[1, 1, 3], [2, 9, 2**62]]
    assert calls == [1]


def test_keys_of_any_integer_type_pack_as_int64_and_codes_past_int32_are_refused() -> None:
    """uint32 keys are widened before they are ORed in; a code of 2**31 would not survive the int32 codes."""
    codes, keys = sorted_unique_rows_of([(np.array([2, 1, 2], np.int32), np.array([7, 2**32 - 1, 7], np.uint32))])
    assert [codes.tolist(), keys.tolist()] == [[1, 2], [2**32 - 1, 7]]
    with pytest.raises(ValueError, match="int32"):
        sorted_unique_rows_of([(np.array([2**31], np.int64), np.array([1], np.int64))])
