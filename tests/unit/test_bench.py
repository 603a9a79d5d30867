"""The benchmark plumbing, on small files: the baselines agree with a plain-Python oracle."""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambda_app.schema import DATASET_SCHEMA
from orders_tools import bench
from orders_tools.bench import (
    BenchResult,
    agreement_lines,
    all_agree,
    bench_csv,
    compare_reports,
    core_job,
    duckdb_job,
    naive_pandas,
    run_bench,
)
from orders_tools.generate import write_csv

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_orders.csv"
ROWS = 2000
MISSING = {"", "not available", "unknown", "n/a"}


def oracle(path: Path) -> dict[str, pd.DataFrame]:
    """The three reports, computed row by row with the csv module."""
    profit: dict[str, float] = defaultdict(float)
    by_mode: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    by_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            order = row["Order Id"]
            profit[row["Region"]] += (
                float(row["List Price"]) * (1 - float(row["Discount Percent"]) / 100) - float(row["cost price"])
            ) * int(row["Quantity"])
            if row["Ship Mode"].strip().lower() not in MISSING:
                by_mode[row["Category"]][row["Ship Mode"]].add(order)
            by_pair[(row["Category"], row["Sub Category"])].add(order)
    regions = sorted(((r, round(p, 2)) for r, p in profit.items()), key=lambda rp: (-rp[1], rp[0]))
    shipping = []
    for category in sorted(by_mode):
        count, mode = min((-len(ids), mode) for mode, ids in by_mode[category].items())
        shipping.append((category, mode, -count))
    pairs = [(c, s, len(ids)) for (c, s), ids in sorted(by_pair.items())]
    return {
        "most_profitable_region": pd.DataFrame(regions, columns=["region", "total_profit"]),
        "shipping_method_by_category": pd.DataFrame(shipping, columns=["category", "ship_mode", "order_count"]),
        "orders_by_category": pd.DataFrame(pairs, columns=["category", "sub_category", "order_count"]),
    }


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "orders.csv"
    write_csv(path, ROWS, seed=21)
    return path


WAYS = pytest.mark.parametrize("way", [core_job, naive_pandas, duckdb_job], ids=["core", "pandas", "duckdb"])


@WAYS
@pytest.mark.parametrize("source", ["generated", "sample"])
def test_baseline_reports_match_the_oracle(way: bench.Way, source: str, small_csv: Path, tmp_path: Path) -> None:
    path = small_csv if source == "generated" else SAMPLE
    reports = way(path, tmp_path / "out")
    assert reports is not None
    assert compare_reports(oracle(path), reports) == []


