"""Replays, re-uploads, out-of-order events, concurrency and failures in the middle of a write.

The promise: whatever S3 delivers (twice, late, out of order, at the same time)
and wherever a write fails, once Lambda's retry has run the dataset holds
exactly one copy of the latest content of each key, and the day's reports equal
a plain-Python reference computed from that content.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import awswrangler as wr
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from lambda_app import paths
from lambda_app.errors import RecordsFailedError
from lambda_app.schema import DATASET_SCHEMA
from orders_tools import s3_events
from orders_tools.emulator import LocalAws
from tests import reference
from tests.fakes import FaultyStorage, fail_after
from tests.helpers import (
    EVENT_TIME,
    World,
    csv_bytes,
    line,
    manifest_key,
    output_keys,
    read_output,
    rejects_key,
    report_rows,
)

DAY = "2026/11/26"
REPORTS = ("most_profitable_region", "shipping_method_by_category", "orders_by_category")


@dataclass(frozen=True)
class Order:
    """One input line; knows its CSV text and what it should contribute to the reports."""

    order_id: str
    region: str = "West"
    category: str = "Furniture"
    sub_category: str = "Bookcases"
    ship_mode: str = "Standard Class"
    quantity: str = "2"
    valid: bool = True

    def csv(self) -> str:
        return line(
            self.order_id,
            region=self.region,
            category=self.category,
            sub_category=self.sub_category,
            ship_mode=self.ship_mode,
            quantity=self.quantity if self.valid else "0",
        )

    def ref(self) -> reference.RefLine:
        return reference.RefLine(
            order_id=self.order_id,
            region=self.region,
            category=self.category,
            sub_category=self.sub_category,
            ship_mode=reference.ship_mode_value(self.ship_mode),
            profit=reference.line_profit("240", "260", self.quantity, "2"),
        )


def body(*orders: Order) -> bytes:
    return csv_bytes(*(o.csv() for o in orders))


def dataset_rows(aws: World) -> list[tuple[str, str, str]]:
    """``(source_key, order_id, ingest_date)`` of every row in the dataset, sorted (duplicates kept)."""
    found: list[tuple[str, str, str]] = []
    for key in output_keys(aws, "dataset/"):
        day = key.split("ingest_date=")[1].split("/")[0]
        table = pq.read_table(io.BytesIO(read_output(aws, key)), columns=["source_key", "order_id"])
        found.extend((r["source_key"], r["order_id"], day) for r in table.to_pylist())
    return sorted(found)


def expected_rows(files: dict[str, tuple[Order, ...]], day: str = "2026-11-26") -> list[tuple[str, str, str]]:
    return sorted((key, o.order_id, day) for key, orders in files.items() for o in orders if o.valid)


def assert_reports_match(aws: World, *orders: Order, day: str = DAY) -> None:
    """The day's three report CSVs equal the reference computed from the good lines only."""
    expected = reference.report_rows(o.ref() for o in orders if o.valid)
    for name in REPORTS:
        assert report_rows(aws, name, day)[1:] == expected[name], name


def json_object(aws: World, key: str) -> dict[str, Any]:
    return dict(json.loads(read_output(aws, key)))


def state(aws: World, key: str) -> dict[str, Any]:
    return json_object(aws, f"state/sources/{paths.source_id(aws.input_bucket, key)}.json")


def manifest(aws: World, key: str, day: str = DAY) -> dict[str, Any]:
    document = json_object(aws, manifest_key(aws, key, day))
    assert document["rows_read"] == document["rows_loaded"] + document["rows_rejected"]
    return document


def assert_objects_are_the_manifests(aws: World, *keys: str) -> None:
    """Every dataset object belongs to the last successful attempt of its key: no debris, no duplicates."""
    listed: list[str] = []
    for key in keys:
        attempt = state(aws, key)["attempt"]
        written = [k for k in manifest(aws, key)["objects_written"] if k.startswith("dataset/")]
        assert written and all(f"/{paths.source_id(aws.input_bucket, key)}_{attempt}_" in k for k in written)
        listed += written
    assert output_keys(aws, "dataset/") == sorted(listed)


