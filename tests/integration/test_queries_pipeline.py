"""The report queries against the Lambda's own CSV reports, on the output of `orders-analytics run`.

The pipeline runs for real (handler in moto's server, output bucket copied to disk);
then the three Athena report queries run locally on the Parquet dataset it wrote and
must give the CSVs' rows exactly: same rows, same order, the same cents and counts.
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


HALF_CENT_CSV = (
    "Order Id,Order Date,Ship Mode,Segment,Country,City,State,Postal Code,Region,Category,"
    "Sub Category,Product Id,cost price,List Price,Quantity,Discount Percent\n"
    "H-1,2024-02-01,First Class,Consumer,United States,Austin,Texas,73301,Central,Technology,Phones,T-1,0,571.785,1,0\n"
    "H-2,2024-02-01,First Class,Consumer,United States,Austin,Texas,73301,East,Technology,Phones,T-1,0,2.675,1,0\n"
    "H-3,2024-02-01,First Class,Consumer,United States,Austin,Texas,73301,West,Technology,Phones,T-1,10,5938.575,1,0\n"
)
# Each region's profit is one double just below a half cent (571.785 is 571.78499999999996...). Athena
# (Trino's round scales to 57178.5 and rounds half up) and the Lambda (pyarrow, half away from zero on
# the scaled value) give the upper cent; rounding the binary value, as DuckDB's own round does, gives
# the lower one for all three rows.
HALF_CENT_REPORT = "region,total_profit\nWest,5928.58\nCentral,571.79\nEast,2.68\n"


def test_half_cent_profits_give_the_lambdas_cents_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`orders-analytics run FILE --out DIR`, then `orders-analytics query ... --data DIR`: the same cents."""
    source = tmp_path / "half_cents.csv"
    source.write_text(HALF_CENT_CSV)
    out = run_pipeline(source, tmp_path / "out")
    csv_path = out / "analytics" / DAY.replace("-", "/") / "most_profitable_region.csv"
    assert csv_path.read_text() == HALF_CENT_REPORT

    capsys.readouterr()
    code = cli.main(["query", "most_profitable_region", "--data", str(out), "--date", DAY, "--format", "csv"])
    assert code == 0
    assert capsys.readouterr().out == HALF_CENT_REPORT

    region = sql.compare_reports(out, DAY)[0]
    assert (region.ok, region.detail, region.half_cents) == (True, "3 rows agree exactly", ())
    assert_reports_agree(out)
