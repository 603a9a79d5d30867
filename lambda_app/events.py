"""S3 event notifications: decoding the ones S3 sends, and building them the way S3 does (for local runs).

Decoding uses AWS Lambda Powertools' typed view (``S3Event``); object keys
arrive URL-encoded and are decoded with ``unquote_plus`` here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from lambda_app.pipeline import ObjectEvent


@dataclass(frozen=True)
class Skipped:
    """A record (or a whole message) that is not an object to load, and why."""

    key: str | None
    reason: str


def parse_event(event: dict[str, Any]) -> tuple[list[ObjectEvent], list[Skipped]]:
    """Split an S3 notification into objects to load and records to skip (with reasons).

    Skipped: S3's ``s3:TestEvent`` message, non-``ObjectCreated`` records,
    folder placeholders (``dir/``) and keys not ending in ``.csv`` (any case).
    """
    from aws_lambda_powertools.utilities.data_classes import S3Event

    if event.get("Event") == "s3:TestEvent" or "Records" not in event:
        return [], [Skipped(key=None, reason="not_an_object_event")]
    objects: list[ObjectEvent] = []
    skipped: list[Skipped] = []
    for record in S3Event(event).records:
        key = unquote_plus(record.s3.get_object.key)  # keys arrive URL-encoded (spaces as "+")
        if not record.event_name.startswith("ObjectCreated:"):
            skipped.append(Skipped(key, f"event {record.event_name} is not an object creation"))
        elif key.endswith("/"):
            skipped.append(Skipped(key, "folder placeholder"))
        elif not key.lower().endswith(".csv"):
            skipped.append(Skipped(key, "not a .csv key"))
        else:
            raw = record.s3.get_object.raw_event
            objects.append(
                ObjectEvent(
                    bucket=record.s3.bucket.name,
                    key=key,
                    event_time=_parse_time(record.event_time),
                    sequencer=raw.get("sequencer"),
                    size=raw.get("size"),
                    etag=raw.get("eTag"),
                    version_id=raw.get("versionId"),
                )
            )
    return objects, skipped


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def object_created_record(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    event_time: datetime,
    sequencer: str,
    region: str = "us-east-1",
    version_id: str | None = None,
) -> dict[str, Any]:
    """One ``ObjectCreated:Put`` record exactly as S3 sends it (event version 2.1, key URL-encoded)."""
    request_id = hashlib.sha1(f"{bucket}/{key}/{sequencer}".encode()).hexdigest()[:16].upper()  # noqa: S324 - an id, not security
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": sequencer}
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{event_time.microsecond // 1000:03d}Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAORDERSANALYTICSLOCAL"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id.lower()},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "orders-csv-uploaded",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "AORDERSANALYTICS"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
