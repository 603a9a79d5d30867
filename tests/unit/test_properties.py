"""Property tests (no network): for generated files mixing good and bad rows of every kind,
every row read is loaded or rejected, the counts reconcile, rejects keep their original
values and reasons, and the reports equal a plain-Python reference over the good rows only.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_app.cleaning import REJECTS_SCHEMA, read_all
from lambda_app.reports import REPORT_NAMES, ReportBuilder, to_csv_bytes
from lambda_app.schema import MEMORY_SCHEMA
from tests import reference
from tests.helpers import examples

WHEN = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generated=reference.messy_files(),
    block_size=st.sampled_from([1024, 4096, 1 << 20]),
)
def test_every_row_is_loaded_or_rejected_and_reports_match_the_reference(
    generated: reference.GenFile, block_size: int
) -> None:
    batches = read_all(generated.data, source_key="gen.csv", ingested_at=WHEN, block_size=block_size)
    good = pa.concat_tables([MEMORY_SCHEMA.empty_table(), *(b.good for b in batches)])
    rejects = pa.concat_tables([REJECTS_SCHEMA.empty_table(), *(b.rejects for b in batches)])
    reasons: Counter[str] = Counter()
    for batch in batches:
        reasons.update(batch.reasons)

    # Reconciliation: read = loaded + rejected, and each side is exactly what was generated.
    rows_read = sum(b.rows_in for b in batches)
    assert rows_read == len(generated.rows)
    assert (good.num_rows, rejects.num_rows) == (len(generated.good), len(generated.rejected))
    assert rows_read == good.num_rows + rejects.num_rows
    assert dict(sorted(reasons.items())) == generated.first_reasons()

    # Rejects: every reason that applies, in check order, with the original (untrimmed) values.
    expected_rejects = sorted(
        ("; ".join(r.reasons), r.raw_line if r.raw_line else r.cells["order_id"]) for r in generated.rejected
    )
    got_rejects = sorted(
        (r["reject_reason"], r["raw_line"] if r["reject_reason"] == "malformed_row" else r["order_id"])
        for r in rejects.to_pylist()
    )
    assert got_rejects == expected_rejects

    # Good rows: typed, trimmed, placeholders as NULL.
    expected_good = sorted(
        (
            r.ref.order_id,
            r.ref.region,
            r.ref.category,
            r.ref.sub_category,
            r.ref.ship_mode or "",
            r.quantity,
            r.order_date,
        )
        for r in generated.rows
        if r.ref is not None
    )
    got_good = sorted(
        (
            g["order_id"],
            g["region"],
            g["category"],
            g["sub_category"],
            g["ship_mode"] or "",
            g["quantity"],
            str(g["order_date"]),
        )
        for g in good.to_pylist()
    )
    assert got_good == expected_good

    # Reports: built chunk by chunk, serialised, equal to the reference over the good rows only.
    builder = ReportBuilder()
    for batch in batches:
        builder.add(batch.good)
    built = builder.build()
    expected_reports = reference.report_rows(generated.good)
    for name in REPORT_NAMES:
        text = to_csv_bytes(built[name]).decode("utf-8")
        assert list(csv.reader(io.StringIO(text)))[1:] == expected_reports[name], name


@settings(max_examples=examples(60), deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["O1", "O2", "O3"]),
            st.sampled_from(["West", "East"]),
            st.sampled_from(["F", "T"]),
            st.sampled_from(["Chairs", "Phones"]),
            st.sampled_from(["Standard Class", "First Class", None]),
            st.integers(-100_000, 100_000),
        ),
        max_size=30,
    ),
    chunk=st.integers(1, 10),
)
def test_reports_do_not_depend_on_how_lines_are_chunked(
    lines: list[tuple[str, str, str, str, str | None, int]], chunk: int
) -> None:
    """Any split of the same lines into chunks gives the reference's reports (cents as integers: exact)."""
    names = ["order_id", "region", "category", "sub_category", "ship_mode", "profit"]
    schema = pa.schema([(n, pa.float64() if n == "profit" else pa.string()) for n in names])
    builder = ReportBuilder()
    for start in range(0, len(lines), chunk):
        part = lines[start : start + chunk]
        columns: dict[str, list[object]] = {n: [row[i] for row in part] for i, n in enumerate(names[:5])}
        columns["profit"] = [row[5] / 100 for row in part]
        builder.add(pa.table(columns, schema=schema))
    expected = reference.report_rows(reference.RefLine(o, r, c, s, m, Decimal(p) / 100) for o, r, c, s, m, p in lines)
    built = builder.build()
    for name in REPORT_NAMES:
        assert list(csv.reader(io.StringIO(to_csv_bytes(built[name]).decode())))[1:] == expected[name]


def test_reference_agrees_with_a_hand_computed_example() -> None:
    """The reference itself, on the README's example line: (260 * 0.98 - 240) * 2 = 29.60."""
    profit = reference.line_profit("240", "260", "2", "2")
    assert profit == Decimal("29.60")
    lines = [
        reference.RefLine("A", "West", "Furniture", "Bookcases", "Standard Class", profit),
        reference.RefLine("A", "West", "Furniture", "Chairs", "Standard Class", -profit),
        reference.RefLine("B", "=East", "Furniture", "Chairs", None, Decimal("0.005")),
    ]
    assert reference.report_rows(lines) == {
        "most_profitable_region": [["'=East", "0.01"], ["West", "0.00"]],
        "shipping_method_by_category": [["Furniture", "Standard Class", "1"]],
        "orders_by_category": [["Furniture", "Bookcases", "1"], ["Furniture", "Chairs", "2"]],
    }
    assert date(2026, 11, 26) == WHEN.date()
