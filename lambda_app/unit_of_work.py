"""One input object in, dataset rows + rejects + manifest out, exactly once, against the storage port.

The protocol (README, "Replays and concurrency"; the state object is :mod:`lambda_app.source_state`):

1. **Order.** An event older than the source's committed load is skipped
   (``stale_event``); the committed event delivered again answers its recorded
   result and finishes what a crash may have left undone.
2. **Write-ahead.** Before writing anything, an attempt registers in the state's
   ``pending`` (compare-and-swap). Its objects are named
   ``<source_id>_<attempt>_<uuid>.snappy.parquet`` (rejects:
   ``<key>.<attempt>.rejects.csv``; its report partial, written last before the
   commit: ``state/partials/.../<source_id>_<attempt>.parquet``), so every object
   belongs to exactly one attempt.
3. **Commit** is one compare-and-swap of the state, allowed only while the
   attempt is still pending and no newer event is committed. It makes the
   attempt the committed load and hands the previous load, and every pending
   attempt of the same or an older event (in flight, or crashed debris), to
   ``garbage``. A pending attempt that finds itself swept, or a newer load
   committed, deletes its own objects and answers accordingly.
4. **Garbage** is deleted after the commit by whoever touches the source next
   (this invocation first), then removed from the state; an attempt's objects
   are deleted only when the state hands them over. Before that, the commit
   rewrites the commit mark of every day it changed (``paths.commit_mark_key``),
   which tells a concurrent report refresh of the day to look again.
5. A **rejected file** or a **missing object** of an event sweeps the pending
   attempts of the same or older events too, so debris of a crashed attempt
   never outlives a later decision about the key; a swept attempt still in
   flight fails at its commit and is retried.

Manifests and error records are written with ``put_if_newer``: a slow
invocation can never overwrite what a newer event wrote.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from lambda_app import paths
from lambda_app.daily_reports import remember_written_partial, touch_commit_mark
from lambda_app.errors import (
    ConcurrentLoadError,
    FileTooLargeError,
    InputFileError,
    ObjectAccessDeniedError,
    TooManyRejectsError,
)
from lambda_app.logs import logger
from lambda_app.model import FileResult, LoadCounts, ObjectEvent, ObjectInfo, Status, not_newer
from lambda_app.parquet import parquet_bytes, row_group_rows
from lambda_app.ports import Storage
from lambda_app.report_partials import ReportPartial, Term
from lambda_app.reports import INPUT_COLUMNS, ReportBuilder, region_sums
from lambda_app.schema import PARTITION_COLUMN
from lambda_app.settings import Settings
from lambda_app.source_state import JsonObjects
from lambda_app.streaming import Source, load_stream


@dataclass
class Attempt:
    """One try at loading one input object: who, where, and what it has written so far."""

    event: ObjectEvent
    info: ObjectInfo
    sid: str
    attempt_id: str
    load: LoadCounts = field(default_factory=LoadCounts)

    @property
    def day(self) -> date:
        return self.event.ingest_date


class S3Sink:
    """:class:`lambda_app.streaming.Sink` that writes each table as one Parquet object of the attempt's prefix.

    It also gathers the attempt's report partial (:mod:`lambda_app.report_partials`): the
    profit terms of every object it writes, per row group as the object holds them (on the
    writer thread), and the distinct (pair, order) rows of every block it observes (on the
    observer thread). A pass that is discarded starts both again.
    """

    def __init__(self, storage: Storage, bucket: str, prefix: str) -> None:
        self._storage = storage
        self._bucket = bucket
        self._prefix = prefix
        self._builder = ReportBuilder()
        self._terms: list[Term] = []

    def write(self, table: pa.Table) -> list[str]:
        key = f"{self._prefix}{uuid.uuid4().hex}.snappy.parquet"
        body = parquet_bytes(table)
        self._storage.put(self._bucket, key, body)
        start = 0
        for group, rows in enumerate(row_group_rows(body)):
            chunk = table.slice(start, rows).select(["region", "profit"])
            # extend: two writes may run at once (streaming's split last flush); terms are summed sorted by key
            self._terms.extend([(key, group, region, total) for region, total in region_sums(chunk)])
            start += rows
        return [key]

    def discard(self, written: list[str]) -> None:
        self._storage.delete(self._bucket, written)
        self._builder = ReportBuilder()
        self._terms = []

    def observe(self, table: pa.Table) -> None:
        self._builder.add(table.select(list(INPUT_COLUMNS)))

    def partial(self, attempt: str) -> ReportPartial:
        """What the objects written so far add to the day's reports (``attempt``: ``<source_id>_<attempt>``)."""
        return ReportPartial.from_builder(self._builder, frozenset({attempt}), self._terms)


