"""The ``orders-analytics run`` command end to end: files in, output bucket and catalog on disk."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from unittest import mock

import pyarrow.dataset as ds
import pytest

from lambda_app.logs import logger
from orders_tools.cli import main
from orders_tools.emulator import INPUT_BUCKET
from tests.helpers import csv_bytes, line

pytestmark = pytest.mark.integration


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_run_with_messy_spellings_encodings_and_a_replayed_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1. other header spellings, reordered columns, BOM, LF line ends, US dates
    header = (
        "\ufeffsub-category,CATEGORY,order_id,order date,Ship_Mode,REGION,Cost-Price,list price,"
        "qty_ignored,quantity,discount percent"
    )
    first = tmp_path / "first.csv"
    first.write_text(
        header + "\n"
        "Chairs,Furniture,A-1,9/5/2023,Second Class,West,100,150,x,2,10\n"
        "Tables,Furniture,A-1,9/5/2023,Second Class,West,200,180,x,1,0\n"
        "Phones,Technology,A-2,12/31/2023,Not Available,East,50,80,x,3,0\n",
        encoding="utf-8",
    )
    # 2. Windows-1252 legacy export with CRLF and a quoted comma
    second = tmp_path / "second.csv"
    second.write_bytes(
        csv_bytes(line("B-1", region="South", category="Café", sub_category='"Tables, round"', ship_mode="First Class"))
        .decode()
        .encode("cp1252")
    )
    out = tmp_path / "out"
    # first.csv is given twice: the same key re-uploaded; its rows must not double
    code = main(["run", str(first), str(second), str(first), "--out", str(out), "--date", "2026-11-26", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "first.csv: rows_read=3 = rows_loaded=3 + rows_rejected=0 [loaded]" in printed
    assert "second.csv: rows_read=1 = rows_loaded=1 + rows_rejected=0 [loaded]" in printed

    frame = ds.dataset(out / "dataset" / "orders", format="parquet", partitioning="hive").to_table().to_pandas()
    assert sorted(frame["order_id"]) == ["A-1", "A-1", "A-2", "B-1"]
    assert set(frame["category"]) == {"Furniture", "Technology", "Café"}

    reports = out / "analytics" / "2026" / "11" / "26"
    # (150*0.9-100)*2 + (180-200)*1 = 70 - 20 = 50; A-2: (80-50)*3 = 90; B-1: (260*0.98-240)*2 = 29.6
    assert read_csv(reports / "most_profitable_region.csv") == [
        ["region", "total_profit"],
        ["East", "90.00"],
        ["West", "50.00"],
        ["South", "29.60"],
    ]
    assert read_csv(reports / "shipping_method_by_category.csv") == [
        ["category", "ship_mode", "order_count"],
        ["Café", "First Class", "1"],
        ["Furniture", "Second Class", "1"],
    ]
    assert read_csv(reports / "orders_by_category.csv") == [
        ["category", "sub_category", "order_count"],
        ["Café", "Tables, round", "1"],
        ["Furniture", "Chairs", "1"],
        ["Furniture", "Tables", "1"],
        ["Technology", "Phones", "1"],
    ]

    catalog = json.loads((out / "_catalog" / "orders_analytics.orders.json").read_text())
    assert [p["values"] for p in catalog["partitions"]] == [["2026-11-26"]]
    assert "order_date" in [c["Name"] for c in catalog["columns"]]
    manifests = sorted(p.name for p in (out / "runs" / "2026" / "11" / "26" / INPUT_BUCKET).iterdir())
    assert manifests == ["first.csv.json", "second.csv.json"]


def test_run_exits_non_zero_with_the_reason_when_a_file_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    code = main(["run", str(bad), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "bad.csv was rejected (empty_file)" in captured.err
    assert list((tmp_path / "out" / "errors").rglob("bad.csv.json"))


def test_run_quiets_the_handlers_logs_only_while_it_runs(tmp_path: Path) -> None:
    """Was a DEFECT: ``main`` left the process's logger at WARNING, so a later test in the same worker
    (``test_partials_attacks``' second passes) found no INFO line. The level is the caller's again after."""
    sample = tmp_path / "s.csv"
    sample.write_bytes(csv_bytes(line()))
    before = logger.log_level
    seen: list[int] = []
    with mock.patch("orders_tools.cli.run_files", side_effect=lambda *a, **k: seen.append(logger.log_level) or (0, [])):
        assert main(["run", str(sample), "--out", str(tmp_path / "out")]) == 0
    assert seen == [logging.WARNING]
    assert logger.log_level == before == logging.INFO


def test_run_refuses_a_non_empty_folder_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    sample = tmp_path / "s.csv"
    sample.write_bytes(csv_bytes(line()))
    assert main(["run", str(sample), "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"
