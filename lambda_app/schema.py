"""The order data's contract: input header mapping and the fixed dataset schema.

Pure module: imports only the standard library and pyarrow. The dataset's
schema lives here and nowhere else; it is never inferred from an input file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pyarrow as pa

from lambda_app.errors import DuplicateColumnError, MissingColumnsError

# Columns of the canonical export, in its order, as snake_case names.
INPUT_COLUMNS: tuple[str, ...] = (
    "order_id",
    "order_date",
    "ship_mode",
    "segment",
    "country",
    "city",
    "state",
    "postal_code",
    "region",
    "category",
    "sub_category",
    "product_id",
    "cost_price",
    "list_price",
    "quantity",
    "discount_percent",
)

REQUIRED_COLUMNS: frozenset[str] = frozenset(
    {
        "order_id",
        "order_date",
        "ship_mode",
        "region",
        "category",
        "sub_category",
        "cost_price",
        "list_price",
        "quantity",
        "discount_percent",
    }
)

OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in INPUT_COLUMNS if c not in REQUIRED_COLUMNS)

# Ship mode spellings that mean "no ship mode recorded" (compared trimmed, lower case).
MISSING_SHIP_MODES: frozenset[str] = frozenset({"", "not available", "unknown", "n/a"})

PARTITION_COLUMN = "ingest_date"

# The Parquet dataset's columns (partition column excluded), in file order.
DATASET_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("order_date", pa.date32(), nullable=False),
        pa.field("ship_mode", pa.string()),
        pa.field("segment", pa.string()),
        pa.field("country", pa.string()),
        pa.field("city", pa.string()),
        pa.field("state", pa.string()),
        pa.field("postal_code", pa.string()),
        pa.field("region", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("sub_category", pa.string(), nullable=False),
        pa.field("product_id", pa.string()),
        pa.field("cost_price", pa.float64(), nullable=False),
        pa.field("list_price", pa.float64(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("discount_percent", pa.float64(), nullable=False),
        pa.field("profit", pa.float64(), nullable=False),
        pa.field("source_key", pa.string(), nullable=False),
        pa.field("ingested_at", pa.timestamp("ms"), nullable=False),
    ]
)

# Text columns that repeat (source_key: one value per file; 1,862 product ids and 631 postal codes in the real
# exports' 9,994 lines). In memory (and to the Parquet writer) they are carried dictionary-encoded: the same
# strings, but trimming, sorting and grouping work on small integers, and the date sort moves 4-byte indices.
# Encoding product_id and postal_code too made the core 5-7% faster and its peak 8-10% lower at 1M and 5M
# rows (docs/benchmarks.md, session 25). The order id stays plain text: it is close to unique per line.
DICTIONARY_COLUMNS: frozenset[str] = frozenset(
    {
        *("ship_mode", "segment", "country", "city", "state", "postal_code"),
        *("region", "category", "sub_category", "product_id", "source_key"),
    }
)

# The schema of the typed tables the pipeline core hands around: DATASET_SCHEMA with DICTIONARY_COLUMNS encoded.
MEMORY_SCHEMA: pa.Schema = pa.schema(
    [f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in DICTIONARY_COLUMNS else f for f in DATASET_SCHEMA]
)

_ATHENA_TYPES: Mapping[pa.DataType, str] = {
    pa.string(): "string",
    pa.date32(): "date",
    pa.float64(): "double",
    pa.int64(): "bigint",
    pa.timestamp("ms"): "timestamp",
}

# Glue/Athena types of the table's columns and of its partition key.
GLUE_COLUMN_TYPES: dict[str, str] = {f.name: _ATHENA_TYPES[f.type] for f in DATASET_SCHEMA}
GLUE_PARTITION_TYPES: dict[str, str] = {PARTITION_COLUMN: "string"}

COLUMN_COMMENTS: dict[str, str] = {
    "profit": "(list_price * (1 - discount_percent/100) - cost_price) * quantity",
    "source_key": "S3 key of the input object this line was loaded from",
    "ingested_at": "UTC time of the S3 event that delivered the source object",
    "ingest_date": "UTC date of the S3 event (partition key)",
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_header(name: str) -> str:
    """Map one header cell to its snake_case column name.

    Case, surrounding spaces, a UTF-8 BOM and runs of space/hyphen/underscore
    are ignored: ``" Sub-Category"`` and ``"sub_category"`` both give
    ``"sub_category"``.
    """
    return _SEPARATORS.sub("_", name.replace("\ufeff", "").strip().lower()).strip("_")


def map_header(header: Iterable[str]) -> dict[str, int]:
    """Return ``{known column: position}`` for a file's header row.

    Unknown columns are left out (they never reach the dataset). Raises
    ``DuplicateColumnError`` when two cells name the same known column and
    ``MissingColumnsError`` when a required column is absent.
    """

    positions: dict[str, int] = {}
    known = set(INPUT_COLUMNS)
    for position, cell in enumerate(header):
        column = normalize_header(cell)
        if column not in known:
            continue
        if column in positions:
            raise DuplicateColumnError(f"column {column!r} appears more than once in the header")
        positions[column] = position
    missing = sorted(REQUIRED_COLUMNS - positions.keys())
    if missing:
        raise MissingColumnsError(f"missing required column(s): {', '.join(missing)}")
    return positions
