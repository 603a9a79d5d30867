"""Red-team probes of the day's commit mark, the remembered state versions and the kept day checkpoint.

The three mechanisms of eb74971 and 7f4b410 (docs/design.md, "Exactly once"):

1. every commit PUTs ``state/commits/ingest_date=D.json`` (a fresh token) for each affected day, and a
   refresh compares the mark before reading its inputs and after writing (``daily_reports.refresh_reports``);
2. ``JsonObjects.update`` starts its compare-and-swap from the version it last read or wrote;
3. ``daily_reports._LastCheckpoint`` keeps the last day checkpoint with its ETag and only HEADs it.

The claim under test: once every delivery has finished (or been retried to completion), the last report
CSVs written for a day are byte for byte ``daily_reports.recompute_reports`` over the day's committed
objects, and each key's rows are its newest version's, once. Interleavings are forced with
``FaultyStorage`` hooks and ``threading.Event`` (no sleeps). Tests named ``test_defect_...`` fail on the
code they were written against (7f4b410); the report that came with them names the root causes.
Tests on ``world`` run on the in-memory storage and on the real AWS adapter against moto; the sweeps
(one run per storage call) are memory only, for time (about a minute together).

Defects found (root causes in the docstrings): a refresh that runs out of rounds keeps stale reports
(``refresh_reports``' ``max_rounds``); a killed commit that moved a file to another day left the old
day unrefreshed when a newer event committed before its retry (the retry is stale and refreshes nothing;
fixed by the state's ``owed`` days);
the ``smoke`` clean-up changes a day without a commit mark, so a concurrent refresh restores deleted rows;
an update from a remembered version of an object deleted since fails on S3 (404 NoSuchKey, not 412).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_app import daily_reports, paths
from lambda_app.app import App
from lambda_app.errors import RecordsFailedError
from lambda_app.ports import PreconditionFailedError, Storage
from lambda_app.report_partials import ReportPartial
from lambda_app.reports import REPORT_NAMES, to_csv_bytes
from lambda_app.settings import Settings
from lambda_app.source_state import JsonObjects
from lambda_app.unit_of_work import UnitOfWork, _result_from
from orders_tools.emulator import LambdaContext
from tests import reference
from tests.fakes import FaultyStorage, Killed, LandsThenFails, MemoryAws, fail_after
from tests.functional.test_partials_attacks import file_of, row
from tests.helpers import EVENT_TIME, World, every, report_rows

DAY = EVENT_TIME.date()
NEXT = DAY + timedelta(days=1)
LATER = DAY + timedelta(days=2)
STORAGE_METHODS = ("head", "open", "get", "put", "upload_file", "list_keys", "delete", "ensure_table", "add_partition")


# ----------------------------------------------------------------------------------------------- helpers


def plain(world: World) -> Storage:
    """The world's storage without any wrapper (what another process would use)."""
    return world.memory if isinstance(world, MemoryAws) else world.adapter  # type: ignore[no-any-return]


def event_of(world: World, key: str, body: bytes, when: Any = EVENT_TIME) -> dict[str, Any]:
    head = world.upload(key, body)
    return world.object_created_event(key, head, when)


def handle(world: World, storage: Storage, event: dict[str, Any], app: App | None = None) -> dict[str, Any]:
    """One invocation: a fresh process on ``storage`` unless ``app`` (a warm one) is given."""
    return (app or App(world.settings(), storage)).handle(event, LambdaContext())


def sequencer(event: dict[str, Any]) -> str:
    return str(event["Records"][0]["s3"]["object"]["sequencer"])


def committed(world: World, day: date) -> list[str]:
    storage, settings = plain(world), world.settings()
    keys = storage.list_keys(settings.output_bucket, paths.partition_prefix(settings, day))
    return daily_reports.committed_objects(storage, settings, day, keys)


def written_reports(world: World, day: date) -> dict[str, bytes | None]:
    found = {}
    for name in REPORT_NAMES:
        got = plain(world).get(world.output_bucket, paths.report_key(world.settings(), day, name))
        found[name] = None if got is None else got[0]
    return found


def assert_exact(world: World, *days: date) -> None:
    """The last CSVs written for each day are byte for byte the recomputation from its committed objects."""
    for day in days or (DAY,):
        recomputed = daily_reports.recompute_reports(plain(world), world.settings(), committed(world, day))
        for name, written in written_reports(world, day).items():
            expected = to_csv_bytes(recomputed[name])
            if written is None and recomputed[name].num_rows == 0:
                continue  # nothing was ever loaded on that day: no reports at all is right
            assert written == expected, (day.isoformat(), name, written, expected)


def assert_reference(world: World, loaded: list[reference.RefLine], day: date = DAY) -> None:
    expected = reference.report_rows(loaded)
    for name in REPORT_NAMES:
        assert report_rows(world, name, f"{day:%Y/%m/%d}")[1:] == expected[name], name


