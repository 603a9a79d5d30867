"""A plain-Python reference for the three daily reports: slow, obvious, and independent of Arrow.

Tests compute the expected report rows from the *good* input lines with this
module and compare them with what the pipeline wrote. Money is exact
(``Decimal``), rounded half away from zero to cents; text cells that a
spreadsheet would run as a formula get a leading ``'``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lambda_app.cleaning import REASONS
from lambda_app.schema import INPUT_COLUMNS, OPTIONAL_COLUMNS

MISSING_SHIP_MODES = {"", "not available", "unknown", "n/a"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RefLine:
    """One good order line, with the values the dataset should hold (trimmed, ship mode ``None`` if missing)."""

    order_id: str
    region: str
    category: str
    sub_category: str
    ship_mode: str | None
    profit: Decimal


def line_profit(cost: str, price: str, quantity: str, discount: str) -> Decimal:
    """``(list_price * (1 - discount/100) - cost_price) * quantity``, exactly."""
    net = Decimal(price) * (1 - Decimal(discount) / 100)
    return (net - Decimal(cost)) * Decimal(quantity)


def ship_mode_value(raw: str) -> str | None:
    value = raw.strip()
    return None if value.lower() in MISSING_SHIP_MODES else value


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # half away from zero


def safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def region_totals(lines: Iterable[RefLine]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for item in lines:
        totals[item.region] += item.profit
    return {region: cents(total) for region, total in totals.items()}


def report_rows(lines: Iterable[RefLine]) -> dict[str, list[list[str]]]:
    """The three reports' data rows (no header), as the CSV files should hold them."""
    lines = list(lines)
    totals = region_totals(lines)
    regions = sorted(totals.items(), key=lambda item: (-item[1], item[0]))

    shipped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in lines:
        if item.ship_mode is not None:
            shipped[item.category][item.ship_mode].add(item.order_id)
        pairs[item.category, item.sub_category].add(item.order_id)
    top_modes = []
    for category in sorted(shipped):
        mode, orders = min(shipped[category].items(), key=lambda entry: (-len(entry[1]), entry[0]))
        top_modes.append([safe(category), safe(mode), str(len(orders))])

    return {
        "most_profitable_region": [[safe(region), f"{total:.2f}"] for region, total in regions],
        "shipping_method_by_category": top_modes,
        "orders_by_category": [
            [safe(category), safe(sub), str(len(orders))] for (category, sub), orders in sorted(pairs.items())
        ],
    }


# --- generated messy files and their expected outcome (hypothesis) ---------------------------

# The contract's names (schema.py, cleaning.py); the expected outcomes below are worked out independently.
COLUMNS = INPUT_COLUMNS
OPTIONAL = OPTIONAL_COLUMNS
REASON_ORDER = REASONS
# Bad values per reason: each makes exactly that check fail.
BAD_VALUES: dict[str, tuple[str, ...]] = {
    "missing_order_id": ("", " ", "\t"),
    "missing_region": ("", "  "),
    "missing_category": ("", " "),
    "missing_sub_category": ("", "\t "),
    "invalid_order_date": (
        "2023-02-30",
        "2023-13-01",
        "13/1/2023",
        "yesterday",
        "",
        "1899-12-31",
        "2200-01-01",
        "05.09.2023",
        "2023-09-05T10:00",
        "2023-9",
    ),
    "invalid_cost_price": ("-0.01", "-5", "abc", "", "NaN", "inf", "1e999", "12,50", "$5"),
    "invalid_list_price": ("-1", "x1", "", "nan", "-inf", "1.2.3"),
    "invalid_quantity": ("0", "-1", "1.5", "x", "", "2e3", "1000000001"),
    "invalid_discount_percent": ("101", "-1", "100.5", "abc", "", "%"),
}
REASON_COLUMN = {
    "missing_order_id": "order_id",
    "missing_region": "region",
    "missing_category": "category",
    "missing_sub_category": "sub_category",
    "invalid_order_date": "order_date",
    "invalid_cost_price": "cost_price",
    "invalid_list_price": "list_price",
    "invalid_quantity": "quantity",
    "invalid_discount_percent": "discount_percent",
}


@dataclass(frozen=True)
class GenRow:
    """One generated data row: its raw cells (canonical column -> text) and what should become of it."""

    cells: dict[str, str]
    reasons: tuple[str, ...]  # empty for a good row; ("malformed_row",) for a wrong field count
    ref: RefLine | None  # the line a good row should load as
    quantity: int = 0
    order_date: str = ""  # ISO date a good row should load with
    raw_line: str = ""  # a malformed row's text
    width: int = 0  # a malformed row's field count: 1 or 2, or relative to the header's (-1, +1, +4)


@dataclass(frozen=True)
class GenFile:
    """A generated CSV file and the outcome the pipeline must produce for it."""

    data: bytes
    rows: tuple[GenRow, ...]

    @property
    def good(self) -> list[RefLine]:
        return [r.ref for r in self.rows if r.ref is not None]

    @property
    def rejected(self) -> list[GenRow]:
        return [r for r in self.rows if r.reasons]

    def first_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for row in self.rejected:
            counts[row.reasons[0]] += 1
        return dict(sorted(counts.items()))


