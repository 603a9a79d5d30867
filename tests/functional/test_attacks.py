"""The independent attack's cases (issue "every promise holds under attack"), each with its expected outcome.

Every scenario runs twice (``world``): on the in-memory storage and on the real AWS
adapter against moto. The in-memory storage answers as S3 does where moto is lenient
(it refuses keys over 1024 bytes).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from lambda_app import paths
from orders_tools import s3_events
from tests.fakes import FaultyStorage
from tests.helpers import EVENT_TIME, World, csv_bytes, line, manifest_key, report_rows

DAY = "2026/11/26"


class Killed(BaseException):
    """A timeout or out-of-memory kill in the middle of a write."""


@pytest.fixture
def aws(world: World) -> World:
    return world


def rows(aws: World) -> list[tuple[str, str]]:
    """``(source_key, order_id)`` of every row of every dataset object, duplicates kept."""
    found: list[tuple[str, str]] = []
    for key in aws.output_keys("dataset/"):
        table = pq.read_table(io.BytesIO(aws.read_output(key)), columns=["source_key", "order_id"])
        found += [(r["source_key"], r["order_id"]) for r in table.to_pylist()]
    return sorted(found)


def state(aws: World, key: str, bucket: str | None = None) -> dict[str, Any]:
    sid = paths.source_id(bucket or aws.input_bucket, key)
    return dict(json.loads(aws.read_output(f"state/sources/{sid}.json")))


def wrap(aws: World) -> FaultyStorage:
    if not isinstance(aws.storage, FaultyStorage):
        aws.storage = FaultyStorage(aws.storage)
    return aws.storage


def test_b15_an_older_event_committing_last_never_replaces_the_newer(aws: World) -> None:
    """Expected: v1's invocation is between its writes and its commit when v2's runs to the end; v1 then
    loses the compare-and-swap, deletes its own objects and answers "stale_event". The key holds v2's rows,
    the state names v2's event, and v2's redelivery answers its recorded result (no retry is skipped)."""
    head1 = aws.upload("orders.csv", csv_bytes(line("V1-a"), line("V1-b")))
    event1 = aws.object_created_event("orders.csv", head1, EVENT_TIME)
    head2 = aws.upload("orders.csv", csv_bytes(line("V2-a")))
    event2 = aws.object_created_event("orders.csv", head2, EVENT_TIME + timedelta(seconds=1))
    faulty = wrap(aws)
    answers: list[dict[str, Any]] = []

    def newer_runs_meanwhile(*_: Any, **__: Any) -> None:
        if not answers:
            aws.storage = faulty.inner
            try:
                answers.append(aws.deliver(event2))
            finally:
                aws.storage = faulty

    faulty.before("add_partition", newer_runs_meanwhile)
    older = aws.deliver(event1)
    aws.storage = faulty.inner
    assert answers[0]["files"][0]["status"] == "loaded"
    assert older["files"][0]["reason"] == "stale_event"
    assert rows(aws) == [("orders.csv", "V2-a")]
    assert state(aws, "orders.csv")["sequencer"] == event2["Records"][0]["s3"]["object"]["sequencer"]
    again = aws.deliver(event2)
    assert again["files"] == answers[0]["files"]
    assert rows(aws) == [("orders.csv", "V2-a")]


@pytest.mark.parametrize("then", ["rejected", "gone"])
def test_b16_a_killed_attempts_objects_never_stay_beside_the_previous_version(
    aws: World, then: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: v1 is loaded; v2's invocation is killed after writing one Parquet object (no clean-up runs:
    its objects are debris, tracked as pending). When the key's next event is a refused file ("rejected"),
    or v2's own retry finds the object gone ("gone"), that decision sweeps the debris: the dataset holds
    exactly v1 again, nothing is pending, and the reports count v1 once."""
    monkeypatch.setenv("ROWS_PER_FILE", "1")  # an object per piece of 1 KiB, so the kill comes mid-file
    monkeypatch.setenv("CSV_BLOCK_BYTES", "1024")
    head = aws.upload("orders.csv", csv_bytes(line("V1-a"), line("V1-b")))
    aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME))
    head2 = aws.upload("orders.csv", csv_bytes(*(line(f"V2-{i}") for i in range(20))))
    event2 = aws.object_created_event("orders.csv", head2, EVENT_TIME + timedelta(seconds=1))
    faulty = wrap(aws)
    written: list[str] = []

    def kill_after_first_object(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        if key.startswith("dataset/"):
            if written:
                raise Killed
            written.append(key)

    faulty.before("put", kill_after_first_object)
    with pytest.raises(Killed):
        aws.deliver(event2)
    aws.storage = faulty.inner
    assert len(state(aws, "orders.csv")["pending"]) == 1  # the debris is known

    if then == "rejected":
        bad = aws.upload("orders.csv", csv_bytes("x,2023-01-01", header="Order Id,Order Date"))
        summary = aws.deliver(aws.object_created_event("orders.csv", bad, EVENT_TIME + timedelta(seconds=2)))
        assert summary["files"][0]["status"] == "rejected_file"
    else:
        aws.delete_input("orders.csv")
        summary = aws.deliver(event2)  # Lambda's retry of the killed invocation
        assert summary["files"][0]["reason"] == "object_missing"
    assert rows(aws) == [("orders.csv", "V1-a"), ("orders.csv", "V1-b")]
    assert state(aws, "orders.csv").get("pending") == {}
    assert report_rows(aws, "most_profitable_region")[1:] == [["West", "59.20"]]  # v1's two lines, once


def test_b13_one_key_in_two_input_buckets_keeps_two_sets_of_records(aws: World) -> None:
    """Expected: "orders.csv" in the input bucket and in a second bucket are two sources: each gets its
    own rows, rejects, manifest and state; the second never deletes or overwrites the first's."""
    other = "orders-input-second"
    aws.create_bucket(other)
    body = csv_bytes(line("A-1"), line("A-2"), line("A-3"), line("A-4"), line("A-bad", quantity="0"))
    head = aws.upload("orders.csv", body)
    aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME))
    head = aws.upload("orders.csv", body.replace(b"A-", b"B-"), bucket=other)
    aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME, bucket=other))
    assert len(rows(aws)) == 8
    manifests = aws.output_keys(f"runs/{DAY}/")
    assert manifests == sorted(
        [f"runs/{DAY}/{aws.input_bucket}/orders.csv.json", f"runs/{DAY}/{other}/orders.csv.json"]
    )
    rejects = [k for k in aws.output_keys("rejects/") if k.endswith(".rejects.csv")]
    assert len(rejects) == 2 and {k.split("/")[2] for k in rejects} == {aws.input_bucket, other}
    first = json.loads(aws.read_output(manifests[0]))
    assert (first["bucket"], first["rows_loaded"], first["rows_rejected"]) == (aws.input_bucket, 4, 1)