def die(*_: Any, **__: Any) -> None:
    raise Killed


def is_mark(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return "/commits/" in key


def is_report(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return key.startswith("analytics/")


def state_of(world: World, key: str) -> dict[str, Any]:
    sid = paths.source_id(world.input_bucket, key)
    return dict(json.loads(world.read_output(paths.state_key(world.settings(), sid))))


def assert_stale_retries_and_nothing_owed(
    world: World, storage: Storage, retries: tuple[dict[str, Any], ...], *days: date
) -> None:
    """Lambda's retries of overtaken events are stale; x.csv's state owes nothing; each day is exact."""
    for retry in retries:
        assert handle(world, storage, retry)["files"][0]["reason"] == "stale_event"
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, *days)


A = file_of(row("A-1", region="West"), row("A-2", region="South"))
B = file_of(row("B-1", region="East", category="Technology", sub="Phones"))
C = file_of(row("C-1", region="Central", ship="First Class"))
D = file_of(row("D-1", region="South", category="Office Supplies", sub="Paper"))
X1 = file_of(row("X-1", region="West"), row("X-2", region="East"))
X2 = file_of(row("X-1", region="Central", ship="Same Day"), row("X-3", region="South"))
X3 = file_of(row("X-4", region="East", category="Technology", sub="Copiers"))


# ------------------------------------------------------------------------------------- 1. the commit mark


def held_at_first_report(storage: Storage) -> tuple[FaultyStorage, threading.Event, threading.Event]:
    """``storage`` whose first report PUT waits: ``holding`` is set when it does, ``release`` lets it go on."""
    holding, release = threading.Event(), threading.Event()
    held = FaultyStorage(storage)

    def hold(*_: Any, **__: Any) -> None:
        if not holding.is_set():
            holding.set()
            assert release.wait(timeout=60)

    held.before("put", hold, is_report)
    return held, holding, release


def test_a_crash_between_the_commit_and_the_mark_is_repaired_by_the_retry(world: World) -> None:
    """PROBE. b.csv's refresh has computed (b only) and is held before writing; meanwhile a.csv commits and
    its invocation dies at the mark PUT, so b's refresh sees no new mark and writes reports without a. That
    window is expected (the commit's own refresh never ran); the retry answers "already loaded", rewrites
    the mark and refreshes: the day ends exact with both files."""
    storage = plain(world)
    b_storage, holding, release = held_at_first_report(storage)
    a_storage = FaultyStorage(storage)
    a_storage.before("put", die, is_mark)
    a_event = event_of(world, "a.csv", A[0], EVENT_TIME + timedelta(seconds=1))
    with ThreadPoolExecutor(max_workers=1) as pool:
        b_done = pool.submit(handle, world, b_storage, event_of(world, "b.csv", B[0]))
        assert holding.wait(timeout=60)
        with pytest.raises(Killed):
            handle(world, a_storage, a_event)
        assert state_of(world, "a.csv")["sequencer"] == sequencer(a_event)  # the commit landed
        release.set()
        b_done.result(timeout=60)
    assert_reference(world, B[1])  # the window: a.csv committed, its refresh owed by its retry
    summary = handle(world, storage, a_event)  # Lambda's retry
    assert summary["files"][0]["status"] == "loaded"
    assert_exact(world)
    assert_reference(world, A[1] + B[1])


def test_a_mark_put_that_fails_after_the_commit_fails_the_record_and_the_retry_refreshes(world: World) -> None:
    """PROBE. The first mark PUT after a.csv's commit raises SlowDown: the record fails (Lambda retries) with
    the commit in place; the retry writes the mark and reports of both files."""
    storage = plain(world)
    handle(world, storage, event_of(world, "b.csv", B[0]))
    faulty = FaultyStorage(storage)
    restore = faulty.before("put", fail_after(1, "SlowDown", "PutObject"), is_mark)
    a_event = event_of(world, "a.csv", A[0], EVENT_TIME + timedelta(seconds=1))
    with pytest.raises(RecordsFailedError):
        handle(world, faulty, a_event)
    assert state_of(world, "a.csv")["sequencer"] == sequencer(a_event)
    restore()
    handle(world, faulty, a_event)
    assert_exact(world)
    assert_reference(world, A[1] + B[1])


def test_a_mark_put_failing_for_the_second_of_two_affected_days_is_repaired_by_the_retry(world: World) -> None:
    """PROBE. x.csv moves from DAY to NEXT; the mark of DAY lands and the mark of NEXT raises. The retry
    refreshes both days: DAY loses x, NEXT has it."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    handle(world, storage, event_of(world, "b.csv", B[0]))
    faulty = FaultyStorage(storage)
    marks: list[str] = []

    def second_mark(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        marks.append(key)
        if len(marks) == 2:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")

    restore = faulty.before("put", second_mark, is_mark)
    moved = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(RecordsFailedError):
        handle(world, faulty, moved)
    restore()
    handle(world, faulty, moved)
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X2[1], NEXT)


def test_a_refresh_interleaved_with_a_re_upload_that_moves_a_file_to_another_day(world: World) -> None:
    """PROBE. a.csv's refresh of DAY has read its inputs (x.csv committed on DAY) and computed; before it
    writes, x.csv is re-uploaded and lands on NEXT (its old objects collected). a's refresh writes reports
    that still count x, then sees DAY's new mark (the re-upload's affected days include DAY) and redoes."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    a_storage = FaultyStorage(storage)
    moved = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    done: list[str] = []

    def move_x_first(*_: Any, **__: Any) -> None:
        if not done:
            done.append("x")
            handle(world, storage, moved)

    a_storage.before("put", move_x_first, is_report)
    handle(world, a_storage, event_of(world, "a.csv", A[0], EVENT_TIME + timedelta(seconds=1)))
    assert done
    assert_exact(world, DAY, NEXT)
    assert_reference(world, A[1], DAY)
    assert_reference(world, X2[1], NEXT)


