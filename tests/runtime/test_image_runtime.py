"""The handler as the image runs it: ``python -m awslambdaric lambda_app.handler.lambda_handler`` on Python 3.12.

One warm function process gets, through a loopback Runtime API, the events
Lambda would send, against the emulator (moto):

1. a direct S3 notification of a good file (the cold start's invocation);
2. an SQS batch (the event source mapping's shape): a good file of the same
   day and a file without the required columns;
3. a direct S3 notification whose load fails transiently (the Glue database
   is gone), which must reach Lambda as a function error so it is retried.

The process has only the image's pins, the task root is a read-only copy of
what the Dockerfile copies (compiled as the Dockerfile compiles it), and the
only writable folder is its tmp dir (Lambda's ``/tmp``, also ``HOME`` and
``TMPDIR``). Every write it attempts is recorded (``write_audit.py``).
A second process starts without ``OUTPUT_BUCKET`` and must fail INIT.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orders_tools import s3_events
from orders_tools.emulator import INPUT_BUCKET, LocalAws
from tests.helpers import CANONICAL_HEADER, EVENT_TIME, csv_bytes, line
from tests.runtime import harness
from tests.runtime.harness import (
    REPO_ROOT,
    Function,
    RuntimeVenv,
    audited_python,
    make_task_root,
    outside,
    set_writable,
    snapshot,
    start_function,
)
from tests.runtime.runtime_api import Outcome

pytestmark = pytest.mark.runtime

# Lambda's limit on the INIT phase of an on-demand function (docs.aws.amazon.com/lambda/latest/dg/
# lambda-runtime-environment.html): past it, INIT is retried within the first invocation and its timeout.
INIT_LIMIT_SECONDS = 10.0
DAY = "2026/11/26"
GOOD_A = "incoming/store-1/orders a.csv"  # a space: S3 URL-encodes it in the event
GOOD_B = "incoming/store-2/orders-b.csv"
NO_QUANTITY = "incoming/store-3/no-quantity.csv"
NEXT_DAY = "incoming/store-1/orders-next-day.csv"
# Four good rows and one with an unreadable quantity: the rejected row is spooled to a file in TMPDIR.
GOOD_B_BODY = csv_bytes(
    line("CA-4", region="East"), line("CA-5"), line("CA-6"), line("CA-7"), line("CA-8", quantity="many")
)
# The canonical export without its Quantity column (the 15th).
NO_QUANTITY_BODY = csv_bytes(
    *(",".join(f for i, f in enumerate(line(order_id).split(",")) if i != 14) for order_id in ("CA-9", "CA-10")),
    header=",".join(f for i, f in enumerate(CANONICAL_HEADER.split(",")) if i != 14),
)


@dataclass
class Run:
    """What the warm function did with the three invocations."""

    function: Function
    init_seconds: float
    direct: Outcome
    batch: Outcome
    failed: Outcome
    alive_after_invocations: bool
    task_root_before: dict[str, tuple[int, int, int]]
    task_root_after: dict[str, tuple[int, int, int]]
    output_keys: list[str]


def function_env(aws: LocalAws) -> dict[str, str]:
    """The function's configuration as terraform/modules/lambda sets it, pointed at the emulator."""
    return {
        **aws.env,  # credentials, region, AWS_ENDPOINT_URL, OUTPUT_BUCKET, GLUE_DATABASE, GLUE_TABLE
        "REPORT_ENGINE": "local",
        "ATHENA_WORKGROUP": "primary",
        "LOG_LEVEL": "INFO",
        "DATASET_PREFIX": "dataset/orders/",
        "REPORTS_PREFIX": "analytics/",
        "REJECTS_PREFIX": "rejects/",
        "ERRORS_PREFIX": "errors/",
        "RUNS_PREFIX": "runs/",
        "STATE_PREFIX": "state/",
    }


def s3_notification(aws: LocalAws, key: str, body: bytes, days_later: int = 0) -> dict[str, Any]:
    head = aws.upload(key, body)
    return aws.object_created_event(key, head, EVENT_TIME + timedelta(days=days_later))