class _Lost(Exception):
    """The attempt may not commit: ``result`` is the answer (skipped, or the committed twin's)."""

    def __init__(self, result: FileResult | None, twin_state: dict[str, Any] | None = None) -> None:
        super().__init__("lost")
        self.result = result
        self.twin_state = twin_state  # the state that committed this very event (another delivery of it)


class UnitOfWork:
    """Loads input objects into the dataset through a :class:`~lambda_app.ports.Storage`."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings
        self.json = JsonObjects(storage, settings.output_bucket)

    # ------------------------------------------------------------------- the unit

    def process(self, event: ObjectEvent) -> FileResult:
        """Load one input object. Permanent input problems are recorded and returned, not raised."""
        started = time.monotonic()
        result = FileResult(
            bucket=event.bucket,
            key=event.key,
            status=Status.LOADED,
            ingest_date=event.ingest_date.isoformat(),
            sequencer=event.sequencer,
        )
        sid = paths.source_id(event.bucket, event.key)
        state_key = paths.state_key(self.settings, sid)
        state, _ = self.json.read(state_key)
        decided = self._decided(event, state or {})
        if decided is not None:
            return decided
        try:
            info = self._announced_version(event)
        except ObjectAccessDeniedError as exc:
            result.status, result.reason, result.detail = Status.SKIPPED, exc.reason, str(exc)
            logger.error("object inaccessible", extra={"bucket": event.bucket, "key": event.key, "retryable": False})
            return result
        if info is None:
            self._sweep(event, sid, own=None)
            result.status, result.reason = Status.SKIPPED, "object_missing"
            result.detail = "the object no longer exists; a later event will carry its replacement, if any"
            logger.warning("object missing", extra={"bucket": event.bucket, "key": event.key, "retryable": False})
            return result
        result.size, result.etag, result.version_id = info.size, info.etag, info.version_id
        attempt = Attempt(event=event, info=info, sid=sid, attempt_id=uuid.uuid4().hex[: paths.ATTEMPT_ID_LENGTH])
        self._register(attempt)
        try:
            return self._run(attempt, result, started)
        finally:
            rejects_file = attempt.load.rejects_file
            if rejects_file and os.path.exists(rejects_file):
                os.unlink(rejects_file)

    def _announced_version(self, event: ObjectEvent) -> ObjectInfo | None:
        """The object version the event announced, or ``None`` when the key is deleted or that version is gone.

        A deleted key (in a versioned bucket: a delete marker on top) is missing even though the
        version still exists: the user took the file back. A newer upload on top is not: it has an
        event of its own, and this one loads the version it names.
        """
        current = self.storage.head(event.bucket, event.key)
        if current is None or not event.version_id or current.version_id == event.version_id:
            return current
        return self.storage.head(event.bucket, event.key, event.version_id)

    def _decided(self, event: ObjectEvent, state: dict[str, Any]) -> FileResult | None:
        """The answer for an event the state already decided: older than the committed load, or that very event.

        Either way the source's garbage is collected (for the committed event, as part of finishing it).
        """
        committed = state.get("sequencer")
        if not not_newer(event.sequencer, committed):
            return None
        if event.sequencer == committed and state.get("result"):
            self._finish(event, state)
            logger.info("event already loaded", extra={"key": event.key, "sequencer": event.sequencer})
            return _result_from(state["result"])
        logger.info("stale event skipped", extra={"key": event.key, "sequencer": event.sequencer})
        # a killed attempt's retry cleans up
        self._collect_garbage(event, paths.source_id(event.bucket, event.key), before=state)
        return self._stale(event, committed)

    def _register(self, attempt: Attempt) -> None:
        """Write-ahead: the attempt (and the day it writes to) is in ``pending`` before any object is written."""
        event = attempt.event

        def change(state: dict[str, Any] | None) -> dict[str, Any]:
            state = state or {"bucket": event.bucket, "key": event.key}
            state.setdefault("pending", {})[attempt.attempt_id] = {
                "sequencer": event.sequencer,
                "day": attempt.day.isoformat(),
                "started_at": datetime.now(UTC).isoformat(),
            }
            return state

        self.json.update(paths.state_key(self.settings, attempt.sid), change)

    def _run(self, attempt: Attempt, result: FileResult, started: float) -> FileResult:
        try:
            self._load(attempt)
        except InputFileError as exc:
            self._delete_own(attempt)
            self._sweep(attempt.event, attempt.sid, own=attempt.attempt_id)
            _fill(result, attempt.load, started)
            result.status, result.reason, result.detail = Status.REJECTED_FILE, exc.reason, str(exc)
            result.rows_loaded, result.objects_written = 0, []
            self._record_error(attempt, result)
            return result
        except Exception:
            # Transient failure before the commit: remove this attempt's objects so the committed
            # version stays the only copy; whatever cannot be removed stays pending (tracked debris).
            self._abandon(attempt)
            raise
        if attempt.load.rows_rejected and attempt.load.rejects_file:
            rejects_key = paths.rejects_key(
                self.settings, attempt.day, attempt.event.bucket, attempt.event.key, attempt.attempt_id
            )
            try:
                self.storage.upload_file(self.settings.output_bucket, rejects_key, attempt.load.rejects_file)
            except Exception:
                self._abandon(attempt)
                raise
            attempt.load.written.append(rejects_key)
        _fill(result, attempt.load, started)
        try:
            state = self._commit(attempt, result)
        except _Lost as lost:
            self._delete_own(attempt)
            self._forget(attempt)
            if lost.result is None:
                raise ConcurrentLoadError(
                    f"attempt {attempt.attempt_id} for {attempt.event.key} was swept by a concurrent invocation"
                ) from None
            if lost.twin_state is not None:
                # Another delivery of this event committed and may have died before its marks: finish what it
                # began, as a redelivery of a committed event does, before this invocation refreshes its days.
                self._finish(attempt.event, lost.twin_state)
            return lost.result
        except Exception:
            # The commit's PUT may have landed with its answer lost: then the objects are the committed load and
            # must stay (the retry answers "already loaded"). Only an attempt the state does not name is abandoned.
            if not self._committed(attempt):
                self._abandon(attempt)
            raise
        self._finish(attempt.event, state)
        logger.info("file loaded", extra={k: v for k, v in result.to_dict().items() if k != "objects_written"})
        return result

    def _load(self, attempt: Attempt) -> None:
        """Stream the object into Parquet objects and a local rejects file; raise ``InputFileError`` when it is bad."""
        settings, event, load = self.settings, attempt.event, attempt.load
        if attempt.info.size > settings.max_object_bytes:
            raise FileTooLargeError(
                f"the object is {attempt.info.size} bytes; MAX_OBJECT_BYTES allows {settings.max_object_bytes}"
            )
        self.storage.ensure_table(settings.glue_database, settings.glue_table, settings.dataset_root)
        prefix = paths.attempt_prefix(settings, attempt.day, attempt.sid, attempt.attempt_id)
        sink = S3Sink(self.storage, settings.output_bucket, prefix)
        # The version HEAD described (the manifest's ETag/version), even if a newer upload lands meanwhile.
        with self.storage.open(event.bucket, event.key, attempt.info.version_id) as stream:
            source = Source(
                key=event.key,
                ingested_at=event.event_time.astimezone(UTC),
                block_size=settings.block_size_bytes,
                rows_per_file=settings.rows_per_file,
                max_rejects_bytes=settings.max_rejects_bytes,
            )
            load_stream(stream, source, sink, load)
        if load.rows_read and load.rows_rejected > settings.max_reject_ratio * load.rows_read:
            raise TooManyRejectsError(
                f"{load.rows_rejected} of {load.rows_read} rows failed validation"
                f" (more than MAX_REJECT_RATIO={settings.max_reject_ratio}); nothing was loaded"
            )
        if load.written:
            # Before the commit, like the objects: a committed attempt with rows always has its partial.
            partial = sink.partial(paths.attempt_name(attempt.sid, attempt.attempt_id))
            key = paths.partial_key(settings, attempt.day, attempt.sid, attempt.attempt_id)
            body = partial.to_bytes()
            self.storage.put(settings.output_bucket, key, body)
            remember_written_partial(self.storage, settings.output_bucket, key, partial, body)
            # Before the commit: a Glue error here still leaves the committed version alone.
            value = paths.partition_value(attempt.day)
            self.storage.add_partition(
                settings.glue_database,
                settings.glue_table,
                f"{settings.dataset_root}{PARTITION_COLUMN}={value}/",
                value,
            )

    # ------------------------------------------------------------- state changes

    def _commit(self, attempt: Attempt, result: FileResult) -> dict[str, Any]:
        """Make the attempt the committed load, or raise ``_Lost`` with the answer when it may not."""
        event, mine = attempt.event, attempt.attempt_id
        lost: list[_Lost] = []
        landed: list[dict[str, Any]] = []

        def change(state: dict[str, Any] | None) -> dict[str, Any] | None:
            state = state or {}
            lost.clear()
            landed.clear()
            if state.get("attempt") == mine:  # this commit landed and its answer was lost (the SDK's retry got 412)
                landed.append(state)
                return None
            pending = state.get("pending", {})
            committed = state.get("sequencer")
            if not_newer(event.sequencer, committed):  # a newer event, or this very one, was committed meanwhile
                if event.sequencer == committed and state.get("result"):
                    lost.append(_Lost(_result_from(state["result"]), twin_state=state))
                else:
                    lost.append(_Lost(self._stale(event, committed)))
                return None
            if mine not in pending:
                lost.append(_Lost(None))  # swept into garbage by a concurrent decision: retry
                return None
            garbage = state.setdefault("garbage", {})
            if state.get("attempt"):
                garbage[state["attempt"]] = sorted(set(garbage.get(state["attempt"], [])) | set(state.get("days", [])))
            for other, entry in list(pending.items()):
                if other == mine or not_newer(entry.get("sequencer"), event.sequencer):
                    del pending[other]
                    if other != mine:
                        garbage[other] = sorted(set(garbage.get(other, [])) | {entry["day"]})
            previous_days = set(state.get("days", []))
            days = [attempt.day.isoformat()] if attempt.load.rows_loaded else []
            # ``owed``: days an earlier commit changed whose refresh nobody confirmed (its invocation may have
            # died before it, and its retry is now a stale event): this commit refreshes them too.
            carried = set(state.get("owed", []))
            result.affected_days = sorted(previous_days | {attempt.day.isoformat()} | carried)
            result.superseded_days = sorted(previous_days - set(days))
            result.decided_by = event.sequencer
            state.update(
                bucket=event.bucket,
                key=event.key,
                sequencer=event.sequencer,
                attempt=mine,
                days=days,
                etag=result.etag,
                version_id=result.version_id,
                ingested_at=event.event_time.isoformat(),
                result=result.to_dict(),
            )
            _set_owed(state, owed_days(result))
            return state

        written = self.json.update(paths.state_key(self.settings, attempt.sid), change)
        if landed:
            return landed[0]
        if lost:
            raise lost[0]
        assert written is not None
        return written

    def acknowledge(self, result: FileResult, refreshed: set[str]) -> None:
        """The reports of ``refreshed`` days are written: a commit of this result no longer owes them.

        Only while the state still names the result's event; a newer commit carried the days and owes them now.
        """
        done = owed_days(result) & refreshed
        if not done:
            return

        def change(state: dict[str, Any] | None) -> dict[str, Any] | None:
            if not state or state.get("sequencer") != result.sequencer or not done & set(state.get("owed", [])):
                return None
            _set_owed(state, set(state["owed"]) - done)
            return state

        self.json.update(paths.state_key(self.settings, paths.source_id(result.bucket, result.key)), change)

    def _committed(self, attempt: Attempt) -> bool:
        """Whether the state names ``attempt`` as committed (``True`` when unreadable: keep its objects)."""
        try:
            state, _ = self.json.read(paths.state_key(self.settings, attempt.sid))
        except Exception:
            return True
        return state is not None and state.get("attempt") == attempt.attempt_id

    def _stale(self, event: ObjectEvent, committed: str | None) -> FileResult:
        return FileResult(
            bucket=event.bucket,
            key=event.key,
            status=Status.SKIPPED,
            ingest_date=event.ingest_date.isoformat(),
            sequencer=event.sequencer,
            reason="stale_event",
            detail=f"a newer event (sequencer {committed}) for this key was already processed",
        )

    def _sweep(self, event: ObjectEvent, sid: str, own: str | None) -> None:
        """A decision about ``event`` that loads nothing: hand its own and every older pending attempt to garbage."""

        def change(state: dict[str, Any] | None) -> dict[str, Any] | None:
            if not state:
                return None
            pending, garbage = state.get("pending", {}), state.setdefault("garbage", {})
            swept = [
                a for a, entry in pending.items() if a == own or not_newer(entry.get("sequencer"), event.sequencer)
            ]
            if not swept:
                return None
            for other in swept:
                entry = pending.pop(other)
                if other != own:  # its own objects were deleted already
                    garbage[other] = sorted(set(garbage.get(other, [])) | {entry["day"]})
            return state

        self.json.update(paths.state_key(self.settings, sid), change)
        self._collect_garbage(event, sid)

    def _forget(self, attempt: Attempt) -> None:
        """Remove this attempt from ``pending`` (its objects are gone)."""

        def change(state: dict[str, Any] | None) -> dict[str, Any] | None:
            if not state or attempt.attempt_id not in state.get("pending", {}):
                return None
            del state["pending"][attempt.attempt_id]
            return state

        self.json.update(paths.state_key(self.settings, attempt.sid), change)

    def _abandon(self, attempt: Attempt) -> None:
        """Best effort after a transient failure: delete the attempt's objects and forget it; else it stays pending."""
        try:
            self._delete_own(attempt)
            self._forget(attempt)
        except Exception:
            logger.warning(
                "could not remove a failed attempt's objects; the next decision about the key removes them",
                extra={"key": attempt.event.key, "attempt": attempt.attempt_id, "retryable": True},
                exc_info=True,
            )

    def _delete_own(self, attempt: Attempt) -> None:
        bucket = self.settings.output_bucket
        listed = self.storage.list_keys(
            bucket, paths.attempt_prefix(self.settings, attempt.day, attempt.sid, attempt.attempt_id)
        )
        partial = paths.partial_key(self.settings, attempt.day, attempt.sid, attempt.attempt_id)
        self.storage.delete(bucket, sorted(set(listed) | set(attempt.load.written) | {partial}))

    def _collect_garbage(self, event: ObjectEvent, sid: str, before: dict[str, Any] | None = None) -> None:
        """Delete every object of the source that belongs to no live attempt; then drop the garbage list.

        Live: the committed attempt and the pending ones. The days looked at are
        those the state names (committed, pending, garbage) and the event's own,
        so objects a swept attempt wrote after its sweep (orphans) go too. The
        listing comes before the state read that decides what is live: an
        attempt registers before it writes, so every listed object's attempt is
        in that state if it is still live.

        ``before``: a version of the state this invocation already holds (the one
        it committed, or read to decide), instead of reading it again. Any
        version from before the listing will do: it only says which days to list
        and which garbage entries this call hands back, both from that one
        version, so every entry dropped had its days listed. Garbage is final (an
        attempt enters it once); an entry added later is collected by whoever
        added it, or by the next caller.
        """
        state_key = paths.state_key(self.settings, sid)
        if before is None:
            before, _ = self.json.read(state_key)
        before = before or {}
        days = {event.ingest_date.isoformat(), *before.get("days", [])}
        days |= {entry["day"] for entry in before.get("pending", {}).values()}
        days |= {d for listed in before.get("garbage", {}).values() for d in listed}
        bucket, settings = self.settings.output_bucket, self.settings
        found: dict[str, str] = {}  # object key -> its attempt
        for value in sorted(days):
            day = date.fromisoformat(value)
            source_prefix = paths.source_prefix(settings, day, sid)
            for key in self.storage.list_keys(bucket, source_prefix):
                found[key] = key[len(source_prefix) :].split("_", 1)[0]
            for key in self.storage.list_keys(bucket, paths.partial_prefix(settings, day, sid)):
                attempt_id = paths.attempt_of_partial(settings, day, sid, key)
                if attempt_id:
                    found[key] = attempt_id
            rejects_prefix = paths.rejects_prefix(settings, day, event.bucket, event.key)
            for key in self.storage.list_keys(bucket, rejects_prefix):
                attempt_id = paths.attempt_of_rejects(key)
                if attempt_id and key == paths.rejects_key(settings, day, event.bucket, event.key, attempt_id):
                    found[key] = attempt_id
        now, _ = self.json.read(state_key)
        now = now or {}
        live = {now.get("attempt"), *now.get("pending", {})}
        doomed = sorted(k for k, attempt_id in found.items() if attempt_id not in live)
        if doomed:
            logger.info("garbage deleted", extra={"key": event.key, "objects": len(doomed)})
            self.storage.delete(bucket, doomed)
        handled = set(before.get("garbage", {}))
        if not handled:
            return

        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            if not current or not handled & set(current.get("garbage", {})):
                return None
            for attempt_id in handled:
                current["garbage"].pop(attempt_id, None)
            return current

        self.json.update(state_key, change)

    # --------------------------------------------------------- after the commit

    def _finish(self, event: ObjectEvent, state: dict[str, Any]) -> None:
        """What follows a commit (and is repeated by a redelivery): commit marks, garbage, manifests, error records."""
        result = state["result"]
        settings, bucket = self.settings, self.settings.output_bucket
        # Before this invocation refreshes them: a concurrent refresh of these days sees a new mark and redoes.
        for value in result.get("affected_days", []):
            touch_commit_mark(self.storage, settings, date.fromisoformat(value), by=state.get("attempt"))
        self._collect_garbage(event, paths.source_id(event.bucket, event.key), before=state)
        day = date.fromisoformat(result["ingest_date"])
        self.json.put_if_newer(paths.manifest_key(settings, day, event.bucket, event.key), result)
        for value in result.get("superseded_days", []):
            old_key = paths.manifest_key(settings, date.fromisoformat(value), event.bucket, event.key)
            old, _ = self.json.read(old_key)
            if old is not None and old.get("status") == Status.LOADED:
                marked = {
                    **old,
                    "status": str(Status.SUPERSEDED),
                    "superseded_by": {"sequencer": result.get("sequencer"), "ingest_date": result["ingest_date"]},
                    "decided_by": result.get("decided_by"),
                }
                self.json.put_if_newer(old_key, marked)
        # A successful load supersedes an earlier error record (and the rejects beside it) for the same key and day.
        error_key = paths.error_key(settings, day, event.bucket, event.key)
        record, _ = self.json.read(error_key)
        if record is not None and not_newer(record.get("decided_by"), result.get("decided_by")):
            self.storage.delete(
                bucket, [error_key, *([record["rejects_object"]] if record.get("rejects_object") else [])]
            )

    def _record_error(self, attempt: Attempt, result: FileResult) -> None:
        settings, event, load = self.settings, attempt.event, attempt.load
        result.decided_by = event.sequencer
        record = result.to_dict()
        record["previous_load_kept"] = True
        if load.rows_rejected and load.rejects_file and os.path.exists(load.rejects_file):
            rejects_key = paths.error_rejects_key(settings, attempt.day, event.bucket, event.key, attempt.attempt_id)
            self.storage.upload_file(settings.output_bucket, rejects_key, load.rejects_file)
            record["rejects_object"] = rejects_key
        error_key = paths.error_key(settings, attempt.day, event.bucket, event.key)
        previous, _ = self.json.read(error_key)
        if self.json.put_if_newer(error_key, record):
            stale = (previous or {}).get("rejects_object")
            if stale and stale != record.get("rejects_object"):
                self.storage.delete(settings.output_bucket, [stale])
        elif record.get("rejects_object"):
            self.storage.delete(settings.output_bucket, [record["rejects_object"]])
        logger.error(
            "file rejected",
            extra={
                "key": event.key,
                "reason": result.reason,
                "detail": result.detail,
                "rows_read": result.rows_read,
                "retryable": False,
            },
        )