def test_a_refresh_out_of_rounds_fails_the_record_and_its_retry_counts_every_commit(world: World) -> None:
    """Was a DEFECT. a.csv's refresh is slow; during each of its three rounds another file commits, and each
    of those deliveries (commit, mark, refresh) completes before a's round writes. In round 3 d.csv's own
    refresh has already written reports of all four files when a's refresh writes its reports of a, b and
    c and sees d's mark. It used to stop there as if it had converged (nobody wrote after it: the day's
    reports missed d.csv). Expected now: a's record fails (retryable), and its retry writes reports of all."""
    storage = plain(world)
    others = [
        event_of(world, key, body[0], EVENT_TIME + timedelta(seconds=i + 2))
        for i, (key, body) in enumerate((("b.csv", B), ("c.csv", C), ("d.csv", D)))
    ]
    a_storage = FaultyStorage(storage)
    puts = itertools.count()

    def one_commit_per_round(*_: Any, **__: Any) -> None:
        n = next(puts)
        if n % len(REPORT_NAMES) == 0 and n // len(REPORT_NAMES) < len(others):
            handle(world, storage, others[n // len(REPORT_NAMES)])

    a_storage.before("put", one_commit_per_round, is_report)
    a_event = event_of(world, "a.csv", A[0], EVENT_TIME + timedelta(seconds=1))
    with pytest.raises(RecordsFailedError, match="report"):
        handle(world, a_storage, a_event)
    assert handle(world, storage, a_event)["files"][0]["status"] == "loaded"  # Lambda's retry
    assert_exact(world)
    assert_reference(world, A[1] + B[1] + C[1] + D[1])


def test_a_stale_retry_after_a_killed_commit_moved_a_file_out_of_a_day_finds_that_day_refreshed(
    world: World,
) -> None:
    """Was a DEFECT. x.csv v1 is loaded on DAY. v2 (uploaded the next day) commits, moving x to NEXT, and its
    invocation dies at the mark PUT (before its refresh of DAY and NEXT). v3 arrives before Lambda's retry
    of v2 and commits; the retry of v2 is then a stale event and refreshes nothing. v2's commit left DAY in
    the state's ``owed`` days, so v3's commit refreshed DAY as well, and then confirmed it."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    handle(world, storage, event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)))
    assert_reference(world, X1[1] + B[1])
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(Killed):
        handle(world, faulty, v2)
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    assert handle(world, storage, v3)["files"][0]["status"] == "loaded"
    assert handle(world, storage, v2)["files"][0]["reason"] == "stale_event"  # Lambda's retry of v2
    state = state_of(world, "x.csv")
    assert state["days"] == [NEXT.isoformat()]
    assert "owed" not in state  # v3's refresh of DAY is confirmed: the next commit does not redo it
    assert_exact(world, NEXT, DAY)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X3[1], NEXT)


def test_owed_days_survive_a_chain_of_killed_commits_until_one_refresh_confirms_them(world: World) -> None:
    """x moves DAY -> NEXT (v2) -> LATER (v3), each invocation killed at its first mark PUT; v4 then loads on
    LATER. The days v2 and v3 moved x out of travel from commit to commit; v4 refreshes all of them."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    handle(world, storage, event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)))
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(Killed):
        handle(world, faulty, v2)
    v3 = event_of(world, "x.csv", X1[0], EVENT_TIME + timedelta(days=2))
    with pytest.raises(Killed):
        handle(world, faulty, v3)
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat(), NEXT.isoformat()]
    v4 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=2, hours=1))
    summary = handle(world, storage, v4)
    assert sorted(summary["reports"]) == [DAY.isoformat(), NEXT.isoformat(), LATER.isoformat()]
    assert_stale_retries_and_nothing_owed(world, storage, (v2, v3), DAY, NEXT, LATER)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X3[1], LATER)


