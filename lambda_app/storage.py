"""The only module that talks to S3 and the Glue Data Catalog (through awswrangler).

Every function takes plain values and returns plain values or Arrow tables,
so the pipeline above it stays free of AWS details. Endpoints and credentials
come from the standard AWS settings (``AWS_ENDPOINT_URL`` points everything
at the local emulator in ``orders-analytics demo``/``run`` and in tests).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import IO, Any, cast

import pyarrow as pa

from lambda_app import paths
from lambda_app.schema import COLUMN_COMMENTS, GLUE_COLUMN_TYPES, GLUE_PARTITION_TYPES, PARTITION_COLUMN
from lambda_app.settings import Settings

# Read-ahead block for streaming input objects: large enough for few GETs,
# small enough to keep memory flat.
READ_BLOCK_BYTES = 16 * 1024**2
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


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD request tells about an object."""

    size: int
    etag: str
    version_id: str | None
    last_modified: str


def _wr() -> Any:
    import awswrangler as wr  # heavy: imported on first use, not at cold start

    return wr


def _client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


def head_object(bucket: str, key: str) -> ObjectInfo | None:
    """Size, ETag and version of an object, or ``None`` when it does not exist (any more)."""
    url = paths.s3_url(bucket, key)
    described = _wr().s3.describe_objects(path=[url], use_threads=False)
    meta = described.get(url)
    if not meta:
        return None
    return ObjectInfo(
        size=int(meta["ContentLength"]),
        etag=str(meta.get("ETag", "")).strip('"'),
        version_id=meta.get("VersionId"),
        last_modified=str(meta.get("LastModified", "")),
    )


@contextmanager
def open_input(bucket: str, key: str, version_id: str | None = None) -> Iterator[IO[bytes]]:
    """Seekable, read-ahead stream of an S3 object (awswrangler's S3 file object)."""
    from awswrangler.s3._fs import open_s3_object  # the reader behind wr.s3.read_csv; pinned version

    with open_s3_object(
        paths.s3_url(bucket, key), mode="rb", version_id=version_id, s3_block_size=READ_BLOCK_BYTES, use_threads=False
    ) as stream:
        yield cast(IO[bytes], stream)


def put_bytes(bucket: str, key: str, body: bytes) -> None:
    _wr().s3.upload(local_file=io.BytesIO(body), path=paths.s3_url(bucket, key), use_threads=False)


def put_json(bucket: str, key: str, document: dict[str, Any]) -> None:
    put_bytes(bucket, key, json.dumps(document, indent=2, sort_keys=True, default=str).encode())


