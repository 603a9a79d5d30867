"""The synthetic order generator and the committed sample file."""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders_tools import generate
from orders_tools.generate import HEADER, iter_orders, sample_rows, write_csv, write_sample
from tests.helpers import examples

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_orders.csv"

CANONICAL_HEADER = (
    "Order Id,Order Date,Ship Mode,Segment,Country,City,State,Postal Code,Region,"
    "Category,Sub Category,Product Id,cost price,List Price,Quantity,Discount Percent"
)
SUB_CATEGORIES = {
    "Furniture": {"Bookcases", "Chairs", "Furnishings", "Tables"},
    "Office Supplies": {
        "Appliances",
        "Art",
        "Binders",
        "Envelopes",
        "Fasteners",
        "Labels",
        "Paper",
        "Storage",
        "Supplies",
    },
    "Technology": {"Accessories", "Copiers", "Machines", "Phones"},
}
SHIP_MODES = {"First Class", "Same Day", "Second Class", "Standard Class", "Not Available"}
MISSING = {"", "not available", "unknown", "n/a"}
PRICE = re.compile(r"^(0|[1-9]\d*)(\.\d\d)?$")
PRODUCT_ID = re.compile(r"^(FUR|OFF|TEC)-[A-Z]{2}-\d{8}$")
ORDER_ID = re.compile(r"^(CA|US)-(\d{4})-\d+$")

ID, DATE, MODE, SEGMENT, COUNTRY, CITY, STATE, POSTAL, REGION, CATEGORY, SUB, PRODUCT, COST, LIST, QTY, DISC = range(16)


def assert_valid(row: list[str], start: date = generate.DEFAULT_START_DATE, days: int = generate.DEFAULT_DAYS) -> None:
    """The pipeline's acceptance rules, plus the generator's own promises."""
    assert len(row) == 16
    match = ORDER_ID.match(row[ID])
    assert match, row
    day = date.fromisoformat(row[DATE])
    assert 0 <= (day - start).days < days
    assert match.group(2) == row[DATE][:4]
    assert row[MODE] in SHIP_MODES
    assert row[SEGMENT] in {"Consumer", "Corporate", "Home Office"}
    assert row[COUNTRY] == "United States"
    assert row[CITY]
    assert row[STATE]
    assert re.fullmatch(r"\d{5}", row[POSTAL]), row
    assert row[REGION] in {"Central", "East", "South", "West"}
    assert row[SUB] in SUB_CATEGORIES[row[CATEGORY]]
    assert PRODUCT_ID.match(row[PRODUCT])
    assert row[PRODUCT].startswith({"Furniture": "FUR", "Office Supplies": "OFF", "Technology": "TEC"}[row[CATEGORY]])
    assert row[PRODUCT][4:6] == row[SUB][:2].upper()
    for price in (row[COST], row[LIST]):
        assert PRICE.match(price), row
        assert float(price) >= 0
    assert row[QTY].isdigit()
    assert int(row[QTY]) >= 1
    assert row[DISC].isdigit()
    assert 0 <= int(row[DISC]) <= 50


def read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(HEADER)
    return rows[1:]


# --- the generator ------------------------------------------------------------------------------


@settings(max_examples=examples(25), deadline=None)
@given(rows=st.integers(min_value=0, max_value=400), seed=st.integers(min_value=-(2**40), max_value=2**40))
def test_every_row_is_valid_and_the_count_is_exact(rows: int, seed: int) -> None:
    generated = list(iter_orders(rows, seed))
    assert len(generated) == rows
    for row in generated:
        assert_valid(row)


def test_start_date_and_days_bound_the_order_dates() -> None:
    start = date(2024, 2, 27)
    generated = list(iter_orders(2000, seed=3, start_date=start, days=5))
    for row in generated:
        assert_valid(row, start=start, days=5)
    assert {row[DATE] for row in generated} == {"2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"}


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert list(iter_orders(500, seed=11)) == list(iter_orders(500, seed=11))
    assert list(iter_orders(500, seed=11)) != list(iter_orders(500, seed=12))


def test_a_shorter_file_is_a_prefix_of_a_longer_one() -> None:
    long = list(iter_orders(9000, seed=5))  # more than one internal batch
    assert list(iter_orders(123, seed=5)) == long[:123]
    assert list(iter_orders(8999, seed=5)) == long[:8999]


def test_order_lines_share_the_order_fields_and_differ_in_product() -> None:
    orders: dict[str, list[list[str]]] = defaultdict(list)
    for row in iter_orders(20_000, seed=1):
        orders[row[ID]].append(row)
    sizes = Counter(len(lines) for lines in orders.values())
    assert set(sizes) == {1, 2, 3, 4, 5}
    assert sizes[1] > sizes[2] > sizes[5]
    for lines in orders.values():
        assert len({tuple(line[DATE : REGION + 1]) for line in lines}) == 1
        assert len({line[PRODUCT] for line in lines}) == len(lines)