def test_a_load_that_stays_on_its_day_owes_nothing_and_a_move_is_confirmed_by_its_own_refresh(world: World) -> None:
    """The common case pays nothing: no ``owed`` in the state after a same-day load or re-upload. A move to
    another day owes the old day until its own refresh ends, then the state no longer names it."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    handle(world, storage, event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(hours=1)))
    assert "owed" not in state_of(world, "x.csv")
    summary = handle(world, storage, event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1)))
    assert sorted(summary["reports"]) == [DAY.isoformat(), NEXT.isoformat()]
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)


def test_a_refresh_that_fails_keeps_the_day_owed_and_the_retry_confirms_it(world: World) -> None:
    """x moves DAY -> NEXT and the refresh of DAY fails (its report PUT): the record fails, DAY stays owed;
    Lambda's retry of the same event refreshes it and clears the debt."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    faulty = FaultyStorage(storage)
    day_reports = f"analytics/{DAY:%Y/%m/%d}/"
    faulty.before(
        "put", fail_after(0, "InternalError", "PutObject"), lambda _b, key, *_, **__: key.startswith(day_reports)
    )
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(RecordsFailedError):
        handle(world, faulty, v2)
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
    handle(world, storage, v2)
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)


def test_a_confirmation_for_an_overtaken_commit_leaves_the_newer_commits_debt(world: World) -> None:
    """``acknowledge`` for v2 after v3 committed (carrying v2's owed day) changes nothing: v3 owes it now."""
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(Killed):
        handle(world, faulty, v2)
    v2_result = state_of(world, "x.csv")["result"]
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    with pytest.raises(Killed):
        handle(world, faulty, v3)
    before = state_of(world, "x.csv")
    assert before["owed"] == [DAY.isoformat()]
    UnitOfWork(storage, world.settings()).acknowledge(_result_from(v2_result), {DAY.isoformat(), NEXT.isoformat()})
    assert state_of(world, "x.csv") == before


def clean_up_like_smoke(world: World, key: str) -> None:
    """What ``orders_tools.ops._clean_up`` does after a smoke run: delete the key's state, objects and records
    and refresh the day's reports. On moto the real function runs; in memory, the same deletions."""
    settings, sid = world.settings(), paths.source_id(world.input_bucket, key)
    if isinstance(world, MemoryAws):
        storage = world.memory
        doomed = [
            paths.state_key(settings, sid),
            *storage.list_keys(world.output_bucket, paths.source_prefix(settings, DAY, sid)),
        ]
        doomed += [paths.manifest_key(settings, DAY, world.input_bucket, key)]
        storage.delete(world.output_bucket, doomed)
        daily_reports.touch_commit_mark(storage, settings, DAY, by="smoke clean-up")
        daily_reports.refresh_reports(storage, settings, DAY)
        return
    from orders_tools import ops

    stack = SimpleNamespace(settings=world.settings, input_bucket=world.input_bucket, output_bucket=world.output_bucket)
    clients = SimpleNamespace(
        stack=stack,
        s3=world.s3,
        session=world.adapter.session,
        objects=lambda bucket, prefix: [{"Key": k} for k in world.adapter.list_keys(bucket, prefix)],
        json_object=lambda bucket, k: _json_or_none(world.adapter.get(bucket, k)),
    )
    ops._clean_up(clients, key, [DAY], SimpleNamespace(print=lambda *_, **__: None))  # type: ignore[arg-type]


def _json_or_none(found: tuple[bytes, str] | None) -> Any:
    return None if found is None else json.loads(found[0])


def test_the_smoke_clean_up_marks_the_day_so_a_concurrent_refresh_does_not_restore_its_rows(
    world: World,
) -> None:
    """Was a DEFECT (a regression of the mark; outside deliveries: the operator's ``smoke`` clean-up). a.csv's refresh
    has computed reports counting the smoke file and is held; the clean-up deletes the smoke file's state and
    objects and refreshes the day (reports without it); it wrote no commit mark, so a's refresh then wrote its
    reports, read the same mark and stopped: the day's reports counted a file that is gone. (Before eb74971
    the refresh read every state again after writing and saw the smoke state vanish.) Expected now: the
    clean-up rewrites the day's mark first, and a's refresh computes again."""
    storage = plain(world)
    handle(world, storage, event_of(world, "smoke/run.csv", B[0]))
    a_storage, holding, release = held_at_first_report(storage)
    with ThreadPoolExecutor(max_workers=1) as pool:
        a_done = pool.submit(
            handle, world, a_storage, event_of(world, "a.csv", A[0], EVENT_TIME + timedelta(seconds=1))
        )
        assert holding.wait(timeout=60)
        clean_up_like_smoke(world, "smoke/run.csv")
        assert_reference(world, A[1])
        release.set()
        a_done.result(timeout=60)
    assert_exact(world)
    assert_reference(world, A[1])


