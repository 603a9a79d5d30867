"""The day's three reports, recomputed over the committed objects of its partition and written as CSV.

``REPORT_ENGINE=local`` merges the report partials (:mod:`lambda_app.report_partials`)
of the partition's committed attempts (each source's state names its committed
attempt: debris of an attempt in flight or crashed is never counted), starting
from the day's checkpoint, so a refresh reads what is new since the last one
instead of every object of the day; ``athena`` runs the library's report
queries (``queries/reports``) through the workgroup over the table.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pyarrow as pa

from lambda_app import paths, queries
from lambda_app.errors import ConcurrentLoadError
from lambda_app.logs import logger
from lambda_app.parquet import iter_row_groups
from lambda_app.pools import pool_if
from lambda_app.ports import Storage
from lambda_app.report_partials import ReportPartial, Term, merge
from lambda_app.reports import INPUT_COLUMNS, REPORT_NAMES, ReportBuilder, region_sums, to_csv_bytes
from lambda_app.settings import Settings

_STATE_READERS = 8  # source states read at a time (the S3 client is thread-safe)


def refresh_reports(storage: Storage, settings: Settings, day: date, max_rounds: int = 3) -> dict[str, str]:
    """Recompute the day's reports over every committed file in its partition and write them; return their keys.

    Every commit rewrites the day's commit mark with a new token after the
    commit and before its own refresh. A refresh reads the mark before it reads
    its inputs and again after writing; a different token (or, for Athena, a
    different listing of the partition) means another invocation changed the
    day meanwhile, and the reports are recomputed (at most ``max_rounds``
    times). So the last writer always wrote reports of every commit: a commit
    whose mark came before the writer's second read was either seen by its
    first read of the inputs or changed the token; one whose mark came after it
    is followed by that commit's own refresh, which writes later.
    """
    bucket = settings.output_bucket
    written: dict[str, str] = {}
    mark = _commit_mark(storage, settings, day)
    inputs = _inputs(storage, settings, day)
    for _ in range(max_rounds):
        tables = compute_reports(storage, settings, day, inputs)
        for name in REPORT_NAMES:
            key = paths.report_key(settings, day, name)
            storage.put(bucket, key, to_csv_bytes(tables[name]))
            written[name] = key
        again = _commit_mark(storage, settings, day)
        # Athena's queries read every object listed, committed or not: a new listing is a change too.
        latest = _inputs(storage, settings, day) if settings.report_engine == "athena" or again != mark else inputs
        if again == mark and latest == inputs:
            break
        mark, inputs = again, latest
    else:
        # The reports just written may miss the last change, and its own refresh may have written before
        # these: fail, so the event is retried (its retry rewrites the mark and refreshes again).
        raise ConcurrentLoadError(
            f"the loads of {day.isoformat()} changed during each of {max_rounds} report refreshes; retried"
        )
    logger.info("reports written", extra={"ingest_date": day.isoformat(), "engine": settings.report_engine})
    return written


def touch_commit_mark(storage: Storage, settings: Settings, day: date, by: str | None) -> None:
    """Rewrite the day's commit mark with a new token: after anything that changes the day's committed loads
    and before its own refresh of the day (see :func:`refresh_reports`)."""
    mark = json.dumps({"by": by, "token": uuid.uuid4().hex}).encode()
    storage.put(settings.output_bucket, paths.commit_mark_key(settings, day), mark)


def _commit_mark(storage: Storage, settings: Settings, day: date) -> bytes | None:
    found = storage.get(settings.output_bucket, paths.commit_mark_key(settings, day))
    return None if found is None else found[0]


def _inputs(storage: Storage, settings: Settings, day: date) -> list[str]:
    """What the reports of a day are computed from: the committed objects (local), or the whole listing (Athena)."""
    keys = storage.list_keys(settings.output_bucket, paths.partition_prefix(settings, day))
    return keys if settings.report_engine == "athena" else committed_objects(storage, settings, day, keys)


def compute_reports(storage: Storage, settings: Settings, day: date, objects: list[str]) -> dict[str, pa.Table]:
    """The three report tables of one day, by the configured engine (``objects``: the committed ones, for local)."""
    if settings.report_engine == "athena":
        tables: dict[str, pa.Table] = {}
        for name in REPORT_NAMES:
            query = queries.report_query(
                settings.queries_dir, name, database=settings.glue_database, table=settings.glue_table, ingest_date=day
            )
            frame = storage.query(
                query.sql,
                database=settings.glue_database,
                workgroup=settings.athena_workgroup,
                parameters=query.parameters,
            )
            tables[name] = pa.Table.from_pandas(queries.report_frame(name, frame), preserve_index=False)
        return tables
    return merged_partial(storage, settings, day, objects).build()


def merged_partial(storage: Storage, settings: Settings, day: date, objects: list[str]) -> ReportPartial:
    """The report partial of the committed attempts that ``objects`` (the day's committed objects) belong to.

    Starts from the day's checkpoint when every attempt it covers is still
    committed, adds the partials of the others (an attempt without one, e.g.
    committed before partials existed, is read from its Parquet objects), and
    leaves the result as the new checkpoint. The checkpoint is only a cache: its
    content is exactly the merge of the attempts it names, so it is either
    usable as it is or ignored (an attempt it covers was replaced), and a
    refresh that writes one over another's loses nothing but time.
    """
    by_attempt = attempts_of(settings, day, objects)
    bucket, checkpoint_key = settings.output_bucket, paths.report_checkpoint_key(settings, day)
    checkpoint = _LAST_CHECKPOINT.read(storage, bucket, checkpoint_key)
    base = checkpoint if checkpoint is not None and checkpoint.attempts <= set(by_attempt) else ReportPartial()
    added: list[ReportPartial] = []
    written: tuple[ReportPartial, bytes] | None = None
    for name, keys in sorted(by_attempt.items()):
        if name in base.attempts:
            continue
        sid, attempt = name.split("_", 1)
        key = paths.partial_key(settings, day, sid, attempt)
        taken = _JUST_WRITTEN.take(storage, bucket, key)  # at most one attempt's: one is held at a time
        found = taken[0] if taken is not None else _read_partial(storage, bucket, key)
        written = taken or written
        if found is None or found.attempts != {name}:
            found = partial_from_objects(storage, settings, name, keys)
        if found is not None:  # None: its objects were removed by a newer commit (the next round sees it)
            added.append(found)
    merged = merge([base, *added])
    if checkpoint is None or merged.attempts != checkpoint.attempts:
        # A day of one attempt: the merge is that attempt's partial itself, whose bytes were just written.
        body = written[1] if written is not None and merged is written[0] else merged.to_bytes()
        etag = storage.put(bucket, checkpoint_key, body)
        _LAST_CHECKPOINT.remember(storage, bucket, checkpoint_key, etag, merged)
    return merged


class _LastCheckpoint:
    """The last day checkpoint this process wrote or read, kept with its ETag (one per process, like the clients).

    A warm function refreshing the same day again asks S3 only for the
    checkpoint's ETag (HEAD): when it is still the one written or read here,
    the object holds exactly this partial, so reading and checking its bytes
    again (a third of a late refresh, at 50 files of 100k rows a day) is
    skipped. Any other ETag (another invocation wrote it, someone damaged it)
    reads the object as before. It holds one checkpoint: about 12 bytes per
    distinct (pair, order) row of that day.
    """

    def __init__(self) -> None:
        self._entry: tuple[Storage, str, str, str, ReportPartial] | None = None

    def read(self, storage: Storage, bucket: str, key: str) -> ReportPartial | None:
        entry = self._entry
        if entry is not None and entry[0] is storage and entry[1:3] == (bucket, key):
            info = storage.head(bucket, key)
            if info is not None and info.etag == entry[3]:
                return entry[4]
        found = storage.get(bucket, key)
        partial = None if found is None else _partial_from(found[0], key)
        if found is not None and partial is not None:
            self.remember(storage, bucket, key, found[1], partial)
        return partial

    def remember(self, storage: Storage, bucket: str, key: str, etag: str, partial: ReportPartial) -> None:
        self._entry = (storage, bucket, key, etag, partial) if etag else None


_LAST_CHECKPOINT = _LastCheckpoint()


class _JustWritten:
    """The attempt partial this process wrote last (and its bytes), so the refresh after its commit does not
    read it back, nor encode it again when it is the whole day's checkpoint.

    An attempt's partial is written once, by that attempt, before its commit, and is exactly the partial of
    the attempt's objects; a refresh asks for it only while the attempt is committed. So the one in memory is
    what the object holds (and what it should hold, were the object damaged). Taken once; one held at a time,
    so a warm process keeps at most one file's partial and its bytes (about 13 bytes per distinct (pair, order) row).
    Threads loading at once overwrite each other's entry: that costs a GET, never a wrong partial.
    """

    def __init__(self) -> None:
        self._entry: tuple[Storage, str, str, ReportPartial, bytes] | None = None

    def remember(self, storage: Storage, bucket: str, key: str, partial: ReportPartial, body: bytes) -> None:
        self._entry = (storage, bucket, key, partial, body)

    def take(self, storage: Storage, bucket: str, key: str) -> tuple[ReportPartial, bytes] | None:
        entry = self._entry
        if entry is None or entry[0] is not storage or entry[1:3] != (bucket, key):
            return None
        self._entry = None
        return entry[3], entry[4]


_JUST_WRITTEN = _JustWritten()


def remember_written_partial(storage: Storage, bucket: str, key: str, partial: ReportPartial, body: bytes) -> None:
    """Note the attempt partial just PUT at ``key`` as ``body`` (see ``_JustWritten``)."""
    _JUST_WRITTEN.remember(storage, bucket, key, partial, body)


def recompute_reports(storage: Storage, settings: Settings, objects: list[str]) -> dict[str, pa.Table]:
    """The three reports recomputed from the report columns of ``objects`` themselves, no partial read.

    The definition the partials must meet exactly (the tests compare the two):
    the objects in key order, each row group folded in turn.
    """
    builder = ReportBuilder()
    for key in sorted(objects):
        found = storage.get(settings.output_bucket, key)
        if found is None:
            continue
        for table in iter_row_groups(found[0], list(INPUT_COLUMNS)):
            builder.add(table)
    return builder.build()


def partial_from_objects(storage: Storage, settings: Settings, name: str, keys: list[str]) -> ReportPartial | None:
    """The partial of one attempt (``<source_id>_<attempt>``) read from its objects; ``None`` if one is gone."""
    builder = ReportBuilder()
    terms: list[Term] = []
    for key in sorted(keys):
        found = storage.get(settings.output_bucket, key)
        if found is None:
            return None
        for group, table in enumerate(iter_row_groups(found[0], list(INPUT_COLUMNS))):
            builder.add(table)
            terms += [(key, group, region, total) for region, total in region_sums(table)]
    return ReportPartial.from_builder(builder, frozenset({name}), terms)


def _read_partial(storage: Storage, bucket: str, key: str) -> ReportPartial | None:
    found = storage.get(bucket, key)
    return None if found is None else _partial_from(found[0], key)


def _partial_from(data: bytes, key: str) -> ReportPartial | None:
    try:
        return ReportPartial.from_bytes(data)
    except (ValueError, OSError, KeyError, TypeError, IndexError):  # another format, or damaged: rebuilt instead
        logger.warning("unreadable report partial ignored", extra={"key": key, "retryable": False})
        return None


def attempts_of(settings: Settings, day: date, objects: list[str]) -> dict[str, list[str]]:
    """The day's committed objects grouped by attempt (``<source_id>_<attempt>``, as their names begin)."""
    prefix = paths.partition_prefix(settings, day)
    grouped: dict[str, list[str]] = {}
    for key in objects:
        sid, attempt, _ = key[len(prefix) :].split("_", 2)
        grouped.setdefault(paths.attempt_name(sid, attempt), []).append(key)
    return grouped


def committed_objects(storage: Storage, settings: Settings, day: date, keys: list[str]) -> list[str]:
    """The Parquet objects among ``keys`` (a listing of the day's partition) that belong to committed loads."""
    prefix = paths.partition_prefix(settings, day)
    by_source: dict[str, list[str]] = {}
    for key in keys:
        name = key[len(prefix) :]
        if key.startswith(prefix) and key.endswith(".parquet") and name.count("_") >= 2:
            by_source.setdefault(name.split("_", 1)[0], []).append(key)
    committed: list[str] = []
    sids = sorted(by_source)

    def read(sid: str) -> dict[str, Any]:
        found = storage.get(settings.output_bucket, paths.state_key(settings, sid))
        return dict(json.loads(found[0])) if found else {}

    # One small GET per source of the day per refresh: latency-bound on S3, so a few at a time (a lone source
    # on the calling thread).
    with pool_if(len(sids) > 1, workers=_STATE_READERS) as pool:
        states = list(pool.map(read, sids))
    for sid, state in zip(sids, states, strict=True):
        objects = by_source[sid]
        if state.get("attempt") and day.isoformat() in state.get("days", []):
            mine = paths.attempt_prefix(settings, day, sid, state["attempt"])
            committed.extend(k for k in objects if k.startswith(mine))
    return committed
