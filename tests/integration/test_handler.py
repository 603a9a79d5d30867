"""The real handler, end to end, against a moto server over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import awswrangler as wr
import boto3
import pytest
from botocore.config import Config

from lambda_app.aws import ClientCachingSession
from orders_tools import s3_events as events
from orders_tools.emulator import LocalAws
from tests.helpers import (
    EVENT_TIME,
    csv_bytes,
    error_key,
    line,
    manifest_key,
    output_keys,
    read_output,
    rejects_key,
    report_rows,
    upload_and_deliver,
)

pytestmark = pytest.mark.integration


def dataset(aws: LocalAws):  # type: ignore[no-untyped-def]
    return wr.s3.read_parquet(f"s3://{aws.output_bucket}/dataset/orders/", dataset=True)


def test_one_file_lands_typed_in_glue_with_reports_manifest_and_no_input_change(aws: LocalAws) -> None:
    body = csv_bytes(
        line("CA-1", region="West", category="Furniture", sub_category="Bookcases", ship_mode="Standard Class"),
        line(
            "CA-1",
            region="West",
            category="Furniture",
            sub_category="Chairs",
            ship_mode="Standard Class",
            cost="100",
            price="120",
            quantity="1",
            discount="0",
        ),
        line(
            "CA-2",
            region="East",
            category="Furniture",
            sub_category="Chairs",
            ship_mode="First Class",
            cost="10",
            price="5",
            quantity="3",
            discount="0",
        ),
        line("CA-3", region="East", category="Technology", sub_category="Phones", ship_mode="Not Available"),
    )
    summary = upload_and_deliver(aws, "orders.csv", body)
    assert summary["files"] == [
        {"key": "orders.csv", "status": "loaded", "reason": None, "rows_read": 4, "rows_loaded": 4, "rows_rejected": 0}
    ]

    frame = dataset(aws)
    assert len(frame) == 4
    assert set(frame["ingest_date"].astype(str)) == {"2026-11-26"}
    assert set(frame["source_key"]) == {"orders.csv"}

    table = wr.catalog.table(database="orders_analytics", table="orders")
    types = dict(zip(table["Column Name"], table["Type"], strict=True))
    assert types["order_date"] == "date" and types["quantity"] == "bigint" and types["ingest_date"] == "string"
    assert list(wr.catalog.get_parquet_partitions("orders_analytics", "orders").values()) == [["2026-11-26"]]

    # West: 29.6 + 20 = 49.6; East: (5-10)*3 = -15 plus CA-3 29.6 = 14.6
    assert report_rows(aws, "most_profitable_region") == [
        ["region", "total_profit"],
        ["West", "49.60"],
        ["East", "14.60"],
    ]
    assert report_rows(aws, "shipping_method_by_category") == [
        ["category", "ship_mode", "order_count"],
        ["Furniture", "First Class", "1"],
    ]  # tie 1-1: alphabetical
    assert report_rows(aws, "orders_by_category") == [
        ["category", "sub_category", "order_count"],
        ["Furniture", "Bookcases", "1"],
        ["Furniture", "Chairs", "2"],
        ["Technology", "Phones", "1"],
    ]

    manifest = json.loads(read_output(aws, manifest_key(aws, "orders.csv")))
    assert (manifest["rows_read"], manifest["rows_loaded"], manifest["rows_rejected"]) == (4, 4, 0)
    assert manifest["etag"] and manifest["size"] == len(body)

    s3 = boto3.client("s3")
    assert s3.get_object(Bucket=aws.input_bucket, Key="orders.csv")["Body"].read() == body
    assert [v["IsLatest"] for v in s3.list_object_versions(Bucket=aws.input_bucket)["Versions"]] == [True]


def test_replaying_the_same_key_replaces_its_rows(aws: LocalAws) -> None:
    upload_and_deliver(aws, "orders.csv", csv_bytes(line("A"), line("B")))
    event_again = upload_and_deliver(aws, "orders.csv", csv_bytes(line("A"), line("B")))
    assert event_again["files"][0]["rows_loaded"] == 2
    assert sorted(dataset(aws)["order_id"]) == ["A", "B"]
    # corrected content under the same key
    upload_and_deliver(aws, "orders.csv", csv_bytes(line("A", region="South")))
    frame = dataset(aws)
    assert list(frame["order_id"]) == ["A"] and list(frame["region"]) == ["South"]
    assert report_rows(aws, "most_profitable_region")[1:] == [["South", "29.60"]]


def test_the_identical_event_delivered_twice_does_not_duplicate(aws: LocalAws) -> None:
    head = aws.upload("orders.csv", csv_bytes(line("A"), line("B")))
    event = aws.object_created_event("orders.csv", head, EVENT_TIME)
    aws.deliver(event)
    aws.deliver(event)
    assert sorted(dataset(aws)["order_id"]) == ["A", "B"]


def test_two_files_the_same_day_both_count_in_the_reports(aws: LocalAws) -> None:
    upload_and_deliver(aws, "morning.csv", csv_bytes(line("A", region="West")))
    upload_and_deliver(
        aws,
        "evening.csv",
        csv_bytes(line("B", region="East"), line("C", region="East")),
        EVENT_TIME + timedelta(hours=5),
    )
    frame = dataset(aws)
    assert sorted(frame["order_id"]) == ["A", "B", "C"]
    assert report_rows(aws, "most_profitable_region")[1:] == [["East", "59.20"], ["West", "29.60"]]
    assert report_rows(aws, "orders_by_category")[1:] == [["Furniture", "Bookcases", "3"]]


def test_a_replay_on_a_later_day_moves_the_rows_and_refreshes_both_days(aws: LocalAws) -> None:
    upload_and_deliver(aws, "a.csv", csv_bytes(line("A")))
    upload_and_deliver(aws, "b.csv", csv_bytes(line("B", region="East")))
    upload_and_deliver(aws, "a.csv", csv_bytes(line("A2")), EVENT_TIME + timedelta(days=1))
    frame = dataset(aws)
    assert sorted(zip(frame["order_id"], frame["ingest_date"].astype(str), strict=True)) == [
        ("A2", "2026-11-27"),
        ("B", "2026-11-26"),
    ]
    assert report_rows(aws, "most_profitable_region")[1:] == [["East", "29.60"]]
    assert report_rows(aws, "most_profitable_region", "2026/11/27")[1:] == [["West", "29.60"]]


def test_a_file_missing_a_required_column_gets_an_error_record_and_touches_nothing(aws: LocalAws) -> None:
    upload_and_deliver(aws, "good.csv", csv_bytes(line("A")))
    before = set(output_keys(aws, "dataset/"))
    header = "Order Id,Order Date,Region,Category,Sub Category,cost price,List Price,Quantity,Discount Percent"
    summary = upload_and_deliver(aws, "bad.csv", csv_bytes("B,2023-01-01,West,F,B,1,2,3,0", header=header))
    assert summary["files"][0]["status"] == "rejected_file"
    record = json.loads(read_output(aws, error_key(aws, "bad.csv")))
    assert record["reason"] == "missing_columns" and "ship_mode" in record["detail"]
    assert set(output_keys(aws, "dataset/")) == before
    assert output_keys(aws, "runs/") == [manifest_key(aws, "good.csv")]


def test_urlencoded_keys_and_multi_record_events_and_non_csv_keys(aws: LocalAws) -> None:
    keys = ["incoming/Q4 orders+returns.csv", "incoming/ünïcode (1).CSV", "incoming/readme.txt"]
    records = []
    for i, key in enumerate(keys):
        head = aws.upload(key, csv_bytes(line(f"O{i}")))
        records.extend(aws.object_created_event(key, head, EVENT_TIME)["Records"])
    summary = aws.deliver(events.s3_event(*records))
    assert [f["key"] for f in summary["files"]] == keys[:2]
    assert summary["skipped"] == [{"key": "incoming/readme.txt", "reason": "not a .csv key"}]
    assert sorted(dataset(aws)["source_key"]) == sorted(keys[:2])
    assert manifest_key(aws, "incoming/Q4 orders+returns.csv") in output_keys(aws, "runs/")


def test_rejected_rows_go_to_a_rejects_file_with_reasons(aws: LocalAws) -> None:
    rows = [line(f"O{i}") for i in range(9)] + [line("BAD", quantity="-1")]
    summary = upload_and_deliver(aws, "mixed.csv", csv_bytes(*rows))
    assert summary["files"][0]["rows_rejected"] == 1
    text = read_output(aws, rejects_key(aws, "mixed.csv")).decode()
    assert "invalid_quantity" in text and "BAD" in text


def test_parquet_objects_are_sorted_by_date_with_statistics_that_prune(aws: LocalAws) -> None:
    """Small row groups here (ROWS_PER_FILE is big): sorted rows, order_date min/max, plain string columns,
    dictionary pages for every column but the order id."""
    import io

    import pyarrow.parquet as pq

    from lambda_app.parquet import PLAIN_COLUMNS, STATISTICS_COLUMNS
    from lambda_app.schema import DATASET_SCHEMA

    dates = ["2023-03-01", "2021-12-31", "2024-07-04", "2022-01-15", "2023-03-01"]
    body = csv_bytes(*(line(f"CA-{i}", order_date=d) for i, d in enumerate(dates)))
    upload_and_deliver(aws, "unsorted.csv", body)
    [key] = [k for k in output_keys(aws, "dataset/") if k.endswith(".parquet")]
    parquet = pq.ParquetFile(io.BytesIO(read_output(aws, key)))
    table = parquet.read()
    assert table.schema.remove_metadata() == DATASET_SCHEMA  # plain strings, ms timestamps, required columns
    assert [d.isoformat() for d in table["order_date"].to_pylist()] == sorted(dates)
    group = parquet.metadata.row_group(0)
    stats = {group.column(i).path_in_schema: group.column(i).statistics for i in range(group.num_columns)}
    assert stats["order_date"] is not None and stats["order_date"].has_min_max
    assert (stats["order_date"].min.isoformat(), stats["order_date"].max.isoformat()) == ("2021-12-31", "2024-07-04")
    with_min_max = {name for name, s in stats.items() if s is not None and s.has_min_max}
    assert with_min_max == set(STATISTICS_COLUMNS)
    dictionary = {group.column(i).path_in_schema: group.column(i).has_dictionary_page for i in range(group.num_columns)}
    assert {name for name, has in dictionary.items() if not has} == set(PLAIN_COLUMNS) == {"order_id"}


def test_the_adapter_builds_each_aws_client_once_however_many_files_arrive(aws: LocalAws) -> None:
    """Expected (issue 10): awswrangler asks the session for a Glue client on every call; the adapter's
    session builds it once per process, so later files build no client at all."""
    built: list[str] = []
    aws.adapter.session.events.register("creating-client-class", lambda **kw: built.append(kw["class_attributes"]))
    upload_and_deliver(aws, "first.csv", csv_bytes(line("CA-1")))
    before = len(built)
    for number in range(3):
        upload_and_deliver(aws, f"more-{number}.csv", csv_bytes(line(f"CA-{number + 2}")))
    assert len(built) == before, "a client was built for a later file"
    assert json.loads(read_output(aws, manifest_key(aws, "more-2.csv")))["status"] == "loaded"


def test_the_client_cache_tells_different_configurations_apart() -> None:
    """Expected: the same arguments give the same client; another region or configuration another one."""
    session = ClientCachingSession(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    glue = session.client("glue", config=Config(connect_timeout=10))
    assert session.client("glue", config=Config(connect_timeout=10)) is glue
    assert session.client("glue", config=Config(connect_timeout=11)) is not glue
    assert session.client("glue", region_name="eu-west-1", config=Config(connect_timeout=10)) is not glue
    assert session.client("athena") is not glue


def test_sessions_share_one_loader_of_botocore_models_and_each_keeps_its_own_settings() -> None:
    """Expected: a second session reads no model file again (botocore#3078), the loader's search path does
    not grow with each session, and what a session is given (region, credentials) stays its own. A plain
    boto3 session, read the same way, parses the S3 model again."""

    def files_read(session: boto3.Session) -> list[str]:
        loader = session._session.get_component("data_loader")
        original, read = loader.file_loader.load_file, []  # every model file read and parsed goes through it
        with mock.patch.object(loader.file_loader, "load_file", side_effect=lambda p: read.append(p) or original(p)):
            session.client("s3")
        return [p for p in read if "/s3/" in p]

    first = ClientCachingSession(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    first.client("s3")
    loader = first._session.get_component("data_loader")
    paths = list(loader.search_paths)
    second = ClientCachingSession(region_name="eu-west-1", aws_access_key_id="p", aws_secret_access_key="q")
    assert second._session.get_component("data_loader") is loader
    assert files_read(second) == []
    assert files_read(boto3.Session(region_name="eu-west-1")) != []
    assert loader.search_paths == paths
    assert second.client("s3").meta.region_name == "eu-west-1"
    assert second.get_credentials().access_key == "p" and first.get_credentials().access_key == "x"
