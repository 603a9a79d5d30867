"""The day's three reports, recomputed over the committed objects of its partition and written as CSV.

``REPORT_ENGINE=local`` reads the report columns of the partition's committed
Parquet objects (each source's state names its committed attempt: debris of an
attempt in flight or crashed is never counted) into
:class:`lambda_app.reports.ReportBuilder`; ``athena`` runs the library's report
queries (``queries/reports``) through the workgroup over the table.
"""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa

from lambda_app import paths, queries
from lambda_app.logs import logger
from lambda_app.parquet import iter_columns
from lambda_app.ports import Storage
from lambda_app.reports import INPUT_COLUMNS, REPORT_NAMES, ReportBuilder, to_csv_bytes
from lambda_app.settings import Settings


def refresh_reports(storage: Storage, settings: Settings, day: date, max_rounds: int = 3) -> dict[str, str]:
    """Recompute the day's reports over every committed file in its partition and write them; return their keys.

    After writing, the inputs are looked at again (the committed objects; for
    Athena, the partition's listing); if another invocation changed them
    meanwhile, the reports are recomputed (at most ``max_rounds`` times). Every
    commit precedes its own refresh, so the last writer always wrote reports of
    the data it saw last: either it saw the other's commit, or the other's
    refresh starts after this one's write.
    """
    bucket = settings.output_bucket
    written: dict[str, str] = {}
    inputs = _inputs(storage, settings, day)
    for _ in range(max_rounds):
        tables = compute_reports(storage, settings, day, inputs)
        for name in REPORT_NAMES:
            key = paths.report_key(settings, day, name)
            storage.put(bucket, key, to_csv_bytes(tables[name]))
            written[name] = key
        again = _inputs(storage, settings, day)
        if again == inputs:
            break
        inputs = again
    logger.info("reports written", extra={"ingest_date": day.isoformat(), "engine": settings.report_engine})
    return written


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
    builder = ReportBuilder()
    for key in objects:
        found = storage.get(settings.output_bucket, key)
        if found is None:  # removed by a concurrent commit after the listing: the next round sees the new set
            continue
        for table in iter_columns(found[0], list(INPUT_COLUMNS)):
            builder.add(table)
    return builder.build()


def committed_objects(storage: Storage, settings: Settings, day: date, keys: list[str]) -> list[str]:
    """The Parquet objects among ``keys`` (a listing of the day's partition) that belong to committed loads."""
    prefix = paths.partition_prefix(settings, day)
    by_source: dict[str, list[str]] = {}
    for key in keys:
        name = key[len(prefix) :]
        if key.startswith(prefix) and key.endswith(".parquet") and name.count("_") >= 2:
            by_source.setdefault(name.split("_", 1)[0], []).append(key)
    committed: list[str] = []
    for sid, objects in sorted(by_source.items()):
        found = storage.get(settings.output_bucket, paths.state_key(settings, sid))
        state = json.loads(found[0]) if found else {}
        if state.get("attempt") and day.isoformat() in state.get("days", []):
            mine = paths.attempt_prefix(settings, day, sid, state["attempt"])
            committed.extend(k for k in objects if k.startswith(mine))
    return committed
