"""One input object in, dataset rows + rejects + manifest out, exactly once, against the storage port.

How a replay stays exactly-once (README, "Replays"):

1. Every Parquet object a source writes is named
   ``<source_id>_<attempt>_<uuid>.snappy.parquet`` inside the day partition.
2. Before writing, the source's state object records every partition that may
   hold its rows (write-ahead), so a crash can never hide old rows.
3. Only after the whole file is loaded ("commit") are the source's other
   objects — earlier versions, earlier days, debris of crashed attempts —
   deleted. A failed or rejected attempt deletes its own objects instead.

Different sources never share an object name prefix, so they never touch each
other's rows.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any

import pyarrow as pa

from lambda_app import paths
from lambda_app.errors import ConcurrentLoadError, FileTooLargeError, InputFileError, TooManyRejectsError
from lambda_app.logs import logger
from lambda_app.model import FileResult, LoadCounts, ObjectEvent, ObjectInfo, Status, sequencer_is_older
from lambda_app.parquet import parquet_bytes
from lambda_app.ports import Storage
from lambda_app.schema import PARTITION_COLUMN
from lambda_app.settings import Settings
from lambda_app.streaming import Source, load_stream


@dataclass
class Attempt:
    """One try at loading one input object: who, where, and what it has written so far."""

    event: ObjectEvent
    info: ObjectInfo
    sid: str
    attempt_id: str
    state: dict[str, Any]
    previous_days: set[date]
    load: LoadCounts = field(default_factory=LoadCounts)

    @property
    def day(self) -> date:
        return self.event.ingest_date

    @property
    def days(self) -> list[str]:
        return sorted(d.isoformat() for d in self.previous_days | {self.day})


class S3Sink:
    """:class:`lambda_app.streaming.Sink` that writes each table as one Parquet object of the day's partition."""

    def __init__(self, storage: Storage, settings: Settings, day: date, filename_prefix: str) -> None:
        self._storage = storage
        self._bucket = settings.output_bucket
        self._prefix = f"{paths.partition_prefix(settings, day)}{filename_prefix}"

    def write(self, table: pa.Table) -> list[str]:
        key = f"{self._prefix}{uuid.uuid4().hex}.snappy.parquet"
        self._storage.put(self._bucket, key, parquet_bytes(table))
        return [key]

    def discard(self, written: list[str]) -> None:
        self._storage.delete(self._bucket, written)

    def observe(self, table: pa.Table) -> None:
        pass


