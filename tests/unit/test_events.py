"""Decoding real S3 event JSON: URL-encoded keys, test events, non-CSV keys, several records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lambda_app.events import Skipped, parse_event
from lambda_app.model import ObjectEvent, not_newer
from orders_tools.s3_events import object_created_record, s3_event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"


def split(event: object) -> tuple[list[ObjectEvent], list[Skipped]]:
    """Objects and skipped records of every message of an event."""
    messages = parse_event(event)
    return [o for m in messages for o in m.objects], [s for m in messages for s in m.skipped]


def test_aws_documented_put_event_is_decoded() -> None:
    event = json.loads((FIXTURES / "s3_put.json").read_text())
    objects, skipped = split(event)
    assert skipped == []
    [obj] = objects
    assert obj.bucket == "orders-input-123456789012"
    assert obj.key == "incoming/2026/Q4 orders+returns (v2).csv"
    assert obj.event_time == datetime(2026, 11, 26, 23, 59, 58, 120000, tzinfo=UTC)
    assert obj.ingest_date.isoformat() == "2026-11-26"
    assert obj.sequencer == "0055AED6DCD90281E5"
    assert obj.size == 1024


def test_test_event_and_non_csv_keys_are_skipped_with_reasons() -> None:
    objects, skipped = split({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    assert objects == [] and skipped[0].reason == "not_an_object_event"
    when = datetime(2026, 11, 26, tzinfo=UTC)
    records = [
        object_created_record(bucket="b", key=key, size=1, etag="e", event_time=when, sequencer="01")
        for key in ["dir/", "notes.txt", "orders.CSV", "données/été 2026.csv", "a.csv.gz"]
    ]
    objects, skipped = split(s3_event(*records))
    assert [o.key for o in objects] == ["orders.CSV", "données/été 2026.csv"]
    assert [(s.key, s.reason) for s in skipped] == [
        ("dir/", "folder placeholder"),
        ("notes.txt", "not a .csv key"),
        ("a.csv.gz", "not a .csv key"),
    ]


def test_built_records_url_encode_keys_like_s3() -> None:
    record = object_created_record(
        bucket="b", key="a b+c/ü.csv", size=1, etag="e", event_time=datetime(2026, 1, 1, tzinfo=UTC), sequencer="0A"
    )
    assert record["s3"]["object"]["key"] == "a+b%2Bc/%C3%BC.csv"
    assert record["eventTime"] == "2026-01-01T00:00:00.000Z"


def test_sequencers_compare_as_hex_numbers_of_any_length() -> None:
    assert not_newer("0055AED6DCD90281E5", "0055AED6DCD90281E6")
    assert not not_newer("0055AED6DCD90281E6", "0055AED6DCD90281E5")
    assert not_newer("FF", "0100")  # shorter value is left-padded
    assert not not_newer("0100", "FF")
    assert not_newer("AB", "AB")  # the same event: not newer, so a redelivery never loads again
    assert not not_newer(None, "AB") and not not_newer("AB", None)  # unknown: treated as newer
    assert not not_newer("not-hex", "AB")


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


PUT_KEY = "incoming/2026/Q4 orders+returns (v2).csv"


def test_several_records_are_decoded_in_order_and_a_folder_placeholder_is_skipped() -> None:
    objects, skipped = split(fixture("s3_multi_record.json"))
    assert [o.key for o in objects] == [PUT_KEY, "incoming/2026/storeé 7.CSV"]
    assert [(s.key, s.reason) for s in skipped] == [("incoming/2026/", "folder placeholder")]


def test_a_delete_record_is_skipped_with_its_event_name() -> None:
    objects, skipped = split(fixture("s3_delete.json"))
    assert objects == [] and skipped[0].reason == "event ObjectRemoved:Delete is not an object creation"


def test_an_sqs_batch_is_one_message_per_record_with_its_id() -> None:
    """Expected: the S3 notification, S3's test message and a body that is not JSON each stay with their
    message id: one object, and two skips that are answered (not retried)."""
    messages = parse_event(fixture("sqs_s3.json"))
    assert [m.message_id for m in messages] == [
        "059f36b4-87a3-44ab-83d2-661975830a7d",
        "2e1424d4-f796-459a-8184-9c92662be6da",
        "4b1e0b43-4a8d-4c8e-9c8a-4f6a3fe2c9d1",
    ]
    assert [o.key for o in messages[0].objects] == [PUT_KEY]
    assert [s.reason for s in messages[1].skipped] == ["not_an_object_event"]
    assert [s.reason for s in messages[2].skipped] == ["malformed_message: the SQS body is not JSON"]


@pytest.mark.parametrize("name", ["sns_s3.json", "sqs_sns_s3.json", "eventbridge_object_created.json"])
def test_sns_sns_in_sqs_and_eventbridge_envelopes_carry_the_same_object(name: str) -> None:
    """Expected: the same upload, however it is wrapped, decodes to the same bucket, URL-decoded key, day,
    size, version and sequencer."""
    [obj] = split(fixture(name))[0]
    assert (obj.bucket, obj.key, obj.size, obj.version_id, obj.sequencer) == (
        "orders-input-123456789012",
        PUT_KEY,
        1024,
        "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "0055AED6DCD90281E5",
    )
    assert obj.ingest_date.isoformat() == "2026-11-26"


@pytest.mark.parametrize("event", [{"Records": None}, {"Records": []}, {}, [], "text", None])
def test_an_event_with_no_records_is_skipped_not_a_crash(event: object) -> None:
    objects, skipped = split(event)
    assert objects == [] and len(skipped) == 1


def test_a_malformed_record_is_skipped_and_the_records_beside_it_are_decoded() -> None:
    """Expected: a record without "s3" and one whose eventTime is not a time are skipped with a reason
    naming what is wrong (no value of the record); the good record beside them is decoded."""
    objects, skipped = split(fixture("s3_malformed_records.json"))
    assert [o.key for o in objects] == ["incoming/2026/storeé 7.CSV"]
    assert [s.reason.split(":")[0] for s in skipped] == ["malformed_record", "malformed_record"]
    assert "'s3'" in skipped[0].reason
