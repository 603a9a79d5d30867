"""Red-team probes of the state's ``owed`` days (d1e9d59; docs/design.md, "Days a commit still owes a refresh").

A commit that changes a day besides the one holding its rows records it in the source state's ``owed``;
the key's next commit refreshes those days too and owes them in turn; ``UnitOfWork.acknowledge`` removes
the days an invocation refreshed, by compare-and-swap, while the state still names the same event.

The claim under test: once every delivery has finished or been retried to completion, the last report
CSVs of every day are byte for byte the recomputation over its committed objects, each key's rows are its
newest version's once, and after a quiet period with every refresh successful no state has ``owed``.
Interleavings are forced with ``FaultyStorage`` hooks (inline, or threads with ``threading.Event``). The
probes that exercise the adapter (conditional PUTs, threads) run on both storages (``world``); the rest
run in memory only, for time (about 20 s together).

Defects found (both fixed; the tests named "Was a DEFECT" reproduce them):

* a duplicate delivery that loses its commit to its twin answers the twin's result, refreshes and
  acknowledges the owed days without ever rewriting their commit marks (it skips ``_finish``); a refresh
  that computed before the commit then writes stale reports after it unnoticed, and the debt that would
  have repaired them is gone. Now the losing twin runs ``_finish`` (the marks) first;
* a failed acknowledgement is only logged: the invocation succeeds, nobody retries, the state keeps
  ``owed`` until the key changes again (reports stay exact). Now the record fails and its retry confirms.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_app import daily_reports, paths
from lambda_app.errors import RecordsFailedError
from lambda_app.ports import Storage
from orders_tools import s3_events
from tests.fakes import FaultyStorage, Killed, MemoryAws
from tests.functional.test_marks_attacks import (
    NEXT,
    STORAGE_METHODS,
    X1,
    X2,
    X3,
    B,
    C,
    assert_exact,
    assert_reference,
    assert_stale_retries_and_nothing_owed,
    die,
    event_of,
    handle,
    held_at_first_report,
    is_mark,
    is_report,
    plain,
    state_of,
)
from tests.functional.test_partials_attacks import file_of, row
from tests.helpers import EVENT_TIME, World, csv_bytes, every, line

DAY = EVENT_TIME.date()
LATER = DAY + timedelta(days=2)
EMPTY = csv_bytes()  # a header and no rows: a load of zero rows
BAD = csv_bytes("not,a,row", "still,not,a,row", line("BAD-1"))  # more rejects than MAX_REJECT_RATIO allows
X4 = file_of(row("X-5", region="West", category="Office Supplies", sub="Paper"))


def state_key(world: World, key: str = "x.csv") -> str:
    return paths.state_key(world.settings(), paths.source_id(world.input_bucket, key))


def is_state_of(world: World, key: str = "x.csv") -> Callable[..., bool]:
    wanted = state_key(world, key)
    return lambda _bucket, written, *_, **__: written == wanted


def after_reports(world: World, storage: FaultyStorage, action: Callable[..., None]) -> None:
    """Run ``action`` before every PUT of x.csv's state that follows a report PUT: the acknowledgement."""
    seen: list[str] = []
    storage.before("put", lambda *_, **__: seen.append("report"), is_report)
    wanted = is_state_of(world)
    storage.before("put", lambda *a, **k: action(*a, **k) if seen else None, wanted)


def x_v1_and_b(world: World) -> Storage:
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    handle(world, storage, event_of(world, "b.csv", B[0], EVENT_TIME + timedelta(seconds=1)))
    return storage


_NEWEST = itertools.count(1)