class UnitOfWork:
    """Loads input objects into the dataset through a :class:`~lambda_app.ports.Storage`."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings

    # ----------------------------------------------------------------- JSON objects

    def _get_json(self, key: str) -> dict[str, Any] | None:
        found = self.storage.get(self.settings.output_bucket, key)
        return None if found is None else dict(json.loads(found[0]))

    def _put_json(self, key: str, document: dict[str, Any]) -> None:
        body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
        self.storage.put(self.settings.output_bucket, key, body)

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
        state = self._get_json(paths.state_key(self.settings, sid)) or {}
        if sequencer_is_older(event.sequencer, state.get("sequencer")):
            result.status, result.reason = Status.SKIPPED, "stale_event"
            result.detail = f"a newer event (sequencer {state.get('sequencer')}) for this key was already processed"
            logger.info("stale event skipped", extra={"key": event.key, "sequencer": event.sequencer})
            return result
        info = self.storage.head(event.bucket, event.key)
        if info is None:
            result.status, result.reason = Status.SKIPPED, "object_missing"
            result.detail = "the object no longer exists; a later event will carry its replacement, if any"
            logger.warning("object missing", extra={"bucket": event.bucket, "key": event.key})
            return result
        result.size, result.etag, result.version_id = info.size, info.etag, info.version_id
        attempt = Attempt(
            event=event,
            info=info,
            sid=sid,
            attempt_id=uuid.uuid4().hex[:12],
            state=state,
            previous_days={date.fromisoformat(d) for d in state.get("days", [])},
        )
        try:
            return self._run(attempt, result, started)
        finally:
            rejects_file = attempt.load.rejects_file
            if rejects_file and os.path.exists(rejects_file):
                os.unlink(rejects_file)

    def _run(self, attempt: Attempt, result: FileResult, started: float) -> FileResult:
        event, settings = attempt.event, self.settings
        # Write-ahead: the state names every partition that may hold this key's rows before any is written.
        self._put_json(
            paths.state_key(settings, attempt.sid),
            {
                **attempt.state,
                "key": event.key,
                "bucket": event.bucket,
                "days": attempt.days,
                "pending_attempt": attempt.attempt_id,
            },
        )
        try:
            self._load(attempt)
        except InputFileError as exc:
            self.storage.delete(settings.output_bucket, attempt.load.written)
            _fill(result, attempt.load, started)
            result.status, result.reason, result.detail = Status.REJECTED_FILE, exc.reason, str(exc)
            result.rows_loaded, result.objects_written = 0, []
            self._record_error(attempt, result)
            return result
        except Exception:
            # Transient failure before the commit: remove this attempt's objects so the
            # previous version stays the only copy; the retry writes the file again.
            self._discard(attempt)
            raise
        self._commit(attempt, result)
        _fill(result, attempt.load, started)
        result.affected_days = attempt.days
        self._put_json(paths.manifest_key(settings, attempt.day, event.key), result.to_dict())
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
        sink = S3Sink(self.storage, settings, attempt.day, f"{attempt.sid}_{attempt.attempt_id}_")
        # The version HEAD described (the manifest's ETag/version), even if a newer upload lands meanwhile.
        with self.storage.open(event.bucket, event.key, attempt.info.version_id) as stream:
            source = Source(
                key=event.key,
                ingested_at=event.event_time.astimezone(UTC),
                block_size=settings.block_size_bytes,
                rows_per_file=settings.rows_per_file,
            )
            load_stream(stream, source, sink, load)
        if load.rows_read and load.rows_rejected > settings.max_reject_ratio * load.rows_read:
            raise TooManyRejectsError(
                f"{load.rows_rejected} of {load.rows_read} rows failed validation"
                f" (more than MAX_REJECT_RATIO={settings.max_reject_ratio}); nothing was loaded"
            )
        if load.written:
            # Before the commit: a Glue error here still leaves the previous version alone.
            value = paths.partition_value(attempt.day)
            self.storage.add_partition(
                settings.glue_database,
                settings.glue_table,
                f"{settings.dataset_root}{PARTITION_COLUMN}={value}/",
                value,
            )

    def _discard(self, attempt: Attempt) -> None:
        """Best effort: delete what a failed attempt wrote. Whatever is left, the retry's commit removes."""
        try:
            self.storage.delete(self.settings.output_bucket, attempt.load.written)
        except Exception:
            logger.warning(
                "could not delete a failed attempt's objects", extra={"key": attempt.event.key}, exc_info=True
            )

    def _commit(self, attempt: Attempt, result: FileResult) -> None:
        settings, storage, event, load = self.settings, self.storage, attempt.event, attempt.load
        bucket, day = settings.output_bucket, attempt.day
        keep = set(load.written)
        for other in sorted(attempt.previous_days | {day}):
            listed = storage.list_keys(bucket, paths.source_file_prefix(settings, other, attempt.sid))
            storage.delete(bucket, [k for k in listed if k not in keep])
            if other != day:
                storage.delete(bucket, [paths.rejects_key(settings, other, event.key)])
        remaining = set(storage.list_keys(bucket, paths.source_file_prefix(settings, day, attempt.sid)))
        if not keep <= remaining:
            # Another invocation of the same key committed meanwhile and removed our objects: retry the event.
            raise ConcurrentLoadError(
                f"objects of attempt {attempt.attempt_id} for {event.key} were removed by a concurrent load"
            )
        rejects_key = paths.rejects_key(settings, day, event.key)
        if load.rows_rejected and load.rejects_file:
            storage.upload_file(bucket, rejects_key, load.rejects_file)
            load.written.append(rejects_key)
        else:
            storage.delete(bucket, [rejects_key])
        # A successful load supersedes an earlier error record (and the rejects beside it) for the same key and day.
        storage.delete(
            bucket, [paths.error_key(settings, day, event.key), paths.error_rejects_key(settings, day, event.key)]
        )
        self._put_json(
            paths.state_key(settings, attempt.sid),
            {
                "key": event.key,
                "bucket": event.bucket,
                "sequencer": event.sequencer or attempt.state.get("sequencer"),
                "etag": result.etag,
                "version_id": result.version_id,
                "days": [day.isoformat()] if load.rows_loaded else [],
                "attempt": attempt.attempt_id,
                "ingested_at": event.event_time.isoformat(),
            },
        )

    def _record_error(self, attempt: Attempt, result: FileResult) -> None:
        settings, event, load = self.settings, attempt.event, attempt.load
        record = result.to_dict()
        record["previous_load_kept"] = True
        if load.rows_rejected and load.rejects_file and os.path.exists(load.rejects_file):
            rejects_key = paths.error_rejects_key(settings, attempt.day, event.key)
            self.storage.upload_file(settings.output_bucket, rejects_key, load.rejects_file)
            record["rejects_object"] = rejects_key
        self._put_json(paths.error_key(settings, attempt.day, event.key), record)
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


def _fill(result: FileResult, load: LoadCounts, started: float) -> None:
    result.rows_read, result.rows_loaded, result.rows_rejected = load.rows_read, load.rows_loaded, load.rows_rejected
    result.rejected_by_reason = dict(sorted(load.reasons.items()))
    result.objects_written = list(load.written)
    result.encoding = load.encoding
    result.duration_seconds = round(time.monotonic() - started, 3)