@pytest.fixture(scope="module")
def task_root(venv: RuntimeVenv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = make_task_root(tmp_path_factory.mktemp("image") / "var-task", venv.python)
    yield root
    set_writable(root, writable=True)


@pytest.fixture(scope="module")
def run(venv: RuntimeVenv, task_root: Path, emulator: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Run:
    emulator.reset()
    before = snapshot(task_root)
    with start_function(
        venv_python=venv.python,
        task_root=task_root,
        workdir=tmp_path_factory.mktemp("warm-function"),
        function_env=function_env(emulator),
    ) as function:
        try:
            ready = function.api.wait_until_ready(timeout=120, alive=function.alive)
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{function.output()}", pytrace=False)
        init_seconds = ready - function.started_at
        direct = function.invoke(s3_notification(emulator, GOOD_A, csv_bytes(line("CA-1"), line("CA-2"), line("CA-3"))))
        batch = function.invoke(
            s3_events.sqs_batch(
                s3_notification(emulator, GOOD_B, GOOD_B_BODY),
                s3_notification(emulator, NO_QUANTITY, NO_QUANTITY_BODY),
            )
        )
        emulator.glue.delete_database(Name=emulator.env["GLUE_DATABASE"])  # the next load cannot register
        failed = function.invoke(s3_notification(emulator, NEXT_DAY, csv_bytes(line("CA-11")), days_later=1))
        alive = function.alive()
    output_keys = emulator.output_keys()
    emulator.reset()  # the Glue database back, for the tests after these
    harness.REPORT.append(
        f"INIT {init_seconds:.2f} s (limit {INIT_LIMIT_SECONDS:.0f} s); invocations"
        f" {direct.seconds:.2f} s (direct S3, cold), {batch.seconds:.2f} s (SQS batch), {failed.seconds:.2f} s (error)"
    )
    return Run(
        function=function,
        init_seconds=init_seconds,
        direct=direct,
        batch=batch,
        failed=failed,
        alive_after_invocations=alive,
        task_root_before=before,
        task_root_after=snapshot(task_root),
        output_keys=output_keys,
    )


def processed(run: Run, outcome: Outcome) -> dict[str, Any]:
    """The summary the handler logged ("event processed") for one invocation."""
    found = [
        entry["summary"]
        for entry in run.function.logs()
        if entry.get("message") == "event processed" and entry.get("function_request_id") == outcome.request_id
    ]
    assert len(found) == 1, f"{len(found)} 'event processed' lines for {outcome.request_id}\n{run.function.output()}"
    return dict(found[0])


def test_init_finishes_well_within_lambdas_init_limit(run: Run) -> None:
    assert run.init_seconds < INIT_LIMIT_SECONDS
    assert run.function.api.init_error is None
    assert run.function.api.requests[0] == ("GET", "/2018-06-01/runtime/invocation/next")


def test_a_direct_s3_event_of_a_good_file_is_answered_with_the_summary(run: Run) -> None:
    assert run.direct.kind == "response", run.direct.body
    summary = run.direct.json()
    assert summary["files"] == [
        {
            "key": GOOD_A,
            "status": "loaded",
            "reason": None,
            "rows_read": 3,
            "rows_loaded": 3,
            "rows_rejected": 0,
        }
    ]
    assert summary["skipped"] == []
    assert sorted(summary["reports"]) == ["2026-11-26"]
    assert run.direct.headers.get("content-type", "").startswith("application/json")


def test_an_sqs_batch_with_a_bad_file_reports_no_item_failure_and_records_the_file_as_rejected(run: Run) -> None:
    assert run.batch.kind == "response", run.batch.body
    assert run.batch.json() == {"batchItemFailures": []}  # a bad file is permanent: never redelivered
    files = {
        f["key"]: (f["status"], f["reason"], f["rows_loaded"], f["rows_rejected"])
        for f in processed(run, run.batch)["files"]
    }
    assert files == {GOOD_B: ("loaded", None, 4, 1), NO_QUANTITY: ("rejected_file", "missing_columns", 0, 0)}
    assert f"errors/{DAY}/{INPUT_BUCKET}/{NO_QUANTITY}.json" in run.output_keys
    assert {f"analytics/{DAY}/{name}.csv" for name in ("most_profitable_region", "orders_by_category")} <= set(
        run.output_keys
    )


def test_a_transient_failure_reaches_lambda_as_a_function_error_so_the_event_is_retried(run: Run) -> None:
    assert run.failed.kind == "error", run.failed.body
    error = run.failed.json()
    assert error["errorType"] == "RecordsFailedError"
    assert NEXT_DAY in error["errorMessage"]
    assert error["requestId"] == run.failed.request_id
    assert error["stackTrace"], error


def test_the_process_stays_warm_and_the_handler_sees_lambdas_context(run: Run) -> None:
    assert run.alive_after_invocations
    assert run.function.api.violations == []
    by_request: dict[str, set[bool]] = {}
    for entry in run.function.logs():
        if "function_request_id" in entry:
            by_request.setdefault(entry["function_request_id"], set()).add(entry["cold_start"])
            assert entry["function_name"] == "orders-analytics"
            assert entry["function_memory_size"] == "4096"
            assert entry["service"] == "orders-analytics"
    assert by_request == {
        run.direct.request_id: {True},
        run.batch.request_id: {False},
        run.failed.request_id: {False},
    }


def test_nothing_is_written_or_attempted_outside_the_tmp_dir(run: Run) -> None:
    writes = run.function.attempted_writes()
    assert [w for w in writes if outside(w[1], run.function.tmp)] == []
    assert run.task_root_after == run.task_root_before
    # The rejected row of GOOD_B went through a spool file in TMPDIR, removed after the upload.
    spooled = [Path(p).name for event, p in writes if event == "open" and Path(p).parent == run.function.tmp]
    assert any(name.startswith("rejects-") for name in spooled), writes
    # Lambda keeps /tmp across warm invocations (and it is 512 MB by default): nothing may be left there.
    assert sorted(run.function.tmp.iterdir()) == []
    harness.REPORT.append(f"writes: {len(writes)} attempted, all under the function's tmp dir")


def test_python_would_write_bytecode_into_a_task_root_not_compiled_at_build_time(
    venv: RuntimeVenv, tmp_path: Path
) -> None:
    """Why the Dockerfile compiles ``lambda_app``: else every cold start compiles it and tries ``__pycache__``.

    Also proves the write audit sees an attempt that the read-only task root refuses.
    """
    root = tmp_path / "var-task"
    shutil.copytree(REPO_ROOT / "lambda_app", root / "lambda_app", ignore=shutil.ignore_patterns("__pycache__"))
    set_writable(root, writable=False)
    try:
        writes = audited_python(venv.python, "import lambda_app.errors", cwd=root, log=tmp_path / "writes.log")
    finally:
        set_writable(root, writable=True)
    assert writes, "no bytecode write attempted: is the write audit installed in the runtime venv?"
    assert [w for w in writes if outside(w[1], root / "lambda_app" / "__pycache__")] == []


def test_a_missing_output_bucket_fails_init_through_the_runtime_api(
    venv: RuntimeVenv, task_root: Path, emulator: LocalAws, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = function_env(emulator)
    del env["OUTPUT_BUCKET"]
    with start_function(
        venv_python=venv.python,
        task_root=task_root,
        workdir=tmp_path_factory.mktemp("misconfigured-function"),
        function_env=env,
    ) as function:
        exit_code = function.process.wait(timeout=120)
        error = function.api.init_error
        assert error is not None, function.output()
        assert error.error_type == "ConfigurationError"
        assert error.body["errorType"] == "ConfigurationError"
        assert "OUTPUT_BUCKET" in error.body["errorMessage"]
        assert exit_code == 1
        assert function.api.first_next_at is None  # it never asked for an event
        assert function.api.violations == []
        assert [w for w in function.attempted_writes() if outside(w[1], function.tmp)] == []
        harness.REPORT.append(f"INIT error reported after {error.at - function.started_at:.2f} s")
