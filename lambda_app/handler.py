"""AWS Lambda entry point: S3 event in, summary out.

Thin on purpose: decode the event, load each object, refresh the reports of
the days touched, and let transient AWS errors propagate so Lambda retries
(S3 invokes asynchronously: two retries, then the on-failure destination).
Permanent problems with an input file are recorded under ``errors/`` by the
pipeline and never raised, so a bad file is not retried.
"""

from __future__ import annotations

import time
from typing import Any

from lambda_app.events import parse_event
from lambda_app.logs import logger
from lambda_app.pipeline import FileResult, iter_days, process_object, refresh_reports
from lambda_app.settings import Settings


class RecordsFailedError(Exception):
    """Some records hit transient errors; raised after the others were processed so Lambda retries the event."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process every record of an S3 ``ObjectCreated`` notification."""
    started = time.monotonic()
    logger.remove_keys(["request_id"])
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        logger.append_keys(request_id=request_id)
    settings = Settings.from_env()
    objects, skipped = parse_event(event)
    for item in skipped:
        logger.info("record skipped", extra={"key": item.key, "reason": item.reason})
    results: list[FileResult] = []
    failures: list[tuple[str, BaseException]] = []
    for obj in objects:
        try:
            results.append(process_object(obj, settings))
        except Exception as exc:  # transient or unexpected: retried by Lambda after the other records ran
            logger.exception("record failed", extra={"bucket": obj.bucket, "key": obj.key})
            failures.append((obj.key, exc))
    reports: dict[str, dict[str, str]] = {}
    for day in iter_days(results):
        reports[day.isoformat()] = refresh_reports(settings, day)
    summary = {
        "files": [
            {
                "key": r.key,
                "status": r.status,
                "reason": r.reason,
                "rows_read": r.rows_read,
                "rows_loaded": r.rows_loaded,
                "rows_rejected": r.rows_rejected,
            }
            for r in results
        ],
        "skipped": [{"key": s.key, "reason": s.reason} for s in skipped],
        "reports": reports,
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    logger.info("event processed", extra={"summary": summary})
    if failures:
        raise RecordsFailedError(
            f"{len(failures)} of {len(objects)} records failed and will be retried: "
            + "; ".join(f"{key}: {type(exc).__name__}: {exc}" for key, exc in failures)
        ) from failures[0][1]
    return summary
