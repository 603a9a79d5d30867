"""``orders-analytics status|replay|smoke``: the operator's verbs for a deployed stack (or the local emulator).

Names come from ``terraform output -json`` saved to a file (``--outputs``),
then the environment (``OUTPUT_BUCKET``, ``INPUT_BUCKET``, ``FAILURE_QUEUE_URL``,
...), and a flag beats both. Credentials and the region are boto3's usual
ones (``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for the emulator).
The output layout (prefixes) is the runtime's own :class:`~lambda_app.settings.Settings`,
so the verbs read exactly the names the function writes.

The README's "Operating it" section documents the verbs and their decisions
(which sequencer a replay carries, what ``smoke`` removes afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lambda_app import daily_reports, paths, queries
from lambda_app.app import App
from lambda_app.aws import AwsStorage, ClientCachingSession
from lambda_app.model import sequence_number
from lambda_app.reports import REPORT_NAMES
from lambda_app.settings import Settings
from orders_tools import generate, s3_events
from orders_tools.emulator import LambdaContext

VIAS = ("queue", "function", "local")
SEQUENCER_DIGITS = 18  # the width of S3's sequencers, e.g. 0055AED6DCD90281E5


class OpsError(Exception):
    """A verb cannot run: a name is missing or the stack answered something unusable (the message says which)."""


# ----------------------------------------------------------------------------------------- the stack


@dataclass(frozen=True)
class Stack:
    """The names of one deployment (or of the emulator), from outputs, environment and flags."""

    output_bucket: str
    input_bucket: str | None = None
    input_prefix: str = ""
    function_name: str | None = None
    queue_url: str | None = None
    dlq_url: str | None = None
    database: str = Settings.glue_database
    table: str = Settings.glue_table
    workgroup: str = Settings.athena_workgroup
    region: str | None = None

    def settings(self) -> Settings:
        """The runtime's settings for this stack: its names, the prefixes from the environment (as the function has)."""
        return Settings.from_env(
            {
                **os.environ,
                "OUTPUT_BUCKET": self.output_bucket,
                "GLUE_DATABASE": self.database,
                "GLUE_TABLE": self.table,
                "ATHENA_WORKGROUP": self.workgroup,
            }
        )

    def function_env(self) -> dict[str, str]:
        """The environment the function would see (for ``--via local``)."""
        return {
            **os.environ,
            "OUTPUT_BUCKET": self.output_bucket,
            "GLUE_DATABASE": self.database,
            "GLUE_TABLE": self.table,
            "ATHENA_WORKGROUP": self.workgroup,
        }


# Stack field -> (terraform output, environment variable)
_SOURCES: dict[str, tuple[str, str]] = {
    "output_bucket": ("output_bucket_name", "OUTPUT_BUCKET"),
    "input_bucket": ("input_bucket_name", "INPUT_BUCKET"),
    "input_prefix": ("input_prefix", "INPUT_PREFIX"),
    "function_name": ("function_name", "FUNCTION_NAME"),
    "queue_url": ("input_queue_url", "INPUT_QUEUE_URL"),
    "dlq_url": ("failure_queue_url", "FAILURE_QUEUE_URL"),
    "database": ("glue_database_name", "GLUE_DATABASE"),
    "table": ("glue_table_name", "GLUE_TABLE"),
    "workgroup": ("athena_workgroup_name", "ATHENA_WORKGROUP"),
    "region": ("region", "AWS_REGION"),
}


