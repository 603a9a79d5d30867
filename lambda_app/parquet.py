"""The dataset's Parquet encoding, in one place (the Lambda's objects and the benchmark's files). Pure (pyarrow)."""

from __future__ import annotations

import io
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

# Rows per Parquet row group. Objects are sorted by order date, so each row group
# covers a narrow date range and Athena skips groups by their min/max statistics.
ROW_GROUP_ROWS = 128 * 1024
# Columns whose row-group min/max can let a reader skip data: the sorted order date, the per-object constants
# and the numbers. Text columns spread over every row group (region, order id, ...) never prune, and their
# statistics were a fifth of the Parquet encoding time.
STATISTICS_COLUMNS: tuple[str, ...] = (
    "order_date",
    "cost_price",
    "list_price",
    "quantity",
    "discount_percent",
    "profit",
    "source_key",
    "ingested_at",
)
# Columns written without a dictionary. An order id repeats only across the few lines of one order (in the
# real exports every line has its own id), so its dictionary outgrows the 1 MiB page limit or saves
# nothing, and the writer pays for it either way: plain pages made the real exports' objects 8% smaller and
# 500k generated rows 4% smaller, encoded 15% faster (docs/benchmarks.md, session 25).
PLAIN_COLUMNS: frozenset[str] = frozenset({"order_id"})


def encode_parquet(table: pa.Table, sink: str | IO[bytes]) -> None:
    """Write ``table`` the dataset's way: snappy, ``ROW_GROUP_ROWS`` row groups, statistics for ``STATISTICS_COLUMNS``,
    dictionary pages for every column but ``PLAIN_COLUMNS``.

    ``MEMORY_SCHEMA``'s dictionary-encoded text goes straight to Parquet
    dictionary pages; without the stored Arrow schema, readers see the
    Parquet types, i.e. exactly ``DATASET_SCHEMA`` (strings, ``date``,
    ``timestamp(ms)`` as INT64 with statistics, required columns).
    """
    pq.write_table(
        table,
        sink,
        compression="snappy",
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=list(STATISTICS_COLUMNS),
        use_dictionary=[name for name in table.column_names if name not in PLAIN_COLUMNS],
        store_schema=False,
    )


def parquet_bytes(table: pa.Table) -> bytes:
    """:func:`encode_parquet` into memory."""
    body = io.BytesIO()
    encode_parquet(table, body)
    return body.getvalue()


def iter_columns(data: bytes, columns: list[str], batch_rows: int = 1_000_000) -> list[pa.Table]:
    """The given columns of one Parquet object, a table per record batch."""
    parquet = pq.ParquetFile(pa.BufferReader(data))
    return [pa.Table.from_batches([b]) for b in parquet.iter_batches(batch_size=batch_rows, columns=columns)]


def row_group_rows(data: bytes) -> list[int]:
    """The row count of each row group of one Parquet object, in order (from its footer)."""
    metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def iter_row_groups(data: bytes, columns: list[str]) -> list[pa.Table]:
    """The given columns of one Parquet object, a table per row group (the chunks a report partial sums by)."""
    parquet = pq.ParquetFile(pa.BufferReader(data))
    return [parquet.read_row_group(i, columns=columns) for i in range(parquet.metadata.num_row_groups)]
