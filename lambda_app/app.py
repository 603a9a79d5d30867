"""The composition root: settings, storage and the unit of work, built once; one event in, an answer out.

:class:`App` is what ``lambda_app.handler`` builds at INIT and what the local
emulator builds for ``orders-analytics demo``/``run``: the same code path.

Per invocation: decode the envelope (:mod:`lambda_app.events`), load each
object (:class:`lambda_app.unit_of_work.UnitOfWork`), refresh the reports of
the days touched (:mod:`lambda_app.daily_reports`), and answer:

* a direct S3/SNS/EventBridge invocation returns a summary; when a record hit
  a retryable error, ``RecordsFailedError`` is raised after the other records
  ran, so Lambda retries the event (a loaded record is then skipped or
  replaced, never duplicated);
* an SQS batch returns ``{"batchItemFailures": [...]}`` naming only the
  messages whose objects hit a retryable error, so one bad file never retries
  the batch (the event source mapping's ``ReportBatchItemFailures``).

Permanent problems with an input file are recorded under ``errors/`` by the
unit of work and never raised, so a bad file is not retried.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from lambda_app import daily_reports
from lambda_app.aws import AwsStorage
from lambda_app.errors import RecordsFailedError, is_retryable
from lambda_app.events import Message, Skipped, parse_event
from lambda_app.logs import configure, logger
from lambda_app.model import FileResult, ObjectEvent, Status
from lambda_app.ports import Storage
from lambda_app.settings import Settings
from lambda_app.unit_of_work import UnitOfWork, owed_days


@dataclass
class _Outcome:
    """One message's results, and whether it must be delivered again."""

    message: Message
    results: list[FileResult]
    failures: list[tuple[str, BaseException]]