# --------------------------------------------------------------- sweeps: one interleaving per storage call


def counting(storage: Storage, at: int, action: Callable[[], None]) -> tuple[FaultyStorage, list[int]]:
    """``storage`` whose ``at``-th call (every method counted, from 0) first runs ``action``; ``seen[0]``: calls."""
    faulty, seen, lock = FaultyStorage(storage), [0], threading.Lock()

    def hook(*_: Any, **__: Any) -> None:
        with lock:
            n = seen[0]
            seen[0] += 1
        if n == at:
            action()

    for method in STORAGE_METHODS:
        faulty.before(method, hook)
    return faulty, seen


OUTER = {  # the delivery preempted at each of its storage calls: (key, file, when)
    "new-file": ("a.csv", A, EVENT_TIME + timedelta(seconds=5)),
    "x-moves-to-next-day": ("x.csv", X2, EVENT_TIME + timedelta(days=1)),
}
INNER = {  # the delivery that runs to completion at that call
    "new-file": ("b.csv", B, EVENT_TIME + timedelta(seconds=6)),
    "x-replaced-same-day": ("x.csv", X3, EVENT_TIME + timedelta(seconds=7)),
    "x-moves-to-later-day": ("x.csv", X3, EVENT_TIME + timedelta(days=2)),
}


def _sweep_world(outer: str, inner: str) -> tuple[MemoryAws, dict[str, Any], dict[str, Any]]:
    aws = MemoryAws()
    handle(aws, aws.memory, event_of(aws, "x.csv", X1[0]))
    handle(aws, aws.memory, event_of(aws, "c.csv", C[0], EVENT_TIME + timedelta(seconds=1)))
    o_key, o_file, o_when = OUTER[outer]
    i_key, i_file, i_when = INNER[inner]
    outer_event = event_of(aws, o_key, o_file[0], o_when)
    inner_event = event_of(aws, i_key, i_file[0], i_when)  # uploaded after: a newer version when the key is x.csv
    return aws, outer_event, inner_event


def _retry(aws: MemoryAws, event: dict[str, Any], failed: bool) -> None:
    """Lambda's retry of an invocation that failed (raised, or was killed); none for one that answered."""
    for _ in range(3 if failed else 0):
        try:
            handle(aws, aws.memory, event)
            return
        except RecordsFailedError:
            continue


def _deliver(aws: MemoryAws, storage: Storage, event: dict[str, Any], failures: list[bool]) -> None:
    """Deliver; note in ``failures`` whether the invocation failed (raised or was killed)."""
    failures.append(True)
    with contextlib.suppress(RecordsFailedError, Killed):
        handle(aws, storage, event)
        failures[-1] = False