def test_b14_a_key_near_s3s_limit_gets_bounded_output_names(aws: World) -> None:
    """Expected: an input key of 1,000 bytes (valid in S3) loads; every output name stays within S3's
    1,024-byte limit (the in-memory storage refuses longer keys, as S3 does: KeyTooLongError), the manifest
    holds the whole key, and no event is retried."""
    key = "incoming/" + "é" * 300 + "x" * 387 + ".csv"
    assert len(key.encode()) == 1000
    head = aws.upload(key, csv_bytes(line("L-1"), line("L-2"), line("L-3"), line("L-4"), line("L-x", quantity="0")))
    summary = aws.deliver(aws.object_created_event(key, head, EVENT_TIME))
    assert summary["files"][0]["status"] == "loaded"
    assert all(len(k.encode()) <= paths.MAX_KEY_BYTES for k in aws.output_keys())
    [manifest] = aws.output_keys(f"runs/{DAY}/")
    assert json.loads(aws.read_output(manifest))["key"] == key
    assert any(k.endswith(".rejects.csv") for k in aws.output_keys("rejects/"))


def test_b12_a_deleted_object_is_skipped_as_missing_and_not_retried(aws: World) -> None:
    """Expected: an event whose object was deleted before it ran answers "object_missing" (no exception, so
    no retry and no failure-queue entry), and writes nothing but the source's state."""
    head = aws.upload("gone.csv", csv_bytes(line("G-1")))
    aws.delete_input("gone.csv")
    summary = aws.deliver(aws.object_created_event("gone.csv", head, EVENT_TIME))
    assert summary["files"][0]["reason"] == "object_missing"
    assert aws.output_keys("dataset/") == [] and aws.output_keys("runs/") == []


