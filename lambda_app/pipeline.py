"""One input object in, dataset rows + rejects + manifest out; and the day's reports.

The composition of the pure parts (``cleaning``, ``reports``, ``paths``) with
the storage adapter. How a replay stays exactly-once (README, "Replays"):

1. Every Parquet object a source key writes is named
   ``<source_id>_<attempt>_<uuid>.snappy.parquet`` inside the day partition.
2. Before writing, the source's state object records every partition that may
   hold its rows (write-ahead), so a crash can never hide old rows.
3. Only after the whole file is loaded ("commit") are the source's other
   objects — earlier versions, earlier days, debris of crashed attempts —
   deleted. A failed or rejected attempt deletes its own objects instead.
Different source keys never share an object name prefix, so they never touch
each other's rows.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from lambda_app import paths, storage
from lambda_app.cleaning import CleanBatch, CsvLayout, ReparseNeeded, iter_clean_batches, read_with_retries
from lambda_app.errors import (
    ConcurrentLoadError,
    FileTooLargeError,
    InputFileError,
    ReconciliationError,
    TooManyRejectsError,
)
from lambda_app.logs import logger
from lambda_app.reports import INPUT_COLUMNS as REPORT_INPUT_COLUMNS
from lambda_app.reports import REPORT_NAMES, ReportBuilder, to_csv_bytes
from lambda_app.settings import Settings


@dataclass(frozen=True)
class ObjectEvent:
    """One S3 ``ObjectCreated`` record, decoded."""

    bucket: str
    key: str
    event_time: datetime
    sequencer: str | None = None
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None

    @property
    def ingest_date(self) -> date:
        return self.event_time.astimezone(UTC).date()


@dataclass
class FileResult:
    """What happened to one input object; also the body of its run manifest."""

    bucket: str
    key: str
    status: str  # loaded | rejected_file | skipped
    ingest_date: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    objects_written: list[str] = field(default_factory=list)
    reason: str | None = None
    detail: str | None = None
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    encoding: str | None = None
    duration_seconds: float = 0.0
    affected_days: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sequencer_is_older(candidate: str | None, stored: str | None) -> bool:
    """True when ``candidate`` is an earlier S3 event sequencer than ``stored`` for the same key.

    Sequencers are hexadecimal strings of varying length; S3's documentation
    says to left-pad the shorter with zeros before comparing, i.e. compare the
    numbers.
    """
    if not candidate or not stored:
        return False
    try:
        return int(candidate, 16) < int(stored, 16)
    except ValueError:
        return False


@dataclass
class LoadCounts:
    """Running totals of one file's load (the manifest's numbers)."""

    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    written: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    encoding: str = "utf-8"

    def reset(self) -> None:
        """Forget a partial read (objects written must have been deleted first)."""
        self.__dict__.update(LoadCounts().__dict__)


def process_object(event: ObjectEvent, settings: Settings) -> FileResult:
    """Load one input object. Permanent input problems are recorded and returned, not raised."""
    started = time.monotonic()
    day = event.ingest_date
    sid = paths.source_id(event.bucket, event.key)
    result = FileResult(
        bucket=event.bucket,
        key=event.key,
        status="loaded",
        ingest_date=day.isoformat(),
        sequencer=event.sequencer,
    )
    state_key = paths.state_key(settings, sid)
    state = storage.get_json(settings.output_bucket, state_key) or {}
    if sequencer_is_older(event.sequencer, state.get("sequencer")):
        result.status, result.reason = "skipped", "stale_event"
        result.detail = f"a newer event (sequencer {state.get('sequencer')}) for this key was already processed"
        logger.info("stale event skipped", extra={"key": event.key, "sequencer": event.sequencer})
        return result
    info = storage.head_object(event.bucket, event.key)
    if info is None:
        result.status, result.reason = "skipped", "object_missing"
        result.detail = "the object no longer exists; a later event will carry its replacement, if any"
        logger.warning("object missing", extra={"bucket": event.bucket, "key": event.key})
        return result
    result.size, result.etag, result.version_id = info.size, info.etag, info.version_id

    previous_days = {date.fromisoformat(d) for d in state.get("days", [])}
    attempt = uuid.uuid4().hex[:12]
    # Write-ahead: the state names every partition that may hold this key's rows before any is written.
    storage.put_json(
        settings.output_bucket,
        state_key,
        {
            **state,
            "key": event.key,
            "bucket": event.bucket,
            "days": sorted(d.isoformat() for d in previous_days | {day}),
            "pending_attempt": attempt,
        },
    )
    load = LoadCounts()
    try:
        try:
            if info.size > settings.max_object_bytes:
                raise FileTooLargeError(
                    f"the object is {info.size} bytes; MAX_OBJECT_BYTES allows {settings.max_object_bytes}"
                )
            storage.ensure_table(settings)
            _load(event, settings, day, f"{sid}_{attempt}_", load, info.version_id)
            if load.rows_read and load.rows_rejected > settings.max_reject_ratio * load.rows_read:
                raise TooManyRejectsError(
                    f"{load.rows_rejected} of {load.rows_read} rows failed validation"
                    f" (more than MAX_REJECT_RATIO={settings.max_reject_ratio}); nothing was loaded"
                )
            if load.written:
                # Before the commit: a Glue error here still leaves the previous version alone.
                storage.add_partition(settings, day)
        except InputFileError as exc:
            storage.delete_keys(settings.output_bucket, load.written)
            _fill(result, load, started)
            result.status, result.reason, result.detail = "rejected_file", exc.reason, str(exc)
            result.rows_loaded, result.objects_written = 0, []
            _record_error(settings, event, result, load)
            return result
        except Exception:
            # Transient failure before the commit: remove this attempt's objects so the
            # previous version stays the only copy; the retry writes the file again.
            _discard_attempt(settings, event, load)
            raise
        _commit(settings, event, sid, day, previous_days, attempt, state, load, result)
    finally:
        if load.rejects_file and os.path.exists(load.rejects_file):
            os.unlink(load.rejects_file)
    _fill(result, load, started)
    result.affected_days = sorted(d.isoformat() for d in previous_days | {day})
    storage.put_json(settings.output_bucket, paths.manifest_key(settings, day, event.key), result.to_dict())
    logger.info("file loaded", extra={k: v for k, v in result.to_dict().items() if k != "objects_written"})
    return result


def _fill(result: FileResult, load: LoadCounts, started: float) -> None:
    result.rows_read, result.rows_loaded, result.rows_rejected = load.rows_read, load.rows_loaded, load.rows_rejected
    result.rejected_by_reason = dict(sorted(load.reasons.items()))
    result.objects_written = list(load.written)
    result.encoding = load.encoding
    result.duration_seconds = round(time.monotonic() - started, 3)


def _load(
    event: ObjectEvent, settings: Settings, day: date, prefix: str, load: LoadCounts, version_id: str | None = None
) -> None:
    """Stream the object into Parquet objects in S3 and a local rejects file; fills ``load``."""

    def discard(partial: LoadCounts) -> None:
        storage.delete_keys(settings.output_bucket, partial.written)

    # The version HEAD described (the manifest's ETag/version), even if a newer upload lands meanwhile.
    with storage.open_input(event.bucket, event.key, version_id) as stream:
        load_stream(
            stream,
            key=event.key,
            ingested_at=event.event_time.astimezone(UTC),
            settings=settings,
            write=lambda table: storage.write_parquet(settings, table, day, prefix),
            discard=discard,
            load=load,
        )


def load_stream(
    stream: IO[bytes],
    *,
    key: str,
    ingested_at: datetime,
    settings: Settings,
    write: Callable[[pa.Table], list[str]],
    discard: Callable[[LoadCounts], None],
    load: LoadCounts,
    observe: Callable[[pa.Table], None] | None = None,
) -> None:
    """Sniff the header, then :func:`stream_file`, reading again from the start when the file requires it.

    The fast parser is tried first; a file that needs the careful one (quoted
    line breaks, malformed rows) or another encoding is read again after
    ``discard`` dropped what the first pass wrote.
    """

    def restart(again: ReparseNeeded) -> None:
        logger.info("reading the file again", extra={"key": key, "why": str(again)[:200]})
        discard(load)
        if load.rejects_file:
            os.unlink(load.rejects_file)
        load.reset()

    def attempt(layout: CsvLayout) -> None:
        stream_file(
            stream, layout, key=key, ingested_at=ingested_at, settings=settings, write=write, load=load, observe=observe
        )

    _, layout = read_with_retries(stream, attempt, restart)
    load.encoding = layout.encoding


def stream_file(
    stream: IO[bytes],
    layout: CsvLayout,
    *,
    key: str,
    ingested_at: datetime,
    settings: Settings,
    write: Callable[[pa.Table], list[str]],
    load: LoadCounts,
    observe: Callable[[pa.Table], None] | None = None,
) -> None:
    """The streaming core: parse and validate piece by piece, write Parquet every ``ROWS_PER_FILE`` rows.

    ``write`` stores one sorted table and returns what it wrote (S3 keys in the
    Lambda, local files in the benchmark); ``observe`` sees every good block
    (the benchmark feeds its report builder). Rejected rows are spooled to a
    local CSV file named in ``load.rejects_file``.

    Sorting + writing, and observing, each run on their own background thread,
    in order, while this thread parses the next piece (Arrow releases the
    GIL), with at most one write and two observations in flight so memory
    stays bounded.
    """
    pending: list[pa.Table] = []
    pending_rows = 0
    rejects = _RejectsSpool()
    sink = _Sink(load, max_in_flight=1)  # each write holds ROWS_PER_FILE rows twice (and its sorted copy)
    watcher = _Sink(load, max_in_flight=2)
    try:
        for batch in iter_clean_batches(
            stream, layout, source_key=key, ingested_at=ingested_at, block_size=settings.block_size_bytes
        ):
            _account(batch, load)
            rejects.add(batch.rejects)
            if batch.good.num_rows:
                pending.append(batch.good)
                pending_rows += batch.good.num_rows
                if observe is not None:
                    watcher.submit(observe, batch.good)
            if pending_rows >= settings.rows_per_file:
                sink.submit(lambda tables: write(_sorted(tables)), pending)
                pending, pending_rows = [], 0
        if pending_rows:
            sink.submit(lambda tables: write(_sorted(tables)), pending)
    finally:
        try:
            sink.close()
        finally:
            watcher.close()
            load.rejects_file = rejects.close()


class _Sink:
    """An ordered background worker; what its write tasks return is added to ``load.written``.

    ``close`` waits for every task, records every write that completed (so a
    failed or restarted load can delete it) and re-raises the first failure.
    """

    def __init__(self, load: LoadCounts, max_in_flight: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._load = load
        self._max_in_flight = max_in_flight
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink")
        self._futures: list[Any] = []

    def submit(self, task: Callable[[Any], Any], argument: Any) -> None:
        self._futures.append(self._pool.submit(task, argument))
        while len(self._futures) > self._max_in_flight:
            self._settle(self._futures.pop(0))

    def _settle(self, future: Any) -> None:
        result = future.result()
        if isinstance(result, list):
            self._load.written += result

    def close(self) -> None:
        failure: BaseException | None = None
        for future in self._futures:
            try:
                self._settle(future)
            except BaseException as exc:  # keep collecting what the other tasks wrote
                failure = failure or exc
        self._futures.clear()
        self._pool.shutdown(wait=True)
        if failure is not None:
            raise failure


def _account(batch: CleanBatch, load: LoadCounts) -> None:
    if (
        batch.good.num_rows + batch.rejects.num_rows != batch.rows_in
        or sum(batch.reasons.values()) != batch.rejects.num_rows
    ):
        raise ReconciliationError(
            f"a block of {batch.rows_in} rows became {batch.good.num_rows} loaded + {batch.rejects.num_rows} rejected"
        )
    load.rows_read += batch.rows_in
    load.rows_loaded += batch.good.num_rows
    load.rows_rejected += batch.rejects.num_rows
    load.reasons.update(batch.reasons)


def _sorted(tables: list[pa.Table]) -> pa.Table:
    """One table sorted by order date, so Parquet row-group statistics prune date filters."""
    from concurrent.futures import ThreadPoolExecutor

    table = pa.concat_tables(tables)
    order = pc.sort_indices(table["order_date"])
    # Column by column on two threads (take releases the GIL): several times faster than Table.take here.
    with ThreadPoolExecutor(max_workers=2) as pool:
        columns = list(pool.map(lambda column: column.take(order), table.columns))
    return pa.Table.from_arrays(columns, schema=table.schema)


class _RejectsSpool:
    """Rejected rows streamed to a local CSV file (Lambda's /tmp), uploaded only on completion."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._writer: Any = None
        self._sink: Any = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        import pyarrow.csv as pv

        if self._writer is None:
            handle, self._path = tempfile.mkstemp(prefix="rejects-", suffix=".csv")
            os.close(handle)
            self._sink = pa.OSFile(self._path, "wb")
            self._writer = pv.CSVWriter(self._sink, table.schema)
        self._writer.write_table(table)

    def close(self) -> str | None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
        return self._path


def _discard_attempt(settings: Settings, event: ObjectEvent, load: LoadCounts) -> None:
    """Best effort: delete what a failed attempt wrote. Whatever is left, the retry's commit removes."""
    try:
        storage.delete_keys(settings.output_bucket, load.written)
    except Exception:
        logger.warning("could not delete a failed attempt's objects", extra={"key": event.key}, exc_info=True)


def _commit(
    settings: Settings,
    event: ObjectEvent,
    sid: str,
    day: date,
    previous_days: set[date],
    attempt: str,
    state: dict[str, Any],
    load: LoadCounts,
    result: FileResult,
) -> None:
    bucket = settings.output_bucket
    keep = set(load.written)
    for other in sorted(previous_days | {day}):
        stale = [k for k in storage.list_keys(bucket, paths.source_file_prefix(settings, other, sid)) if k not in keep]
        storage.delete_keys(bucket, stale)
        if other != day:
            storage.delete_keys(bucket, [paths.rejects_key(settings, other, event.key)])
    remaining = set(storage.list_keys(bucket, paths.source_file_prefix(settings, day, sid)))
    if not keep <= remaining:
        # Another invocation of the same key committed meanwhile and removed our objects: retry the event.
        raise ConcurrentLoadError(f"objects of attempt {attempt} for {event.key} were removed by a concurrent load")
    rejects_key = paths.rejects_key(settings, day, event.key)
    if load.rows_rejected and load.rejects_file:
        storage.upload_file(bucket, rejects_key, load.rejects_file)
        load.written.append(rejects_key)
    else:
        storage.delete_keys(bucket, [rejects_key])
    # A successful load supersedes an earlier error record (and the rejects beside it) for the same key and day.
    storage.delete_keys(
        bucket, [paths.error_key(settings, day, event.key), paths.error_rejects_key(settings, day, event.key)]
    )
    storage.put_json(
        bucket,
        paths.state_key(settings, sid),
        {
            "key": event.key,
            "bucket": event.bucket,
            "sequencer": event.sequencer or state.get("sequencer"),
            "etag": result.etag,
            "version_id": result.version_id,
            "days": [day.isoformat()] if load.rows_loaded else [],
            "attempt": attempt,
            "ingested_at": event.event_time.isoformat(),
        },
    )


def _record_error(settings: Settings, event: ObjectEvent, result: FileResult, load: LoadCounts) -> None:
    day = event.ingest_date
    record = result.to_dict()
    record["previous_load_kept"] = True
    if load.rows_rejected and load.rejects_file and os.path.exists(load.rejects_file):
        rejects_key = paths.error_rejects_key(settings, day, event.key)
        storage.upload_file(settings.output_bucket, rejects_key, load.rejects_file)
        record["rejects_object"] = rejects_key
    storage.put_json(settings.output_bucket, paths.error_key(settings, day, event.key), record)
    logger.error(
        "file rejected",
        extra={"key": event.key, "reason": result.reason, "detail": result.detail, "rows_read": result.rows_read},
    )


def refresh_reports(settings: Settings, day: date, max_rounds: int = 3) -> dict[str, str]:
    """Recompute the day's three reports over every file in its partition and write them.

    After writing, the partition is listed again; if another invocation changed
    it meanwhile, the reports are recomputed (at most ``max_rounds`` times), so
    the last writer always wrote reports of the data it saw last.
    """
    bucket = settings.output_bucket
    written: dict[str, str] = {}
    for _ in range(max_rounds):
        keys = storage.list_keys(bucket, paths.partition_prefix(settings, day))
        tables = _compute_reports(settings, day, keys)
        for name in REPORT_NAMES:
            key = paths.report_key(settings, day, name)
            storage.put_bytes(bucket, key, to_csv_bytes(tables[name]))
            written[name] = key
        if storage.list_keys(bucket, paths.partition_prefix(settings, day)) == keys:
            break
    logger.info("reports written", extra={"ingest_date": day.isoformat(), "engine": settings.report_engine})
    return written


def _compute_reports(settings: Settings, day: date, keys: list[str]) -> dict[str, pa.Table]:
    if settings.report_engine == "athena":
        from lambda_app import sql

        frames = sql.athena_reports(
            database=settings.glue_database,
            table=settings.glue_table,
            workgroup=settings.athena_workgroup,
            ingest_date=day.isoformat(),
        )
        return {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in frames.items()}
    builder = ReportBuilder()
    parquet_keys = [k for k in keys if k.endswith(".parquet")]
    for table in storage.iter_parquet(settings.output_bucket, parquet_keys, list(REPORT_INPUT_COLUMNS)):
        builder.add(table)
    return builder.build()


def iter_days(results: list[FileResult]) -> Iterator[date]:
    """Distinct days whose reports the results affect, in order."""
    days = {d for r in results if r.status == "loaded" for d in r.affected_days}
    for value in sorted(days):
        yield date.fromisoformat(value)