@pytest.mark.parametrize("inner", list(INNER))
@pytest.mark.parametrize("outer", list(OUTER))
def test_a_whole_delivery_at_every_storage_call_of_another_converges(
    outer: str, inner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROBE (memory only). For every storage call k of the outer delivery, the inner one runs to completion
    right before call k (one state reader, so the order is deterministic). Afterwards every day is exact and
    the newest version of each key is the one counted. The stale-retry defect above needs a crash; none here."""
    monkeypatch.setattr(daily_reports, "_STATE_READERS", 1)
    aws, outer_event, inner_event = _sweep_world(outer, inner)
    probe, seen = counting(aws.memory, -1, lambda: None)
    handle(aws, probe, outer_event)
    calls = seen[0]
    assert calls > 20
    stride = every(3)  # each combination starts at another call, so the six together still cover every one
    for at in range((len(outer) + len(inner)) % stride, calls, stride):
        aws, outer_event, inner_event = _sweep_world(outer, inner)
        inner_failed: list[bool] = []

        def run_inner(a: MemoryAws = aws, e: dict[str, Any] = inner_event, f: list[bool] = inner_failed) -> None:
            _deliver(a, a.memory, e, f)

        faulty, _ = counting(aws.memory, at, run_inner)
        outer_failed: list[bool] = []
        _deliver(aws, faulty, outer_event, outer_failed)
        assert inner_failed, at  # the inner delivery ran
        _retry(aws, outer_event, outer_failed[0])
        _retry(aws, inner_event, inner_failed[0])
        assert_exact(aws, DAY, NEXT, LATER)


@pytest.mark.parametrize("inner", ["new-file", "x-moves-to-later-day"])
def test_a_delivery_killed_after_its_commit_inside_another_refresh_converges_after_its_retry(
    inner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROBE (memory only). The outer delivery (a new file) is preempted at every storage call of its
    refresh; there the inner delivery runs and is killed at its j-th storage call after its commit, for every
    j; then the outer finishes and the inner is retried. Every day is exact at the end."""
    monkeypatch.setattr(daily_reports, "_STATE_READERS", 1)
    outer = "new-file"

    def inner_calls_after_commit() -> tuple[int, int]:
        aws, _, inner_event = _sweep_world(outer, inner)
        faulty, seen = counting(aws.memory, -1, lambda: None)
        commit_at: list[int] = []
        sid = paths.source_id(aws.input_bucket, INNER[inner][0])
        writes = itertools.count()

        def note(_bucket: str, key: str, *_: Any, **__: Any) -> None:
            if key == paths.state_key(aws.settings(), sid) and next(writes) == 1:
                commit_at.append(seen[0])  # the index of the call after the commit

        faulty.before("put", note)
        handle(aws, faulty, inner_event)
        return commit_at[0], seen[0]

    def outer_refresh_calls() -> tuple[int, int]:
        aws, outer_event, _ = _sweep_world(outer, inner)
        faulty, seen = counting(aws.memory, -1, lambda: None)
        first_mark: list[int] = []
        faulty.before("put", lambda *_, **__: first_mark.append(seen[0]) if not first_mark else None, is_mark)
        handle(aws, faulty, outer_event)
        return first_mark[0], seen[0]

    commit_at, inner_total = inner_calls_after_commit()  # seen[0] counts the call in progress too
    mark_at, outer_total = outer_refresh_calls()
    runs, stride = 0, every(3)
    for at in range(mark_at - 1 + len(inner) % stride, outer_total, stride):  # from the outer's first mark PUT on
        for j in range(commit_at + at % 3, inner_total, 3):  # every third call after the commit, shifted per k
            aws, outer_event, inner_event = _sweep_world(outer, inner)

            inner_failed: list[bool] = []

            def run_inner_killed(
                a: MemoryAws = aws, e: dict[str, Any] = inner_event, j: int = j, f: list[bool] = inner_failed
            ) -> None:
                _deliver(a, counting(a.memory, j, die)[0], e, f)

            faulty, _ = counting(aws.memory, at, run_inner_killed)
            outer_failed: list[bool] = []
            _deliver(aws, faulty, outer_event, outer_failed)
            assert inner_failed == [True], (at, j)  # the inner delivery ran and was killed
            _retry(aws, outer_event, outer_failed[0])
            _retry(aws, inner_event, True)
            assert_exact(aws, DAY, NEXT, LATER)
            runs += 1
    assert runs > 100 // stride


# ------------------------------------------------------------------- 2. the remembered state versions


KEY = "state/sources/0123456789abcdef.json"


def test_an_update_from_a_remembered_version_of_a_deleted_object_reads_again(world: World) -> None:
    """Was a DEFECT (S3/moto only). A ``JsonObjects`` remembers a key it wrote; someone else deletes the
    object (an operator, ``orders-analytics smoke``'s clean-up). The next update starts from the remembered
    ETag and PUTs ``If-Match`` on a key that no longer exists: S3 (and moto) answer 404 NoSuchKey, not 412,
    and ``AwsStorage.put`` raised that as a ClientError, so the update failed instead of reading again (the
    in-memory storage answered PreconditionFailedError, as the port says). The adapter now does too."""
    objects = JsonObjects(plain(world), world.output_bucket)
    objects.update(KEY, lambda current: {"n": 1})
    plain(world).delete(world.output_bucket, [KEY])
    assert objects.update(KEY, lambda current: {"n": (current or {}).get("n", 0) + 1}) == {"n": 1}
    assert objects.read(KEY)[0] == {"n": 1}


def test_warm_processes_with_stale_remembered_states_across_events_of_one_key(world: World) -> None:
    """PROBE. Two warm processes (one App each, kept across invocations) take turns with events of one key,
    each time after the other changed the state it remembers: v1 on p1, v2 on p2, v1's duplicate on p1
    (stale), v3 on p1, v2's duplicate on p2 (stale), v3's duplicate on p2 (already loaded). The state ends on
    v3 with nothing pending or in garbage; the dataset holds v3 once; the reports are exact."""
    storage = plain(world)
    p1, p2 = App(world.settings(), storage), App(world.settings(), storage)
    v1 = event_of(world, "x.csv", X1[0])
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(seconds=1))
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(seconds=2))
    answers = [
        handle(world, storage, v1, p1),
        handle(world, storage, v2, p2),
        handle(world, storage, v1, p1),
        handle(world, storage, v3, p1),
        handle(world, storage, v2, p2),
        handle(world, storage, v3, p2),
    ]
    assert [a["files"][0]["status"] for a in answers] == ["loaded", "loaded", "skipped", "loaded", "skipped", "loaded"]
    state = state_of(world, "x.csv")
    assert state["sequencer"] == sequencer(v3) and not state.get("pending") and not state.get("garbage")
    sid = paths.source_id(world.input_bucket, "x.csv")
    assert all(f"/{sid}_{state['attempt']}_" in k for k in world.output_keys("dataset/"))
    assert_exact(world)
    assert_reference(world, X3[1])


