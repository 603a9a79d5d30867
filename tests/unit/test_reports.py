"""The three reports on hand-computed data: ties, missing ship modes, distinct orders across chunks."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_app.reports import ReportBuilder, _distinct, _distinct_pairs, neutralize_formula, to_csv_bytes
from tests.helpers import examples


def lines(*rows: tuple[str, str, str, str, str | None, float]) -> pa.Table:
    names = ["order_id", "region", "category", "sub_category", "ship_mode", "profit"]
    return pa.table(
        {name: [r[i] for r in rows] for i, name in enumerate(names)},
        schema=pa.schema([(n, pa.float64() if n == "profit" else pa.string()) for n in names]),
    )


def build(*chunks: pa.Table) -> dict[str, list[dict[str, object]]]:
    builder = ReportBuilder()
    for chunk in chunks:
        builder.add(chunk)
    return {name: table.to_pylist() for name, table in builder.build().items()}


def test_region_profit_sums_sorts_descending_and_rounds_to_cents() -> None:
    reports = build(
        lines(
            ("1", "West", "F", "B", "Standard Class", 29.6),
            ("2", "West", "F", "B", "Standard Class", 0.005),
            ("3", "East", "T", "P", "First Class", 100.0),
            ("4", "South", "T", "P", "First Class", -12.345),
            ("5", "Central", "T", "P", "First Class", 100.0),
        )
    )
    assert reports["most_profitable_region"] == [
        {"region": "Central", "total_profit": 100.0},  # tie with East: region ascending
        {"region": "East", "total_profit": 100.0},
        {"region": "West", "total_profit": 29.61},  # 29.605 rounds half away from zero
        {"region": "South", "total_profit": -12.35},
    ]


def test_top_ship_mode_counts_distinct_orders_not_lines() -> None:
    reports = build(
        lines(
            # order 1 has three Second Class lines: still one order
            ("1", "W", "Furniture", "Chairs", "Second Class", 1.0),
            ("1", "W", "Furniture", "Tables", "Second Class", 1.0),
            ("1", "W", "Furniture", "Bookcases", "Second Class", 1.0),
            ("2", "W", "Furniture", "Chairs", "Standard Class", 1.0),
            ("3", "W", "Furniture", "Chairs", "Standard Class", 1.0),
        )
    )
    assert reports["shipping_method_by_category"] == [
        {"category": "Furniture", "ship_mode": "Standard Class", "order_count": 2}
    ]


def test_ship_mode_tie_goes_to_the_alphabetically_first_and_missing_modes_never_win() -> None:
    reports = build(
        lines(
            ("1", "W", "Technology", "Phones", "Standard Class", 1.0),
            ("2", "W", "Technology", "Phones", "First Class", 1.0),
            ("3", "W", "Technology", "Phones", None, 1.0),
            ("4", "W", "Technology", "Phones", None, 1.0),
            ("5", "W", "Technology", "Phones", None, 1.0),
            ("6", "W", "Office Supplies", "Paper", None, 1.0),  # only missing modes: no row
        )
    )
    assert reports["shipping_method_by_category"] == [
        {"category": "Technology", "ship_mode": "First Class", "order_count": 1}
    ]


def test_orders_by_category_counts_distinct_order_ids_per_pair_sorted() -> None:
    reports = build(
        lines(
            ("1", "W", "Technology", "Phones", "S", 1.0),
            ("1", "W", "Technology", "Phones", "S", 1.0),
            ("2", "W", "Technology", "Phones", "S", 1.0),
            ("2", "W", "Furniture", "Tables", "S", 1.0),
            ("3", "W", "Furniture", "Chairs", None, 1.0),
        )
    )
    assert reports["orders_by_category"] == [
        {"category": "Furniture", "sub_category": "Chairs", "order_count": 1},
        {"category": "Furniture", "sub_category": "Tables", "order_count": 1},
        {"category": "Technology", "sub_category": "Phones", "order_count": 2},
    ]


def test_an_order_spanning_chunks_counts_once() -> None:
    first = lines(("A", "W", "F", "Chairs", "Same Day", 1.0), ("B", "W", "F", "Chairs", "First Class", 1.0))
    second = lines(("A", "W", "F", "Chairs", "Same Day", 2.0), ("C", "W", "F", "Chairs", "First Class", 1.0))
    third = lines(("A", "W", "F", "Chairs", "Same Day", 3.0))
    reports = build(first, second, third)
    assert reports["orders_by_category"] == [{"category": "F", "sub_category": "Chairs", "order_count": 3}]
    assert reports["shipping_method_by_category"] == [{"category": "F", "ship_mode": "First Class", "order_count": 2}]
    assert reports["most_profitable_region"] == [{"region": "W", "total_profit": 8.0}]


def test_no_rows_gives_header_only_reports() -> None:
    builder = ReportBuilder()
    for name, table in builder.build().items():
        text = to_csv_bytes(table).decode()
        assert text.count("\n") == 1, name


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x","y")', "+1", "-2", "@x", "\tcmd"])
def test_formula_like_text_is_neutralised(value: str) -> None:
    assert neutralize_formula(value) == "'" + value


def test_csv_output_has_exact_columns_cents_and_safe_text() -> None:
    table = pa.table({"region": ["=cmd", "East, Coast"], "total_profit": [-1.0, 1234567.891]})
    rows = list(csv.reader(io.StringIO(to_csv_bytes(table).decode())))
    assert rows == [["region", "total_profit"], ["'=cmd", "-1.00"], ["East, Coast", "1234567.89"]]


def test_order_ids_that_differ_only_in_leading_zeros_or_digits_are_different_orders() -> None:
    ids = ["A-7", "A-07", "A-007", "7", "07", "A-", "A", "", "B-7", "A-7"]
    reports = build(lines(*((i, "W", "F", "Chairs", "Same Day", 1.0) for i in ids)))
    assert reports["orders_by_category"] == [{"category": "F", "sub_category": "Chairs", "order_count": 9}]


def test_chunks_with_text_ids_and_packed_ids_still_count_an_order_once() -> None:
    packed = lines(
        ("CA-2023-1", "W", "F", "Chairs", "Same Day", 1.0), ("CA-2023-2", "W", "F", "Chairs", "Same Day", 1.0)
    )
    # 13 trailing digits do not fit the packed form: this chunk keeps its ids as text.
    text = lines(
        ("CA-2023-1", "W", "F", "Chairs", "Same Day", 1.0), ("X-1234567890123", "W", "F", "Chairs", "Same Day", 1.0)
    )
    builder = ReportBuilder()
    builder.add(packed)
    builder.add(text)
    assert builder._sub.text
    assert any(builder._sub.buckets)
    reports = {name: table.to_pylist() for name, table in builder.build().items()}
    assert reports["orders_by_category"] == [{"category": "F", "sub_category": "Chairs", "order_count": 3}]
    assert reports["shipping_method_by_category"] == [{"category": "F", "ship_mode": "Same Day", "order_count": 3}]


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.text(alphabet="AB-é0123456789", max_size=16), max_size=40))
def test_packed_order_keys_are_equal_exactly_when_the_ids_are(ids: list[str]) -> None:
    builder = ReportBuilder()
    keys = builder._order_keys(pa.array(ids, pa.string()))
    assert builder._order_text(keys).to_pylist() == ids
    assert len(set(keys.to_pylist())) == len(set(ids))


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 2**62)), max_size=60),
    st.sampled_from(["int64", "text", "int32", "uint64", "null orders", "null pairs"]),
)
def test_a_chunks_distinct_pairs_are_the_hash_aggregations(rows: list[tuple[int, int]], kind: str) -> None:
    """Expected: the sort of packed keys and Arrow's aggregation keep the same set of (pair, order) rows,
    packed keys of any size, text ids, other integer types and nulls alike."""
    rows = rows + rows[: len(rows) // 2]  # duplicates within the chunk
    numbers = [o % 2**31 if kind == "int32" else o for _, o in rows]
    orders: list[object] = [str(o) for o in numbers] if kind == "text" else list(numbers)
    pairs: list[int | None] = [p << 20 for p, _ in rows]
    if kind == "null orders":
        orders = [None if o % 3 == 0 else o for o in numbers]
    if kind == "null pairs":
        pairs = [None if o % 3 == 0 else p for p, o in zip(pairs, numbers, strict=True)]
    types = {"text": pa.string(), "int32": pa.int32(), "uint64": pa.uint64()}
    order = pa.array(orders, types.get(kind, pa.int64()))
    table = pa.table({"pair": pa.array(pairs, pa.int64()), "order": order})
    got = _distinct_pairs(table)
    assert got.schema == table.schema
    assert sorted(zip(*got.to_pydict().values(), strict=True), key=repr) == sorted(
        zip(*_distinct(table).to_pydict().values(), strict=True), key=repr
    )
    assert got.num_rows == len(set(zip(*table.to_pydict().values(), strict=True)))
