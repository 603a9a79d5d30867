"""Property test through the real handler: generated messy files, one emulator, a few examples.

For each generated file (its own key and its own ingestion day): the summary and the manifest
(or error record) reconcile ``rows_read == rows_loaded + rows_rejected`` with the generated
counts; a file over ``MAX_REJECT_RATIO`` loads nothing; otherwise the day's partition holds
exactly the good rows, the rejects file exactly the bad ones, and the reports equal the
reference computed from the good rows only.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from orders_tools.emulator import LocalAws
from tests import reference
from tests.helpers import EVENT_TIME, examples, output_keys, read_output, report_rows, upload_and_deliver

pytestmark = pytest.mark.integration

_examples = itertools.count()


@settings(
    max_examples=examples(10),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=reference.messy_files(max_rows=30))
def test_generated_files_through_the_handler(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, generated: reference.GenFile
) -> None:
    monkeypatch.setenv("CSV_BLOCK_BYTES", "1024")
    monkeypatch.setenv("ROWS_PER_FILE", "7")
    n = next(_examples)
    when = EVENT_TIME + timedelta(days=n)
    day, partition = f"{when:%Y/%m/%d}", f"ingest_date={when:%Y-%m-%d}"
    key = f"generated/{n}.csv"

    summary = upload_and_deliver(aws, key, generated.data, when)
    read, bad = len(generated.rows), len(generated.rejected)
    too_many = read > 0 and bad > 0.25 * read
    assert summary["files"] == [
        {
            "key": key,
            "status": "rejected_file" if too_many else "loaded",
            "reason": "too_many_rejects" if too_many else None,
            "rows_read": read,
            "rows_loaded": 0 if too_many else read - bad,
            "rows_rejected": bad,
        }
    ]
    record_key = f"{'errors' if too_many else 'runs'}/{day}/{aws.input_bucket}/{key}.json"
    record: dict[str, Any] = json.loads(read_output(aws, record_key))
    assert (record["rows_read"], record["rows_rejected"]) == (read, bad)
    assert record["rejected_by_reason"] == generated.first_reasons()

    parquet = output_keys(aws, f"dataset/orders/{partition}/")
    loaded = sorted(r["order_id"] for k in parquet for r in pq.read_table(io.BytesIO(read_output(aws, k))).to_pylist())
    if too_many:
        assert loaded == []
        assert output_keys(aws, f"analytics/{day}/") == []
        return
    assert loaded == sorted(r.order_id for r in generated.good)
    rejects = output_keys(aws, f"rejects/{partition}/{aws.input_bucket}/{key}.")
    if bad:
        [rejects_key] = rejects
        rejected = list(csv.DictReader(io.StringIO(read_output(aws, rejects_key).decode())))
        assert sorted(r["reject_reason"] for r in rejected) == sorted("; ".join(r.reasons) for r in generated.rejected)
    else:
        assert rejects == []
    expected = reference.report_rows(generated.good)
    for name, rows in expected.items():
        assert report_rows(aws, name, day)[1:] == rows, name
