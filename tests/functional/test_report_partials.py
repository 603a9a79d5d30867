"""The day's reports, merged from per-attempt partials and a checkpoint, equal a recomputation from the partition.

Every scenario runs on the in-memory storage and on the real AWS adapter against
moto (``world``). After each step the three CSVs must be byte for byte what
``daily_reports.recompute_reports`` makes from the report columns of the day's
committed Parquet objects, and their rows what the plain-Python reference makes
from the lines the model says are loaded: replays, re-uploads, a refused
re-upload, an attempt killed before its commit (its objects and partial left
behind), and an attempt committed before partials existed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from lambda_app import daily_reports, paths, streaming
from lambda_app.report_partials import ReportPartial
from lambda_app.reports import REPORT_NAMES, to_csv_bytes
from tests import reference
from tests.fakes import FaultyStorage, Killed, kill_at_commit
from tests.helpers import EVENT_TIME, World, csv_bytes, line, report_rows

DAY = EVENT_TIME.date()
FOLDER = f"analytics/{DAY:%Y/%m/%d}/"

# (order id, region, category, sub-category, ship mode, cost, price, quantity, discount): fractional cents
# (never an exact half cent, which a double cannot hold), an order split over two files, a missing ship
# mode, formula-like text.
Spec = tuple[str, str, str, str, str, str, str, str, str]


def lines_of(*specs: Spec) -> tuple[bytes, list[reference.RefLine]]:
    rows, refs = [], []
    for order, region, category, sub, ship, cost, price, quantity, discount in specs:
        rows.append(line(order, "2023-09-05", ship, region, category, sub, cost, price, quantity, discount))
        refs.append(
            reference.RefLine(
                order_id=order,
                region=region,
                category=category,
                sub_category=sub,
                ship_mode=reference.ship_mode_value(ship),
                profit=reference.line_profit(cost, price, quantity, discount),
            )
        )
    return csv_bytes(*rows), refs


A1 = lines_of(
    ("CA-2023-1", "West", "Furniture", "Chairs", "Second Class", "10.01", "20.99", "3", "15"),
    ("CA-2023-1", "West", "Furniture", "Tables", "Second Class", "100", "120.5", "1", "0"),
    ("SHARED-77", "East", "Technology", "Phones", "First Class", "5", "7.36", "1", "10"),
    ("US-2024-0007", "=South", "Technology", "Phones", "Not Available", "1", "2.05", "5", "40"),
)
A2 = lines_of(  # a.csv again: replaces A1's rows
    ("CA-2023-2", "West", "Furniture", "Chairs", "Standard Class", "3.33", "4.45", "7", "5"),
    ("US-2024-7", "Central", "Office Supplies", "Paper", "Same Day", "0.5", "1.15", "9", "0"),
)
B1 = lines_of(  # shares SHARED-77 and CA-2023-1 with A1: counted once per pair
    ("SHARED-77", "East", "Technology", "Phones", "First Class", "5", "7.36", "2", "10"),
    ("CA-2023-1", "West", "Furniture", "Chairs", "Second Class", "10", "11", "1", "0"),
    ("B-9", "East", "Technology", "Accessories", "First Class", "0.1", "0.35", "3", "33"),
)
C1 = lines_of(("C-1", "South", "Furniture", "Bookcases", "Standard Class", "1", "9.99", "1", "0"))
D1 = lines_of(("D-1", "West", "Office Supplies", "Binders", "Standard Class", "2", "2.21", "4", "1"))


@pytest.fixture
def aws(world: World) -> World:
    return world


def deliver(aws: World, key: str, body: bytes, seconds: int) -> dict[str, Any]:
    head = aws.upload(key, body)
    return aws.deliver(aws.object_created_event(key, head, EVENT_TIME + timedelta(seconds=seconds)))


def committed_objects(aws: World, day: date = DAY) -> list[str]:
    settings = aws.settings()
    keys = aws.storage.list_keys(settings.output_bucket, paths.partition_prefix(settings, day))
    return daily_reports.committed_objects(aws.storage, settings, day, keys)


def assert_reports_exact(aws: World, loaded: list[reference.RefLine]) -> None:
    """The written CSVs are the recomputation from the committed objects, and the reference's rows."""
    recomputed = daily_reports.recompute_reports(aws.storage, aws.settings(), committed_objects(aws))
    for name in REPORT_NAMES:
        assert aws.read_output(f"{FOLDER}{name}.csv") == to_csv_bytes(recomputed[name]), name
    expected = reference.report_rows(loaded)
    for name in REPORT_NAMES:
        assert report_rows(aws, name)[1:] == expected[name], name


def partial_keys(aws: World) -> list[str]:
    return aws.output_keys(paths.partials_folder(aws.settings(), DAY))


