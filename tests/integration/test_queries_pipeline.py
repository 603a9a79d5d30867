"""The report queries against the Lambda's own CSV reports, on the output of `orders-analytics run`.

The pipeline runs for real (handler in moto's server, output bucket copied to disk);
then the three Athena report queries run locally on the Parquet dataset it wrote and
must give the CSVs' rows: same rows, same order, profit within 0.01.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orders_tools import sql

pytestmark = pytest.mark.integration

DAY = "2024-03-01"

cli = pytest.importorskip("orders_tools.cli", reason="needs the pipeline's CLI (lambda_app/cli.py)")


def run_pipeline(csv_path: Path, out: Path) -> Path:
    code = cli.main(["run", str(csv_path), "--out", str(out), "--date", DAY, "--quiet"])
    assert code == 0
    assert any((out / "dataset" / "orders" / f"ingest_date={DAY}").glob("*.parquet"))
    return out


@pytest.fixture(scope="module")
def sample_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sample = Path(cli.__file__).resolve().parent.parent / "sample_orders.csv"
    if not sample.is_file():
        pytest.skip(f"no {sample}")
    return run_pipeline(sample, tmp_path_factory.mktemp("sample") / "out")


def assert_reports_agree(out: Path) -> None:
    checks = sql.compare_reports(out, DAY)
    assert [c.report for c in checks] == list(sql.REPORT_QUERIES)
    assert all(c.ok for c in checks), "\n".join(f"{c.report}: {c.detail}" for c in checks)


def test_report_queries_equal_the_lambda_csvs_on_the_sample(sample_output: Path) -> None:
    assert_reports_agree(sample_output)


def test_every_library_file_runs_on_the_sample_output(sample_output: Path) -> None:
    for path in sql.query_files():
        frame = sql.run_local(path, sample_output, ingest_date=None if "views" in path.parts else DAY)
        assert not frame.empty, path


def test_warehouse_on_the_sample_output(sample_output: Path, tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "orders.duckdb"
    relations = sql.write_warehouse(sample_output, db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for name in relations:
            assert con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] > 0  # type: ignore[index]
    finally:
        con.close()


def test_report_queries_equal_the_lambda_csvs_on_100k_generated_rows(tmp_path: Path) -> None:
    generate = pytest.importorskip("orders_tools.generate", reason="needs the generator (lambda_app/generate.py)")
    source = tmp_path / "orders_100k.csv"
    assert generate.write_csv(source, rows=100_000, seed=11) == 100_000
    assert_reports_agree(run_pipeline(source, tmp_path / "out"))
