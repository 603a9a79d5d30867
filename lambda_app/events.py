"""Every envelope an object-created notification arrives in, decoded record by record.

Accepted, as first-class inputs (fixtures in ``tests/fixtures/events/``):

* a direct S3 notification (``{"Records": [{"eventSource": "aws:s3", ...}]}``) and S3's ``s3:TestEvent``;
* an SQS batch whose message bodies are S3 notifications, SNS notifications of
  them (SNS -> SQS without raw delivery), or EventBridge events;
* an SNS notification (``{"Records": [{"EventSource": "aws:sns", ...}]}``);
* an EventBridge ``Object Created`` event from ``aws.s3``.

:func:`parse_event` returns one :class:`Message` per unit the caller must
answer for (an SQS message, or the whole invocation otherwise), each with the
objects to load and the records skipped, with a reason. A malformed record is
skipped with a logged reason and never stops the records beside it. S3
notifications URL-encode keys (spaces as ``+``): they are decoded with
``unquote_plus``, for EventBridge's ``detail.object.key`` too (as Powertools'
``S3EventBridgeNotificationObject.key`` does).

Uses AWS Lambda Powertools' typed views of each envelope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import SNSEvent, SQSEvent
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent, S3EventRecord

from lambda_app.model import ObjectEvent


@dataclass(frozen=True)
class Skipped:
    """A record (or a whole message) that is not an object to load, and why."""

    key: str | None
    reason: str
    bucket: str | None = None


@dataclass
class Message:
    """What one delivery unit holds: an SQS message (``message_id``), or a direct invocation (``None``)."""

    message_id: str | None
    objects: list[ObjectEvent] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def parse_event(event: Any) -> list[Message]:
    """Decode an invocation's event into messages of objects to load and skipped records."""
    if not isinstance(event, dict):
        return [Message(None, skipped=[Skipped(None, "malformed_event: not a JSON object")])]
    records = event.get("Records")
    if isinstance(records, list) and records and all(_source(r) == "aws:sqs" for r in records):
        return [_sqs_message(record) for record in SQSEvent(event).records]
    message = Message(None)
    _decode(event, message)
    return [message]


def _source(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    value = record.get("eventSource") or record.get("EventSource")
    return str(value) if value else None


def _sqs_message(record: Any) -> Message:
    message = Message(str(record.message_id))
    try:
        body = json.loads(record.body)
    except (TypeError, ValueError):
        message.skipped.append(Skipped(None, "malformed_message: the SQS body is not JSON"))
        return message
    _decode(body, message)
    return message


def _decode(document: Any, message: Message) -> None:
    """Add what one notification document holds to ``message`` (recursing through SNS wrappers)."""
    if not isinstance(document, dict):
        message.skipped.append(Skipped(None, "malformed_event: not a JSON object"))
    elif document.get("Event") == "s3:TestEvent":
        message.skipped.append(Skipped(None, "not_an_object_event"))
    elif document.get("Type") == "Notification" and "Message" in document:  # SNS body inside SQS
        _decode_json(document.get("Message"), message, "SNS message")
    elif document.get("source") == "aws.s3" and "detail" in document:
        _eventbridge(document, message)
    elif isinstance(document.get("Records"), list) and document["Records"]:
        for record in document["Records"]:
            _record(record, message)
    else:
        message.skipped.append(Skipped(None, "not_an_object_event"))


def _decode_json(text: Any, message: Message, what: str) -> None:
    try:
        inner = json.loads(text)
    except (TypeError, ValueError):
        message.skipped.append(Skipped(None, f"malformed_message: the {what} is not JSON"))
        return
    _decode(inner, message)


def _record(record: Any, message: Message) -> None:
    source = _source(record)
    if source == "aws:sns":
        for sns in SNSEvent({"Records": [record]}).records:
            try:
                text = sns.sns.message
            except (KeyError, TypeError):
                message.skipped.append(Skipped(None, "malformed_record: an SNS record without a message"))
                continue
            _decode_json(text, message, "SNS message")
        return
    if source != "aws:s3":
        message.skipped.append(Skipped(None, f"malformed_record: event source {source!r} is not aws:s3"))
        return
    try:
        decoded = _s3_record(S3EventRecord(record))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        message.skipped.append(Skipped(None, f"malformed_record: {type(exc).__name__} {_describe(exc)}"))
        return
    if isinstance(decoded, Skipped):
        message.skipped.append(decoded)
    else:
        message.objects.append(decoded)


def _describe(exc: BaseException) -> str:
    """A short, content-free description: which field was missing or bad (never the record's values)."""
    if isinstance(exc, KeyError):
        return f"(missing {exc.args[0]!r})" if exc.args else ""
    return "(a field has the wrong type or format)"


def _s3_record(record: S3EventRecord) -> ObjectEvent | Skipped:
    obj = record.s3.get_object
    bucket = record.s3.bucket.name
    key = unquote_plus(obj.key)  # S3 notifications URL-encode keys (spaces as "+")
    if not record.event_name.startswith("ObjectCreated:"):
        return Skipped(key, f"event {record.event_name} is not an object creation", bucket)
    checked = _object_key_skip(bucket, key)
    if checked is not None:
        return checked
    raw = obj.raw_event
    return ObjectEvent(
        bucket=bucket,
        key=key,
        event_time=parse_time(record.event_time),
        sequencer=raw.get("sequencer"),
        size=raw.get("size"),
        etag=raw.get("eTag"),
        version_id=raw.get("versionId"),
    )


def _eventbridge(document: dict[str, Any], message: Message) -> None:
    try:
        event = S3EventBridgeNotificationEvent(document)
        if event.detail_type != "Object Created":
            message.skipped.append(Skipped(None, f"event {event.detail_type} is not an object creation"))
            return
        detail = event.detail
        bucket, key = detail.bucket.name, detail.object.key  # Powertools decodes it (unquote_plus)
        checked = _object_key_skip(bucket, key)
        if checked is not None:
            message.skipped.append(checked)
            return
        raw = detail.object.raw_event
        message.objects.append(
            ObjectEvent(
                bucket=bucket,
                key=key,
                event_time=parse_time(event.time),
                sequencer=raw.get("sequencer"),
                size=raw.get("size"),
                etag=raw.get("etag"),
                version_id=raw.get("version-id"),
            )
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        message.skipped.append(Skipped(None, f"malformed_record: {type(exc).__name__} {_describe(exc)}"))


def _object_key_skip(bucket: str, key: str) -> Skipped | None:
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise ValueError("empty bucket or key")
    if key.endswith("/"):
        return Skipped(key, "folder placeholder", bucket)
    if not key.lower().endswith(".csv"):
        return Skipped(key, "not a .csv key", bucket)
    return None


def parse_time(value: str) -> datetime:
    """An event's ISO-8601 time (``Z`` or an offset; naive means UTC). ``ValueError`` when it is not one."""
    if not isinstance(value, str):
        raise TypeError("eventTime is not text")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
