"""The benchmark plumbing, on small files: the baselines agree with a plain-Python oracle."""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

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
    polars_job,
    ratio_lines,
    run_bench,
    section_lines,
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


WAYS = pytest.mark.parametrize(
    "way", [core_job, naive_pandas, duckdb_job, polars_job], ids=["core", "pandas", "duckdb", "polars"]
)


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
    for way in (naive_pandas, duckdb_job, polars_job):
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


def test_polars_reports_equal_the_cores_on_a_generated_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_csv(path, 5000, seed=3)
    core = core_job(path, tmp_path / "core")
    fast = polars_job(path, tmp_path / "polars")
    assert compare_reports(core, fast) == []
    assert len(fast["orders_by_category"]) > 5
    files = list((tmp_path / "polars").rglob("*.parquet"))
    assert {f.parent.name for f in files} == {f"ingest_date={bench.BENCH_INGEST_DATE}"}
    assert "ingest_date" not in pq.read_schema(files[0]).names  # Hive style: the partition is the folder


def test_polars_refuses_a_file_it_would_read_wrongly(small_csv: Path, tmp_path: Path) -> None:
    """Like DuckDB it types columns by position: a header in another order is an error, not shuffled columns."""
    lines = small_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    header[0], header[1] = header[1], header[0]
    swapped = tmp_path / "swapped.csv"
    swapped.write_text(",".join(header) + "\r\n" + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(ValueError, match="canonical"):
        polars_job(swapped, tmp_path / "out")


def test_polars_is_a_default_way_and_the_handler_an_extra_one() -> None:
    assert "polars" in bench.WAYS
    assert "handler" in bench.EXTRA_WAYS and "handler" not in bench.WAYS


def test_a_way_that_times_its_own_part_is_reported_with_that_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def way(_csv: Path, _out: Path) -> None:
        with bench.timed("init"):
            time.sleep(0.05)
        time.sleep(0.3)  # setup: not timed
        with bench.timed():
            time.sleep(0.1)

    monkeypatch.setitem(bench.EXTRA_WAYS, "self_timed", way)
    result = bench.run_one("self_timed", tmp_path / "x.csv", tmp_path / "out", tmp_path / "r.json")
    assert 0.1 <= result["seconds"] < 0.3
    assert result["cpu_seconds"] < 0.1  # sleeping costs no CPU
    assert set(result["sections"]) == {"init"}
    assert 0.05 <= result["sections"]["init"]["seconds"] < 0.3
    plain = bench.run_one("parse_only", SAMPLE, tmp_path / "out", tmp_path / "p.json")
    assert plain["sections"] == {}  # a way that times nothing: its whole run


def _fake_child(log: list[str], seconds: dict[str, list[float]]) -> Any:
    def run_child(way: str, _csv: Path, _out: Path, result_path: Path) -> dict[str, Any]:
        log.append(way)
        return {
            "way": way,
            "seconds": seconds[way][log.count(way) - 1],
            "cpu_seconds": 2 * seconds[way][log.count(way) - 1],
            "peak_rss_bytes": 100 * 2**20 * log.count(way),
            "sections": {},
            "reports": {},
        }

    return run_child


def test_run_bench_alternates_the_ways_and_keeps_medians(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log: list[str] = []
    seconds = {"core": [1.0, 9.0, 2.0], "polars": [3.0, 4.0, 30.0]}
    monkeypatch.setattr(bench, "_run_child", _fake_child(log, seconds))
    counts = iter([300, 300, 300, 299, 300, 300])  # polars wrote a row too few in its second run
    monkeypatch.setattr(bench, "_parquet_rows", lambda _out: next(counts))
    results = run_bench([300], ways=["polars", "core"], workdir=tmp_path, repeat=3, quiet=True)
    assert log == ["core", "polars"] * 3  # turns, the reference first
    by_way = {r.way: r for r in results}
    assert by_way["core"].seconds == 2.0 and by_way["core"].cpu_seconds == 4.0
    assert by_way["polars"].seconds == 4.0
    assert by_way["core"].peak_rss_bytes == 300 * 2**20  # the largest
    assert by_way["core"].parquet_rows == 300
    assert by_way["polars"].parquet_rows == 299
    assert not all_agree(results)


def test_ratio_lines_put_the_core_over_polars_and_the_bound() -> None:
    results = [
        BenchResult("core", 10, 1000, 3.0, 600 * 2**20, cpu_seconds=6.0),
        BenchResult("polars", 10, 1000, 2.0, 300 * 2**20, cpu_seconds=4.0),
        BenchResult("parse_only", 10, 1000, 1.5, 200 * 2**20, cpu_seconds=3.0),
        BenchResult("handler", 10, 1000, 5.0, 2**20, sections={"init": 0.25}),
    ]
    lines = ratio_lines(results)
    assert lines[0].startswith("core / polars @ 10 rows: wall 1.50x, CPU 1.50x, peak RSS 2.00x")
    assert lines[1].startswith("core / parse_only @ 10 rows: wall 2.00x, CPU 2.00x, peak RSS 3.00x")
    assert len(lines) == 2
    assert section_lines(results) == ["handler @ 10 rows: init 0.250 s (median; not in the seconds column)"]
    assert ratio_lines([BenchResult("polars", 10, 1000, 2.0, 1)]) == []  # no core: no ratios


def test_check_loaded_refuses_anything_but_the_whole_file() -> None:
    whole = {"status": "loaded", "rows_read": 300, "rows_loaded": 300, "rows_rejected": 0}
    bench.check_loaded({"files": [whole]}, 300)
    for change in ({"rows_rejected": 1, "rows_loaded": 299}, {"status": "skipped"}, {"rows_loaded": 299}):
        with pytest.raises(ValueError, match="not loaded whole"):
            bench.check_loaded({"files": [{**whole, **change}]})
    with pytest.raises(ValueError, match="the file has 301"):
        bench.check_loaded({"files": [whole]}, 301)
    with pytest.raises(ValueError, match="unpack"):
        bench.check_loaded({"files": []})
