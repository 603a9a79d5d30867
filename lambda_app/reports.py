"""The three daily reports, computed incrementally from typed order lines.

Pure module (pyarrow and numpy only). Definitions (also in the README):

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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lambda_app.arrays import dictionary_encoded, one_array, sorted_unique_rows, sorted_unique_rows_of
from lambda_app.pools import Mapper, pool_if

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

# An order id packed losslessly in one int64: (prefix id << 44) | (digit count << 40) | number, where
# number is the id's trailing run of at most 12 ASCII digits (10**12 < 2**40) and prefix the text before it.
_MAX_DIGITS = 12
_COUNT_SHIFT = 40
_PREFIX_SHIFT = 44
_MAX_PREFIXES = 1 << (63 - _PREFIX_SHIFT)


_BUCKETS = 8
_THREADED_ROWS = 100_000  # below this many lines the distinct counts run on the calling thread
_COUNTED_SCHEMA = pa.schema([("pair", pa.int64()), ("order_count", pa.int64())])


@dataclass
class _PairOrders:
    """The ``(pair, order)`` rows of every chunk, for counting distinct orders per pair at the end.

    Packed (int64) order keys are split by a hash into ``_BUCKETS`` buckets
    as they arrive. Each order falls in exactly one bucket, so the distinct
    count of a pair is the sum of its counts per bucket, and counting one
    bucket at a time keeps the hash tables small: measured on 10M lines, 1.4 s
    and +0.4 GB instead of 2.9 s and +0.7 GB for one hash aggregation over
    all (the packed keys are now counted by a sort, see ``_count_distinct``).
    Chunks whose ids stayed text are counted together with everything else,
    in one aggregation over text ids.
    """

    buckets: list[list[pa.Table]] = field(default_factory=lambda: [[] for _ in range(_BUCKETS)])
    text: list[pa.Table] = field(default_factory=list)

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if not pa.types.is_integer(table.schema.field("order").type):
            self.text.append(table)
            return
        keys = one_array(table["order"]).to_numpy().view(np.uint64)
        bucket = ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(61)).astype(np.uint8)  # Fibonacci hashing
        grouped = table.take(np.argsort(bucket, kind="stable"))  # a radix sort, for 8-bit keys
        start = 0
        for index, size in enumerate(np.bincount(bucket, minlength=_BUCKETS).tolist()):
            if size:
                self.buckets[index].append(grouped.slice(start, size))
                start += size

    def count(
        self, pool: Mapper, order_text: Callable[[pa.Array | pa.ChunkedArray], pa.Array | pa.ChunkedArray]
    ) -> pa.Table:
        """``pair, order_count``: distinct orders per pair (unsorted)."""
        if self.text:
            parts = list(self.text)
            packed = [part for bucket in self.buckets for part in bucket]
            if packed:  # decoded in one call: the table of id prefixes is built once
                table = pa.concat_tables(packed)
                parts.append(table.set_column(1, "order", order_text(table["order"])))
            groups = [parts]
        else:
            groups = [bucket for bucket in self.buckets if bucket]
        counted = [table for table in pool.map(_count_distinct, groups) if table.num_rows]
        if not counted:
            return _COUNTED_SCHEMA.empty_table()
        total = pa.concat_tables(counted).group_by("pair", use_threads=False).aggregate([("order_count", "sum")])
        return pa.table({"pair": total["pair"], "order_count": total["order_count_sum"]}, schema=_COUNTED_SCHEMA)


def _count_distinct(parts: list[pa.Table]) -> pa.Table:
    """``pair, order_count`` of one bucket: packed integer keys by one sort (:func:`sorted_unique_rows`), text
    ids by Arrow's hash aggregation (at 5M lines :meth:`ReportBuilder.build` took 0.12 s instead of 0.33 s)."""
    table = pa.concat_tables(parts)
    packed = _packed_distinct_rows(table)
    if packed is not None:
        labels, codes, _ = packed
        counts = np.bincount(codes, minlength=len(labels))
        return pa.table({"pair": labels, "order_count": pa.array(counts, pa.int64())}, schema=_COUNTED_SCHEMA)
    counted = table.group_by("pair", use_threads=False).aggregate([("order", "count_distinct")])
    return pa.table({"pair": counted["pair"], "order_count": counted["order_count_distinct"]}, schema=_COUNTED_SCHEMA)