def newest(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with a sequencer after every other (a later upload whose event time is on an earlier day)."""
    record = event["Records"][0]["s3"]["object"]
    record["sequencer"] = "F" * 12 + f"{next(_NEWEST):06X}"
    return event


def retried(world: World, event: dict[str, Any], times: int = 3) -> dict[str, Any]:
    """Lambda's retries of one event until it answers."""
    for _ in range(times - 1):
        with contextlib.suppress(RecordsFailedError):
            return handle(world, plain(world), event)
    return handle(world, plain(world), event)


# ------------------------------------------------------------------------------------------ the defects


def test_a_duplicate_that_loses_to_its_twin_rewrites_the_marks_before_it_acknowledges(
    world: World,
) -> None:
    """Was a DEFECT (fixed: the losing twin now runs ``_finish``). Root cause: ``UnitOfWork._run``'s ``_Lost``
    branch returned the twin's committed result (status
    loaded) without ``_finish`` (the commit marks), and ``App._refresh`` acknowledges it like any load.

    Interleaving: x.csv v1 and b.csv are on DAY. (1) c.csv's refresh of DAY reads the mark, computes (x v1
    counted) and is held before writing. (2) Delivery B of x v2 (uploaded the next day) registers and is held
    before its commit. (3) Delivery A of the same event commits (x moves to NEXT, DAY owed) and dies at its
    first mark PUT. (4) B's commit finds its twin committed and answers A's result; B refreshes DAY and NEXT
    (right, but the mark of DAY is unchanged) and acknowledges: DAY is no longer owed. (5) c's refresh writes
    reports counting x v1, reads the same mark and stops. (6) x v3 commits on NEXT: nothing owed, so DAY is
    not refreshed; (7) the retry of A is stale. DAY's reports count rows that are in no committed object.
    Without the acknowledgement v3 would have carried DAY and repaired it.
    Fix: in the ``_Lost`` branch, when the answer is the twin's, run ``_finish(event, state)`` (as
    ``_decided`` does for a redelivered committed event) before returning it; or acknowledge nothing then."""
    storage = x_v1_and_b(world)
    r0_storage, r0_holding, r0_release = held_at_first_report(storage)
    b_storage, b_held, b_release = FaultyStorage(storage), threading.Event(), threading.Event()

    def hold_b(*_: Any, **__: Any) -> None:
        if not b_held.is_set():
            b_held.set()
            assert b_release.wait(timeout=60)

    b_storage.before("add_partition", hold_b)
    a_storage = FaultyStorage(storage)
    a_storage.before("put", die, is_mark)
    c_event = event_of(world, "c.csv", C[0], EVENT_TIME + timedelta(seconds=2))
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with ThreadPoolExecutor(max_workers=2) as pool:
        r0 = pool.submit(handle, world, r0_storage, c_event)
        assert r0_holding.wait(timeout=60)
        twin = pool.submit(handle, world, b_storage, v2)
        assert b_held.wait(timeout=60)
        with pytest.raises(Killed):
            handle(world, a_storage, v2)
        assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
        b_release.set()
        assert twin.result(timeout=60)["files"][0]["status"] == "loaded"
        r0_release.set()
        r0.result(timeout=60)
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    assert handle(world, storage, v3)["files"][0]["status"] == "loaded"
    assert handle(world, storage, v2)["files"][0]["reason"] == "stale_event"  # Lambda's retry of A
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1] + C[1], DAY)


def test_an_acknowledgement_that_fails_fails_the_record_and_its_retry_clears_the_day(memory_aws: MemoryAws) -> None:
    """Was a DEFECT (of the claim "no state has ``owed`` after a quiet period"; reports stayed exact): a failed
    acknowledgement was only logged, Lambda retried nothing, and the debt stayed until the key's next commit.
    Now the record fails (retryable); the retry answers "already loaded", refreshes again and acknowledges.

    x moves DAY -> NEXT; every refresh succeeds; the acknowledgement's state PUT raises SlowDown."""
    world = memory_aws
    storage = plain(world)
    handle(world, storage, event_of(world, "x.csv", X1[0]))
    faulty = FaultyStorage(storage)

    def slow_down(*_: Any, **__: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")

    after_reports(world, faulty, slow_down)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(RecordsFailedError, match="not confirmed"):
        handle(world, faulty, v2)
    assert_exact(world, DAY, NEXT)  # every refresh succeeded
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
    assert handle(world, storage, v2)["files"][0]["status"] == "loaded"  # Lambda's retry
    assert_exact(world, DAY, NEXT)
    assert "owed" not in state_of(world, "x.csv")


# ---------------------------------------------------------------------------------------------- probes


def test_a_kill_at_the_acknowledgement_then_a_newer_version_then_the_retry(memory_aws: MemoryAws) -> None:
    """PROBE. x moves DAY -> NEXT; the invocation dies at its acknowledgement PUT (reports written, DAY still
    owed). v3 commits on NEXT (carrying DAY) and confirms it; the retry of v2 is stale. Exact, nothing owed."""
    world = memory_aws
    storage = x_v1_and_b(world)
    faulty = FaultyStorage(storage)
    after_reports(world, faulty, die)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(Killed):
        handle(world, faulty, v2)
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    assert sorted(handle(world, storage, v3)["reports"]) == [DAY.isoformat(), NEXT.isoformat()]
    assert handle(world, storage, v2)["files"][0]["reason"] == "stale_event"
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X3[1], NEXT)