@WAYS
def test_baselines_write_snappy_parquet_partitioned_by_ingest_date(
    way: bench.Way, small_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    way(small_csv, out)
    partitions = [p.name for p in out.iterdir()]
    assert partitions == [f"ingest_date={bench.BENCH_INGEST_DATE}"]
    files = sorted((out / partitions[0]).glob("*.parquet"))
    assert files
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == ROWS
    metadata = pq.ParquetFile(files[0]).metadata
    assert metadata.row_group(0).column(0).compression == "SNAPPY"
    names = set(pq.read_schema(files[0]).names)
    assert {"order_id", "order_date", "sub_category", "profit"} <= names


def test_core_files_read_back_as_the_dataset_schema(small_csv: Path, tmp_path: Path) -> None:
    """The core's sink writes dictionary-encoded columns without the Arrow schema: plain strings on reading."""
    core_job(small_csv, tmp_path / "out")
    for path in (tmp_path / "out").rglob("*.parquet"):
        assert pq.read_schema(path).remove_metadata() == DATASET_SCHEMA
        assert pq.read_table(path).num_rows


def test_the_sample_tie_goes_to_the_alphabetically_first_mode(tmp_path: Path) -> None:
    expected = oracle(SAMPLE)["shipping_method_by_category"]
    technology = expected[expected["category"] == "Technology"].iloc[0]
    assert (technology["ship_mode"], technology["order_count"]) == ("Second Class", 19)  # tied with Standard Class
    for way in (naive_pandas, duckdb_job):
        got = way(SAMPLE, tmp_path / way.__name__)["shipping_method_by_category"]
        assert got[got["category"] == "Technology"]["ship_mode"].tolist() == ["Second Class"]


def test_csv_parse_only_reads_the_file(small_csv: Path, tmp_path: Path) -> None:
    bench.csv_parse_only(small_csv)
    broken = tmp_path / "broken.csv"
    broken.write_text(small_csv.read_text(encoding="utf-8").replace(",2,", ",two,", 1), encoding="utf-8")
    with pytest.raises(pa.ArrowInvalid, match="two"):
        bench.csv_parse_only(broken)


def test_line_chunks_cut_the_body_at_line_ends(small_csv: Path) -> None:
    body = small_csv.read_bytes().split(b"\r\n", 1)[1]
    for size in (100, 4096, 1 << 20):  # 100 bytes: shorter than a line
        chunks = [bytes(c) for c in bench._line_chunks(small_csv, size)]
        assert b"".join(chunks) == body
        assert all(c.endswith(b"\r\n") for c in chunks)
    (small_csv.parent / "no-final-newline.csv").write_bytes(b"h\r\na\r\nb")
    assert [bytes(c) for c in bench._line_chunks(small_csv.parent / "no-final-newline.csv", 2)] == [b"a\r\n", b"b"]


def test_compare_reports_finds_differences(small_csv: Path) -> None:
    reference = oracle(small_csv)

    def changed(name: str, column: str, delta: float) -> dict[str, pd.DataFrame]:
        copy = {k: v.copy() for k, v in reference.items()}
        values = copy[name][column].tolist()
        values[0] += delta
        copy[name][column] = values
        return copy

    assert compare_reports(reference, changed("most_profitable_region", "total_profit", 0.005)) == []
    assert compare_reports(reference, changed("most_profitable_region", "total_profit", 0.02))
    assert compare_reports(reference, changed("orders_by_category", "order_count", 1))
    assert compare_reports(reference, changed("shipping_method_by_category", "order_count", -1))
    as_float = {**reference, "orders_by_category": reference["orders_by_category"].astype({"order_count": "float64"})}
    assert compare_reports(reference, as_float) == []
    reordered = {**reference, "orders_by_category": reference["orders_by_category"].iloc[::-1]}
    assert compare_reports(reference, reordered)
    renamed = {**reference, "orders_by_category": reference["orders_by_category"].rename(columns={"order_count": "n"})}
    assert compare_reports(reference, renamed)
    assert compare_reports(reference, {k: v for k, v in reference.items() if k != "orders_by_category"})


def test_run_bench_runs_each_way_in_a_child_and_compares(tmp_path: Path) -> None:
    results = run_bench([ROWS], ways=["parse_only", "pandas", "duckdb"], workdir=tmp_path, repeat=2, quiet=True)
    by_way = {r.way: r for r in results}
    assert [r.way for r in results] == ["parse_only", "pandas", "duckdb"]
    assert all(r.error is None and r.seconds > 0 and r.peak_rss_bytes > 20 * 2**20 for r in results)
    assert by_way["pandas"].is_reference
    assert by_way["duckdb"].compared_with == "pandas"
    assert by_way["duckdb"].differences == ()
    assert by_way["pandas"].parquet_rows == by_way["duckdb"].parquet_rows == ROWS
    assert by_way["parse_only"].parquet_rows is None
    assert all_agree(results)
    assert any(line.startswith("agree") for line in agreement_lines(results))
    assert not list((tmp_path / "out" / str(ROWS)).iterdir())  # Parquet output removed


def test_generated_files_are_cached_by_rows_and_seed(tmp_path: Path) -> None:
    first = bench_csv(tmp_path, 300, seed=1)
    stamp = first.stat().st_mtime_ns
    assert bench_csv(tmp_path, 300, seed=1) == first
    assert first.stat().st_mtime_ns == stamp
    assert bench_csv(tmp_path, 300, seed=2) != first
    assert bench_csv(tmp_path, 301, seed=1) != first


def test_failures_and_disagreements_are_not_agreement() -> None:
    ok = BenchResult("duckdb", 10, 1000, 1.0, 2**20, parquet_rows=10, compared_with="core")
    assert all_agree([ok])
    assert not all_agree([BenchResult("duckdb", 10, 1000, 1.0, 2**20, compared_with="core", differences=("x",))])
    assert not all_agree([BenchResult("duckdb", 10, 1000, 1.0, 2**20, parquet_rows=9)])
    failed = BenchResult("pandas", 10, 1000, float("nan"), 0, error="exited with -9")
    assert not all_agree([ok, failed])
    assert agreement_lines([failed]) == ["FAILED pandas @ 10 rows: exited with -9"]


def test_unknown_ways_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="nope"):
        run_bench([10], ways=["nope"], workdir=tmp_path, quiet=True)
    assert bench.resolve_way("orders_tools.bench:duckdb_job") is duckdb_job


def test_bench_subcommand_defaults() -> None:
    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench"])
    assert args.rows == [1_000_000, 5_000_000, 10_000_000]
    assert args.ways is None
    assert args.workdir == Path("bench-data")
    assert args.repeat == 1
    args = parser.parse_args(["bench", "--rows", "1000", "--ways", "pandas", "duckdb", "--workdir", "x"])
    assert (args.rows, args.ways, args.workdir) == ([1000], ["pandas", "duckdb"], Path("x"))
