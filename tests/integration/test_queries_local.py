"""The query library run locally (DuckDB) on a hand-built Hive-partitioned Parquet dataset.

Expected values are computed by hand in the comments next to the rows. The dataset
has two ingestion days, a tie on region profit, a profit of x.125 (half away from zero),
ship-mode ties, a category with no ship modes, repeated order ids and a zero-priced line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_app.reports import to_csv_bytes
from lambda_app.schema import DATASET_SCHEMA
from orders_tools import cli_sql, sql
from orders_tools.errors import LocalDatasetError
from tests import reference
from tests.helpers import examples

DAY1, DAY2 = "2024-03-01", "2024-03-02"


def line(
    order_id: str,
    region: str,
    category: str,
    sub_category: str,
    ship_mode: str | None,
    *,
    quantity: int,
    list_price: float,
    cost_price: float,
    discount_percent: float = 0.0,
    segment: str | None = "Consumer",
    product_id: str | None = "auto",
    order_date: dt.date = dt.date(2024, 1, 15),
    source_key: str = "incoming/a.csv",
) -> dict[str, Any]:
    profit = (list_price * (1 - discount_percent / 100) - cost_price) * quantity
    return {
        "order_id": order_id,
        "order_date": order_date,
        "ship_mode": ship_mode,
        "segment": segment,
        "country": "United States",
        "city": "Springfield",
        "state": "Illinois",
        "postal_code": "62701",
        "region": region,
        "category": category,
        "sub_category": sub_category,
        "product_id": f"{category[:3].upper()}-{sub_category}" if product_id == "auto" else product_id,
        "cost_price": cost_price,
        "list_price": list_price,
        "quantity": quantity,
        "discount_percent": discount_percent,
        "profit": profit,
        "source_key": source_key,
        "ingested_at": dt.datetime(2024, 3, 1, 9, 30),
    }


FUR, OFF, TEC = "Furniture", "Office Supplies", "Technology"
ROWS: dict[str, list[dict[str, Any]]] = {
    DAY1: [
        # profit (90 - 60) * 2 = 60
        line(
            "O1",
            "East",
            FUR,
            "Chairs",
            "Standard Class",
            quantity=2,
            list_price=100,
            cost_price=60,
            discount_percent=10,
        ),
        line("O1", "East", FUR, "Tables", "Standard Class", quantity=1, list_price=200, cost_price=250),  # -50
        line("O1", "East", FUR, "Bookcases", "Standard Class", quantity=1, list_price=30, cost_price=20),  # 10
        line("O2", "West", FUR, "Chairs", "First Class", quantity=1, list_price=50, cost_price=40, segment="Corporate"),
        line("O3", "West", FUR, "Chairs", "First Class", quantity=1, list_price=10, cost_price=9.875),  # 0.125
        # (240 - 200) * 3 = 120; no ship mode
        line("O4", "Central", TEC, "Phones", None, quantity=3, list_price=300, cost_price=200, discount_percent=20),
        # zero-priced line, no ship mode: -5
        line("O5", "Central", TEC, "Phones", None, quantity=1, list_price=0, cost_price=5, segment=None),
        # (2.5 - 2) * 4 = 2
        line(
            "O6",
            "South",
            OFF,
            "Paper",
            "Second Class",
            quantity=4,
            list_price=5,
            cost_price=2,
            discount_percent=50,
            source_key="incoming/b.csv",
            order_date=dt.date(2024, 2, 1),
        ),
        # 8 - 30 = -22
        line(
            "O7",
            "South",
            OFF,
            "Binders",
            "Same Day",
            quantity=1,
            list_price=20,
            cost_price=30,
            discount_percent=60,
            source_key="incoming/b.csv",
            order_date=dt.date(2024, 2, 1),
        ),
        line(
            "O8",
            "East",
            OFF,
            "Paper",
            "Same Day",
            quantity=2,
            list_price=5,
            cost_price=2,
            source_key="incoming/b.csv",
            product_id=None,
        ),  # 6
        line(
            "O9",
            "North",
            OFF,
            "Paper",
            "Second Class",
            quantity=1,
            list_price=50,
            cost_price=24,
            source_key="incoming/b.csv",
            segment="Corporate",
        ),  # 26
    ],
    DAY2: [
        line(
            "O10",
            "East",
            TEC,
            "Phones",
            "Standard Class",
            quantity=1,
            list_price=100,
            cost_price=50,
            source_key="incoming/c.csv",
        ),  # 50
        line(
            "O1",
            "West",
            FUR,
            "Chairs",
            "Same Day",
            quantity=1,
            list_price=10,
            cost_price=5,
            source_key="incoming/c.csv",
        ),  # 5
    ],
}

# Day 1: East 60 - 50 + 10 + 6 = 26, North 26 (tie: East first), West 10.125 -> 10.13,
# Central 115, South -20.
EXPECTED_REGION_DAY1 = [("Central", 115.0), ("East", 26.0), ("North", 26.0), ("West", 10.13), ("South", -20.0)]
# Furniture: Standard Class has 3 lines but 1 order, First Class 2 orders. Office Supplies:
# Second Class {O6, O9} and Same Day {O7, O8} tie at 2: "Same Day" sorts first. Technology:
# no ship modes, no row.
EXPECTED_SHIPPING_DAY1 = [(FUR, "First Class", 2), (OFF, "Same Day", 2)]
EXPECTED_CATEGORY_DAY1 = [
    (FUR, "Bookcases", 1),
    (FUR, "Chairs", 3),
    (FUR, "Tables", 1),
    (OFF, "Binders", 1),
    (OFF, "Paper", 3),
    (TEC, "Phones", 2),
]
EXPECTED_REGION_DAY2 = [("East", 50.0), ("West", 5.0)]
EXPECTED_SHIPPING_DAY2 = [(FUR, "Same Day", 1), (TEC, "Standard Class", 1)]
EXPECTED_CATEGORY_DAY2 = [(FUR, "Chairs", 1), (TEC, "Phones", 1)]
# All history: West 10.125 + 5 = 15.125 -> 15.13; O1 counted once in Furniture/Chairs.
EXPECTED_REGION_ALL = [("Central", 115.0), ("East", 76.0), ("North", 26.0), ("West", 15.13), ("South", -20.0)]
EXPECTED_SHIPPING_ALL = [(FUR, "First Class", 2), (OFF, "Same Day", 2), (TEC, "Standard Class", 1)]
EXPECTED_CATEGORY_ALL = [
    (FUR, "Bookcases", 1),
    (FUR, "Chairs", 3),
    (FUR, "Tables", 1),
    (OFF, "Binders", 1),
    (OFF, "Paper", 3),
    (TEC, "Phones", 3),
]


def write_dataset(root: Path, rows: dict[str, list[dict[str, Any]]]) -> Path:
    """Write ``rows`` as ``root/dataset/orders/ingest_date=D/part-0.snappy.parquet``; return ``root``."""
    for day, lines in rows.items():
        folder = root / "dataset" / "orders" / f"ingest_date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(lines, schema=DATASET_SCHEMA)
        pq.write_table(table, folder / "part-0.snappy.parquet", compression="snappy")
    return root


def write_reports(root: Path, day: str, reports: dict[str, list[tuple[Any, ...]]]) -> Path:
    folder = root / "analytics" / day.replace("-", "/")
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in reports.items():
        # Written as the Lambda writes them: money with two decimals, formula-like text neutralised.
        frame = pd.DataFrame(rows, columns=list(sql.REPORT_COLUMNS[name]))
        (folder / f"{name}.csv").write_bytes(to_csv_bytes(pa.Table.from_pandas(frame, preserve_index=False)))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("out"), ROWS)


def rows_of(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in frame.itertuples(index=False)]


# ------------------------------------------------------------------------ reports


@pytest.mark.parametrize(
    ("report", "day", "expected"),
    [
        ("most_profitable_region", DAY1, EXPECTED_REGION_DAY1),
        ("shipping_method_by_category", DAY1, EXPECTED_SHIPPING_DAY1),
        ("orders_by_category", DAY1, EXPECTED_CATEGORY_DAY1),
        ("most_profitable_region", DAY2, EXPECTED_REGION_DAY2),
        ("shipping_method_by_category", DAY2, EXPECTED_SHIPPING_DAY2),
        ("orders_by_category", DAY2, EXPECTED_CATEGORY_DAY2),
        ("most_profitable_region", None, EXPECTED_REGION_ALL),
        ("shipping_method_by_category", None, EXPECTED_SHIPPING_ALL),
        ("orders_by_category", None, EXPECTED_CATEGORY_ALL),
    ],
)
def test_report_query_returns_the_hand_computed_report(
    data_dir: Path, report: str, day: str | None, expected: list[tuple[Any, ...]]
) -> None:
    frame = sql.run_local(sql.QUERIES_DIR / sql.REPORT_QUERIES[report], data_dir, ingest_date=day)
    assert list(frame.columns) == list(sql.REPORT_COLUMNS[report])
    assert rows_of(frame) == expected


def test_a_day_without_loads_gives_empty_reports(data_dir: Path) -> None:
    frame = sql.run_local("most_profitable_region", data_dir, ingest_date="2023-12-31")
    assert frame.empty
    assert list(frame.columns) == ["region", "total_profit"]


def test_report_counts_are_integers(data_dir: Path) -> None:
    frame = sql.run_local("orders_by_category", data_dir)
    assert pd.api.types.is_integer_dtype(frame["order_count"])


# ----------------------------------------------------------------------- analyses


def test_every_library_file_runs_locally(data_dir: Path) -> None:
    for path in sql.query_files():
        for day in (None,) if "views" in path.parts else (None, DAY1):  # views take no date parameter
            frame = sql.run_local(path, data_dir, ingest_date=day)
            assert len(frame.columns) > 0, path
            assert not frame.empty, path


def test_loss_making_sub_categories(data_dir: Path) -> None:
    frame = sql.run_local("analyses/loss_making_sub_categories.sql", data_dir)
    got = frame[["category", "sub_category", "order_lines", "loss_lines", "revenue", "total_profit", "margin_pct"]]
    # Tables: revenue 200, profit -50 (-25%); Binders: revenue 8, profit -22 (-275%).
    assert rows_of(got) == [(FUR, "Tables", 1, 1, 200.0, -50.0, -25.0), (OFF, "Binders", 1, 1, 8.0, -22.0, -275.0)]


def test_discount_bands(data_dir: Path) -> None:
    frame = sql.run_local("analyses/discount_band_margin.sql", data_dir)
    got = {r.discount_band: (r.order_lines, r.profit) for r in frame.itertuples()}
    assert list(frame["discount_band"]) == ["0%", "0-10%", "10-20%", "30-50%", "over 50%"]
    assert got["0-10%"] == (1, 60.0)
    assert got["10-20%"] == (1, 120.0)
    assert got["30-50%"] == (1, 2.0)
    assert got["over 50%"] == (1, -22.0)
    assert got["0%"][0] == 9
    # Discount given in the 10-20% band: 300 * 3 * 20% = 180.
    assert frame.set_index("discount_band").loc["10-20%", "discount_amount"] == 180.0


def test_profit_and_margin_by_region_and_month(data_dir: Path) -> None:
    frame = sql.run_local("analyses/profit_margin_by_region_month.sql", data_dir, ingest_date=DAY1)
    central = frame[frame["region"] == "Central"]
    # Revenue 240 * 3 + 0 = 720, profit 115: margin 15.97%.
    assert rows_of(central[["order_month", "orders", "units", "revenue", "profit", "margin_pct"]]) == [
        ("2024-01", 2, 4, 720.0, 115.0, 15.97)
    ]
    assert set(frame.loc[frame["region"] == "South", "order_month"]) == {"2024-02"}


def test_top_products(data_dir: Path) -> None:
    frame = sql.run_local("analyses/top_products_by_profit.sql", data_dir)
    assert frame["product_id"].tolist()[:2] == ["TEC-Phones", "FUR-Chairs"]
    assert frame["total_profit"].tolist()[:2] == [165.0, 75.13]
    # O8's line has no product id: Paper's total is 2 + 26, not 34.
    assert frame.set_index("product_id").loc["OFF-Paper", "total_profit"] == 28.0


def test_ship_mode_mix_by_segment(data_dir: Path) -> None:
    frame = sql.run_local("analyses/ship_mode_mix_by_segment.sql", data_dir, ingest_date=DAY1)
    shares = frame.groupby("segment")["pct_of_segment_orders"].sum()
    assert shares.tolist() == pytest.approx([100.0] * len(shares), abs=0.05)  # rounded shares
    consumer = frame[frame["segment"] == "Consumer"]
    # Consumer: Same Day {O7, O8} of 6 orders; then 1 order each, in mode order.
    assert rows_of(consumer[["ship_mode", "orders", "pct_of_segment_orders"]]) == [
        ("Same Day", 2, 33.33),
        ("(missing)", 1, 16.67),
        ("First Class", 1, 16.67),
        ("Second Class", 1, 16.67),
        ("Standard Class", 1, 16.67),
    ]
    missing = frame[(frame["segment"] == "(missing)")]
    assert rows_of(missing[["ship_mode", "orders"]]) == [("(missing)", 1)]


def test_ship_mode_share_counts_an_order_with_two_modes_once_in_the_denominator(data_dir: Path) -> None:
    """All history: O1 ships Standard Class on day 1 and Same Day on day 2, in segment Consumer.

    Consumer has 7 distinct orders (O1, O3, O4, O6, O7, O8, O10): Same Day {O1, O7, O8} is
    3 / 7 = 42.86%, Standard Class {O1, O10} 2 / 7 = 28.57%. Summing the per-mode counts
    (3 + 2 + 1 + 1 + 1 = 8) would count O1 twice and give 37.5% and 25%.
    """
    frame = sql.run_local("analyses/ship_mode_mix_by_segment.sql", data_dir)
    consumer = frame[frame["segment"] == "Consumer"]
    assert set(consumer["segment_orders"]) == {7}
    assert rows_of(consumer[["ship_mode", "orders", "pct_of_segment_orders"]]) == [
        ("Same Day", 3, 42.86),
        ("Standard Class", 2, 28.57),
        ("(missing)", 1, 14.29),
        ("First Class", 1, 14.29),
        ("Second Class", 1, 14.29),
    ]
    assert consumer["pct_of_segment_orders"].sum() > 100  # O1 is in two modes


def test_orders_and_revenue_per_day(data_dir: Path) -> None:
    frame = sql.run_local("analyses/orders_revenue_per_day.sql", data_dir, ingest_date=DAY1)
    assert [d.date() for d in frame["order_date"]] == [dt.date(2024, 1, 15), dt.date(2024, 2, 1)]
    feb = frame.iloc[1]
    # O6: 2.5 * 4 = 10, O7: 8 * 1 = 8.
    assert (feb["orders"], feb["order_lines"], feb["units"], feb["revenue"], feb["profit"]) == (2, 2, 5, 18.0, -20.0)


def test_data_quality_overview(data_dir: Path) -> None:
    frame = sql.run_local("analyses/data_quality_overview.sql", data_dir)
    got = frame.set_index(["ingest_date", "source_key"])
    assert list(got.index) == [(DAY1, "incoming/a.csv"), (DAY1, "incoming/b.csv"), (DAY2, "incoming/c.csv")]
    a = frame[frame["source_key"] == "incoming/a.csv"].iloc[0]
    assert (a["order_lines"], a["orders"], a["missing_ship_mode"], a["zero_priced_lines"]) == (7, 5, 2, 1)
    assert (a["missing_segment"], a["loss_lines"]) == (1, 2)
    b = frame[frame["source_key"] == "incoming/b.csv"].iloc[0]
    assert (b["order_lines"], b["missing_ship_mode"], b["missing_product_id"], b["zero_priced_lines"]) == (4, 0, 1, 0)


# -------------------------------------------------------------------------- views


def test_enriched_view(data_dir: Path) -> None:
    frame = sql.run_local("views/v_orders_enriched.sql", data_dir)
    assert len(frame) == 13
    first = frame[(frame["order_id"] == "O4")].iloc[0]
    assert (first["order_year"], first["order_month"], first["order_year_month"]) == (2024, 1, "2024-01")
    assert first["order_month_start"] == pd.Timestamp("2024-01-01")
    assert (first["gross_revenue"], first["discount_amount"], first["revenue"], first["cost"]) == (900, 180, 720, 600)
    assert first["margin"] == pytest.approx(120 / 720)
    assert first["discount_band"] == "10-20%"
    zero = frame[frame["order_id"] == "O5"].iloc[0]
    assert pd.isna(zero["margin"])
    assert bool(zero["is_loss"])
    assert set(frame["ingest_date"]) == {DAY1, DAY2}


@pytest.mark.parametrize("report", list(sql.REPORT_QUERIES))
@pytest.mark.parametrize("day", [DAY1, DAY2])
def test_report_view_for_a_day_equals_the_report_query(data_dir: Path, report: str, day: str) -> None:
    view = sql.run_local(f"views/v_report_{report}.sql", data_dir)
    assert list(view.columns) == ["ingest_date", *sql.REPORT_COLUMNS[report]]
    query = sql.run_local(report, data_dir, ingest_date=day)
    columns = list(sql.REPORT_COLUMNS[report])
    keys = [c for c in columns if c not in {"total_profit", "order_count"}]
    of_day = view[view["ingest_date"] == day][columns]
    if report == "most_profitable_region":
        of_day = of_day.sort_values(["total_profit", "region"], ascending=[False, True])
    else:
        of_day = of_day.sort_values(keys)
    assert rows_of(of_day) == rows_of(query)


def test_a_query_can_select_from_a_library_view(data_dir: Path) -> None:
    frame = sql.run_local(
        'SELECT discount_band, COUNT(*) AS n FROM "orders_analytics"."v_orders_enriched" '
        "GROUP BY discount_band ORDER BY discount_band",
        data_dir,
    )
    assert dict(rows_of(frame))["0%"] == 9


# ---------------------------------------------------------------- compare_reports


def test_compare_reports_agrees_with_matching_csvs(tmp_path: Path) -> None:
    out = write_dataset(tmp_path, ROWS)
    write_reports(
        out,
        DAY1,
        {
            "most_profitable_region": [(r, p) for r, p in EXPECTED_REGION_DAY1],
            "shipping_method_by_category": EXPECTED_SHIPPING_DAY1,
            "orders_by_category": EXPECTED_CATEGORY_DAY1,
        },
    )
    checks = sql.compare_reports(out, DAY1)
    assert [c.report for c in checks] == list(sql.REPORT_QUERIES)
    assert all(c.ok for c in checks), checks
    assert checks[0].detail == "5 rows agree exactly"
    assert checks[0].half_cents == ()  # West's 10.125 is 0.125 + 10: every partial sum is exact


def test_compare_reports_has_no_tolerance_not_even_a_cent(tmp_path: Path) -> None:
    out = write_dataset(tmp_path, ROWS)
    off_by_a_cent = [("Central", 115.0), ("East", 26.0), ("North", 26.0), ("West", 10.12), ("South", -20.0)]
    write_reports(out, DAY1, {"most_profitable_region": off_by_a_cent})
    check = sql.compare_reports(out, DAY1)[0]
    assert not check.ok
    assert check.detail == "row 4, total_profit: CSV '10.12', query '10.13'"


@pytest.mark.parametrize(
    ("rows", "detail"),
    [
        ([(FUR, "Standard Class", 3), (OFF, "Same Day", 2)], "row 1, ship_mode"),  # counted lines, not orders
        ([(FUR, "First Class", 2), (OFF, "Second Class", 2)], "row 2, ship_mode"),  # wrong tie rule
        ([(FUR, "First Class", 2), (OFF, "Same Day", 2), (TEC, "Unknown", 2)], "row counts differ"),
    ],
)
def test_compare_reports_names_the_first_difference(tmp_path: Path, rows: list[tuple[Any, ...]], detail: str) -> None:
    out = write_dataset(tmp_path, ROWS)
    write_reports(out, DAY1, {"shipping_method_by_category": rows})
    check = sql.compare_reports(out, DAY1)[1]
    assert check.report == "shipping_method_by_category"
    assert not check.ok
    assert detail in check.detail


def test_compare_reports_reports_a_missing_csv(tmp_path: Path) -> None:
    out = write_dataset(tmp_path, ROWS)
    checks = sql.compare_reports(out, DAY2)
    assert [c.ok for c in checks] == [False, False, False]
    assert "no CSV" in checks[0].detail


def test_compare_reports_reads_na_as_text(tmp_path: Path) -> None:
    out = write_dataset(
        tmp_path, {DAY1: [line("O1", "NA", FUR, "Chairs", "NA", quantity=1, list_price=2, cost_price=1)]}
    )
    write_reports(
        out,
        DAY1,
        {
            "most_profitable_region": [("NA", 1.0)],
            "shipping_method_by_category": [(FUR, "NA", 1)],
            "orders_by_category": [(FUR, "Chairs", 1)],
        },
    )
    assert all(c.ok for c in sql.compare_reports(out, DAY1))


def test_compare_reports_expects_formula_like_text_neutralized_as_in_the_csv(tmp_path: Path) -> None:
    rows = {DAY1: [line("O1", "=West", FUR, "-Chairs", "@Air", quantity=1, list_price=2, cost_price=1)]}
    out = write_dataset(tmp_path, rows)
    write_reports(
        out,
        DAY1,
        {
            "most_profitable_region": [("'=West", 1.0)],
            "shipping_method_by_category": [(FUR, "'@Air", 1)],
            "orders_by_category": [(FUR, "'-Chairs", 1)],
        },
    )
    assert all(c.ok for c in sql.compare_reports(out, DAY1))


# ---------------------------------------------------------------------- warehouse


def test_warehouse_has_the_dataset_and_every_view(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "bi" / "orders.duckdb"
    created = sql.write_warehouse(data_dir, db)
    assert created == [
        "orders_analytics.orders",
        "orders_analytics.v_orders_enriched",
        "orders_analytics.v_report_most_profitable_region",
        "orders_analytics.v_report_orders_by_category",
        "orders_analytics.v_report_shipping_method_by_category",
    ]
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = 'orders_analytics' AND table_name = 'orders' AND column_name = 'ingest_date'"
        ).fetchall() == [("VARCHAR",)]
        for name in created:
            assert con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] > 0  # type: ignore[index]
        got = con.execute(
            "SELECT region, total_profit FROM orders_analytics.v_report_most_profitable_region "
            "WHERE ingest_date = ? ORDER BY total_profit DESC, region",
            [DAY1],
        ).fetchall()
        assert got == EXPECTED_REGION_DAY1
    finally:
        con.close()


def test_materialized_warehouse_does_not_need_the_parquet_files(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "out", ROWS)
    db = tmp_path / "orders.duckdb"
    sql.write_warehouse(out, db)
    sql.write_warehouse(out, db, materialize=True)  # replaces the file
    for parquet in out.rglob("*.parquet"):
        parquet.unlink()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT COUNT(*) FROM orders_analytics.orders").fetchone() == (13,)
        assert con.execute("SELECT COUNT(*) FROM orders_analytics.v_report_orders_by_category").fetchone() == (8,)
    finally:
        con.close()


def storage_version_number(db: Path) -> int:
    """The storage version in a DuckDB file's main header (bytes 8-11 "DUCK", then a little-endian uint64)."""
    header = db.read_bytes()[:20]
    assert header[8:12] == b"DUCK"
    return int.from_bytes(header[12:20], "little")