def deliver_all(aws: World, event: dict[str, Any]) -> dict[str, Any] | BaseException:
    """Deliver and return the summary, or the exception Lambda would see (for threads)."""
    try:
        return aws.deliver(event)
    except RecordsFailedError as exc:
        return exc


def inject(aws: World, method: str, action: Callable[..., None], when: Callable[..., bool]) -> Callable[[], None]:
    """Run ``action`` before the storage port's ``method`` when ``when(*args)``; return a restore."""
    if not isinstance(aws.storage, FaultyStorage):
        aws.storage = FaultyStorage(aws.storage)
    return aws.storage.before(method, action, when)


def _dataset_key(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return key.startswith("dataset/")


@pytest.fixture
def aws(world: World) -> World:
    """Every scenario here runs twice: on the in-memory storage and on the real AWS adapter against moto."""
    return world


@pytest.fixture
def small_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 KiB read blocks and a Parquet object per block (about 6 rows), so one file becomes several
    objects and a write can fail midway."""
    monkeypatch.setenv("CSV_BLOCK_BYTES", "1024")
    monkeypatch.setenv("ROWS_PER_FILE", "2")


# Version 1 and a corrected version 2 of one key, and another file of the same day. Orders have
# several lines (order id i // 2), so the distinct-order counts differ from line counts.
V1 = (
    *(Order(f"A{i // 2}", region=("West", "East", "Central")[i % 3], ship_mode="Second Class") for i in range(12)),
    Order("A-bad", valid=False),
)
V2 = (
    *(
        Order(f"A{i // 2}", region=("South", "West")[i % 2], category="Technology", sub_category=f"S{i % 3}")
        for i in range(2, 20)
    ),
    Order("A-bad-2", valid=False),
)
OTHER = (Order("B1", region="Central", ship_mode="First Class"), Order("B2", region="Central"))


# --- replays and re-uploads ------------------------------------------------------------------


def test_the_same_event_delivered_twice_keeps_one_copy(aws: World, small_objects: None) -> None:
    """Expected: the second delivery replaces the first one's objects; one copy of each row; same reports."""
    head = aws.upload("orders.csv", body(*V1))
    event = aws.object_created_event("orders.csv", head, EVENT_TIME)
    first = aws.deliver(event)
    reports_after_first = {name: report_rows(aws, name) for name in REPORTS}
    second = aws.deliver(event)
    assert first["files"] == second["files"]
    assert second["files"][0]["rows_loaded"] == 12 and second["files"][0]["rows_rejected"] == 1
    assert len(manifest(aws, "orders.csv")["objects_written"]) >= 3  # several Parquet objects + rejects
    assert dataset_rows(aws) == expected_rows({"orders.csv": V1})
    assert_objects_are_the_manifests(aws, "orders.csv")
    assert {name: report_rows(aws, name) for name in REPORTS} == reports_after_first
    assert_reports_match(aws, *V1)
    assert state(aws, "orders.csv")["sequencer"] == event["Records"][0]["s3"]["object"]["sequencer"]


def test_identical_reupload_keeps_one_copy(aws: World, small_objects: None) -> None:
    """Expected: a new event for the same key and bytes (same ETag) leaves one copy and the same reports."""
    for _ in range(2):
        head = aws.upload("orders.csv", body(*V1))
        summary = aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME))
        assert summary["files"][0]["status"] == "loaded"
    assert dataset_rows(aws) == expected_rows({"orders.csv": V1})
    assert_objects_are_the_manifests(aws, "orders.csv")
    assert_reports_match(aws, *V1)