@dataclass
class _PairCodes:
    """Codes for ``(kind, first label, second label)`` pairs, numbered as first met (a partial's ``pairs``)."""

    labels: list[str]
    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    _known: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def codes(self, kind: str, pair: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Each row's packed label pair as its code: a day has few pairs, so hash once and map with a take."""
        encoded = dictionary_encoded(pair)
        index = []
        for value in encoded.dictionary.to_pylist():
            label = (kind, self.labels[value >> _PAIR_SHIFT], self.labels[value & ((1 << _PAIR_SHIFT) - 1)])
            index.append(self._known.setdefault(label, len(self.pairs)))
            if index[-1] == len(self.pairs):
                self.pairs.append(label)
        codes: np.ndarray = np.asarray(index, np.int32)[encoded.indices.to_numpy(zero_copy_only=False)]
        return codes


@dataclass
class ReportBuilder:
    """Accumulates order lines chunk by chunk; memory grows with distinct orders, not with lines.

    An order whose lines arrive in different chunks is still counted once:
    the ``(group, order)`` pairs of every chunk are kept (de-duplicated
    within the chunk where that pays) and counted per group at the end,
    bucket by bucket (``_PairOrders``): packed keys by one sort of
    (pair, order) per bucket, text ids by ``count_distinct``. Category,
    sub-category and ship-mode labels are replaced by integer ids (one table
    of labels for the whole run) so grouping hashes one integer. Order ids
    shaped like ``CA-2023-152156`` (any text, then at most 12 digits, with
    few distinct texts) are packed losslessly into one int64
    each (:meth:`_order_keys`): 16 bytes a line instead of about 40, and
    integer hashing; other ids are kept as text, and the two meet at the end.
    """

    rows: int = 0
    _profit: dict[str, float] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)
    _prefixes: dict[str, int] = field(default_factory=dict)
    _ship: _PairOrders = field(default_factory=_PairOrders)
    _sub: _PairOrders = field(default_factory=_PairOrders)

    def add(self, table: pa.Table) -> None:
        """Fold one chunk of lines (``INPUT_COLUMNS`` at least) into the totals."""
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        for region, total in region_sums(table):
            self._profit[region] = self._profit.get(region, 0.0) + total
        category = self._encode(table["category"])
        order = self._order_keys(table["order_id"])
        # Lines of one order rarely share a sub-category: de-duplicating here would cost more than it saves.
        self._sub.add(pa.table({"pair": self._pair(category, self._encode(table["sub_category"])), "order": order}))
        shipped = pc.is_valid(table["ship_mode"])
        ship_pairs = pa.table({"pair": self._pair(category, self._encode(table["ship_mode"])), "order": order})
        # Lines of one order share its ship mode: de-duplicating within the chunk halves what is kept.
        self._ship.add(_distinct_pairs(ship_pairs.filter(shipped)))

    def _encode(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Global integer ids of a column's labels (nulls stay null)."""
        encoded = dictionary_encoded(values)
        ids = pa.array(
            [self._ids.setdefault(label, len(self._ids)) for label in encoded.dictionary.to_pylist()], pa.int64()
        )
        return pc.take(ids, encoded.indices)

    def _order_keys(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Order ids as lossless int64 keys when they are "text + up to 12 digits", else as text.

        Two ids get the same key exactly when they are equal: the key holds the
        text's global id, the digit count (so ``007`` differs from ``7``) and the
        digits' value. The digits are read straight from the Arrow buffers.
        """
        text = one_array(values).cast(pa.string())
        prefix = pc.ascii_rtrim(text, characters="0123456789")  # digits are single bytes in UTF-8
        counts = pc.subtract(pc.binary_length(text), pc.binary_length(prefix)).to_numpy(zero_copy_only=False)
        longest = int(counts.max()) if len(counts) else 0
        encoded = dictionary_encoded(prefix)
        labels = encoded.dictionary.to_pylist()
        if longest > _MAX_DIGITS or len(self._prefixes) + len(labels) > _MAX_PREFIXES:
            return text
        prefix_ids = np.array([self._prefixes.setdefault(label, len(self._prefixes)) for label in labels], np.int64)
        offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset : text.offset + len(text) + 1]
        data = np.frombuffer(text.buffers()[2], np.uint8) if len(text) else np.zeros(1, np.uint8)
        ends = offsets[1:].astype(np.int64)
        number = np.zeros(len(text), np.int64)
        for place in range(longest):  # the last digit first
            has = counts > place
            digit = data[np.where(has, ends - 1 - place, 0)].astype(np.int64) - ord("0")
            number += np.where(has, digit, 0) * 10**place
        prefix_id = prefix_ids[encoded.indices.to_numpy(zero_copy_only=False)]
        return pa.array((prefix_id << _PREFIX_SHIFT) | (counts.astype(np.int64) << _COUNT_SHIFT) | number)

    def _order_text(self, keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """The order ids that :meth:`_order_keys` packed, as text again."""
        return unpack_orders(keys, list(self._prefixes))

    def distinct(self) -> tuple[list[tuple[str, str, str]], np.ndarray, np.ndarray | pa.Array, list[str] | None]:
        """The distinct ``(kind, first, second, order)`` rows seen so far, for a mergeable partial.

        ``kind`` is ``"sub"`` (category, sub-category) or ``"ship"`` (category, ship mode; missing modes
        left out). Returns the pairs (a pair's code is its index), the code of each row, its order
        (packed int64 keys, or text when any id stayed text) and the packed keys' prefix table (``None``
        for text), sorted by code then order, each row once.
        """
        coder = _PairCodes(list(self._ids))
        if self._sub.text or self._ship.text:
            code, text = self._distinct_text(coder)
            return coder.pairs, code, text, None
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        for kind, kept in (("sub", self._sub), ("ship", self._ship)):
            parts = [part for bucket in kept.buckets for part in bucket]
            if parts:
                table = pa.concat_tables(parts)
                codes = coder.codes(kind, table["pair"])
                start = 0
                for chunk in table["order"].chunks:  # packed chunk by chunk: no copy of all the keys first
                    pieces.append((codes[start : start + len(chunk)], chunk.to_numpy()))
                    start += len(chunk)
        code, keys = sorted_unique_rows_of(pieces)
        return coder.pairs, code, keys, list(self._prefixes)

    def _distinct_text(self, coder: _PairCodes) -> tuple[np.ndarray, pa.Array]:
        """:meth:`distinct`'s codes and orders when some order id stayed text: every id as text, then one sort."""
        tables = []
        for kind, kept in (("sub", self._sub), ("ship", self._ship)):
            whole = list(kept.text)
            packed = [part for bucket in kept.buckets for part in bucket]
            if packed:
                table = pa.concat_tables(packed)
                whole.append(table.set_column(1, "order", self._order_text(table["order"])))
            if whole:
                table = _distinct(pa.concat_tables(whole))
                tables.append(pa.table({"code": coder.codes(kind, table["pair"]), "order": table["order"]}))
        if not tables:
            return np.zeros(0, np.int32), pa.array([], pa.string())
        rows = pa.concat_tables(tables).sort_by([("code", "ascending"), ("order", "ascending")])
        return rows["code"].to_numpy().astype(np.int32), one_array(rows["order"])

    @staticmethod
    def _pair(first: pa.Array, second: pa.Array) -> pa.Array:
        return pc.bit_wise_or(pc.shift_left(first, _PAIR_SHIFT), second)

    def build(self) -> dict[str, pa.Table]:
        """The three reports as Arrow tables with the CSV columns, in CSV order.

        The distinct-order counts run over one bucket of order keys at a time
        (see ``_PairOrders``), two at a time on two threads (numpy's sort and
        Arrow release the GIL) once the day has ``_THREADED_ROWS`` lines.
        """

        with pool_if(self.rows >= _THREADED_ROWS, workers=2) as pool:
            ship = self._ship.count(pool, self._order_text)
            sub = self._sub.count(pool, self._order_text)
        return {
            "most_profitable_region": region_report(self._profit),
            "shipping_method_by_category": ship_report(self._labelled(ship, ["category", "ship_mode"])),
            "orders_by_category": sub_report(self._labelled(sub, ["category", "sub_category"])),
        }

    def _labelled(self, counted: pa.Table, keys: list[str]) -> pa.Table:
        """``pair, order_count`` with the pair decoded back to its two labels."""
        labels = pa.array(list(self._ids), pa.string())
        pair = counted["pair"]
        first = pc.take(labels, pc.shift_right(pair, _PAIR_SHIFT))
        second = pc.take(labels, pc.bit_wise_and(pair, (1 << _PAIR_SHIFT) - 1))
        return pa.table({keys[0]: first, keys[1]: second, "order_count": counted["order_count"]})


def region_sums(table: pa.Table) -> list[tuple[str, float]]:
    """``(region, sum of profit)`` of one chunk of lines: the terms every region total is added up from.

    Arrow's grouped sum adds a group's values in row order, so the terms of a
    table do not depend on how its columns are chunked; the merged partials
    (:mod:`lambda_app.report_partials`) add the same terms in the same order as
    a recomputation from the Parquet objects, so the totals are the same floats.
    """
    region = dictionary_encoded(table["region"])
    sums = (
        pa.table({"region": region.indices, "profit": one_array(table["profit"])})
        .group_by("region", use_threads=False)
        .aggregate([("profit", "sum")])
    )
    labels = region.dictionary.to_pylist()
    return [
        (labels[index], total)
        for index, total in zip(sums["region"].to_pylist(), sums["profit_sum"].to_pylist(), strict=True)
    ]


def unpack_orders(keys: pa.Array | pa.ChunkedArray, prefixes: list[str]) -> pa.Array | pa.ChunkedArray:
    """Order ids packed by :meth:`ReportBuilder._order_keys` (with that prefix table) as text again."""
    if not pa.types.is_integer(keys.type):
        return keys
    table = pa.array(prefixes, pa.string())
    count = pc.bit_wise_and(pc.shift_right(keys, _COUNT_SHIFT), (1 << (_PREFIX_SHIFT - _COUNT_SHIFT)) - 1)
    number = pc.bit_wise_and(keys, (1 << _COUNT_SHIFT) - 1)
    digits = pc.if_else(pc.equal(count, 0), "", pc.cast(number, pa.string()))
    pads = pa.array(["0" * n for n in range(_MAX_DIGITS + 1)], pa.string())
    zeros = pc.take(pads, pc.subtract(count, pc.binary_length(digits)))
    return pc.binary_join_element_wise(pc.take(table, pc.shift_right(keys, _PREFIX_SHIFT)), zeros, digits, "")


def region_report(profit: dict[str, float]) -> pa.Table:
    """``region, total_profit`` from the unrounded totals: rounded to cents, most profitable first."""
    regions = pa.array(list(profit), pa.string())
    totals = pc.round(pa.array(list(profit.values()), pa.float64()), 2, round_mode="half_towards_infinity")
    table = pa.table({"region": regions, "total_profit": totals})
    return table.sort_by([("total_profit", "descending"), ("region", "ascending")])


def ship_report(pairs: pa.Table) -> pa.Table:
    """``category, ship_mode, order_count`` per (category, mode): per category the mode of most orders."""
    ranked = pairs.sort_by([("category", "ascending"), ("order_count", "descending"), ("ship_mode", "ascending")])
    if ranked.num_rows == 0:
        return ranked
    category = ranked["category"]
    first = pc.not_equal(category.slice(1), category.slice(0, ranked.num_rows - 1))
    keep = pa.concat_arrays([pa.array([True]), pc.fill_null(first, True).combine_chunks()])
    return ranked.filter(keep)


def sub_report(pairs: pa.Table) -> pa.Table:
    """``category, sub_category, order_count``, sorted by category then sub-category."""
    return pairs.sort_by([("category", "ascending"), ("sub_category", "ascending")])


def _distinct(table: pa.Table) -> pa.Table:
    return table.group_by(table.column_names, use_threads=False).aggregate([])


def _distinct_pairs(table: pa.Table) -> pa.Table:
    """The distinct ``(pair, order)`` rows of one chunk (in no particular order).

    Packed integer order keys go through one sort of packed rows (:func:`sorted_unique_rows`): about half
    the time of Arrow's hash aggregation over the two columns (5 ms against 11 ms for 114k lines); text ids,
    other key types and nulls take the aggregation.
    """
    packed = _packed_distinct_rows(table) if table.num_rows else None
    if packed is None:
        return _distinct(table)
    labels, codes, orders = packed
    return pa.table({"pair": pc.take(labels, pa.array(codes)), "order": pa.array(orders)})


def _packed_distinct_rows(table: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray] | None:
    """The pair labels and the distinct ``(pair code, order)`` rows of a ``pair, order`` table, by one sort
    (:func:`sorted_unique_rows`); None unless the order keys are int64 and neither column holds a null (the
    caller then takes Arrow's hash aggregation)."""
    order = table["order"]
    if not pa.types.is_int64(order.type) or order.null_count or table["pair"].null_count:
        return None
    pair = dictionary_encoded(table["pair"])
    codes, orders = sorted_unique_rows(
        pair.indices.to_numpy(zero_copy_only=False), one_array(order).to_numpy(zero_copy_only=False)
    )
    return pair.dictionary, codes, orders


def neutralize_formula(value: str) -> str:
    """Prefix a text cell that a spreadsheet would run as a formula with ``'`` (OWASP CSV injection advice)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def to_csv_bytes(table: pa.Table) -> bytes:
    """Serialise a report as UTF-8 CSV (header row, ``\\n`` line ends, minimal quoting; a CR or LF is quoted).

    Money columns (``total_profit``) are written with exactly two decimals;
    formula-like text is neutralised. Reports are small, so the standard
    library's writer is plenty.
    """
    # csv quotes a field holding a character of its line terminator: with "\r\n" both CR and LF are quoted
    # ("\n" alone leaves a bare CR unquoted, which splits the row in readers that end lines at CR). Each row
    # is then ended with "\n".
    row_text = io.StringIO()
    writer = csv.writer(row_text, lineterminator="\r\n")
    lines: list[str] = []
    columns = [_format_column(name, table.column(name).to_pylist()) for name in table.column_names]
    for row in [table.column_names, *zip(*columns, strict=True)]:
        row_text.seek(0)
        row_text.truncate()
        writer.writerow(row)
        lines.append(row_text.getvalue()[:-2] + "\n")
    return "".join(lines).encode("utf-8")


def _format_column(name: str, values: list[object]) -> list[str]:
    if name == "total_profit":
        # "+ 0.0" turns -0.0 (a tiny negative total rounded to zero) into 0.0: no "-0.00" in a report.
        return ["" if v is None else f"{float(v) + 0.0:.2f}" for v in values]  # type: ignore[arg-type]
    return ["" if v is None else neutralize_formula(v) if isinstance(v, str) else str(v) for v in values]