def get_json(bucket: str, key: str) -> dict[str, Any] | None:
    """An object parsed as JSON, or ``None`` when it does not exist."""
    buffer = io.BytesIO()
    try:
        _wr().s3.download(path=paths.s3_url(bucket, key), local_file=buffer, use_threads=False)
    except Exception as exc:
        if _client_error_code(exc) in {"404", "NoSuchKey"}:
            return None
        raise
    return cast(dict[str, Any], json.loads(buffer.getvalue()))


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Keys (not URLs) under a prefix, sorted."""
    urls = _wr().s3.list_objects(paths.s3_url(bucket, prefix))
    start = len(f"s3://{bucket}/")
    return sorted(url[start:] for url in urls)


def delete_keys(bucket: str, keys: list[str]) -> None:
    if keys:
        _wr().s3.delete_objects([paths.s3_url(bucket, k) for k in keys], use_threads=False)


def upload_file(bucket: str, key: str, local_path: str) -> None:
    _wr().s3.upload(local_file=local_path, path=paths.s3_url(bucket, key), use_threads=False)


def encode_parquet(table: pa.Table, sink: str | IO[bytes]) -> None:
    """The dataset's Parquet encoding, in one place (the Lambda's objects and the benchmark's files).

    Snappy, ``ROW_GROUP_ROWS`` row groups, statistics for ``STATISTICS_COLUMNS``.
    ``MEMORY_SCHEMA``'s dictionary-encoded text goes straight to Parquet
    dictionary pages; without the stored Arrow schema, readers see the
    Parquet types, i.e. exactly ``DATASET_SCHEMA`` (strings, ``date``,
    ``timestamp(ms)`` as INT64 with statistics, required columns).
    """
    import pyarrow.parquet as pq

    pq.write_table(
        table,
        sink,
        compression="snappy",
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=list(STATISTICS_COLUMNS),
        store_schema=False,
    )


def write_parquet(settings: Settings, table: pa.Table, day: date, filename_prefix: str) -> list[str]:
    """Write one Arrow table as one snappy Parquet object into the day's partition; return its key.

    Encoded by pyarrow in memory (:func:`encode_parquet`) and uploaded with
    awswrangler: no detour through pandas. The name is
    ``<filename_prefix><uuid>.snappy.parquet``, so a per-attempt prefix never
    touches another file's objects; the pipeline removes superseded objects
    itself. The Glue catalog is updated separately (:func:`ensure_table`,
    :func:`add_partition`) so concurrent writers never race on table updates.
    """
    import uuid

    key = f"{paths.partition_prefix(settings, day)}{filename_prefix}{uuid.uuid4().hex}.snappy.parquet"
    body = io.BytesIO()
    encode_parquet(table, body)
    body.seek(0)
    _wr().s3.upload(local_file=body, path=paths.s3_url(settings.output_bucket, key), use_threads=False)
    return [key]


def iter_parquet(bucket: str, keys: list[str], columns: list[str], batch_rows: int = 1_000_000) -> Iterator[pa.Table]:
    """Stream the given columns of Parquet objects, one record batch at a time."""
    import pyarrow.parquet as pq

    for key in keys:
        with open_input(bucket, key) as stream:
            parquet = pq.ParquetFile(stream)
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                yield pa.Table.from_batches([batch])


def ensure_table(settings: Settings) -> bool:
    """Create the Glue table from ``schema.py`` if it is missing; return True when created.

    Never alters an existing table. A concurrent creator winning the race is fine.
    """
    wr = _wr()
    if wr.catalog.does_table_exist(database=settings.glue_database, table=settings.glue_table):
        return False
    try:
        wr.catalog.create_parquet_table(
            database=settings.glue_database,
            table=settings.glue_table,
            path=settings.dataset_root,
            columns_types=GLUE_COLUMN_TYPES,
            partitions_types=GLUE_PARTITION_TYPES,
            compression="snappy",
            description="Order lines loaded by orders-analytics; one Hive partition per UTC ingestion date.",
            columns_comments=COLUMN_COMMENTS,
            mode="append",  # never "overwrite": that would drop a concurrent creator's partitions
        )
    except Exception as exc:
        if _client_error_code(exc) == "AlreadyExistsException" or "AlreadyExists" in str(exc):
            return False
        raise
    return True


def add_partition(settings: Settings, day: date) -> None:
    """Register the day's partition in Glue (no-op when it is already there)."""
    location = f"{settings.dataset_root}{PARTITION_COLUMN}={paths.partition_value(day)}/"
    _wr().catalog.add_parquet_partitions(
        database=settings.glue_database,
        table=settings.glue_table,
        partitions_values={location: [paths.partition_value(day)]},
        compression="snappy",
    )


def get_table_description(settings: Settings) -> dict[str, Any]:
    """The Glue table and its partitions, as registered (for ``run --out``'s ``_catalog`` file)."""
    import boto3

    glue = boto3.client("glue")
    table = glue.get_table(DatabaseName=settings.glue_database, Name=settings.glue_table)["Table"]
    partitions: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=settings.glue_database, TableName=settings.glue_table
    ):
        partitions.extend(page["Partitions"])
    return {
        "database": settings.glue_database,
        "table": settings.glue_table,
        "location": table["StorageDescriptor"]["Location"],
        "columns": table["StorageDescriptor"]["Columns"],
        "partition_keys": table.get("PartitionKeys", []),
        "parameters": table.get("Parameters", {}),
        "partitions": sorted(
            ({"values": p["Values"], "location": p["StorageDescriptor"]["Location"]} for p in partitions),
            key=lambda p: p["values"],
        ),
    }
