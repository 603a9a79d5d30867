"""S3 event notifications built the way S3 sends them, and the envelopes around them (for local runs and tests).

The runtime decodes them (``lambda_app.events``); this module only builds.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus


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
    """An S3 notification holding ``records``."""
    return {"Records": list(records)}


def sqs_batch(
    *bodies: dict[str, Any], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:orders-input"
) -> dict[str, Any]:
    """An SQS event source mapping's batch, one message per body (as the mapping delivers it)."""
    records = []
    for index, body in enumerate(bodies):
        text = json.dumps(body)
        message_id = hashlib.sha1(f"{index}:{text}".encode()).hexdigest()  # noqa: S324 - an id, not security
        records.append(
            {
                "messageId": str(uuid.UUID(message_id[:32])),
                "receiptHandle": f"AQEB{message_id}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764150000000",
                    "SenderId": "AIDAORDERSANALYTICSLOCAL",
                    "ApproximateFirstReceiveTimestamp": "1764150000001",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}
