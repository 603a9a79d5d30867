"""Where things live in the output bucket. Pure functions of settings, keys and dates."""

from __future__ import annotations

import hashlib
from datetime import date

from lambda_app.schema import PARTITION_COLUMN
from lambda_app.settings import Settings


def source_id(bucket: str, key: str) -> str:
    """Stable, path-safe id of one input object key (16 hex digits of SHA-256 of ``bucket/key``)."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:16]


def partition_value(day: date) -> str:
    return day.isoformat()


def partition_prefix(settings: Settings, day: date) -> str:
    """Key prefix of one day's dataset partition, e.g. ``dataset/orders/ingest_date=2026-11-26/``."""
    return f"{settings.dataset_prefix}{PARTITION_COLUMN}={partition_value(day)}/"


def source_file_prefix(settings: Settings, day: date, sid: str) -> str:
    """Key prefix shared by every Parquet object one source key wrote into a day's partition."""
    return f"{partition_prefix(settings, day)}{sid}_"


def _dated(prefix: str, day: date) -> str:
    return f"{prefix}{day:%Y/%m/%d}/"


def report_key(settings: Settings, day: date, report: str) -> str:
    return f"{_dated(settings.reports_prefix, day)}{report}.csv"


def rejects_key(settings: Settings, day: date, key: str) -> str:
    return f"{settings.rejects_prefix}{PARTITION_COLUMN}={partition_value(day)}/{key}.rejects.csv"


def manifest_key(settings: Settings, day: date, key: str) -> str:
    return f"{_dated(settings.runs_prefix, day)}{key}.json"


def error_key(settings: Settings, day: date, key: str) -> str:
    return f"{_dated(settings.errors_prefix, day)}{key}.json"


def error_rejects_key(settings: Settings, day: date, key: str) -> str:
    """The rejected rows of a file that was refused as a whole, beside its error record."""
    return f"{_dated(settings.errors_prefix, day)}{key}.rejects.csv"


def state_key(settings: Settings, sid: str) -> str:
    return f"{settings.state_prefix}sources/{sid}.json"


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