def test_the_data_looks_like_order_exports() -> None:
    generated = list(iter_orders(50_000, seed=2))
    orders = {row[ID]: row for row in generated}
    modes = Counter(row[MODE] for row in orders.values())
    assert modes.most_common(1)[0][0] == "Standard Class"
    assert modes["Second Class"] > modes["First Class"] > modes["Same Day"] > modes["Not Available"] > 0
    assert 0.005 < modes["Not Available"] / len(orders) < 0.015

    zero = [row for row in generated if float(row[LIST]) == 0]
    assert 0.002 < len(zero) / len(generated) < 0.009
    assert all(float(row[COST]) == 0 for row in zero)

    priced = [row for row in generated if float(row[LIST]) > 0]
    losses = sum(float(row[COST]) >= float(row[LIST]) for row in priced)
    assert 0.02 < losses / len(priced) < 0.2  # cost < list price mostly, not always
    assert any("." in row[LIST] for row in priced)
    assert any("." not in row[LIST] for row in priced)

    discounts = Counter(int(row[DISC]) for row in generated)
    assert discounts.most_common(1)[0][0] == 0
    assert 0.4 < discounts[0] / len(generated) < 0.7
    assert max(discounts) == 50

    assert {(row[CATEGORY], row[SUB]) for row in generated} == {
        (category, sub) for category, subs in SUB_CATEGORIES.items() for sub in subs
    }
    regions = Counter(row[REGION] for row in generated)
    assert set(regions) == {"Central", "East", "South", "West"}
    assert min(regions.values()) / len(generated) > 0.1
    assert any(row[POSTAL].startswith("0") for row in generated)
    assert ("Boston", "Massachusetts", "02108") in {(row[CITY], row[STATE], row[POSTAL]) for row in generated}
    # One city, one state and postal code; one state, one region.
    assert len({(row[CITY], row[STATE]) for row in generated}) == len(
        {(row[CITY], row[STATE], row[POSTAL], row[REGION]) for row in generated}
    )


def test_write_csv_writes_crlf_utf8_with_the_canonical_header(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    assert write_csv(path, 1000, seed=4) == 1000
    data = path.read_bytes()
    assert data.startswith(CANONICAL_HEADER.encode() + b"\r\n")
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == 1001
    assert data.count(b"\n") == 1001  # no bare LF
    data.decode("utf-8")


def test_write_csv_gives_the_bytes_csv_writer_would(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_csv(path, 5000, seed=8)
    expected = io.StringIO(newline="")
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(iter_orders(5000, seed=8))
    assert path.read_bytes() == expected.getvalue().encode("utf-8")


def test_write_csv_with_zero_rows_writes_the_header_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    assert write_csv(path, 0) == 0
    assert path.read_bytes() == CANONICAL_HEADER.encode() + b"\r\n"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rows"):
        list(iter_orders(-1))
    with pytest.raises(ValueError, match="days"):
        list(iter_orders(10, days=0))


def test_generate_subcommand(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli.csv"
    args = parser.parse_args(["generate", "--rows", "250", "--out", str(out), "--seed", "9"])
    assert args.func(args) == 0
    assert read_rows(out) == list(iter_orders(250, seed=9))
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", "--rows", "0", "--out", str(out)])


# --- the committed sample -----------------------------------------------------------------------


def top_two_by_distinct_orders(rows: list[list[str]]) -> dict[str, list[tuple[int, str]]]:
    """Category -> its two largest (distinct order count, ship mode), missing modes left out."""
    ids: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        if row[MODE].strip().lower() not in MISSING:
            ids[row[CATEGORY]][row[MODE]].add(row[ID])
    return {
        category: sorted(((len(v), mode) for mode, v in modes.items()), key=lambda c: (-c[0], c[1]))[:2]
        for category, modes in ids.items()
    }


def test_committed_sample_is_what_the_script_writes(tmp_path: Path) -> None:
    regenerated = tmp_path / "sample_orders.csv"
    write_sample(regenerated)
    assert regenerated.read_bytes() == SAMPLE.read_bytes(), "run: .venv/bin/python scripts/make_sample.py"


def test_sample_is_crlf_canonical_and_valid() -> None:
    data = SAMPLE.read_bytes()
    assert data.startswith(CANONICAL_HEADER.encode() + b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    rows = read_rows(SAMPLE)
    assert 250 <= len(rows) <= 400
    for row in rows:
        assert_valid(row)


def test_sample_has_the_awkward_cases() -> None:
    rows = read_rows(SAMPLE)
    assert any(row[MODE] == "Not Available" for row in rows)
    assert sum(row[LIST] == "0" for row in rows) >= 3
    lines = Counter(row[ID] for row in rows)
    assert max(lines.values()) >= 3
    # An order with two lines of one sub-category: distinct orders != lines.
    pairs = Counter((row[ID], row[CATEGORY], row[SUB]) for row in rows)
    assert max(pairs.values()) >= 2
    # Every line of an order has the same ship mode.
    assert all(len({r[MODE] for r in rows if r[ID] == order}) == 1 for order in lines)


def test_sample_has_a_category_whose_top_ship_modes_tie() -> None:
    tops = top_two_by_distinct_orders(read_rows(SAMPLE))
    tied = {category: top for category, top in tops.items() if len(top) == 2 and top[0][0] == top[1][0]}
    assert tied, tops


def test_sample_rows_is_deterministic() -> None:
    assert sample_rows() == sample_rows()