@pytest.mark.parametrize("kill_v3", [False, True], ids=["v3-completes", "v3-killed-at-its-mark"])
def test_an_acknowledgement_overtaken_by_a_newer_commit_at_its_put(world: World, kill_v3: bool) -> None:
    """PROBE. Right before v2's acknowledgement PUT, v3 (NEXT) runs: it carries DAY, refreshes and confirms
    it. v2's PUT (from its remembered version) loses the compare-and-swap, re-reads, finds v3's sequencer and
    leaves the state alone. Or v3 dies at its mark (it owes DAY), and is retried after v2's acknowledgement:
    nothing owed at the end, every day exact."""
    storage = x_v1_and_b(world)
    faulty = FaultyStorage(storage)
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    v3_storage = FaultyStorage(storage)
    if kill_v3:
        v3_storage.before("put", die, is_mark)
    ran: list[bool] = []

    def run_v3(*_: Any, **__: Any) -> None:
        if not ran:
            ran.append(True)
            with contextlib.suppress(Killed):
                handle(world, v3_storage, v3)

    after_reports(world, faulty, run_v3)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    handle(world, faulty, v2)
    assert ran
    if kill_v3:
        assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]  # v2's confirmation did not clear v3's
        assert retried(world, v3)["files"][0]["status"] == "loaded"
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X3[1], NEXT)


def test_a_move_back_to_the_first_day_through_killed_commits(memory_aws: MemoryAws) -> None:
    """PROBE. x: DAY (v1) -> NEXT (v2, killed at its mark) -> DAY (v3, killed at its mark): v3 owes NEXT and
    its own DAY is among its ``days``. v4 on DAY again refreshes both; the retries are stale."""
    world = memory_aws
    storage = x_v1_and_b(world)
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    v3 = newest(event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(hours=1)))
    for event in (v2, v3):
        with pytest.raises(Killed):
            handle(world, faulty, event)
    state = state_of(world, "x.csv")
    assert (state["days"], state["owed"]) == ([DAY.isoformat()], [NEXT.isoformat()])
    v4 = newest(event_of(world, "x.csv", X4[0], EVENT_TIME + timedelta(hours=2)))
    assert sorted(handle(world, storage, v4)["reports"]) == [DAY.isoformat(), NEXT.isoformat()]
    for retry in (v2, v3):
        assert handle(world, storage, retry)["files"][0]["reason"] == "stale_event"
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)
    assert_reference(world, X4[1] + B[1], DAY)


def test_zero_row_loads_owe_their_own_day_and_a_later_load_refreshes_every_day(memory_aws: MemoryAws) -> None:
    """PROBE. x v1 on DAY; v2 (a header, no rows) on NEXT and v3 (no rows) on NEXT, each killed at its mark:
    both days are owed (a zero-row load has no day of its own); v4 loads on LATER and refreshes all three."""
    world = memory_aws
    storage = x_v1_and_b(world)
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", EMPTY, EVENT_TIME + timedelta(days=1))
    v3 = event_of(world, "x.csv", EMPTY, EVENT_TIME + timedelta(days=1, hours=1))
    for event in (v2, v3):
        with pytest.raises(Killed):
            handle(world, faulty, event)
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat(), NEXT.isoformat()]
    assert state_of(world, "x.csv")["days"] == []
    v4 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=2))
    assert sorted(handle(world, storage, v4)["reports"]) == [DAY.isoformat(), NEXT.isoformat(), LATER.isoformat()]
    assert_stale_retries_and_nothing_owed(world, storage, (v2, v3), DAY, NEXT, LATER)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X3[1], LATER)