def test_a_warm_process_holding_its_write_ahead_while_another_collects_and_commits(world: World) -> None:
    """PROBE. p1 registers v2 of x.csv (remembering that version) and is held before its commit; p2 loads v3
    (sweeping p1's attempt into garbage and collecting it). p1's commit starts from its remembered version,
    loses the compare-and-swap, re-reads, finds itself swept and fails (retried: stale). v3 stays, once."""
    storage = plain(world)
    p1_storage = FaultyStorage(storage)
    p1, p2 = App(world.settings(), p1_storage), App(world.settings(), storage)
    handle(world, p1_storage, event_of(world, "x.csv", X1[0]), p1)
    armed, held, release = threading.Event(), threading.Event(), threading.Event()

    def hold(*_: Any, **__: Any) -> None:
        if armed.is_set() and not held.is_set():
            held.set()
            assert release.wait(timeout=60)

    p1_storage.before("add_partition", hold)
    armed.set()
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(seconds=1))
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(seconds=2))
    with ThreadPoolExecutor(max_workers=1) as pool:
        p1_done = pool.submit(handle, world, p1_storage, v2, p1)
        assert held.wait(timeout=60)
        assert handle(world, storage, v3, p2)["files"][0]["status"] == "loaded"
        release.set()
        failed = p1_done.exception(timeout=60)
    assert isinstance(failed, RecordsFailedError) or p1_done.result()["files"][0]["reason"] == "stale_event"
    assert handle(world, p1_storage, v2, p1)["files"][0]["reason"] == "stale_event"  # the retry
    state = state_of(world, "x.csv")
    assert state["sequencer"] == sequencer(v3) and not state.get("pending")
    sid = paths.source_id(world.input_bucket, "x.csv")
    assert all(f"/{sid}_{state['attempt']}_" in k for k in world.output_keys("dataset/"))
    assert_exact(world)
    assert_reference(world, X3[1])


@pytest.mark.parametrize("nth", [1, 2], ids=["write-ahead", "commit"])
@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("connection reset after the PUT landed"), PreconditionFailedError("412 on the SDK's retry")],
    ids=["lost-answer", "retried-412"],
)
def test_a_state_put_that_landed_with_its_answer_lost_in_a_warm_process(
    world: World, error: BaseException, nth: int
) -> None:
    """PROBE. The write-ahead or the commit of a.csv lands but the client sees an error; the retry runs in
    the same warm process (the same App, whose JsonObjects remembers what it last read). The file ends
    loaded once, nothing pending, reports exact (design.md point 7, with remembered versions)."""
    storage = plain(world)
    handle(world, storage, event_of(world, "b.csv", B[0]))
    sid = paths.source_id(world.input_bucket, "a.csv")
    flaky = LandsThenFails(storage, paths.state_key(world.settings(), sid), nth, error)
    app = App(world.settings(), flaky)  # type: ignore[arg-type]
    event = event_of(world, "a.csv", A[0], EVENT_TIME + timedelta(seconds=1))
    try:
        handle(world, flaky, event, app)  # type: ignore[arg-type]
    except RecordsFailedError:
        handle(world, flaky, event, app)  # type: ignore[arg-type]  # Lambda's retry, the same process
    state = state_of(world, "a.csv")
    assert state["sequencer"] == sequencer(event) and not state.get("pending") and not state.get("garbage")
    assert_exact(world)
    assert_reference(world, A[1] + B[1])


# ---------------------------------------------------------------------- 3. the kept day checkpoint


def checkpoint_key(world: World, day: date = DAY) -> str:
    return paths.report_checkpoint_key(world.settings(), day)


def test_a_checkpoint_deleted_and_rewritten_with_identical_bytes_by_another_process(world: World) -> None:
    """PROBE. A warm process wrote the checkpoint; another process deletes it and writes the very same bytes
    (same ETag). The copy is served, and it is the object's content: the next refresh is exact."""
    storage = plain(world)
    warm = FaultyStorage(storage)
    reads: list[str] = []
    for method in ("head", "get"):
        warm.before(method, lambda _b, key, *_, m=method, **__: reads.append(m) if "/reports/" in key else None)
    app = App(world.settings(), warm)
    handle(world, warm, event_of(world, "a.csv", A[0]), app)
    handle(world, warm, event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)), app)
    body = world.read_output(checkpoint_key(world))
    storage.delete(world.output_bucket, [checkpoint_key(world)])
    storage.put(world.output_bucket, checkpoint_key(world), body)
    reads.clear()
    handle(world, warm, event_of(world, "c.csv", C[0], EVENT_TIME + timedelta(seconds=2)), app)
    assert reads == ["head"]  # the kept copy was served
    assert_exact(world)
    assert_reference(world, A[1] + B[1] + C[1])