def read_outputs(path: Path) -> dict[str, str]:
    """``terraform output -json`` (``{"name": {"value": ...}}``) or a plain ``{"name": "value"}`` file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OpsError(f"--outputs {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise OpsError(f"--outputs {path}: expected a JSON object (terraform output -json)")
    values: dict[str, str] = {}
    for name, item in document.items():
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(value, str):
            values[name] = value
    return values


def resolve_stack(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Stack:
    """Flag, else ``--outputs`` file, else environment, else the default."""
    env = os.environ if environ is None else environ
    outputs = read_outputs(args.outputs) if getattr(args, "outputs", None) else {}
    chosen: dict[str, Any] = {}
    # Queue delivery's failures are the dead-letter queue's; direct delivery's, the on-failure destination's.
    outputs.setdefault("failure_queue_url", "")
    if outputs.get("dead_letter_queue_url") and outputs.get("delivery", "queue") == "queue":
        outputs["failure_queue_url"] = outputs["dead_letter_queue_url"]
    for name, (output, variable) in _SOURCES.items():
        value = getattr(args, name, None) or outputs.get(output) or env.get(variable, "").strip() or None
        if value is not None:
            chosen[name] = value
    if "output_bucket" not in chosen:
        raise OpsError("the output bucket is unknown: pass --output-bucket, --outputs FILE or set OUTPUT_BUCKET")
    known = {f.name for f in fields(Stack)}
    return Stack(**{k: v for k, v in chosen.items() if k in known})


@dataclass
class Clients:
    """One boto3 session and the clients the verbs use (the session shares botocore's models, ``aws``)."""

    stack: Stack
    session: Any = None
    s3: Any = None
    sqs: Any = None
    lambda_: Any = None

    def __post_init__(self) -> None:
        self.session = ClientCachingSession(region_name=self.stack.region or None)
        self.s3 = self.session.client("s3")
        self.sqs = self.session.client("sqs")
        self.lambda_ = self.session.client("lambda")

    def objects(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def json_object(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        document = json.loads(body)
        return document if isinstance(document, dict) else None

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.s3.head_object(Bucket=bucket, Key=key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise

    def queue_depth(self, url: str) -> dict[str, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return {
            "messages": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }


def _add_stack_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the stack (flags beat --outputs, which beats the environment)")
    group.add_argument("--outputs", type=Path, help="`terraform output -json` saved to a file")
    group.add_argument("--output-bucket", help="output bucket (env OUTPUT_BUCKET)")
    group.add_argument("--input-bucket", help="input bucket (env INPUT_BUCKET)")
    group.add_argument("--input-prefix", help="key prefix the bucket notification filters on (env INPUT_PREFIX)")
    group.add_argument("--queue-url", help="input queue, for queue delivery (env INPUT_QUEUE_URL)")
    group.add_argument("--dlq-url", help="failure queue (env FAILURE_QUEUE_URL)")
    group.add_argument("--function-name", help="the Lambda function (env FUNCTION_NAME)")
    group.add_argument("--database", help="Glue database (env GLUE_DATABASE)")
    group.add_argument("--table", help="Glue table (env GLUE_TABLE)")
    group.add_argument("--workgroup", help="Athena workgroup (env ATHENA_WORKGROUP)")
    group.add_argument("--region", help="AWS region (env AWS_REGION)")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from exc


def register(subparsers: Any) -> None:
    """Add ``status``, ``replay`` and ``smoke`` to the ``orders-analytics`` parser."""
    status = subparsers.add_parser("status", help="a day's files, error records, reports and failure queue")
    status.add_argument("--date", type=_day, default=None, help="ingest date YYYY-MM-DD (default: today, UTC)")
    status.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    _add_stack_flags(status)
    status.set_defaults(func=cmd_status)

    replay = subparsers.add_parser("replay", help="deliver the events of input objects (or the failure queue) again")
    replay.add_argument("keys", nargs="*", default=[], metavar="KEY", help="input object keys (in the input bucket)")
    replay.add_argument("--date", type=_day, help="every file of that day (manifests, error records, unprocessed)")
    replay.add_argument("--failed", action="store_true", help="the failure queue's messages")
    replay.add_argument(
        "--via", choices=VIAS, help="queue | function | local (default: queue when known, else function)"
    )
    replay.add_argument("--dry-run", action="store_true", help="print what would be delivered; deliver nothing")
    replay.add_argument("--json", action="store_true", help="print JSON for scripts")
    _add_stack_flags(replay)
    replay.set_defaults(func=cmd_replay)

    smoke = subparsers.add_parser("smoke", help="post-deploy check: one small file through the deployed pipeline")
    smoke.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    smoke.add_argument(
        "--via", choices=("s3", *VIAS), default="s3", help="s3: the bucket notification (default); else deliver it"
    )
    smoke.add_argument("--athena", action="store_true", help="also run a report query in the Athena workgroup")
    smoke.add_argument("--keep", action="store_true", help="leave the file and its outputs for inspection")
    _add_stack_flags(smoke)
    smoke.set_defaults(func=cmd_smoke)


def _guarded(run: Any, args: argparse.Namespace) -> int:
    try:
        result: int = run(args)
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result


# ---------------------------------------------------------------------------------------- status


def collect_status(clients: Clients, day: date) -> dict[str, Any]:
    """The day as the output bucket (and the failure queue) tell it; see :func:`cmd_status` for the exit code."""
    stack, settings = clients.stack, clients.stack.settings()
    bucket = stack.output_bucket
    files: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in clients.objects(bucket, f"{settings.runs_prefix}{day:%Y/%m/%d}/"):
        manifest = clients.json_object(bucket, obj["Key"]) if obj["Key"].endswith(".json") else None
        if manifest is None or "key" not in manifest:
            continue
        files[(manifest.get("bucket", ""), manifest["key"])] = _file_row(manifest, obj, "manifest")
    errors: list[dict[str, Any]] = []
    for obj in clients.objects(bucket, f"{settings.errors_prefix}{day:%Y/%m/%d}/"):
        record = clients.json_object(bucket, obj["Key"]) if obj["Key"].endswith(".json") else None
        if record is None or "key" not in record:
            continue
        errors.append(
            {
                "bucket": record.get("bucket"),
                "key": record["key"],
                "reason": record.get("reason"),
                "detail": record.get("detail"),
                "rejects_object": record.get("rejects_object"),
                "record": obj["Key"],
                "written": _iso(obj["LastModified"]),
            }
        )
        source = (record.get("bucket", ""), record["key"])
        loaded = files.get(source)
        if loaded is None or (sequence_number(record.get("decided_by")) or 0) > (loaded["sequencer_number"] or 0):
            row = _file_row(record, obj, "error record")
            row["previous_load_kept"] = loaded is not None and loaded["status"] == "loaded"
            files[source] = row
    if stack.input_bucket:
        for obj in clients.objects(stack.input_bucket, stack.input_prefix):
            if obj["LastModified"].astimezone(UTC).date() == day and obj["Key"].endswith(".csv"):
                files.setdefault(
                    (stack.input_bucket, obj["Key"]),
                    {
                        "bucket": stack.input_bucket,
                        "key": obj["Key"],
                        "status": "unprocessed",
                        "rows_read": None,
                        "rows_loaded": None,
                        "rows_rejected": None,
                        "reason": "no manifest or error record (event lost, failed or still in flight)",
                        "written": _iso(obj["LastModified"]),
                        "sequencer_number": None,
                    },
                )
    reports = [
        {
            "name": obj["Key"].rsplit("/", 1)[-1].removesuffix(".csv"),
            "key": obj["Key"],
            "size": obj["Size"],
            "written": _iso(obj["LastModified"]),
        }
        for obj in clients.objects(bucket, paths.report_key(settings, day, "x").rsplit("/", 1)[0] + "/")
    ]
    queue = clients.queue_depth(stack.dlq_url) if stack.dlq_url else None
    rows = sorted(files.values(), key=lambda r: (r["bucket"] or "", r["key"]))
    for row in rows:
        row.pop("sequencer_number", None)
    warnings = _report_warnings(rows, reports)
    problems = [f"{r['key']}: {r['status']} ({r['reason']})" for r in rows if r["status"] in _BAD]
    if queue and (queue["messages"] or queue["in_flight"]):
        problems.append(f"failure queue holds {queue['messages'] + queue['in_flight']} message(s)")
    return {
        "date": day.isoformat(),
        "output_bucket": bucket,
        "files": rows,
        "errors": errors,
        "reports": reports,
        "failure_queue": None if queue is None else {"url": stack.dlq_url, **queue},
        "warnings": warnings,
        "problems": problems,
    }


_BAD = {"rejected_file", "unprocessed"}


def _file_row(document: dict[str, Any], obj: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "bucket": document.get("bucket"),
        "key": document["key"],
        "status": document.get("status"),
        "rows_read": document.get("rows_read"),
        "rows_loaded": document.get("rows_loaded"),
        "rows_rejected": document.get("rows_rejected"),
        "reason": document.get("reason"),
        "detail": document.get("detail"),
        "sequencer": document.get("decided_by") or document.get("sequencer"),
        "from": source,
        "written": _iso(obj["LastModified"]),
        "sequencer_number": sequence_number(document.get("decided_by") or document.get("sequencer")),
    }


def _report_warnings(rows: list[dict[str, Any]], reports: list[dict[str, Any]]) -> list[str]:
    loads = [r["written"] for r in rows if r["status"] == "loaded"]
    if not loads:
        return []
    present = {r["name"]: r["written"] for r in reports}
    missing = [name for name in REPORT_NAMES if name not in present]
    if missing:
        return [f"files were loaded but reports are missing: {', '.join(missing)}"]
    if min(present.values()) < max(loads):
        return ["a report was written before the day's newest load: its refresh may have failed (see the queue)"]
    return []


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 1 when the day has a rejected or unprocessed file or the failure queue is not empty; else 0."""
    return _guarded(_status, args)


def _status(args: argparse.Namespace) -> int:
    day = args.date or datetime.now(UTC).date()
    clients = Clients(resolve_stack(args))
    status = collect_status(clients, day)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        _print_status(status)
    return 1 if status["problems"] else 0


def _print_status(status: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"files of {status['date']} in s3://{status['output_bucket']}", title_justify="left")
    for column in ("file", "status", "read", "loaded", "rejected", "reason"):
        table.add_column(column, justify="right" if column in {"read", "loaded", "rejected"} else "left")
    colours = {"loaded": "green", "rejected_file": "red", "unprocessed": "red", "superseded": "dim"}
    for row in status["files"]:
        reason = row["reason"] or ""
        if row.get("previous_load_kept"):
            reason += " (the previous load is kept)"
        table.add_row(
            escape(row["key"]),
            f"[{colours.get(row['status'], 'white')}]{row['status']}[/]",
            *("" if row[n] is None else str(row[n]) for n in ("rows_read", "rows_loaded", "rows_rejected")),
            escape(reason),
        )
    console.print(table if status["files"] else f"no files on {status['date']}")
    for error in status["errors"]:
        console.print(
            f"[red]error record[/] {escape(error['record'])} ({error['written']}):",
            escape(f"{error['reason']}: {error['detail']}"),
        )
        if error["rejects_object"]:
            console.print(escape(f"  rejected rows: s3://{status['output_bucket']}/{error['rejects_object']}"))
    reports = Table(title="reports", title_justify="left")
    for column in ("report", "written", "bytes"):
        reports.add_column(column)
    for report in status["reports"]:
        reports.add_row(report["name"], report["written"], str(report["size"]))
    console.print(reports if status["reports"] else "no reports for this day")
    queue = status["failure_queue"]
    if queue is None:
        console.print("failure queue: unknown (pass --dlq-url or --outputs)")
    else:
        console.print(f"failure queue: {queue['messages']} message(s), {queue['in_flight']} in flight")
    for warning in status["warnings"]:
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    for problem in status["problems"]:
        console.print(f"[red]problem[/]: {escape(problem)}")
    if status["problems"]:
        console.print(
            "next: a rejected file: fix it and upload it again under the same key; an unprocessed file:"
            " `orders-analytics replay KEY`; the failure queue: `orders-analytics replay --failed`"
        )


# ---------------------------------------------------------------------------------------- replay


@dataclass
class Delivery:
    """One event to deliver (or delivered), and what came of it."""

    what: str  # the input keys, or the failure queue's message id
    event: dict[str, Any] | None
    outcome: str = "pending"  # delivered | would deliver | skipped | failed
    detail: str = ""
    answer: Any = None
    message: dict[str, Any] | None = field(default=None, repr=False)  # the failure queue's message


def next_sequencer(known: list[str | None]) -> str:
    """One more than the newest of the key's ``known`` sequencers (hex, S3's width); ``…01`` when none is known.

    Newer than everything the state and records of the key hold, so the replay
    is not stale; and as small as that allows, so a real upload after it (S3's
    sequencer for a later event of the key is larger than every earlier one)
    is never taken for an older event.
    """
    numbers = [n for n in (sequence_number(s) for s in known) if n is not None]
    width = max([SEQUENCER_DIGITS, *(len(s) for s in known if s and sequence_number(s) is not None)])
    return f"{(max(numbers) + 1) if numbers else 1:0{width}X}"


def known_sequencers(clients: Clients, settings: Settings, bucket: str, key: str, day: date) -> list[str | None]:
    """Every sequencer of the key the output bucket holds: committed, pending, and the day's manifest and error."""
    state = clients.json_object(settings.output_bucket, paths.state_key(settings, paths.source_id(bucket, key))) or {}
    known: list[str | None] = [state.get("sequencer")]
    known += [entry.get("sequencer") for entry in state.get("pending", {}).values()]
    for record_key in (paths.manifest_key(settings, day, bucket, key), paths.error_key(settings, day, bucket, key)):
        record = clients.json_object(settings.output_bucket, record_key) or {}
        known += [record.get("decided_by"), record.get("sequencer")]
    return known


def object_event(clients: Clients, bucket: str, key: str) -> tuple[dict[str, Any] | None, str]:
    """The ObjectCreated event of the object's current version (time: its LastModified), or ``None`` and why."""
    head = clients.head(bucket, key)
    if head is None:
        return None, f"s3://{bucket}/{key} does not exist"
    settings = clients.stack.settings()
    modified: datetime = head["LastModified"].astimezone(UTC)
    sequencer = next_sequencer(known_sequencers(clients, settings, bucket, key, modified.date()))
    record = s3_events.object_created_record(
        bucket=bucket,
        key=key,
        size=int(head["ContentLength"]),
        etag=str(head["ETag"]).strip('"'),
        event_time=modified,
        sequencer=sequencer,
        region=clients.session.region_name or "us-east-1",
        version_id=head.get("VersionId"),
    )
    return s3_events.s3_event(record), f"sequencer {sequencer}, ingest date {modified.date()}"


def _keys_of(event: Any) -> str:
    try:
        return ", ".join(unquote_plus(r["s3"]["object"]["key"]) for r in event["Records"])
    except (KeyError, TypeError):
        return "(not a direct S3 notification)"


def default_via(stack: Stack) -> str:
    if stack.queue_url:
        return "queue"
    if stack.function_name:
        return "function"
    raise OpsError("no way to deliver: pass --via local, --queue-url or --function-name (or --outputs)")


def deliver(clients: Clients, via: str, delivery: Delivery) -> None:
    """Deliver the event the way ``via`` says; fill ``outcome``, ``detail`` and (local) the handler's answer."""
    event, stack = delivery.event, clients.stack
    assert event is not None
    if via == "queue":
        if not stack.queue_url:
            raise OpsError("--via queue needs --queue-url (or input_queue_url in --outputs)")
        sent = clients.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(event))
        delivery.outcome, delivery.detail = "delivered", f"message {sent['MessageId']} on the input queue"
    elif via == "function":
        if not stack.function_name:
            raise OpsError("--via function needs --function-name (or function_name in --outputs)")
        answer = clients.lambda_.invoke(
            FunctionName=stack.function_name, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        ok = answer.get("StatusCode") == 202
        delivery.outcome = "delivered" if ok else "failed"
        delivery.detail = f"asynchronous invoke of {stack.function_name}: status {answer.get('StatusCode')}"
    else:
        _deliver_locally(stack, delivery, event)


def _deliver_locally(stack: Stack, delivery: Delivery, event: dict[str, Any]) -> None:
    """The real handler's code in this process (``App.from_env``), its EMF lines and logs on stderr."""
    direct = isinstance(event.get("Records"), list) or event.get("detail-type") is not None
    payload = event if direct else s3_events.sqs_batch(event)  # an SNS/other queue body: as the mapping delivers it
    try:
        with contextlib.redirect_stdout(sys.stderr):
            answer = App.from_env(stack.function_env()).handle(payload, LambdaContext())
    except Exception as exc:  # the handler's own answer to a transient failure: the event stays where it was
        delivery.outcome, delivery.detail = "failed", f"{type(exc).__name__}: {exc}"
        return
    delivery.answer = answer
    if answer.get("batchItemFailures"):
        delivery.outcome, delivery.detail = "failed", "the handler asked for the message again"
        return
    delivery.outcome = "delivered"
    delivery.detail = "; ".join(
        f"{f['key']}: {f['status']}"
        + (f" ({f['reason']})" if f.get("reason") else "")
        + f" read={f['rows_read']} loaded={f['rows_loaded']} rejected={f['rows_rejected']}"
        for f in answer.get("files", [])
    ) or "; ".join(f"{s['key']}: skipped ({s['reason']})" for s in answer.get("skipped", []))


def _failed_messages(clients: Clients) -> Iterator[Delivery]:
    """Each failure-queue message once (hidden for the run), as a delivery of the event it holds."""
    url = clients.stack.dlq_url
    if not url:
        raise OpsError("--failed needs the failure queue: --dlq-url or failure_queue_url in --outputs")
    seen: set[str] = set()
    while True:
        answer = clients.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300, AttributeNames=["All"]
        )
        messages = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
        if not messages:
            return
        for message in messages:
            seen.add(message["MessageId"])
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = None
            # An on-failure destination's record carries the invocation's event under requestPayload;
            # a dead-letter queue's message is the event (or the input queue's body) itself.
            event = body.get("requestPayload") if isinstance(body, dict) and "requestPayload" in body else body
            what = f"message {message['MessageId']}: {_keys_of(event)}"
            if not isinstance(event, dict):
                yield Delivery(what, None, "skipped", "the message holds no JSON event", message=message)
                continue
            condition = (body.get("requestContext") or {}).get("condition") if "requestPayload" in body else None
            yield Delivery(what, event, detail=f"failed with {condition}" if condition else "", message=message)


def cmd_replay(args: argparse.Namespace) -> int:
    """Exit 1 when a delivery failed, an object is missing, or (local) the handler rejected a file; else 0."""
    return _guarded(_replay, args)


def _replay(args: argparse.Namespace) -> int:
    if sum([bool(args.keys), args.date is not None, args.failed]) != 1:
        raise OpsError("replay takes exactly one of: KEY ..., --date YYYY-MM-DD, --failed")
    stack = resolve_stack(args)
    clients = Clients(stack)
    via = args.via or default_via(stack)
    deliveries: list[Delivery] = []
    if args.failed:
        deliveries = list(_failed_messages(clients))
    else:
        if args.date:
            sources = [
                (f["bucket"] or stack.input_bucket, f["key"]) for f in collect_status(clients, args.date)["files"]
            ]
        else:
            if not stack.input_bucket:
                raise OpsError("the input bucket is unknown: pass --input-bucket, --outputs FILE or set INPUT_BUCKET")
            sources = [(stack.input_bucket, key) for key in args.keys]
        for bucket, key in sources:
            event, detail = object_event(clients, str(bucket), key)
            deliveries.append(Delivery(key, event, "pending" if event else "skipped", detail))
    for delivery in deliveries:
        if delivery.event is None:
            continue
        if args.dry_run:
            delivery.outcome = "would deliver"
            print(json.dumps(delivery.event, indent=2), file=sys.stderr if args.json else sys.stdout)
        else:
            deliver(clients, via, delivery)
        if delivery.message is not None and delivery.outcome == "delivered":
            clients.sqs.delete_message(QueueUrl=stack.dlq_url, ReceiptHandle=delivery.message["ReceiptHandle"])
    for delivery in deliveries:  # what was not taken out of the failure queue goes back into view
        if delivery.message is not None and delivery.outcome != "delivered":
            clients.sqs.change_message_visibility(
                QueueUrl=stack.dlq_url, ReceiptHandle=delivery.message["ReceiptHandle"], VisibilityTimeout=0
            )
    _print_replay(deliveries, via, args.json)
    rejected = any(
        f.get("status") == "rejected_file"
        for d in deliveries
        if isinstance(d.answer, dict)
        for f in d.answer.get("files", [])
    )
    return 1 if rejected or any(d.outcome in {"failed", "skipped"} for d in deliveries) else 0


def _print_replay(deliveries: list[Delivery], via: str, as_json: bool) -> None:
    if as_json:
        document = [
            {"what": d.what, "outcome": d.outcome, "detail": d.detail, "via": via, "answer": d.answer}
            for d in deliveries
        ]
        print(json.dumps(document, indent=2, default=str))
        return
    if not deliveries:
        print("nothing to replay")
    for d in deliveries:
        print(f"{d.what}: {d.outcome}{' via ' + via if d.outcome == 'delivered' else ''}: {d.detail}")


# ----------------------------------------------------------------------------------------- smoke


class SmokeFailedError(Exception):
    """The smoke test found the pipeline not working; the message says what was missing or wrong."""


def smoke_file(run_id: str) -> tuple[bytes, int, set[str]]:
    """A small generated export with one bad row: ``(bytes, good rows, regions of the good rows)``."""
    rows = [list(r) for r in generate.iter_orders(7, seed=int(run_id[:8], 16))]
    column = {name: i for i, name in enumerate(generate.HEADER)}
    for index, row in enumerate(rows):
        row[column["Order Id"]] = f"SMOKE-{run_id[:8]}-{index}"
    bad = list(rows[0])
    bad[column["Order Id"]] = f"SMOKE-{run_id[:8]}-bad"
    bad[column["Quantity"]] = "not-a-number"  # rejected by validation, the rest loads
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(generate.HEADER)
    writer.writerows([*rows, bad])
    return buffer.getvalue().encode(), len(rows), {r[column["Region"]] for r in rows}


def cmd_smoke(args: argparse.Namespace) -> int:
    """Exit 0 when the file loaded with the expected counts and the reports show it; else 1 with the reason."""
    return _guarded(_smoke, args)


def _smoke(args: argparse.Namespace) -> int:
    stack = resolve_stack(args)
    if not stack.input_bucket:
        raise OpsError("the input bucket is unknown: pass --input-bucket, --outputs FILE or set INPUT_BUCKET")
    clients = Clients(stack)
    run_id = uuid.uuid4().hex
    key = f"{stack.input_prefix}smoke/{run_id}.csv"
    body, good, regions = smoke_file(run_id)
    console = Console(stderr=True, soft_wrap=True)
    clients.s3.put_object(Bucket=stack.input_bucket, Key=key, Body=body)
    console.print(escape(f"smoke: uploaded s3://{stack.input_bucket}/{key} ({good} good rows, 1 bad)"))
    days: list[date] = []
    try:
        if args.via != "s3":
            delivery = Delivery(key, object_event(clients, stack.input_bucket, key)[0])
            deliver(clients, args.via, delivery)
            console.print(escape(f"smoke: delivered via {args.via}: {delivery.outcome} {delivery.detail}"))
        manifest, days = _wait_for_manifest(clients, key, args.timeout, console)
        _check_manifest(manifest, good)
        _wait_for_reports(clients, date.fromisoformat(manifest["ingest_date"]), regions, args.timeout, console)
        if args.athena:
            _check_athena(clients, date.fromisoformat(manifest["ingest_date"]), regions)
    except SmokeFailedError as exc:
        print(f"smoke failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            _clean_up(clients, key, days, console)
    print(
        f"smoke passed: s3://{stack.input_bucket}/{key} loaded {good} rows, rejected 1; reports show {sorted(regions)}"
    )
    return 0


def _poll(timeout: float, console: Console, what: str) -> Iterator[float]:
    """Yield the seconds waited, about every second (with a spinner), until ``timeout``."""
    started = time.monotonic()
    with console.status(f"waiting for {what}") as spinner:
        while (waited := time.monotonic() - started) <= timeout:
            spinner.update(f"waiting for {what} ({waited:.0f}s of {timeout:.0f}s)")
            yield waited
            time.sleep(min(1.0, max(timeout / 20, 0.05)))


def _wait_for_manifest(
    clients: Clients, key: str, timeout: float, console: Console
) -> tuple[dict[str, Any], list[date]]:
    stack, settings = clients.stack, clients.stack.settings()
    assert stack.input_bucket
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=1), today, today + timedelta(days=1)]  # the event's day is the upload's, in UTC
    for _ in _poll(timeout, console, "the run manifest"):
        for day in days:
            error = clients.json_object(stack.output_bucket, paths.error_key(settings, day, stack.input_bucket, key))
            if error is not None:
                raise SmokeFailedError(
                    f"the file was rejected as a whole: {error.get('reason')}: {error.get('detail')}"
                )
            found = clients.json_object(stack.output_bucket, paths.manifest_key(settings, day, stack.input_bucket, key))
            if found is not None:
                return found, days
    depth = clients.queue_depth(stack.dlq_url) if stack.dlq_url else None
    queue = f"; the failure queue holds {depth['messages']} message(s)" if depth else ""
    raise SmokeFailedError(
        f"no run manifest for s3://{stack.input_bucket}/{key} after {timeout:.0f}s: the event did not reach the"
        f" function, or the function failed (check the bucket notification, the function's logs{queue})"
    )


def _check_manifest(manifest: dict[str, Any], good: int) -> None:
    wanted = {"status": "loaded", "rows_read": good + 1, "rows_loaded": good, "rows_rejected": 1}
    wrong = {name: manifest.get(name) for name, value in wanted.items() if manifest.get(name) != value}
    if wrong:
        raise SmokeFailedError(f"the manifest says {wrong}, expected {wanted}")


def _wait_for_reports(clients: Clients, day: date, regions: set[str], timeout: float, console: Console) -> None:
    settings, bucket = clients.stack.settings(), clients.stack.output_bucket
    key = paths.report_key(settings, day, "most_profitable_region")
    missing: set[str] = set(regions)
    for _ in _poll(timeout, console, f"the reports of {day}"):
        heads = {name: clients.head(bucket, paths.report_key(settings, day, name)) for name in REPORT_NAMES}
        if all(heads.values()):
            text = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            shown = {row.get("region", "") for row in csv.DictReader(io.StringIO(text))}
            missing = regions - shown
            if not missing:
                return
    raise SmokeFailedError(
        f"after {timeout:.0f}s the reports of {day} are missing or do not show the regions {sorted(missing)}"
        f" (s3://{bucket}/{key})"
    )


def _check_athena(clients: Clients, day: date, regions: set[str]) -> None:
    settings = clients.stack.settings()
    query = queries.report_query(
        settings.queries_dir,
        "most_profitable_region",
        database=settings.glue_database,
        table=settings.glue_table,
        ingest_date=day,
    )
    try:
        frame = AwsStorage(clients.session).query(
            query.sql, database=settings.glue_database, workgroup=settings.athena_workgroup, parameters=query.parameters
        )
    except Exception as exc:
        raise SmokeFailedError(f"the Athena query in workgroup {settings.athena_workgroup} failed: {exc}") from exc
    missing = regions - set(frame["region"].astype(str))
    if missing:
        raise SmokeFailedError(f"Athena's most_profitable_region of {day} does not show {sorted(missing)}")


def _clean_up(clients: Clients, key: str, days: list[date], console: Console) -> None:
    """Remove the smoke file (every version), what the pipeline wrote for it, and recompute its day's reports."""
    stack, settings = clients.stack, clients.stack.settings()
    assert stack.input_bucket
    versions = clients.s3.list_object_versions(Bucket=stack.input_bucket, Prefix=key)
    for item in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
        if item["Key"] == key:
            clients.s3.delete_object(Bucket=stack.input_bucket, Key=key, VersionId=item["VersionId"])
    sid = paths.source_id(stack.input_bucket, key)
    state = clients.json_object(stack.output_bucket, paths.state_key(settings, sid)) or {}
    doomed = {paths.state_key(settings, sid)}
    refresh: set[date] = set()
    for day in days or [datetime.now(UTC).date()]:
        prefixes = [
            paths.source_prefix(settings, day, sid),
            paths.rejects_prefix(settings, day, stack.input_bucket, key),
        ]
        for prefix in prefixes:
            for obj in clients.objects(stack.output_bucket, prefix):
                doomed.add(obj["Key"])
                refresh |= {day} if obj["Key"].endswith(".parquet") else set()
        for record in (paths.manifest_key, paths.error_key):
            doomed.add(record(settings, day, stack.input_bucket, key))
    doomed |= set((state.get("result") or {}).get("objects_written", []))
    keys = sorted(doomed)
    for start in range(0, len(keys), 1000):
        clients.s3.delete_objects(
            Bucket=stack.output_bucket,
            Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
        )
    storage = AwsStorage(clients.session)
    for day in sorted(refresh):  # the day's reports without the smoke rows
        # The day's loads changed: a refresh running meanwhile must see it and compute again.
        daily_reports.touch_commit_mark(storage, settings, day, by="smoke clean-up")
        daily_reports.refresh_reports(storage, settings, day)
    console.print(
        f"smoke: removed the file and {len(keys)} output object(s); refreshed the reports of"
        f" {', '.join(d.isoformat() for d in sorted(refresh)) or 'no day'}"
    )