@pytest.mark.parametrize("between", ["rejected-file", "deleted-object"])
def test_a_rejected_newer_version_or_a_deleted_object_before_the_retry_of_a_killed_move(
    memory_aws: MemoryAws, between: str
) -> None:
    """PROBE. v2 moves x to NEXT and dies at its mark. Before Lambda's retry, v3 is a bad file (rejected as a
    whole, no commit) or x is deleted. The retry answers "already loaded", refreshes DAY and NEXT, confirms."""
    world = memory_aws
    storage = x_v1_and_b(world)
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    with pytest.raises(Killed):
        handle(world, faulty, v2)
    if between == "rejected-file":
        v3 = event_of(world, "x.csv", BAD, EVENT_TIME + timedelta(days=1, hours=1))
        assert handle(world, storage, v3)["files"][0]["status"] == "rejected_file"
    else:
        world.delete_input("x.csv")
    assert handle(world, storage, v2)["files"][0]["status"] == "loaded"
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X2[1], NEXT)


def test_a_refresh_failing_for_one_owed_day_but_not_another_then_overtaken(memory_aws: MemoryAws) -> None:
    """PROBE. v2 (NEXT) and v3 (LATER) die at their marks: DAY and NEXT owed. v4 on LATER refreshes all three
    days, DAY's fails: the record fails and only DAY stays owed. v5 (LATER) overtakes v4's retry, carries DAY
    and confirms it; the retries are stale. Exact everywhere, nothing owed."""
    world = memory_aws
    storage = x_v1_and_b(world)
    faulty = FaultyStorage(storage)
    faulty.before("put", die, is_mark)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    v3 = event_of(world, "x.csv", X1[0], EVENT_TIME + timedelta(days=2))
    for event in (v2, v3):
        with pytest.raises(Killed):
            handle(world, faulty, event)
    failing = FaultyStorage(storage)
    day_reports = f"analytics/{DAY:%Y/%m/%d}/"

    def fail_day(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        if key.startswith(day_reports):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")

    failing.before("put", fail_day)
    v4 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=2, hours=1))
    with pytest.raises(RecordsFailedError):
        handle(world, failing, v4)
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
    v5 = event_of(world, "x.csv", X4[0], EVENT_TIME + timedelta(days=2, hours=2))
    assert sorted(handle(world, storage, v5)["reports"]) == [DAY.isoformat(), LATER.isoformat()]
    assert_stale_retries_and_nothing_owed(world, storage, (v2, v3, v4), DAY, NEXT, LATER)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X4[1], LATER)


@pytest.mark.parametrize("fault", ["killed-in-refresh", "day-refresh-fails"])
def test_an_sqs_batch_with_two_versions_of_one_key(memory_aws: MemoryAws, fault: str) -> None:
    """PROBE. One SQS batch holds v2 and v3 of x (both on NEXT, x was on DAY): both commit, v3 carries DAY.
    The invocation dies at its first report PUT, or DAY's refresh fails (both messages named in
    ``batchItemFailures``, as both touch DAY). The redelivery (v2 stale, v3 already loaded) ends exact."""
    world = memory_aws
    storage = x_v1_and_b(world)
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    batch = s3_events.sqs_batch(v2, v3)
    faulty = FaultyStorage(storage)
    day_reports = f"analytics/{DAY:%Y/%m/%d}/"
    if fault == "killed-in-refresh":
        faulty.before("put", die, is_report)
        with pytest.raises(Killed):
            handle(world, faulty, batch)
        again = batch
    else:

        def fail_day(_bucket: str, key: str, *_: Any, **__: Any) -> None:
            if key.startswith(day_reports):
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject")

        faulty.before("put", fail_day)
        answer = handle(world, faulty, batch)
        ids = [r["messageId"] for r in batch["Records"]]
        assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(ids)
        again = batch
    assert state_of(world, "x.csv")["owed"] == [DAY.isoformat()]
    assert handle(world, storage, again) == {"batchItemFailures": []}
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1], DAY)
    assert_reference(world, X3[1], NEXT)


# ------------------------------------------------------------- sweep: a kill at every call after the commit


def _counting(storage: Storage, at: int) -> tuple[FaultyStorage, list[int], list[int]]:
    """``storage`` killed at its ``at``-th call (all methods, from 0); ``seen[0]``: calls; ``commit``: the index
    of x.csv's second state PUT (the commit)."""
    faulty, seen, commit = FaultyStorage(storage), [0], []
    writes = itertools.count()

    def hook(method: str) -> Callable[..., None]:
        def action(_bucket: str = "", key: str = "", *_: Any, **__: Any) -> None:
            n = seen[0]
            seen[0] += 1
            if method == "put" and key.startswith("state/sources/") and next(writes) == 1:
                commit.append(n)
            if n == at:
                raise Killed

        return action

    for method in STORAGE_METHODS:
        faulty.before(method, hook(method))
    return faulty, seen, commit