def messy_files(max_rows: int = 25) -> Any:
    """Hypothesis strategy of ``GenFile``: header spellings and order, optional columns dropped, BOM,
    CRLF/LF, quoted commas/quotes/newlines, padded values, formula-like text, and bad rows of every kind."""
    from hypothesis import strategies as st

    padding = st.sampled_from(["", "", " ", "  ", "\t"])
    text = st.text(alphabet="abcXYZ09 é,\"'=+-@\n", min_size=1, max_size=8).filter(lambda s: s.strip() != "")
    names = st.sampled_from(["West", "East", " South ", "=1+1", "@x", "Café", "Office, Home"]) | text

    @st.composite
    def good_row(draw: Any) -> GenRow:
        order_id = draw(st.sampled_from(["O1", "O2", "O3", "O4", "O5", "CA-2023-1"]))
        region, category, sub = draw(names), draw(names), draw(names)
        ship = draw(st.sampled_from(["Standard Class", "First Class", " Same Day ", "Not Available", "n/a", "", "-x"]))
        day = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)))
        cost_cents = draw(st.integers(0, 100_000))
        price = draw(st.integers(0, 2_000))
        quantity = draw(st.integers(1, 50))
        discount = draw(st.integers(0, 100))
        cells = {
            "order_id": draw(padding) + order_id + draw(padding),
            "order_date": draw(st.sampled_from([day.isoformat(), f"{day.month}/{day.day}/{day.year}"])),
            "ship_mode": ship,
            "segment": "Consumer",
            "country": "United States",
            "city": draw(st.sampled_from(["San Francisco", "Portland, OR", 'The "Hub"'])),
            "state": "California",
            "postal_code": "01234",
            "region": draw(padding) + region,
            "category": category + draw(padding),
            "sub_category": sub,
            "product_id": "FUR-BO-1",
            "cost_price": draw(st.sampled_from([f"{cost_cents / 100:.2f}", f" {cost_cents / 100} "])),
            "list_price": draw(st.sampled_from([str(price), f"{price}.00", f" {price}"])),
            "quantity": draw(st.sampled_from([str(quantity), f"{quantity}.0", f" {quantity} ", f"+{quantity}"])),
            "discount_percent": draw(st.sampled_from([str(discount), f"{discount}%", f" {discount} % "])),
        }
        cost = (Decimal(cost_cents) / 100).quantize(Decimal("0.01"))
        ref = RefLine(
            order_id=order_id,
            region=region.strip(),
            category=category.strip(),
            sub_category=sub.strip(),
            ship_mode=ship_mode_value(ship),
            profit=line_profit(str(cost), str(price), str(quantity), str(discount)),
        )
        return GenRow(cells=cells, reasons=(), ref=ref, quantity=quantity, order_date=day.isoformat())

    @st.composite
    def bad_row(draw: Any) -> GenRow:
        base = draw(good_row())
        reasons = draw(st.sets(st.sampled_from(sorted(REASON_COLUMN)), min_size=1, max_size=3))
        cells = dict(base.cells)
        for reason in reasons:
            cells[REASON_COLUMN[reason]] = draw(st.sampled_from(BAD_VALUES[reason]))
        return GenRow(cells=cells, reasons=tuple(r for r in REASON_ORDER if r in reasons), ref=None)

    @st.composite
    def malformed_row(draw: Any) -> GenRow:
        base = draw(good_row())
        width = draw(st.sampled_from([1, 2, -1, +1, +4]))
        return GenRow(cells=dict(base.cells), reasons=("malformed_row",), ref=None, width=width)

    @st.composite
    def file(draw: Any) -> GenFile:
        rows = draw(
            st.lists(
                st.one_of(good_row(), good_row(), good_row(), bad_row(), malformed_row()), min_size=0, max_size=max_rows
            )
        )
        dropped = draw(st.sets(st.sampled_from(OPTIONAL)))
        columns = draw(st.permutations([c for c in COLUMNS if c not in dropped]))
        spell = draw(st.sampled_from([_snake, _title, _upper, _hyphen]))
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        bom = draw(st.booleans())
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=newline)
        writer.writerow([spell(c) for c in columns])
        final: list[GenRow] = []
        for row in rows:
            values = [row.cells[c] for c in columns]
            if row.reasons == ("malformed_row",):
                width = row.width if row.width in {1, 2} else len(columns) + row.width
                values = (values + ["extra"] * width)[:width]
                values[0] = "M" + values[0].strip()  # never a blank line
                one = io.StringIO()
                csv.writer(one, lineterminator=newline).writerow(values)  # same quoting as the file's
                raw_line = one.getvalue().removesuffix(newline)
                row = GenRow(cells=row.cells, reasons=row.reasons, ref=None, raw_line=raw_line)  # noqa: PLW2901
            writer.writerow(values)
            final.append(row)
        data = (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")
        return GenFile(data=data, rows=tuple(final))

    return file()


def _snake(column: str) -> str:
    return column


def _title(column: str) -> str:
    return column.replace("_", " ").title()


def _upper(column: str) -> str:
    return column.upper()


def _hyphen(column: str) -> str:
    return column.replace("_", "-").capitalize()
