"""Where things live in the output bucket. Pure functions of settings, sources and dates.

Everything written about one input object is named after its source: the
input bucket and key. Two sources never share a name (the bucket is part of
it), and no name is longer than S3's limit of 1024 UTF-8 bytes: a key too long
to fit is cut and followed by ``~`` and a hash of the whole source, which the
manifest records in full.
"""

from __future__ import annotations

import hashlib
from datetime import date

from lambda_app.schema import PARTITION_COLUMN
from lambda_app.settings import Settings

MAX_KEY_BYTES = 1024  # S3's limit for an object key, in UTF-8 bytes


def source_id(bucket: str, key: str) -> str:
    """Stable, path-safe id of one input object key (16 hex digits of SHA-256 of ``bucket/key``)."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:16]


def named(prefix: str, bucket: str, key: str, suffix: str) -> str:
    """``<prefix><bucket>/<key><suffix>``, with the key cut (and hashed) where the whole would pass 1024 bytes."""
    whole = f"{prefix}{bucket}/{key}{suffix}"
    if len(whole.encode()) <= MAX_KEY_BYTES:
        return whole
    marker = f"~{source_id(bucket, key)}"
    room = MAX_KEY_BYTES - len(f"{prefix}{bucket}/{marker}{suffix}".encode())
    cut = key.encode()[: max(room, 0)].decode(errors="ignore")  # never half a character
    return f"{prefix}{bucket}/{cut}{marker}{suffix}"


def partition_value(day: date) -> str:
    return day.isoformat()


def partition_prefix(settings: Settings, day: date) -> str:
    """Key prefix of one day's dataset partition, e.g. ``dataset/orders/ingest_date=2026-11-26/``."""
    return f"{settings.dataset_prefix}{PARTITION_COLUMN}={partition_value(day)}/"


def source_prefix(settings: Settings, day: date, sid: str) -> str:
    """Key prefix of the Parquet objects every attempt of one source wrote into a day's partition."""
    return f"{partition_prefix(settings, day)}{sid}_"


def attempt_prefix(settings: Settings, day: date, sid: str, attempt: str) -> str:
    """Key prefix of the Parquet objects one attempt of one source wrote into a day's partition."""
    return f"{source_prefix(settings, day, sid)}{attempt}_"


def attempt_name(sid: str, attempt: str) -> str:
    """``<source_id>_<attempt>``: one attempt of one source, as its objects' names begin."""
    return f"{sid}_{attempt}"


def _dated(prefix: str, day: date) -> str:
    return f"{prefix}{day:%Y/%m/%d}/"


def report_key(settings: Settings, day: date, report: str) -> str:
    return f"{_dated(settings.reports_prefix, day)}{report}.csv"


def rejects_folder(settings: Settings, day: date) -> str:
    return f"{settings.rejects_prefix}{PARTITION_COLUMN}={partition_value(day)}/"


ATTEMPT_ID_LENGTH = 12  # hex digits
_REJECTS_SUFFIX = ".rejects.csv"


def rejects_key(settings: Settings, day: date, bucket: str, key: str, attempt: str) -> str:
    """The rejected rows of one loaded attempt (the manifest names it)."""
    return named(rejects_folder(settings, day), bucket, key, f".{attempt}{_REJECTS_SUFFIX}")


def rejects_prefix(settings: Settings, day: date, bucket: str, key: str) -> str:
    """What every attempt's :func:`rejects_key` of one source in a day starts with (other keys may share it)."""
    placeholder = "0" * ATTEMPT_ID_LENGTH  # attempt ids have a fixed length, so the cut is the same for all
    whole = rejects_key(settings, day, bucket, key, placeholder)
    return whole[: -len(placeholder + _REJECTS_SUFFIX)]


def attempt_of_rejects(rejects_object: str) -> str | None:
    """The attempt id inside a rejects object's name, or ``None`` when the name is not one."""
    if not rejects_object.endswith(_REJECTS_SUFFIX):
        return None
    stem = rejects_object[: -len(_REJECTS_SUFFIX)]
    return stem[-ATTEMPT_ID_LENGTH:] if len(stem) > ATTEMPT_ID_LENGTH else None


def manifest_key(settings: Settings, day: date, bucket: str, key: str) -> str:
    return named(_dated(settings.runs_prefix, day), bucket, key, ".json")


def error_key(settings: Settings, day: date, bucket: str, key: str) -> str:
    return named(_dated(settings.errors_prefix, day), bucket, key, ".json")


def error_rejects_key(settings: Settings, day: date, bucket: str, key: str, attempt: str) -> str:
    """The rejected rows of a file that was refused as a whole, beside its error record."""
    return named(_dated(settings.errors_prefix, day), bucket, key, f".{attempt}.rejects.csv")


def state_key(settings: Settings, sid: str) -> str:
    return f"{settings.state_prefix}sources/{sid}.json"


def partials_folder(settings: Settings, day: date) -> str:
    """Where the report partials of a day's attempts live (beside the state: never under the table's location)."""
    return f"{settings.state_prefix}partials/{PARTITION_COLUMN}={partition_value(day)}/"


def partial_prefix(settings: Settings, day: date, sid: str) -> str:
    """What the report partial of every attempt of one source in a day starts with."""
    return f"{partials_folder(settings, day)}{sid}_"


_PARTIAL_SUFFIX = ".parquet"


def partial_key(settings: Settings, day: date, sid: str, attempt: str) -> str:
    """The report partial of one attempt (``lambda_app.report_partials``): its share of the day's reports."""
    return f"{partial_prefix(settings, day, sid)}{attempt}{_PARTIAL_SUFFIX}"


def attempt_of_partial(settings: Settings, day: date, sid: str, key: str) -> str | None:
    """The attempt id in a partial's key, or ``None`` when the key is not one of that source's partials."""
    prefix = partial_prefix(settings, day, sid)
    if not key.startswith(prefix) or not key.endswith(_PARTIAL_SUFFIX):
        return None
    return key[len(prefix) : -len(_PARTIAL_SUFFIX)] or None


def report_checkpoint_key(settings: Settings, day: date) -> str:
    """The merged partial of a day's committed attempts, as the last refresh left it (a cache, see daily_reports)."""
    return f"{settings.state_prefix}reports/{PARTITION_COLUMN}={partition_value(day)}.parquet"


def commit_mark_key(settings: Settings, day: date) -> str:
    """The day's commit mark: rewritten with a new token after every commit that changes the day's loads.

    A report refresh reads it before and after it computes; the same token both
    times means no commit reached the day in between (``daily_reports``).
    """
    return f"{settings.state_prefix}commits/{PARTITION_COLUMN}={partition_value(day)}.json"