def test_an_event_for_the_output_bucket_is_refused_by_the_loop_guard(aws: World) -> None:
    """Expected: a mis-routed notification for one of the pipeline's own objects is skipped with reason
    "output_bucket..." and writes nothing (no report objects feed the pipeline again)."""
    record = s3_events.object_created_record(
        bucket=aws.output_bucket, key="analytics/2026/11/26/orders_by_category.csv", size=10, etag="e",
        event_time=EVENT_TIME, sequencer="0A",
    )  # fmt: skip
    before = aws.output_keys()
    summary = aws.deliver(s3_events.s3_event(record))
    assert summary["files"] == []
    assert summary["skipped"][0]["reason"].startswith("output_bucket")
    assert aws.output_keys() == before


def test_a_reupload_on_a_later_day_marks_the_first_days_manifest_superseded(aws: World) -> None:
    """Expected: a key loaded on day 1 and re-uploaded on day 2 moves its rows to day 2; day 1's manifest
    no longer says "loaded" with deleted objects: its status is "superseded", naming day 2."""
    head = aws.upload("orders.csv", csv_bytes(line("D1")))
    aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME))
    head = aws.upload("orders.csv", csv_bytes(line("D2")))
    aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME + timedelta(days=1)))
    first = json.loads(aws.read_output(manifest_key(aws, "orders.csv", DAY)))
    assert first["status"] == "superseded"
    assert first["superseded_by"]["ingest_date"] == "2026-11-27"
    second = json.loads(aws.read_output(manifest_key(aws, "orders.csv", "2026/11/27")))
    assert second["status"] == "loaded"
    assert rows(aws) == [("orders.csv", "D2")]


def test_b9_a_bare_cr_in_a_value_stays_inside_its_quoted_report_cell(aws: World) -> None:
    """Expected: a region holding a bare CR and a formula after it is written quoted in the report, so a
    CSV reader sees one row with the whole value; the cell's formula guard applies to the cell."""
    region = "West\r@SUM(1+1)"
    body = csv_bytes(line("CR-1", region=f'"{region}"'), line("CR-2"), line("CR-3"), line("CR-4"))
    head = aws.upload("cr.csv", body)
    summary = aws.deliver(aws.object_created_event("cr.csv", head, EVENT_TIME))
    assert summary["files"][0]["rows_loaded"] == 4
    text = aws.read_output(f"analytics/{DAY}/most_profitable_region.csv").decode()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [["region", "total_profit"], ["West", "88.80"], [region, "29.60"]]


def test_b7_a_profit_that_overflows_is_a_rejected_row(aws: World) -> None:
    """Expected: list price 1e308 times quantity 10 overflows to infinity: the row is rejected with reason
    "invalid_profit" (never an "inf" or "nan" in a report); the other rows load."""
    good = [line(f"OK-{i}") for i in range(4)]
    head = aws.upload("big.csv", csv_bytes(*good, line("HUGE", price="1e308", quantity="10")))
    summary = aws.deliver(aws.object_created_event("big.csv", head, EVENT_TIME))
    assert (summary["files"][0]["rows_loaded"], summary["files"][0]["rows_rejected"]) == (4, 1)
    manifest = json.loads(aws.read_output(manifest_key(aws, "big.csv")))
    assert manifest["rejected_by_reason"] == {"invalid_profit": 1}
    assert report_rows(aws, "most_profitable_region")[1:] == [["West", "118.40"]]