class App:
    """The pipeline, wired: one per process (Lambda keeps it warm across invocations)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.unit_of_work = UnitOfWork(storage, settings)
        # CloudWatch Embedded Metric Format: JSON lines on stdout that CloudWatch turns into metrics (no API
        # call, no IAM). One line per invocation, plus one per refused file (its reason is a dimension).
        self.metrics = Metrics(namespace=settings.metrics_namespace, service=settings.service_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> App:
        """Settings from the environment (``ConfigurationError`` names a bad variable) and the AWS adapter."""
        settings = Settings.from_env(env)
        configure(settings)
        return cls(settings, AwsStorage())

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Process one invocation's event; see the module docstring for the answer."""
        started = time.monotonic()
        messages = parse_event(event)
        is_batch = any(m.message_id is not None for m in messages)
        outcomes = [self._process(message) for message in messages]
        refresh_started = time.monotonic()
        reports, refresh_failed = self._refresh(outcomes)
        refresh_seconds = time.monotonic() - refresh_started
        summary = _summary(outcomes, reports, time.monotonic() - started)
        logger.info("event processed", extra={"summary": summary})
        self._emit_metrics([r for o in outcomes for r in o.results], refresh_seconds if reports else None)
        failed = [o for o in outcomes if o.failures or (refresh_failed & _days(o.results))]
        if is_batch:
            return {"batchItemFailures": [{"itemIdentifier": o.message.message_id} for o in failed]}
        failures = [f for o in outcomes for f in o.failures]
        if failures:
            raise RecordsFailedError(
                f"{len(failures)} of {sum(len(o.message.objects) for o in outcomes)} records failed and will be"
                " retried: " + "; ".join(f"{key}: {type(exc).__name__}: {exc}" for key, exc in failures)
            ) from failures[0][1]
        if refresh_failed:
            raise RecordsFailedError(
                f"the reports of {sorted(d.isoformat() for d in refresh_failed)} failed or were not confirmed"
            )
        return summary

    def _process(self, message: Message) -> _Outcome:
        outcome = _Outcome(message, [], [])
        for skipped in message.skipped:
            logger.info("record skipped", extra={"key": skipped.key, "reason": skipped.reason, "retryable": False})
        for obj in message.objects:
            refused = self._refuse(obj)
            if refused is not None:
                message.skipped.append(refused)
                logger.warning("record refused", extra={"bucket": obj.bucket, "key": obj.key, "reason": refused.reason})
                continue
            try:
                outcome.results.append(self.unit_of_work.process(obj))
            except Exception as exc:  # transient, or a bug: retried (after the other records ran), then the DLQ
                logger.exception(
                    "record failed", extra={"bucket": obj.bucket, "key": obj.key, "retryable": is_retryable(exc)}
                )
                outcome.failures.append((obj.key, exc))
        return outcome

    def _emit_metrics(self, results: list[FileResult], refresh_seconds: float | None) -> None:
        """Per file: rows read/loaded/rejected, bytes, seconds; files loaded/rejected; the reports' refresh time."""
        if refresh_seconds is None and all(r.status == Status.SKIPPED for r in results):
            return  # nothing happened worth a metric (skipped records only)
        add = self.metrics.add_metric
        for result in results:
            if result.status == Status.LOADED:
                add(name="files_loaded", unit=MetricUnit.Count, value=1)
            elif result.status == Status.REJECTED_FILE:
                add(name="files_rejected", unit=MetricUnit.Count, value=1)
                # The reason as a dimension: a bounded set (the InputFileError reasons).
                with single_metric(
                    name="files_rejected_by_reason",
                    unit=MetricUnit.Count,
                    value=1,
                    namespace=self.settings.metrics_namespace,
                    default_dimensions={"service": self.settings.service_name, "reason": str(result.reason)},
                ):
                    pass
            else:
                continue
            add(name="rows_read", unit=MetricUnit.Count, value=result.rows_read)
            add(name="rows_loaded", unit=MetricUnit.Count, value=result.rows_loaded)
            add(name="rows_rejected", unit=MetricUnit.Count, value=result.rows_rejected)
            add(name="file_bytes", unit=MetricUnit.Bytes, value=result.size or 0)
            add(name="processing_seconds", unit=MetricUnit.Seconds, value=result.duration_seconds)
        if refresh_seconds is not None:
            add(name="report_refresh_seconds", unit=MetricUnit.Seconds, value=round(refresh_seconds, 3))
        self.metrics.flush_metrics(raise_on_empty_metrics=False)

    def _refuse(self, obj: ObjectEvent) -> Skipped | None:
        """The loop guard: never read the output bucket as input."""
        if obj.bucket == self.settings.output_bucket:
            return Skipped(obj.key, "output_bucket: an event for the pipeline's own output is never input", obj.bucket)
        return None

    def _refresh(self, outcomes: list[_Outcome]) -> tuple[dict[str, dict[str, str]], set[date]]:
        """Refresh each affected day once; a day whose refresh failed is retried with its messages."""
        reports: dict[str, dict[str, str]] = {}
        failed: set[date] = set()
        for day in sorted({d for o in outcomes for d in _days(o.results)}):
            try:
                reports[day.isoformat()] = daily_reports.refresh_reports(self.storage, self.settings, day)
            except Exception:
                logger.exception("report refresh failed", extra={"ingest_date": day.isoformat(), "retryable": True})
                failed.add(day)
        refreshed = set(reports)
        for result in (r for o in outcomes for r in o.results if r.status == Status.LOADED):
            try:
                self.unit_of_work.acknowledge(result, refreshed)
            except Exception:  # the days stay owed: the record fails, and its retry refreshes and confirms again
                logger.exception(
                    "could not confirm the refreshed days in the state", extra={"key": result.key, "retryable": True}
                )
                failed |= {date.fromisoformat(d) for d in owed_days(result)}
        return reports, failed


def _days(results: list[FileResult]) -> set[date]:
    return {date.fromisoformat(d) for r in results if r.status == Status.LOADED for d in r.affected_days}


def _summary(outcomes: list[_Outcome], reports: dict[str, dict[str, str]], seconds: float) -> dict[str, Any]:
    return {
        "files": [
            {
                "key": r.key,
                "status": str(r.status),
                "reason": r.reason,
                "rows_read": r.rows_read,
                "rows_loaded": r.rows_loaded,
                "rows_rejected": r.rows_rejected,
            }
            for o in outcomes
            for r in o.results
        ],
        "skipped": [{"key": s.key, "reason": s.reason} for o in outcomes for s in o.message.skipped],
        "reports": reports,
        "duration_seconds": round(seconds, 3),
    }