def test_replays_re_uploads_a_refusal_and_a_crash_leave_the_reports_a_recomputation(aws: World) -> None:
    assert deliver(aws, "a.csv", A1[0], 0)["files"][0]["status"] == "loaded"
    assert_reports_exact(aws, A1[1])

    head = aws.upload("b.csv", B1[0])
    b_event = aws.object_created_event("b.csv", head, EVENT_TIME + timedelta(seconds=1))
    aws.deliver(b_event)
    assert_reports_exact(aws, A1[1] + B1[1])
    assert report_rows(aws, "orders_by_category")[1:][-1] == [
        "Technology",
        "Phones",
        "2",
    ]  # SHARED-77 once, US-2024-0007

    aws.deliver(b_event)  # S3 delivers the same event again
    assert_reports_exact(aws, A1[1] + B1[1])

    deliver(aws, "a.csv", A2[0], 2)  # a new version of a.csv replaces A1's rows
    assert_reports_exact(aws, A2[1] + B1[1])
    assert len(partial_keys(aws)) == 2  # A1's partial went with its objects

    refused = csv_bytes("x,2023-01-01", header="Order Id,Order Date")
    assert deliver(aws, "b.csv", refused, 3)["files"][0]["status"] == "rejected_file"
    assert_reports_exact(aws, A2[1] + B1[1])  # the refused file keeps B1

    restore = kill_at_commit(aws, "c.csv")
    with pytest.raises(Killed):
        deliver(aws, "c.csv", C1[0], 4)
    restore()
    c_sid = paths.source_id(aws.input_bucket, "c.csv")
    assert [k for k in partial_keys(aws) if f"/{c_sid}_" in k]  # C1's debris: objects and partial, uncommitted
    assert [k for k in aws.output_keys("dataset/") if f"/{c_sid}_" in k]

    deliver(aws, "d.csv", D1[0], 5)  # another file's refresh, with the debris there
    assert_reports_exact(aws, A2[1] + B1[1] + D1[1])

    deliver(aws, "c.csv", C1[0], 6)  # c.csv again: the debris is collected, C1 counted once
    assert_reports_exact(aws, A2[1] + B1[1] + D1[1] + C1[1])
    live = {state_attempt(aws, key) for key in ("a.csv", "b.csv", "c.csv", "d.csv")}
    assert {k.rsplit("/", 1)[1].removesuffix(".parquet") for k in partial_keys(aws)} == live


def state_attempt(aws: World, key: str) -> str:
    import json

    sid = paths.source_id(aws.input_bucket, key)
    state = json.loads(aws.read_output(f"state/sources/{sid}.json"))
    return f"{sid}_{state['attempt']}"


def test_an_attempt_committed_without_a_partial_is_read_from_its_objects(aws: World) -> None:
    """As after an upgrade: a.csv was committed by code that wrote no partial and no checkpoint."""
    deliver(aws, "a.csv", A1[0], 0)
    settings = aws.settings()
    aws.storage.delete(settings.output_bucket, [*partial_keys(aws), paths.report_checkpoint_key(settings, DAY)])
    deliver(aws, "b.csv", B1[0], 1)
    assert_reports_exact(aws, A1[1] + B1[1])


def test_a_checkpoint_of_a_replaced_attempt_is_not_used(aws: World) -> None:
    """The checkpoint covers A1; after a.csv's new version it must be rebuilt, not extended."""
    deliver(aws, "a.csv", A1[0], 0)
    deliver(aws, "b.csv", B1[0], 1)
    settings = aws.settings()
    stale = aws.read_output(paths.report_checkpoint_key(settings, DAY))
    deliver(aws, "a.csv", A2[0], 2)
    assert_reports_exact(aws, A2[1] + B1[1])
    aws.storage.put(settings.output_bucket, paths.report_checkpoint_key(settings, DAY), stale)  # a slow writer's
    deliver(aws, "d.csv", D1[0], 3)
    assert_reports_exact(aws, A2[1] + B1[1] + D1[1])


def test_partials_live_outside_the_tables_location(aws: World) -> None:
    deliver(aws, "a.csv", A1[0], 0)
    settings = aws.settings()
    assert partial_keys(aws) and all(not k.startswith(settings.dataset_prefix) for k in partial_keys(aws))
    assert all(k.endswith(".snappy.parquet") for k in aws.output_keys(settings.dataset_prefix))