def owed_days(result: FileResult) -> set[str]:
    """The days a committed load changed besides the one holding its rows: their refresh must be confirmed.

    A load's own day needs no record: a later commit of the key sees it among the committed ``days``. A day
    the rows left (a re-upload on a later day, or a load with no rows) is seen by nobody else.
    """
    own = {result.ingest_date} if result.rows_loaded else set()
    return set(result.affected_days) - own


def _set_owed(state: dict[str, Any], days: set[str]) -> None:
    """Record the days still owed in ``state``: sorted, and no field at all when none are."""
    if days:
        state["owed"] = sorted(days)
    else:
        state.pop("owed", None)


def _result_from(document: dict[str, Any]) -> FileResult:
    fields = {k: v for k, v in document.items() if k in FileResult.__dataclass_fields__}
    fields["status"] = Status(fields["status"])
    return FileResult(**fields)


def _fill(result: FileResult, load: LoadCounts, started: float) -> None:
    result.rows_read, result.rows_loaded, result.rows_rejected = load.rows_read, load.rows_loaded, load.rows_rejected
    result.rejected_by_reason = dict(sorted(load.reasons.items()))
    result.objects_written = list(load.written)
    result.encoding = load.encoding
    result.duration_seconds = round(time.monotonic() - started, 3)