def test_corrected_reupload_replaces_the_old_rows_and_rejects(aws: World, small_objects: None) -> None:
    """Expected: v2 of a key replaces all of v1 (rows and rejects file); another file of the day is
    untouched; the reports equal the reference over v2 + the other file."""
    for key, orders in (("orders.csv", V1), ("other.csv", OTHER), ("orders.csv", V2)):
        head = aws.upload(key, body(*orders))
        aws.deliver(aws.object_created_event(key, head, EVENT_TIME))
    assert dataset_rows(aws) == expected_rows({"orders.csv": V2, "other.csv": OTHER})
    assert_objects_are_the_manifests(aws, "orders.csv", "other.csv")
    rejects = read_output(aws, rejects_key(aws, "orders.csv")).decode()
    assert '"A-bad-2"' in rejects and '"A-bad"' not in rejects  # v1's reject went with v1
    assert output_keys(aws, "rejects/") == [rejects_key(aws, "orders.csv")]
    assert manifest(aws, "orders.csv")["rejected_by_reason"] == {"invalid_quantity": 1}
    assert_reports_match(aws, *V2, *OTHER)


def test_out_of_order_events_never_bring_back_old_content(aws: World, small_objects: None) -> None:
    """Expected: v2's event delivered first loads v2; v1's older event arriving afterwards is skipped as
    "stale_event" (its sequencer is older), so the dataset and reports stay on v2."""
    head1 = aws.upload("orders.csv", body(*V1))
    event1 = aws.object_created_event("orders.csv", head1, EVENT_TIME)
    head2 = aws.upload("orders.csv", body(*V2))
    event2 = aws.object_created_event("orders.csv", head2, EVENT_TIME + timedelta(minutes=1))

    assert aws.deliver(event2)["files"][0]["status"] == "loaded"
    late = aws.deliver(event1)
    assert late["files"] == [
        {
            "key": "orders.csv",
            "status": "skipped",
            "reason": "stale_event",
            "rows_read": 0,
            "rows_loaded": 0,
            "rows_rejected": 0,
        }
    ]
    assert dataset_rows(aws) == expected_rows({"orders.csv": V2})
    assert manifest(aws, "orders.csv")["version_id"] == head2["VersionId"]
    assert_reports_match(aws, *V2)


def test_a_late_duplicate_of_an_earlier_days_event_is_skipped(aws: World) -> None:
    """Expected: v1 (day 1) then v2 (day 2) in order moves the key's rows to day 2 and empties day 1's
    reports; a duplicate of v1's event arriving after that is stale and changes nothing."""
    head1 = aws.upload("orders.csv", body(*V1))
    event1 = aws.object_created_event("orders.csv", head1, EVENT_TIME)
    aws.deliver(event1)
    head2 = aws.upload("orders.csv", body(*V2))
    aws.deliver(aws.object_created_event("orders.csv", head2, EVENT_TIME + timedelta(days=1)))
    assert aws.deliver(event1)["files"][0]["reason"] == "stale_event"
    assert dataset_rows(aws) == expected_rows({"orders.csv": V2}, "2026-11-27")
    assert_reports_match(aws, *V2, day="2026/11/27")
    assert_reports_match(aws, day=DAY)
    assert state(aws, "orders.csv")["days"] == ["2026-11-27"]


# --- concurrency -----------------------------------------------------------------------------


def test_two_files_processed_at_the_same_time_both_land_completely(aws: World, small_objects: None) -> None:
    """Expected: two invocations in parallel threads, held so both are mid-write at once (and both find
    no Glue table yet), load all their rows once; the table keeps the schema's columns and has exactly
    the day's partition; the reports cover both files."""
    a = tuple(Order(f"A{i}", region="West") for i in range(5))
    b = tuple(Order(f"B{i}", region="East", category="Technology", sub_category="Phones") for i in range(7))
    both_writing = threading.Barrier(2, timeout=30)
    first_write: set[str] = set()

    def write_in_step(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        source = key.rsplit("/", 1)[1].split("_", maxsplit=1)[0]
        if source not in first_write:
            first_write.add(source)
            both_writing.wait()  # each file is about to write its first object; neither has committed

    inject(aws, "put", write_in_step, _dataset_key)
    deliveries = []
    for key, orders in (("a.csv", a), ("b.csv", b)):
        head = aws.upload(key, body(*orders))
        deliveries.append(aws.object_created_event(key, head, EVENT_TIME))
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(aws.deliver, deliveries))

    assert [o["files"][0]["rows_loaded"] for o in outcomes] == [5, 7]
    assert dataset_rows(aws) == expected_rows({"a.csv": a, "b.csv": b})
    assert_objects_are_the_manifests(aws, "a.csv", "b.csv")
    assert aws.table_columns() == [*DATASET_SCHEMA.names, "ingest_date"]
    assert aws.partitions() == {f"s3://{aws.output_bucket}/dataset/orders/ingest_date=2026-11-26/": ["2026-11-26"]}
    assert_reports_match(aws, *a, *b)


