"""The handler's CloudWatch metrics: Embedded Metric Format lines on stdout, checked against the manifests."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.fakes import MemoryAws
from tests.helpers import EVENT_TIME, csv_bytes, line


def _total(value: float | list[float]) -> float:
    """An EMF value: one number, or the list of one number per file."""
    return sum(value) if isinstance(value, list) else value


def _emf(out: str) -> list[dict[str, Any]]:
    documents = [json.loads(text) for text in out.splitlines() if text.startswith('{"_aws"')]
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "OrdersAnalytics"
        assert document["service"] == "orders-analytics"
    return documents


def test_each_invocation_emits_the_files_numbers_and_a_refused_files_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """Expected: one EMF document per invocation with rows read/loaded/rejected, bytes and seconds per file
    and files loaded (equal to the run manifest's numbers), the report refresh time; a refused file adds
    files_rejected and a files_rejected_by_reason document whose reason dimension is the manifest's."""
    aws = MemoryAws()
    body = csv_bytes(line("M-1"), line("M-2"), line("M-3"), line("M-4"), line("M-x", quantity="0"))
    head = aws.upload("mixed.csv", body)
    capsys.readouterr()
    aws.deliver(aws.object_created_event("mixed.csv", head, EVENT_TIME))
    [loaded] = _emf(capsys.readouterr().out)
    manifest = json.loads(aws.read_output(f"runs/2026/11/26/{aws.input_bucket}/mixed.csv.json"))
    assert tuple(_total(loaded[name]) for name in ("rows_read", "rows_loaded", "rows_rejected")) == (
        manifest["rows_read"],
        manifest["rows_loaded"],
        manifest["rows_rejected"],
    )
    assert (_total(loaded["files_loaded"]), _total(loaded["file_bytes"])) == (1, len(body))
    assert _total(loaded["processing_seconds"]) >= 0 and _total(loaded["report_refresh_seconds"]) >= 0

    head = aws.upload("bad.csv", csv_bytes("x,1", header="Order Id,Order Date"))
    aws.deliver(aws.object_created_event("bad.csv", head, EVENT_TIME + timedelta(seconds=1)))
    documents = _emf(capsys.readouterr().out)
    by_reason = [d for d in documents if "files_rejected_by_reason" in d]
    [totals] = [d for d in documents if "files_rejected" in d]
    assert _total(totals["files_rejected"]) == 1 and "files_loaded" not in totals
    assert [d["reason"] for d in by_reason] == ["missing_columns"]
    [dimensions] = by_reason[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert sorted(dimensions) == ["reason", "service"]


def test_an_invocation_that_only_skips_emits_no_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    MemoryAws().deliver({"Service": "Amazon S3", "Event": "s3:TestEvent"})
    assert _emf(capsys.readouterr().out) == []