def test_a_warm_refresh_reads_its_own_checkpoint_from_memory_and_anyone_elses_from_s3(aws: World) -> None:
    """The checkpoint this process wrote is not read back while its ETag is unchanged (a HEAD asks); one
    written by another invocation, or damaged, is read: the reports stay a recomputation either way."""
    calls: list[tuple[str, str]] = []
    storage = FaultyStorage(aws.storage)
    for method in ("get", "head"):
        storage.before(method, lambda _bucket, key, *_, method=method, **__: calls.append((method, key)))
    aws.storage = storage
    checkpoint = paths.report_checkpoint_key(aws.settings(), DAY)
    deliver(aws, "a.csv", A1[0], 0)
    deliver(aws, "b.csv", B1[0], 1)
    assert ("head", checkpoint) in calls
    assert ("get", checkpoint) not in calls[calls.index(("head", checkpoint)) :]
    assert_reports_exact(aws, A1[1] + B1[1])

    written_elsewhere = storage.inner  # another invocation's write: this process did not see it
    deliver(aws, "c.csv", C1[0], 2)
    written_elsewhere.put(aws.output_bucket, checkpoint, b"damaged")
    calls.clear()
    deliver(aws, "d.csv", D1[0], 3)
    assert ("get", checkpoint) in calls
    assert_reports_exact(aws, A1[1] + B1[1] + C1[1] + D1[1])


def test_the_refresh_after_a_load_takes_its_partial_from_memory_and_the_others_from_s3(aws: World) -> None:
    """The partial this process just wrote is not read back; another attempt's is. The reports stay exact,
    also when the object of the one taken from memory is damaged between its PUT and the refresh."""
    gets: list[str] = []
    storage = FaultyStorage(aws.storage)
    storage.before("get", lambda _bucket, key, *_, **__: gets.append(key))
    aws.storage = storage
    settings = aws.settings()
    checkpoint = paths.report_checkpoint_key(settings, DAY)

    deliver(aws, "a.csv", A1[0], 0)
    [a_partial] = partial_keys(aws)
    assert a_partial not in gets
    assert_reports_exact(aws, A1[1])

    storage.inner.delete(settings.output_bucket, [checkpoint])  # so b's refresh needs a's partial again
    gets.clear()
    deliver(aws, "b.csv", B1[0], 1)
    [b_partial] = [k for k in partial_keys(aws) if k != a_partial]
    assert a_partial in gets
    assert b_partial not in gets
    assert_reports_exact(aws, A1[1] + B1[1])

    def damage_the_partial_just_written(*_: Any, **__: Any) -> None:  # add_partition: after the partial's PUT
        [c_partial] = [k for k in partial_keys(aws) if k not in (a_partial, b_partial)]
        storage.inner.put(settings.output_bucket, c_partial, b"damaged")

    restore = storage.before("add_partition", damage_the_partial_just_written)
    deliver(aws, "c.csv", C1[0], 2)
    restore()
    assert_reports_exact(aws, A1[1] + B1[1] + C1[1])
    storage.inner.delete(settings.output_bucket, [checkpoint])  # d's refresh reads c's damaged partial: rebuilt
    deliver(aws, "d.csv", D1[0], 3)
    assert_reports_exact(aws, A1[1] + B1[1] + C1[1] + D1[1])


def test_a_split_last_flush_commits_two_objects_and_the_reports_stay_a_recomputation(
    aws: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last flush of a file (here the whole file) written as two objects on two threads, then replaced."""
    monkeypatch.setattr(streaming, "SPLIT_TAIL_ROWS", 2)
    first, first_lines = A1
    assert deliver(aws, "a.csv", first, 1)["files"][0]["status"] == "loaded"
    assert len(committed_objects(aws)) == 2
    assert_reports_exact(aws, first_lines)
    again, again_lines = A2  # a re-upload replaces both halves
    assert deliver(aws, "a.csv", again, 2)["files"][0]["status"] == "loaded"
    assert len(committed_objects(aws)) == 2
    assert_reports_exact(aws, again_lines)


def test_a_days_first_checkpoint_is_the_bytes_of_its_one_partial_encoded_once(
    aws: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day of one attempt: its checkpoint is that partial (the same bytes, encoded once); a second file's
    refresh encodes the real merge."""
    encoded: list[frozenset[str]] = []
    to_bytes = ReportPartial.to_bytes

    def counted(partial: ReportPartial) -> bytes:
        encoded.append(partial.attempts)
        return to_bytes(partial)

    monkeypatch.setattr(ReportPartial, "to_bytes", counted)
    settings = aws.settings()
    deliver(aws, "a.csv", A1[0], 0)
    [a_partial] = partial_keys(aws)
    checkpoint = aws.read_output(paths.report_checkpoint_key(settings, DAY))
    assert checkpoint == aws.read_output(a_partial)
    assert len(encoded) == 1
    assert_reports_exact(aws, A1[1])
    deliver(aws, "b.csv", B1[0], 1)
    assert len(encoded) == 3  # b's partial, then the checkpoint of both
    assert ReportPartial.from_bytes(aws.read_output(paths.report_checkpoint_key(settings, DAY))).attempts == set(
        encoded[-1]
    )
    assert len(encoded[-1]) == 2
    assert_reports_exact(aws, A1[1] + B1[1])
