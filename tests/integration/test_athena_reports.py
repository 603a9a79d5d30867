"""The Athena path (REPORT_ENGINE=athena) against moto's server, over HTTP as against AWS.

moto does not execute SQL: each test queues the result sets Athena would return
(``POST /moto-api/static/athena/query-results``); moto writes them as the result
CSV at the workgroup's output location, which awswrangler's non-CTAS path reads
back with the column types. What is checked is everything around the SQL: the
statements sent are the library's files rendered for the day, the request flow
works without CTAS, and the frames come back with the CSVs' columns, order and types.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from lambda_app.errors import QueryResultError, QueryTemplateError
from orders_tools import sql
from orders_tools.emulator import LocalAws, local_aws

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")]

WORKGROUP = "orders-analytics"
RESULTS_BUCKET = "orders-athena-results-local"
DAY = "2024-03-01"


def _athena_type(series: pd.Series[Any]) -> str:
    if pd.api.types.is_integer_dtype(series.dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(series.dtype):
        return "double"
    return "varchar"


def athena_result(frame: pd.DataFrame) -> dict[str, Any]:
    """``frame`` as the result set Athena returns: a header row, then the rows as text (NULL: no value)."""

    def row(values: list[Any]) -> dict[str, Any]:
        return {"Data": [{} if pd.isna(v) else {"VarCharValue": str(v)} for v in values]}

    columns = [str(c) for c in frame.columns]
    return {
        "rows": [row(columns)] + [row(list(r)) for r in frame.itertuples(index=False)],
        "column_info": [
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": c,
                "Label": c,
                "Type": _athena_type(frame[c]),
                "Precision": 0,
                "Scale": 0,
                "Nullable": "UNKNOWN",
                "CaseSensitive": True,
            }
            for c in columns
        ],
    }


def queue_results(aws: LocalAws, *frames: pd.DataFrame) -> None:
    body = json.dumps({"region": "us-east-1", "results": [athena_result(f) for f in frames]}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local emulator
        f"{aws.endpoint}/moto-api/static/athena/query-results",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local emulator
        assert response.status == 201


def executed_queries() -> list[dict[str, Any]]:
    athena = boto3.client("athena")
    ids = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return sorted(executions, key=lambda e: e["Status"]["SubmissionDateTime"])


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_aws({"REPORT_ENGINE": "athena", "ATHENA_WORKGROUP": WORKGROUP}) as emulator:
        boto3.client("s3").create_bucket(Bucket=RESULTS_BUCKET)
        boto3.client("athena").create_work_group(
            Name=WORKGROUP,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS_BUCKET}/query-results/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        yield emulator


REGION = pd.DataFrame({"region": ["Central", "East", "North", "West"], "total_profit": [115.0, 26.0, 26.0, 10.13]})
SHIPPING = pd.DataFrame(
    {"category": ["Furniture", "Office Supplies"], "ship_mode": ["First Class", "Same Day"], "order_count": [2, 2]}
)
CATEGORY = pd.DataFrame(
    {
        "category": ["Furniture", "Furniture", "Technology"],
        "sub_category": ["Chairs", "Tables", "Phones"],
        "order_count": [3, 1, 2],
    }
)


def test_athena_reports_runs_the_library_sql_and_returns_the_csv_frames(aws: LocalAws) -> None:
    before = len(executed_queries())
    queue_results(aws, REGION, SHIPPING, CATEGORY)

    frames = sql.athena_reports(database="orders_analytics", table="orders", workgroup=WORKGROUP, ingest_date=DAY)

    assert list(frames) == list(sql.REPORT_QUERIES)
    pd.testing.assert_frame_equal(frames["most_profitable_region"], REGION, check_dtype=False)
    pd.testing.assert_frame_equal(frames["shipping_method_by_category"], SHIPPING, check_dtype=False)
    pd.testing.assert_frame_equal(frames["orders_by_category"], CATEGORY, check_dtype=False)
    for name, frame in frames.items():
        assert list(frame.columns) == list(sql.REPORT_COLUMNS[name])
    assert frames["orders_by_category"]["order_count"].dtype == "int64"
    assert frames["most_profitable_region"]["total_profit"].dtype == "float64"

    executions = executed_queries()[before:]
    assert len(executions) == 3
    for execution, relative in zip(executions, sql.REPORT_QUERIES.values(), strict=True):
        text = (sql.QUERIES_DIR / relative).read_text(encoding="utf-8")
        # The file as Terraform saves it, with the date as Athena's execution parameter (a varchar literal).
        assert execution["Query"] == sql.render(text, database="orders_analytics", table="orders")
        assert execution["ExecutionParameters"] == [f"'{DAY}'"]
        assert execution["QueryExecutionContext"]["Database"] == "orders_analytics"
        assert execution["WorkGroup"] == WORKGROUP
        assert execution["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{RESULTS_BUCKET}/query-results/")
    assert "ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)" in executions[0]["Query"]


def test_a_day_without_rows_gives_empty_frames_with_the_csv_columns(aws: LocalAws) -> None:
    empty = [pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}) for cols in sql.REPORT_COLUMNS.values()]
    queue_results(aws, *empty)
    frames = sql.athena_reports(database="orders_analytics", table="orders", workgroup=WORKGROUP, ingest_date=DAY)
    for name, frame in frames.items():
        assert frame.empty
        assert list(frame.columns) == list(sql.REPORT_COLUMNS[name])


def test_unexpected_columns_are_an_error(aws: LocalAws) -> None:
    queue_results(aws, pd.DataFrame({"region": ["East"], "profit": [1.0]}))
    with pytest.raises(QueryResultError, match="most_profitable_region"):
        sql.athena_reports(database="orders_analytics", table="orders", workgroup=WORKGROUP, ingest_date=DAY)


def test_run_athena_refuses_an_unrendered_template(aws: LocalAws) -> None:
    with pytest.raises(QueryTemplateError):
        sql.run_athena('SELECT * FROM "${database}"."${table}"', database="d", workgroup=WORKGROUP)


def test_athena_answers_flow_back_as_the_local_answers(aws: LocalAws, tmp_path: Path) -> None:
    """Round trip: what DuckDB computes, returned by 'Athena', gives the same report frames."""
    from tests.integration.test_queries_local import DAY1, ROWS, write_dataset

    out = write_dataset(tmp_path, ROWS)
    local = {name: sql.run_local(name, out, ingest_date=DAY1) for name in sql.REPORT_QUERIES}
    queue_results(aws, *local.values())
    frames = sql.athena_reports(database="orders_analytics", table="orders", workgroup=WORKGROUP, ingest_date=DAY1)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, sql.report_frame(name, local[name]))


def test_handler_with_report_engine_athena_writes_athena_results_to_the_report_keys(aws: LocalAws) -> None:
    """The handler's REPORT_ENGINE=athena path: the three CSVs come from the workgroup's answers."""
    from tests.helpers import csv_bytes, line

    queue_results(aws, REGION, SHIPPING, CATEGORY)
    body = csv_bytes(line("A-1"))
    head = aws.upload("athena-engine.csv", body)
    event_time = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    summary = aws.deliver(aws.object_created_event("athena-engine.csv", head, event_time))
    assert [f["status"] for f in summary["files"]] == ["loaded"]

    s3 = boto3.client("s3")
    for name, frame in (
        ("most_profitable_region", REGION),
        ("shipping_method_by_category", SHIPPING),
        ("orders_by_category", CATEGORY),
    ):
        key = f"analytics/2024/03/01/{name}.csv"
        text = s3.get_object(Bucket=aws.output_bucket, Key=key)["Body"].read().decode()
        expected = frame.to_csv(index=False, lineterminator="\n", float_format="%.2f")
        assert text == expected, name


def test_cli_query_on_athena_prints_the_result(aws: LocalAws) -> None:
    import argparse
    import io

    from orders_tools import cli_sql

    parser = argparse.ArgumentParser(prog="orders-analytics")
    cli_sql.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["query", "orders_by_category", "--athena", "--workgroup", WORKGROUP, "--date", DAY, "--format", "csv"]
    )
    before = len(executed_queries())
    queue_results(aws, CATEGORY)
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    assert (
        out.getvalue()
        == "category,sub_category,order_count\nFurniture,Chairs,3\nFurniture,Tables,1\nTechnology,Phones,2\n"
    )
    [execution] = executed_queries()[before:]
    assert 'FROM "orders_analytics"."orders"' in execution["Query"]
    assert execution["ExecutionParameters"] == [f"'{DAY}'"]