NEWER = {  # the version that overtakes the killed move before its retry: (body, when)
    "same-next-day": (X3[0], EVENT_TIME + timedelta(days=1, hours=1)),
    "back-to-day": (X3[0], EVENT_TIME + timedelta(hours=5)),
    "zero-rows-later": (EMPTY, EVENT_TIME + timedelta(days=2)),
}


@pytest.mark.parametrize("newer", list(NEWER))
def test_a_move_killed_at_every_call_after_its_commit_then_overtaken(
    newer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROBE (memory only). x v1 and b.csv on DAY. v2 moves x to NEXT and is killed at its k-th storage call,
    from its commit to its end, the acknowledgement included (every third k per variant, each variant shifted:
    together every k). A newer version then runs to completion (on NEXT; back on DAY, with a sequencer after
    v2's; or zero rows on LATER), and v2 is retried. Every day is exact, x is its newest version only, and
    nothing is owed."""
    monkeypatch.setattr(daily_reports, "_STATE_READERS", 1)

    def setup() -> tuple[MemoryAws, dict[str, Any], dict[str, Any]]:
        aws = MemoryAws()
        x_v1_and_b(aws)
        v2 = event_of(aws, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
        body, when = NEWER[newer]
        return aws, v2, newest(event_of(aws, "x.csv", body, when))

    aws, v2, _ = setup()
    probe, seen, commit = _counting(aws.memory, -1)
    handle(aws, probe, v2)
    total, start = seen[0], commit[0]
    assert total - start > 15
    stride = every(3)  # each variant starts at another call: the three together cover every one
    for k in range(start + list(NEWER).index(newer) % stride, total, stride):
        aws, v2, v3 = setup()
        faulty, _, _ = _counting(aws.memory, k)
        with pytest.raises(Killed):
            handle(aws, faulty, v2)
        assert retried(aws, v3)["files"][0]["status"] == "loaded", k
        assert retried(aws, v2)["files"][0]["reason"] == "stale_event", k
        state = state_of(aws, "x.csv")
        assert "owed" not in state and not state.get("pending"), (k, state)
        assert_exact(aws, DAY, NEXT, LATER)
        if newer == "back-to-day":
            assert_reference(aws, B[1] + X3[1], DAY)
        else:
            assert_reference(aws, B[1], DAY)


def test_a_concurrent_stale_refresh_is_repaired_when_the_owed_day_is_carried(memory_aws: MemoryAws) -> None:
    """PROBE (the twin defect's control). As in the twin defect, c.csv's refresh of DAY computed with x v1 and
    is held; x v2 commits (moving x to NEXT) and dies at its mark; but no duplicate: v3 commits, carries DAY,
    rewrites DAY's mark and refreshes; c's refresh writes stale reports, sees the new mark and redoes."""
    world = memory_aws
    storage = x_v1_and_b(world)
    r0_storage, r0_holding, r0_release = held_at_first_report(storage)
    a_storage = FaultyStorage(storage)
    a_storage.before("put", die, is_mark)
    c_event = event_of(world, "c.csv", C[0], EVENT_TIME + timedelta(seconds=2))
    v2 = event_of(world, "x.csv", X2[0], EVENT_TIME + timedelta(days=1))
    v3 = event_of(world, "x.csv", X3[0], EVENT_TIME + timedelta(days=1, hours=1))
    with ThreadPoolExecutor(max_workers=1) as pool:
        r0 = pool.submit(handle, world, r0_storage, c_event)
        assert r0_holding.wait(timeout=60)
        with pytest.raises(Killed):
            handle(world, a_storage, v2)
        assert handle(world, storage, v3)["files"][0]["status"] == "loaded"
        r0_release.set()
        r0.result(timeout=60)
    assert handle(world, storage, v2)["files"][0]["reason"] == "stale_event"
    assert "owed" not in state_of(world, "x.csv")
    assert_exact(world, DAY, NEXT)
    assert_reference(world, B[1] + C[1], DAY)
    assert_reference(world, X3[1], NEXT)
