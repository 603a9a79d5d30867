"""Decoding real S3 event JSON: URL-encoded keys, test events, non-CSV keys, several records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from lambda_app.events import Skipped, parse_event
from lambda_app.model import ObjectEvent, sequencer_is_older
from orders_tools.s3_events import object_created_record, s3_event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def split(event: object) -> tuple[list[ObjectEvent], list[Skipped]]:
    """Objects and skipped records of every message of an event."""
    messages = parse_event(event)
    return [o for m in messages for o in m.objects], [s for m in messages for s in m.skipped]


def test_aws_documented_put_event_is_decoded() -> None:
    event = json.loads((FIXTURES / "s3_put_event.json").read_text())
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
    assert sequencer_is_older("0055AED6DCD90281E5", "0055AED6DCD90281E6")
    assert sequencer_is_older("FF", "0100")  # shorter value is left-padded
    assert not sequencer_is_older("0100", "FF")
    assert not sequencer_is_older("AB", "AB")
    assert not sequencer_is_older(None, "AB")
