"""The three daily reports, computed incrementally from typed order lines.

Pure module (pyarrow only). Definitions (also in the README):

* ``most_profitable_region``: ``region,total_profit`` — sum of ``profit`` per
  region, rounded half away from zero to cents, sorted by total profit
  descending (ties: region ascending).
* ``shipping_method_by_category``: ``category,ship_mode,order_count`` — per
  category, the ship mode used by the most distinct order ids; lines with a
  missing ship mode are not candidates; ties go to the alphabetically first
  mode; sorted by category.
* ``orders_by_category``: ``category,sub_category,order_count`` — distinct
  order ids per pair, sorted by category then sub-category.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

# The CSV reports' columns, in order: the one definition (sql.py and bench.py use it too).
REPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "most_profitable_region": ("region", "total_profit"),
    "shipping_method_by_category": ("category", "ship_mode", "order_count"),
    "orders_by_category": ("category", "sub_category", "order_count"),
}
REPORT_NAMES: tuple[str, ...] = tuple(REPORT_COLUMNS)
INPUT_COLUMNS: tuple[str, ...] = ("order_id", "region", "category", "sub_category", "ship_mode", "profit")

# Characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


_PAIR_SHIFT = 31  # a pair of label ids packed in one int64: (first << 31) | second


@dataclass
class ReportBuilder:
    """Accumulates order lines chunk by chunk; memory grows with distinct orders, not with lines.

    An order whose lines arrive in different chunks is still counted once:
    the ``(group, order_id)`` pairs of every chunk are kept (de-duplicated
    within the chunk where that pays) and counted with one ``count_distinct``
    per group at the end — measured 3-4x faster than de-duplicating the union
    first. Category, sub-category and ship-mode labels are replaced by integer
    ids (one table of labels for the whole run) so grouping hashes one
    integer, and each order id once.
    """

    rows: int = 0
    _profit: dict[str, float] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)
    _ship: list[pa.Table] = field(default_factory=list)
    _sub: list[pa.Table] = field(default_factory=list)

    def add(self, table: pa.Table) -> None:
        """Fold one chunk of lines (``INPUT_COLUMNS`` at least) into the totals."""
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        sums = table.group_by("region", use_threads=False).aggregate([("profit", "sum")])
        for region, total in zip(sums["region"].to_pylist(), sums["profit_sum"].to_pylist(), strict=True):
            self._profit[region] = self._profit.get(region, 0.0) + total
        category = self._encode(table["category"])
        # Lines of one order rarely share a sub-category: de-duplicating here would cost more than it saves.
        self._sub.append(
            pa.table({"pair": self._pair(category, self._encode(table["sub_category"])), "order_id": table["order_id"]})
        )
        shipped = pc.is_valid(table["ship_mode"])
        ship_pairs = pa.table(
            {"pair": self._pair(category, self._encode(table["ship_mode"])), "order_id": table["order_id"]}
        )
        # Lines of one order share its ship mode: de-duplicating within the chunk halves what is kept.
        self._ship.append(_distinct(ship_pairs.filter(shipped)))

    def _encode(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Global integer ids of a column's labels (nulls stay null)."""
        encoded = pc.dictionary_encode(values)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = (
                encoded.combine_chunks() if encoded.num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.string()))
            )
        ids = pa.array(
            [self._ids.setdefault(label, len(self._ids)) for label in encoded.dictionary.to_pylist()], pa.int64()
        )
        return pc.take(ids, encoded.indices)

    @staticmethod
    def _pair(first: pa.Array, second: pa.Array) -> pa.Array:
        return pc.bit_wise_or(pc.shift_left(first, _PAIR_SHIFT), second)

    def build(self) -> dict[str, pa.Table]:
        """The three reports as Arrow tables with the CSV columns, in CSV order."""
        return {
            "most_profitable_region": self._region_report(),
            "shipping_method_by_category": self._ship_report(),
            "orders_by_category": self._sub_report(),
        }

    def _region_report(self) -> pa.Table:
        regions = pa.array(list(self._profit), pa.string())
        totals = pc.round(pa.array(list(self._profit.values()), pa.float64()), 2, round_mode="half_towards_infinity")
        table = pa.table({"region": regions, "total_profit": totals})
        return table.sort_by([("total_profit", "descending"), ("region", "ascending")])

    def _counts(self, parts: list[pa.Table], keys: list[str]) -> pa.Table:
        """Distinct orders per pair, with the pair decoded back to its two labels."""
        if parts:
            counted = (
                pa.concat_tables(parts).group_by("pair", use_threads=False).aggregate([("order_id", "count_distinct")])
            )
            pair, count = counted["pair"], counted["order_id_count_distinct"]
        else:
            pair, count = pa.chunked_array([], pa.int64()), pa.chunked_array([], pa.int64())
        labels = pa.array(list(self._ids), pa.string())
        first = pc.take(labels, pc.shift_right(pair, _PAIR_SHIFT))
        second = pc.take(labels, pc.bit_wise_and(pair, (1 << _PAIR_SHIFT) - 1))
        return pa.table({keys[0]: first, keys[1]: second, "order_count": count})

    def _ship_report(self) -> pa.Table:
        pairs = self._counts(self._ship, ["category", "ship_mode"])
        ranked = pairs.sort_by([("category", "ascending"), ("order_count", "descending"), ("ship_mode", "ascending")])
        if ranked.num_rows == 0:
            return ranked
        category = ranked["category"]
        first = pc.not_equal(category.slice(1), category.slice(0, ranked.num_rows - 1))
        keep = pa.concat_arrays([pa.array([True]), pc.fill_null(first, True).combine_chunks()])
        return ranked.filter(keep)

    def _sub_report(self) -> pa.Table:
        return self._counts(self._sub, ["category", "sub_category"]).sort_by(
            [("category", "ascending"), ("sub_category", "ascending")]
        )


def _distinct(table: pa.Table) -> pa.Table:
    return table.group_by(table.column_names, use_threads=False).aggregate([])


def neutralize_formula(value: str) -> str:
    """Prefix a text cell that a spreadsheet would run as a formula with ``'`` (OWASP CSV injection advice)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def to_csv_bytes(table: pa.Table) -> bytes:
    """Serialise a report as UTF-8 CSV (header row, ``\\n`` line ends, minimal quoting).

    Money columns (``total_profit``) are written with exactly two decimals;
    formula-like text is neutralised. Reports are small, so the standard
    library's writer is plenty.
    """
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(table.column_names)
    columns = [_format_column(name, table.column(name).to_pylist()) for name in table.column_names]
    writer.writerows(zip(*columns, strict=True))
    return sink.getvalue().encode("utf-8")


def _format_column(name: str, values: list[object]) -> list[str]:
    if name == "total_profit":
        # "+ 0.0" turns -0.0 (a tiny negative total rounded to zero) into 0.0: no "-0.00" in a report.
        return ["" if v is None else f"{float(v) + 0.0:.2f}" for v in values]  # type: ignore[arg-type]
    return ["" if v is None else neutralize_formula(v) if isinstance(v, str) else str(v) for v in values]