def test_b8_a_quantitys_verdict_never_depends_on_its_neighbours(aws: World) -> None:
    """Expected: quantity "00000000001" is 1 whether or not another row of the same block says "+2"."""
    head = aws.upload("alone.csv", csv_bytes(line("Q-1", quantity="00000000001")))
    alone = aws.deliver(aws.object_created_event("alone.csv", head, EVENT_TIME))
    head = aws.upload("mixed.csv", csv_bytes(line("Q-2", quantity="00000000001"), line("Q-3", quantity="+2")))
    mixed = aws.deliver(aws.object_created_event("mixed.csv", head, EVENT_TIME))
    assert alone["files"][0]["rows_loaded"] == 1
    assert mixed["files"][0]["rows_loaded"] == 2


def test_b10_an_sqs_batch_answers_only_the_messages_that_must_be_retried(aws: World) -> None:
    """Expected: a batch of four messages (a good file, a file whose Parquet write fails transiently, a body
    that is not JSON, and an SNS-wrapped notification of another good file) loads both good files, skips
    the malformed message (it can never succeed) and reports exactly the failing message in
    ``batchItemFailures``, so the queue redelivers that one alone."""
    bodies = []
    for key in ("good.csv", "flaky.csv", "sns.csv"):
        head = aws.upload(key, csv_bytes(line(f"{key}-1")))
        bodies.append(aws.object_created_event(key, head, EVENT_TIME))
    sns = {"Type": "Notification", "MessageId": "m-1", "Message": json.dumps(bodies[2])}
    batch = s3_events.sqs_batch(bodies[0], bodies[1], {"not": "an event"}, sns)
    batch["Records"][2]["body"] = "not json {"
    flaky = f"/{paths.source_id(aws.input_bucket, 'flaky.csv')}_"

    def fail_flaky(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        if key.startswith("dataset/") and flaky in key:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")

    wrap(aws).before("put", fail_flaky)
    answer = aws.deliver(batch)
    assert answer == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    assert rows(aws) == [("good.csv", "good.csv-1"), ("sns.csv", "sns.csv-1")]


def test_b11_a_record_with_a_malformed_time_never_stops_the_good_record_beside_it(aws: World) -> None:
    """Expected: in one notification, a record whose eventTime is not a time is skipped with a reason; the
    good record in the same event loads, and the invocation does not fail."""
    head = aws.upload("good.csv", csv_bytes(line("T-1")))
    event = aws.object_created_event("good.csv", head, EVENT_TIME)
    broken = json.loads(json.dumps(event["Records"][0]))
    broken["eventTime"] = "not a time"
    summary = aws.deliver({"Records": [broken, event["Records"][0]]})
    assert [f["status"] for f in summary["files"]] == ["loaded"]
    assert summary["skipped"][0]["reason"].startswith("malformed_record")


def test_rejects_beyond_the_local_spool_limit_are_a_refused_file_not_a_retry_loop(
    aws: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: a file whose rejected rows outgrow MAX_REJECTS_BYTES (here 1 KiB; /tmp in Lambda) is
    refused with reason "rejects_too_large" and an error record; nothing raises, so nothing is retried,
    and nothing is loaded."""
    monkeypatch.setenv("MAX_REJECTS_BYTES", "1024")
    monkeypatch.setenv("CSV_BLOCK_BYTES", "1024")
    monkeypatch.setenv("MAX_REJECT_RATIO", "1")
    lines = [line(f"R-{i}", quantity="0") for i in range(40)] + [line("OK-1")]
    head = aws.upload("many-bad.csv", csv_bytes(*lines))
    summary = aws.deliver(aws.object_created_event("many-bad.csv", head, EVENT_TIME))
    assert (summary["files"][0]["status"], summary["files"][0]["reason"]) == ("rejected_file", "rejects_too_large")
    assert aws.output_keys("dataset/") == []
    assert aws.output_keys(f"errors/{DAY}/")