@pytest.mark.parametrize("damage", ["garbage", "deleted", "older-checkpoint", "other-day-checkpoint"])
def test_a_checkpoint_changed_behind_a_warm_process_is_read_again(world: World, damage: str) -> None:
    """PROBE. Behind the warm process's copy, the checkpoint is overwritten with garbage, deleted, replaced
    by an older checkpoint of the same day (fewer attempts), or by another day's checkpoint. The next
    refresh is exact and the checkpoint left names exactly the day's committed attempts."""
    storage = plain(world)
    app = App(world.settings(), storage)
    handle(world, storage, event_of(world, "a.csv", A[0]), app)
    older = world.read_output(checkpoint_key(world))
    handle(world, storage, event_of(world, "y.csv", D[0], EVENT_TIME + timedelta(days=1)), app)
    other_day = world.read_output(checkpoint_key(world, NEXT))
    handle(world, storage, event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)), app)
    key = checkpoint_key(world)
    if damage == "deleted":
        storage.delete(world.output_bucket, [key])
    else:
        storage.put(
            world.output_bucket,
            key,
            {"garbage": b"\x00not parquet", "older-checkpoint": older, "other-day-checkpoint": other_day}[damage],
        )
    handle(world, storage, event_of(world, "c.csv", C[0], EVENT_TIME + timedelta(seconds=2)), app)
    assert_exact(world, DAY, NEXT)
    assert_reference(world, A[1] + B[1] + C[1])
    kept = ReportPartial.from_bytes(world.read_output(key))
    assert kept.attempts == set(daily_reports.attempts_of(world.settings(), DAY, committed(world, DAY)))


def test_a_checkpoint_copy_is_never_served_for_another_bucket_or_storage(world: World) -> None:
    """PROBE. The same process refreshes the same day for a second output bucket (other settings) and
    through another storage object over the same objects: each reads its own checkpoint; all exact."""
    storage = plain(world)
    handle(world, storage, event_of(world, "a.csv", A[0]))
    other_bucket = f"{world.output_bucket}-two"
    world.create_bucket(other_bucket)
    two = App(Settings.from_env(_env(world, other_bucket)), storage)
    handle(world, storage, event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)), two)
    wrapped = FaultyStorage(storage)  # another storage object over the same objects
    handle(world, wrapped, event_of(world, "c.csv", C[0], EVENT_TIME + timedelta(seconds=2)))
    assert_exact(world)
    assert_reference(world, A[1] + C[1])
    found = storage.get(other_bucket, paths.report_key(world.settings(), DAY, "most_profitable_region"))
    assert found is not None and b"East" in found[0] and b"West" not in found[0]


def _env(world: World, bucket: str) -> dict[str, str]:
    import os

    return {**os.environ, **world.env, "OUTPUT_BUCKET": bucket}


def test_threads_sharing_the_copy_refresh_two_days_at_once(world: World) -> None:
    """PROBE. Two threads of one process refresh two days; each is held right after HEADing its checkpoint
    while the other writes its own (replacing the process's single copy). Both days exact; a third refresh
    of each day, after the other's copy replaced it, is exact too."""
    storage = plain(world)
    faulty = FaultyStorage(storage)
    handle(world, faulty, event_of(world, "y.csv", D[0], EVENT_TIME + timedelta(days=1)))
    handle(world, faulty, event_of(world, "a.csv", A[0]))  # the process's copy: DAY's, through ``faulty``
    barrier = threading.Barrier(2, timeout=60)
    met: set[str] = set()
    heads: list[str] = []
    faulty.before("head", lambda _bucket, key, *_, **__: heads.append(key))

    def after_head_of_checkpoint(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        if "/reports/" in key and key not in met:
            met.add(key)
            barrier.wait()

    faulty.before("head", after_head_of_checkpoint)
    faulty.before("get", after_head_of_checkpoint)
    events = [
        event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)),
        event_of(world, "z.csv", C[0], EVENT_TIME + timedelta(days=1, seconds=1)),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda e: handle(world, faulty, e), events))
    assert met == {checkpoint_key(world, DAY), checkpoint_key(world, NEXT)}
    assert checkpoint_key(world, DAY) in heads  # the DAY thread took the kept copy's path
    for day, body in ((DAY, A[1] + B[1]), (NEXT, D[1] + C[1])):
        assert_exact(world, day)
        assert_reference(world, body, day)
    handle(world, faulty, event_of(world, "e.csv", X3[0], EVENT_TIME + timedelta(seconds=3)))
    assert_exact(world, DAY, NEXT)
