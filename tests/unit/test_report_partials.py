"""Report partials: merged in any grouping they give the reports of all their lines at once, bit for bit."""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambda_app import parquet
from lambda_app.parquet import iter_row_groups, row_group_rows
from lambda_app.report_partials import ReportPartial, merge
from lambda_app.reports import INPUT_COLUMNS, ReportBuilder, region_sums, to_csv_bytes


def lines(seed: int, rows: int, ids: str = "packed") -> pa.Table:
    rng = random.Random(seed)
    order = {
        "packed": lambda: f"{rng.choice(['CA', 'US'])}-2023-{rng.randint(1, 60):04d}",
        "text": lambda: rng.choice(["a", "b", "c", "x-1", "x-01"]) + rng.choice(["", "é", "-z"]),
        "long": lambda: f"N{rng.randint(1, 40)}{'0' * 13}",  # more than 12 trailing digits: stays text
    }[ids]
    return pa.table(
        {
            "order_id": [order() for _ in range(rows)],
            "region": [rng.choice(["West", "East", "=South"]) for _ in range(rows)],
            "category": [rng.choice(["Furniture", "Technology"]) for _ in range(rows)],
            "sub_category": [rng.choice(["Chairs", "Phones", "Paper"]) for _ in range(rows)],
            "ship_mode": [rng.choice(["First Class", "Same Day", None]) for _ in range(rows)],
            "profit": [rng.uniform(-50, 80) for _ in range(rows)],
        }
    )


def partial_of(name: str, table: pa.Table) -> ReportPartial:
    builder = ReportBuilder()
    builder.add(table)
    return ReportPartial.from_builder(builder, frozenset({name}), [(name, 0, r, t) for r, t in region_sums(table)])


def whole(*tables: pa.Table) -> dict[str, bytes]:
    """The reports of all the lines, each table folded in turn (as a recomputation folds row groups)."""
    builder = ReportBuilder()
    for table in tables:
        builder.add(table)
    return {name: to_csv_bytes(table) for name, table in builder.build().items()}


def csvs(partial: ReportPartial) -> dict[str, bytes]:
    return {name: to_csv_bytes(table) for name, table in partial.build().items()}


@pytest.mark.parametrize("ids", ["packed", "text", "long"])
def test_any_grouping_of_merges_gives_the_reports_of_all_lines(ids: str) -> None:
    tables = [lines(seed, 40 + seed * 7, ids if seed % 2 else "packed") for seed in range(6)]
    parts = [partial_of(f"k{i}", t) for i, t in enumerate(tables)]  # names sort as the terms must add
    expected = whole(*tables)
    assert csvs(merge(parts)) == expected
    assert csvs(merge([merge(parts[:2]), merge(parts[2:5]), parts[5]])) == expected
    assert csvs(merge(list(reversed(parts)))) == expected
    again = merge([merge(parts[:3]), *parts[3:]])
    assert again.attempts == {f"k{i}" for i in range(6)}
    assert csvs(ReportPartial.from_bytes(again.to_bytes())) == expected


def test_an_order_in_two_partials_counts_once_per_pair() -> None:
    one = pa.table(
        {
            "order_id": ["CA-1", "CA-1"],
            "region": ["West", "West"],
            "category": ["F", "F"],
            "sub_category": ["Chairs", "Tables"],
            "ship_mode": ["First", "First"],
            "profit": [1.0, 2.0],
        }
    )
    merged = merge([partial_of("a", one), partial_of("b", one)])
    assert merged.build()["orders_by_category"].to_pylist() == [
        {"category": "F", "sub_category": "Chairs", "order_count": 1},
        {"category": "F", "sub_category": "Tables", "order_count": 1},
    ]
    assert merged.build()["shipping_method_by_category"]["order_count"].to_pylist() == [1]


def test_terms_per_row_group_give_the_floats_of_reading_the_object_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the sink sums per row group of the written object equals folding the object's row groups."""
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 17)
    table = lines(3, 200)
    body = io.BytesIO()
    parquet.encode_parquet(table, body)
    data = body.getvalue()
    assert len(row_group_rows(data)) > 5
    terms, start = [], 0
    for group, rows in enumerate(row_group_rows(data)):
        terms += [("obj", group, r, t) for r, t in region_sums(table.slice(start, rows))]
        start += rows
    builder = ReportBuilder()
    builder.add(table)
    partial = ReportPartial.from_builder(builder, frozenset({"a"}), terms)
    read_back = iter_row_groups(data, list(INPUT_COLUMNS))
    assert csvs(partial) == whole(*read_back)
    assert partial.build()["most_profitable_region"] == region_table(read_back)  # the same doubles


def region_table(tables: list[pa.Table]) -> pa.Table:
    builder = ReportBuilder()
    for table in tables:
        builder.add(table)
    return builder.build()["most_profitable_region"].combine_chunks()


def test_bytes_that_are_not_a_partial_are_refused() -> None:
    body = io.BytesIO()
    pq.write_table(pa.table({"code": [1]}), body)
    with pytest.raises(ValueError, match="not a report partial"):
        ReportPartial.from_bytes(body.getvalue())


def test_an_empty_merge_has_empty_reports() -> None:
    assert all(table.num_rows == 0 for table in merge([]).build().values())
    assert merge([ReportPartial(), ReportPartial()]).attempts == frozenset()


def test_a_merge_that_adds_nothing_is_its_one_partial_and_a_merge_that_adds_is_new() -> None:
    """The day's first refresh merges an empty start with one attempt: that partial itself comes back (so the
    checkpoint reuses the bytes just written for the attempt); an added attempt, term or row makes a new one."""
    one = partial_of("k0", lines(1, 30))
    assert merge([ReportPartial(), one]) is one
    assert merge([one, ReportPartial(), ReportPartial()]) is one
    zero_rows = ReportPartial(attempts=frozenset({"k9"}))  # a zero-row load still names its attempt
    assert merge([one, zero_rows]) is not one
    assert merge([one, zero_rows]).attempts == {"k0", "k9"}
    other = partial_of("k1", lines(2, 5))
    assert csvs(merge([ReportPartial(), one, other])) == whole(lines(1, 30), lines(2, 5))
