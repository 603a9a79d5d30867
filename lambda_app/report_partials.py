"""What a set of committed loads adds to a day's reports, stored small and merged exactly. Pure (pyarrow, numpy).

A :class:`ReportPartial` covers a set of attempts (``<source_id>_<attempt>``) and holds:

* ``terms``: per Parquet object and row group, per region, the sum of ``profit``
  (:func:`lambda_app.reports.region_sums`). The reports add them in object-key
  and row-group order, exactly the additions a recomputation from the objects
  makes, so the totals are the same floats, not merely close ones;
* the distinct ``(category, sub_category, order_id)`` and ``(category, ship_mode,
  order_id)`` rows (missing modes left out): sets, not counts, so an order in two
  files counts once per pair. A pair is a code into ``pairs``; an order is a
  packed int64 key (:meth:`lambda_app.reports.ReportBuilder._order_keys`) into
  the partial's own ``prefixes`` table, or text when some id did not pack.
  Rows are sorted by code then order, each once.

Merging is a union (associative, commutative, idempotent). Packed partials are
merged by binary search into the largest one (the day's checkpoint), so adding
one file's partial to a day of many costs a copy of the day's keys, not a hash
of them; as soon as one side is text, everything is merged as text (slower, as exact).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lambda_app.arrays import one_array, sorted_unique_rows
from lambda_app.reports import (
    _MAX_PREFIXES,
    _PREFIX_SHIFT,
    ReportBuilder,
    region_report,
    ship_report,
    sub_report,
    unpack_orders,
)

FORMAT_VERSION = 1
_METADATA_KEY = b"orders_analytics.report_partial"
_LOW_BITS = (1 << _PREFIX_SHIFT) - 1

Term = tuple[str, int, str, float]  # object key, row group, region, sum of profit
Pair = tuple[str, str, str]  # kind ("sub" or "ship"), category, sub-category or ship mode


@dataclass
class ReportPartial:
    """See the module docstring. ``orders`` is an int64 array when ``prefixes`` is a list, else Arrow text."""

    attempts: frozenset[str] = frozenset()
    terms: list[Term] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    prefixes: list[str] | None = field(default_factory=list)
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    orders: Any = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def from_builder(cls, builder: ReportBuilder, attempts: frozenset[str], terms: list[Term]) -> ReportPartial:
        """The partial of the lines folded into ``builder``, with their profit ``terms``."""
        pairs, codes, orders, prefixes = builder.distinct()
        return cls(attempts, list(terms), pairs, prefixes, codes.astype(np.int32), orders)

    def __len__(self) -> int:
        return len(self.codes)

    # --------------------------------------------------------------------------- the reports

    def build(self) -> dict[str, pa.Table]:
        """The three report tables, as :meth:`lambda_app.reports.ReportBuilder.build` makes them."""
        profit: dict[str, float] = {}
        for _, _, region, total in sorted(self.terms, key=lambda term: (term[0], term[1])):
            profit[region] = profit.get(region, 0.0) + total
        counts = np.bincount(self.codes, minlength=len(self.pairs)).tolist()
        tables: dict[str, pa.Table] = {}
        for kind, name, second, shape in (
            ("ship", "shipping_method_by_category", "ship_mode", ship_report),
            ("sub", "orders_by_category", "sub_category", sub_report),
        ):
            rows = [(p[1], p[2], n) for p, n in zip(self.pairs, counts, strict=True) if p[0] == kind and n]
            table = pa.table(
                {
                    "category": pa.array([r[0] for r in rows], pa.string()),
                    second: pa.array([r[1] for r in rows], pa.string()),
                    "order_count": pa.array([r[2] for r in rows], pa.int64()),
                }
            )
            tables[name] = shape(table)
        return {"most_profitable_region": region_report(profit), **tables}

    # ------------------------------------------------------------------------------ bytes

    def to_bytes(self) -> bytes:
        """Parquet: ``code`` and ``order`` columns; attempts, terms, pairs and prefixes as JSON metadata."""
        meta = {
            "version": FORMAT_VERSION,
            "attempts": sorted(self.attempts),
            "terms": self.terms,  # JSON writes a float's shortest repr, which reads back as the same double
            "pairs": self.pairs,
            "prefixes": self.prefixes,
        }
        packed = self.prefixes is not None
        table = pa.table(
            {"code": pa.array(self.codes, pa.int32()), "order": self.orders if not packed else pa.array(self.orders)}
        ).replace_schema_metadata({_METADATA_KEY: json.dumps(meta, separators=(",", ":"))})
        body = io.BytesIO()
        pq.write_table(
            table,
            body,
            compression="none",  # sorted keys delta-encode to ~1 byte each; a codec on top costs more than it saves
            use_dictionary=["code"],
            column_encoding={"order": "DELTA_BINARY_PACKED"} if packed else None,
            write_statistics=False,
        )
        return body.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReportPartial:
        """Read :meth:`to_bytes`; ``ValueError`` when the bytes are not a partial of this format."""
        # ParquetFile, not read_table: no dataset discovery for one buffer (about half the time on a day's partial)
        table = pq.ParquetFile(pa.BufferReader(data)).read()
        raw = (table.schema.metadata or {}).get(_METADATA_KEY)
        if raw is None:
            raise ValueError("not a report partial")
        meta = json.loads(raw)
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"report partial format {meta.get('version')} is not {FORMAT_VERSION}")
        prefixes = meta["prefixes"]
        orders = one_array(table["order"])
        partial = cls(
            attempts=frozenset(meta["attempts"]),
            terms=[(t[0], int(t[1]), t[2], float(t[3])) for t in meta["terms"]],
            pairs=[(p[0], p[1], p[2]) for p in meta["pairs"]],
            prefixes=prefixes,
            codes=one_array(table["code"]).to_numpy(zero_copy_only=False).astype(np.int32),
            orders=orders.to_numpy(zero_copy_only=False).astype(np.int64) if prefixes is not None else orders,
        )
        partial._check()
        return partial

    def _check(self) -> None:
        """``ValueError`` unless the parts fit together: every code names a pair, every packed key a prefix,
        the rows are sorted and unique. A damaged partial that still parses is then rebuilt, not trusted."""
        codes = self.codes
        if len(codes) and (codes.min() < 0 or codes.max() >= len(self.pairs)):
            raise ValueError("report partial: a code names no pair")
        if any(p[0] not in ("sub", "ship") for p in self.pairs):
            raise ValueError("report partial: a pair of unknown kind")
        if self.prefixes is not None and len(self.orders):
            prefix_ids = self.orders >> _PREFIX_SHIFT
            if prefix_ids.min() < 0 or prefix_ids.max() >= len(self.prefixes):
                raise ValueError("report partial: an order key names no prefix")
            later = (codes[1:] > codes[:-1]) | ((codes[1:] == codes[:-1]) & (self.orders[1:] > self.orders[:-1]))
            if not later.all():
                raise ValueError("report partial: rows not sorted by code then order, or repeated")


def merge(partials: Sequence[ReportPartial]) -> ReportPartial:
    """The union of ``partials`` (of disjoint attempts): the partial of all their attempts together."""
    if not partials:
        return ReportPartial()
    base = max(partials, key=len)
    others = [p for p in partials if p is not base]
    if not any(p.attempts or p.terms or len(p) for p in others):
        return base  # nothing to add (the usual first refresh of a day: an empty start and one attempt)
    pairs = list(base.pairs)
    pair_codes = {pair: code for code, pair in enumerate(pairs)}
    for other in others:
        for pair in other.pairs:
            if pair not in pair_codes:
                pair_codes[pair] = len(pairs)
                pairs.append(pair)
    merged = ReportPartial(
        attempts=frozenset().union(*(p.attempts for p in partials)),
        terms=[term for p in partials for term in p.terms],
        pairs=pairs,
    )
    prefixes = _merged_prefixes(partials, base)
    if prefixes is None:
        return _merge_text(merged, partials, pair_codes)
    prefix_ids = {prefix: i for i, prefix in enumerate(prefixes)}
    codes, orders = [base.codes], [base.orders]
    for other in others:
        code_map = np.array([pair_codes[pair] for pair in other.pairs] or [0], np.int32)
        prefix_map = np.array([prefix_ids[prefix] for prefix in other.prefixes or []] or [0], np.int64)
        codes.append(code_map[other.codes])
        orders.append((prefix_map[other.orders >> _PREFIX_SHIFT] << _PREFIX_SHIFT) | (other.orders & _LOW_BITS))
    merged.prefixes = prefixes
    merged.codes, merged.orders = _insert_sorted(
        base.codes,
        base.orders,
        np.concatenate(codes[1:] or [codes[0][:0]]),
        np.concatenate(orders[1:] or [orders[0][:0]]),
    )
    return merged


def _merged_prefixes(partials: Sequence[ReportPartial], base: ReportPartial) -> list[str] | None:
    """The base's prefix table extended by the others' (so the base's keys stay as they are), or ``None`` for text."""
    if base.prefixes is None or any(p.prefixes is None for p in partials):
        return None
    prefixes = list(base.prefixes)
    known = set(prefixes)
    for partial in partials:
        for prefix in partial.prefixes or []:
            if prefix not in known:
                known.add(prefix)
                prefixes.append(prefix)
    return prefixes if len(prefixes) <= _MAX_PREFIXES else None


def _insert_sorted(
    codes: np.ndarray, orders: np.ndarray, new_codes: np.ndarray, new_orders: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, orders)`` (sorted by code then order, unique) with the new rows that are not in it yet."""
    if not len(new_codes):
        return codes, orders
    new_codes, new_orders = sorted_unique_rows(new_codes, new_orders)
    positions = np.empty(len(new_codes), np.int64)
    keep = np.ones(len(new_codes), bool)
    bounds = np.flatnonzero(np.diff(new_codes)) + 1
    for start, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(new_codes)], strict=True):
        code = new_codes[start]
        low, high = np.searchsorted(codes, code, "left"), np.searchsorted(codes, code, "right")
        existing = orders[low:high]
        at = np.searchsorted(existing, new_orders[start:end])
        found = at < len(existing)
        found[found] = existing[at[found]] == new_orders[start:end][found]
        keep[start:end] = ~found
        positions[start:end] = low + at
    return (
        np.insert(codes, positions[keep], new_codes[keep]),
        np.insert(orders, positions[keep], new_orders[keep]),
    )


def _merge_text(merged: ReportPartial, partials: Sequence[ReportPartial], pair_codes: dict[Pair, int]) -> ReportPartial:
    """The union with every order as text: one hash aggregation over all rows."""
    tables = []
    for partial in partials:
        code_map = np.array([pair_codes[pair] for pair in partial.pairs] or [0], np.int32)
        orders = partial.orders
        if partial.prefixes is not None:
            orders = unpack_orders(pa.array(orders, pa.int64()), partial.prefixes)
        tables.append(pa.table({"code": pa.array(code_map[partial.codes], pa.int32()), "order": orders}))
    table = pa.concat_tables(tables).group_by(["code", "order"], use_threads=False).aggregate([])
    table = table.sort_by([("code", "ascending"), ("order", "ascending")])
    merged.prefixes = None
    merged.codes = one_array(table["code"]).to_numpy(zero_copy_only=False).astype(np.int32)
    merged.orders = one_array(table["order"])
    return merged