def test_warehouse_is_written_in_the_storage_format_duckdb_1_reads(tmp_path: Path, data_dir: Path) -> None:
    """Storage v1.0.0 is version number 64, which DuckDB 1.0 to 1.5 read (1.5.6 refuses a 2.0 default file:
    "can only read versions between 64 and 68"). README lists the 1.x clients tried on such a file."""
    db = tmp_path / "orders.duckdb"
    sql.write_warehouse(data_dir, db)
    assert storage_version_number(db) == 64
    sql.write_warehouse(data_dir, db, storage_version="v1.4.0")
    assert storage_version_number(db) == 67
    with pytest.raises(LocalDatasetError, match=r"like v1\.0\.0"):
        sql.write_warehouse(data_dir, db, storage_version="1.0")


def test_warehouse_with_relative_paths_follows_a_moved_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = write_dataset(tmp_path / "out", ROWS)
    sql.write_warehouse(out, out / "orders.duckdb", relative_paths=True)
    moved = tmp_path / "elsewhere" / "copy"
    moved.parent.mkdir()
    out.rename(moved)
    monkeypatch.chdir(moved)  # relative paths resolve against the client's working directory
    con = duckdb.connect(str(moved / "orders.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT COUNT(*) FROM orders_analytics.orders").fetchone() == (13,)
        definition = con.execute(
            "SELECT sql FROM duckdb_views() WHERE schema_name = 'orders_analytics' AND view_name = 'orders'"
        ).fetchone()
        assert definition is not None
        assert "'dataset/orders/**/*.parquet'" in definition[0]
        assert str(tmp_path) not in definition[0]
    finally:
        con.close()


def test_no_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalDatasetError, match="orders-analytics run"):
        sql.run_local("orders_by_category", tmp_path)
    with pytest.raises(LocalDatasetError):
        sql.write_warehouse(tmp_path, tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


def test_the_dataset_root_itself_is_accepted(data_dir: Path) -> None:
    frame = sql.run_local("orders_by_category", data_dir / "dataset" / "orders", ingest_date=DAY2)
    assert rows_of(frame) == EXPECTED_CATEGORY_DAY2


# ---------------------------------------------------------------------------- CLI


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orders-analytics")
    cli_sql.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_query_prints_csv(data_dir: Path) -> None:
    args = parse(["query", "most_profitable_region", "--data", str(data_dir), "--date", DAY2, "--format", "csv"])
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    assert out.getvalue() == "region,total_profit\nEast,50.0\nWest,5.0\n"


def test_cli_query_prints_a_table(data_dir: Path) -> None:
    path = sql.QUERIES_DIR / "reports" / "shipping_method_by_category.sql"
    args = parse(["query", str(path), "--data", str(data_dir), "--date", DAY1])
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    text = out.getvalue()
    assert "ship_mode" in text
    assert "Same Day" in text
    assert "2 row(s)" in text


def test_cli_query_refuses_unfaithful_sql(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "share.sql"
    bad.write_text('SELECT COUNT(DISTINCT order_id) / COUNT(*) AS share FROM "${database}"."${table}"')
    args = parse(["query", str(bad), "--data", str(data_dir)])
    err = io.StringIO()
    assert args.func(args, out=io.StringIO(), err=err) == 2
    assert "integer division" in err.getvalue()


def test_cli_query_needs_data_or_athena() -> None:
    with pytest.raises(SystemExit):
        parse(["query", "orders_by_category"])


def test_cli_warehouse(data_dir: Path, tmp_path: Path) -> None:
    args = parse(["warehouse", "--data", str(data_dir), "--db", str(tmp_path / "w.duckdb")])
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    assert "orders_analytics.v_orders_enriched" in out.getvalue()
    assert (tmp_path / "w.duckdb").is_file()


# --------------------------------------------- property: the SQL against the reference

REGIONS = ["East", "West", "north", "Ünited"]
CATEGORIES = ["Furniture", "Office Supplies", "Technology"]
MODES = [None, "First Class", "Same Day", "Second Class", "Standard Class"]

lines_strategy = st.lists(
    st.tuples(
        st.sampled_from(["O1", "O2", "O3", "O4", "O5"]),
        st.sampled_from(REGIONS),
        st.sampled_from(CATEGORIES),
        st.sampled_from(["A", "B"]),
        st.sampled_from(MODES),
        st.integers(min_value=-50_000, max_value=50_000),  # profit in cents
        st.sampled_from([DAY1, DAY2]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines_strategy, scope=st.sampled_from([None, DAY1, DAY2]))
def test_report_queries_match_the_reference(lines: list[tuple[Any, ...]], scope: str | None) -> None:
    """The report queries, run locally, equal tests/reference.py (the one plain-Python oracle of the reports)."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for order_id, region, category, sub, mode, cents, day in lines:
        row = line(order_id, region, category, sub, mode, quantity=1, list_price=0, cost_price=0)
        row["profit"] = cents / 100
        by_day.setdefault(day, []).append(row)
    expected = reference.report_rows(
        reference.RefLine(o, r, c, s, m, Decimal(p) / 100)
        for o, r, c, s, m, p, d in lines
        if scope is None or d == scope
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = write_dataset(Path(tmp), by_day)
        for report, relative in sql.REPORT_QUERIES.items():
            got = rows_of(sql.run_local(sql.QUERIES_DIR / relative, out, ingest_date=scope))
            text = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in got]
            assert text == expected[report], report


# West's three profits: 0.3 + 0.045 + 0.2 is 0.54499999999999993 or 0.54500000000000004 depending on
# the order they are added in: one order rounds to 0.54, another to 0.55.
STRADDLING = {
    DAY1: [
        line("S1", "West", FUR, "Chairs", "First Class", quantity=1, list_price=0.3, cost_price=0),
        line("S2", "West", FUR, "Chairs", "First Class", quantity=1, list_price=0.045, cost_price=0),
        line("S3", "West", FUR, "Chairs", "First Class", quantity=1, list_price=0.2, cost_price=0),
        line("S4", "East", FUR, "Chairs", "First Class", quantity=1, list_price=1.5, cost_price=0),
    ]
}


def test_the_straddle_example_really_depends_on_the_order() -> None:
    import itertools

    from tests.unit.test_sql_half_cents import trino_cents

    cents = set()
    for order in itertools.permutations([0.3, 0.045, 0.2]):
        total = 0.0
        for value in order:
            total += value
        cents.add(f"{trino_cents(total):.2f}")
    assert cents == {"0.54", "0.55"}


def test_compare_reports_names_a_half_cent_straddle_when_the_cents_differ(tmp_path: Path) -> None:
    out = write_dataset(tmp_path, STRADDLING)
    local = sql.run_local("most_profitable_region", out, ingest_date=DAY1)
    cent = float(local.loc[local["region"] == "West", "total_profit"].iloc[0])
    other = 0.55 if f"{cent:.2f}" == "0.54" else 0.54  # what another summation order gives
    write_reports(out, DAY1, {"most_profitable_region": [("East", 1.5), ("West", other)]})
    check = sql.compare_reports(out, DAY1)[0]
    assert not check.ok
    assert check.half_cents == ("West",)
    assert check.detail.startswith(f"row 2, total_profit: CSV '{other:.2f}', query '{cent:.2f}', a half-cent straddle")
    assert "West: the exact sum of its 3 doubles is 0.54" in check.detail
    assert "from the half cent 0.545" in check.detail


def test_compare_reports_says_when_agreeing_cents_are_luck(tmp_path: Path) -> None:
    out = write_dataset(tmp_path, STRADDLING)
    local = sql.run_local("most_profitable_region", out, ingest_date=DAY1)
    write_reports(out, DAY1, {"most_profitable_region": [tuple(r) for r in local.itertuples(index=False)]})
    check = sql.compare_reports(out, DAY1)[0]
    assert check.ok
    assert check.half_cents == ("West",)
    assert check.detail.startswith("2 rows agree exactly (note, the agreement on these cents is luck: West:")