def test_a_refresh_that_read_the_day_before_another_commit_writes_reports_of_both(aws: World) -> None:
    """Expected: b.csv's refresh read the day's loads before a.csv committed, and writes its reports only
    after a.csv's own refresh wrote reports of both. The last reports written must still count both files:
    b.csv's refresh sees a.csv's commit mark changed and recomputes (without that second look, the day's
    reports would stay those of b.csv alone)."""
    a = tuple(Order(f"A{i}", region="West") for i in range(3))
    b = tuple(Order(f"B{i}", region="East", category="Technology", sub_category="Phones") for i in range(4))
    b_waits, a_done = threading.Event(), threading.Event()

    def hold_the_first_report(_bucket: str, _key: str, *_: Any, **__: Any) -> None:
        if not b_waits.is_set():
            b_waits.set()
            assert a_done.wait(timeout=60)

    inject(aws, "put", hold_the_first_report, lambda _bucket, key, *_, **__: key.startswith("analytics/"))
    head = aws.upload("b.csv", body(*b))
    b_event = aws.object_created_event("b.csv", head, EVENT_TIME)
    with ThreadPoolExecutor(max_workers=1) as pool:
        b_delivery = pool.submit(aws.deliver, b_event)
        assert b_waits.wait(timeout=60)  # b.csv is committed and its refresh has computed its reports
        head = aws.upload("a.csv", body(*a))
        aws.deliver(aws.object_created_event("a.csv", head, EVENT_TIME + timedelta(seconds=1)))
        assert_reports_match(aws, *a, *b)
        a_done.set()
        b_delivery.result(timeout=60)
    assert_reports_match(aws, *a, *b)


def test_a_table_created_concurrently_keeps_the_other_writers_partitions(
    emulator: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: when invocation B checked for the Glue table before invocation A created it and
    registered its partition, B's create must not remove A's partition (awswrangler has no catalog
    locking). The interleaving is forced: B sees "no table" although A's is there. The AWS adapter only."""
    aws = emulator
    aws.reset()
    head = aws.upload("a.csv", body(*OTHER))
    aws.deliver(aws.object_created_event("a.csv", head, EVENT_TIME))
    monkeypatch.setattr(wr.catalog, "does_table_exist", lambda **_: False)
    head = aws.upload("b.csv", body(*V2))
    aws.deliver(aws.object_created_event("b.csv", head, EVENT_TIME + timedelta(days=1)))
    partitions = wr.catalog.get_parquet_partitions("orders_analytics", "orders")
    assert sorted(partitions.values()) == [["2026-11-26"], ["2026-11-27"]]


def test_the_same_event_delivered_twice_at_the_same_moment_loads_once_without_a_retry(
    aws: World, small_objects: None
) -> None:
    """Expected: two invocations of one event, both holding written objects before either commits. The
    state's compare-and-swap lets exactly one commit; the other finds its twin committed, deletes its own
    objects and answers the twin's result. Both answer "loaded" with the same counts, no retry is needed,
    and the dataset holds exactly one copy; a later redelivery changes nothing."""
    both_written = threading.Barrier(2, timeout=30)

    def add_partition_in_step(*_: Any, **__: Any) -> None:
        both_written.wait()  # called once all of a file's objects are written, just before the commit

    restore = inject(aws, "add_partition", add_partition_in_step, lambda *a, **k: True)
    head = aws.upload("orders.csv", body(*V1))
    event = aws.object_created_event("orders.csv", head, EVENT_TIME)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda e: deliver_all(aws, e), [event, event]))
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    first, second = (o["files"] for o in outcomes)  # type: ignore[index]
    assert first == second and first[0]["status"] == "loaded"
    assert dataset_rows(aws) == expected_rows({"orders.csv": V1})
    assert_objects_are_the_manifests(aws, "orders.csv")
    assert_reports_match(aws, *V1)

    restore()
    assert aws.deliver(event)["files"][0]["rows_loaded"] == 12  # a late redelivery: the recorded result
    assert dataset_rows(aws) == expected_rows({"orders.csv": V1})
    assert_objects_are_the_manifests(aws, "orders.csv")


# --- failures in the middle of a write -------------------------------------------------------


def _is_state(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return key.startswith("state/sources/")  # the source's state object, not the report partials beside it


def _is_manifest(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return key.startswith("runs/")


FAILURE_POINTS = {
    # name: (storage port method, fail on the n-th matching call, which calls count, error code, dataset between).
    # The commit is the second state write (the first is the write-ahead): failures up to it leave exactly v1,
    # failures after it exactly v2.
    "s3-second-parquet-object": ("put", 2, _dataset_key, "SlowDown", "v1"),
    "glue-add-partition": ("add_partition", 1, lambda *a, **k: True, "InternalServiceException", "v1"),
    "s3-rejects-upload": ("upload_file", 1, lambda *a, **k: True, "InternalError", "v1"),
    "s3-state-commit": ("put", 2, _is_state, "SlowDown", "v1"),
    "s3-manifest": ("put", 1, _is_manifest, "InternalError", "v2"),
}


@pytest.mark.parametrize("point", list(FAILURE_POINTS))
def test_a_failure_in_the_middle_of_a_write_is_repaired_by_the_retry(
    aws: World, small_objects: None, point: str
) -> None:
    """Expected: v1 is loaded; v2's load fails at ``point`` with a transient AWS error, so the handler
    raises (Lambda retries). In between, the key's rows are exactly v1 (failure before the commit: the
    attempt's own objects are removed) or exactly v2 (failure after it) — never a mix or a duplicate.
    The retry of the same event ends with exactly v2: one copy, only the retry's objects, v2's rejects,
    matching reports, and the state naming the event's sequencer."""
    name, nth, when, code, between = FAILURE_POINTS[point]
    v2 = V2
    for key, orders in (("orders.csv", V1), ("other.csv", OTHER)):
        head = aws.upload(key, body(*orders))
        aws.deliver(aws.object_created_event(key, head, EVENT_TIME))
    head = aws.upload("orders.csv", body(*v2))
    event = aws.object_created_event("orders.csv", head, EVENT_TIME + timedelta(hours=1))

    restore = inject(aws, name, fail_after(nth, code, name), when)
    with pytest.raises(RecordsFailedError) as failed:
        aws.deliver(event)
    assert isinstance(failed.value.__cause__, ClientError)
    assert failed.value.__cause__.response["Error"]["Code"] == code
    in_between = {"v1": V1, "v2": v2}[between]
    assert dataset_rows(aws) == expected_rows({"orders.csv": in_between, "other.csv": OTHER})
    pending = list(state(aws, "orders.csv").get("pending", {}))

    restore()
    summary = aws.deliver(event)  # Lambda's automatic retry: the very same event
    assert summary["files"] == [
        {
            "key": "orders.csv",
            "status": "loaded",
            "reason": None,
            "rows_read": 19,
            "rows_loaded": 18,
            "rows_rejected": 1,
        }
    ]
    assert dataset_rows(aws) == expected_rows({"orders.csv": v2, "other.csv": OTHER})
    assert_objects_are_the_manifests(aws, "orders.csv", "other.csv")
    assert not [k for k in output_keys(aws, "dataset/") if any(f"_{a}_" in k for a in pending)]
    rejects = read_output(aws, rejects_key(aws, "orders.csv")).decode()
    assert '"A-bad-2"' in rejects and '"A-bad"' not in rejects
    assert state(aws, "orders.csv")["sequencer"] == event["Records"][0]["s3"]["object"]["sequencer"]
    assert output_keys(aws, "errors/") == []
    assert_reports_match(aws, *v2, *OTHER)


def test_debris_left_by_an_outage_is_removed_by_the_retry(aws: World, small_objects: None) -> None:
    """Expected: when S3 fails mid-write *and* the clean-up fails too, the failed attempt's objects stay
    (the day briefly holds v1 plus part of v2); the retry's commit deletes them and v1: exactly v2."""
    head = aws.upload("orders.csv", body(*V1))
    aws.deliver(aws.object_created_event("orders.csv", head, EVENT_TIME))
    head = aws.upload("orders.csv", body(*V2))
    event = aws.object_created_event("orders.csv", head, EVENT_TIME)

    restore_write = inject(aws, "put", fail_after(2, "SlowDown", "PutObject"), _dataset_key)
    restore_delete = inject(aws, "delete", fail_after(1, "SlowDown", "DeleteObjects"), lambda *a, **k: True)
    with pytest.raises(RecordsFailedError):
        aws.deliver(event)
    [crashed] = state(aws, "orders.csv")["pending"]
    debris = [k for k in output_keys(aws, "dataset/") if f"_{crashed}_" in k]
    assert len(debris) == 1  # v2's first object
    debris_ids = pq.read_table(io.BytesIO(read_output(aws, debris[0]))).column("order_id").to_pylist()
    assert debris_ids and set(debris_ids) <= {o.order_id for o in V2}
    assert len(dataset_rows(aws)) == 12 + len(debris_ids)  # v1's rows + part of v2, until the retry

    restore_write()
    restore_delete()
    aws.deliver(event)
    assert dataset_rows(aws) == expected_rows({"orders.csv": V2})
    assert_objects_are_the_manifests(aws, "orders.csv")
    assert not set(debris) & set(output_keys(aws, "dataset/"))
    assert_reports_match(aws, *V2)


def test_one_failing_record_does_not_block_the_others_and_the_retry_does_not_duplicate_them(aws: World) -> None:
    """Expected: in a two-record event, a transient failure on b.csv still loads a.csv and refreshes the
    day's reports, then raises so Lambda retries the whole event; the retry re-processes a.csv (replacing,
    not duplicating it) and loads b.csv."""
    records: list[dict[str, Any]] = []
    for key, orders in (("a.csv", OTHER), ("b.csv", V2)):
        head = aws.upload(key, body(*orders))
        records += aws.object_created_event(key, head, EVENT_TIME)["Records"]
    event = s3_events.s3_event(*records)
    b_objects = f"/{paths.source_id(aws.input_bucket, 'b.csv')}_"

    def for_b(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
        return key.startswith("dataset/") and b_objects in key

    restore = inject(aws, "put", fail_after(1, "SlowDown", "PutObject"), for_b)
    with pytest.raises(RecordsFailedError, match=r"1 of 2 records failed and will be retried: b\.csv: ClientError"):
        aws.deliver(event)
    assert dataset_rows(aws) == expected_rows({"a.csv": OTHER})
    assert_reports_match(aws, *OTHER)

    restore()
    summary = aws.deliver(event)
    assert [(f["key"], f["status"]) for f in summary["files"]] == [("a.csv", "loaded"), ("b.csv", "loaded")]
    assert dataset_rows(aws) == expected_rows({"a.csv": OTHER, "b.csv": V2})
    assert_objects_are_the_manifests(aws, "a.csv", "b.csv")
    assert_reports_match(aws, *OTHER, *V2)
