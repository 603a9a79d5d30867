"""``orders-analytics demo``, the README's first command: from the checkout, and from an installed wheel.

The wheel has no ``sample_orders.csv`` and no top-level ``queries/``: the demo
builds the sample with the generator and reads the SQL library packaged as
``orders_tools/queries``. Both runs must load every row and find the Athena
SQL agreeing with the Lambda's reports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lambda_app.reports import REPORT_NAMES
from orders_tools import cli
from orders_tools.generate import sample_rows

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
# What the wheel is built from (pyproject.toml's packages and package-dir, and its readme).
BUILD_INPUTS = ("pyproject.toml", "README.md", "lambda_app", "orders_tools", "queries")


def _check_demo_output(printed: str, out: Path) -> None:
    rows = len(sample_rows())
    assert f"rows_read={rows} = rows_loaded={rows} + rows_rejected=0 [loaded]" in printed
    for report in REPORT_NAMES:
        assert f"agrees: {report}" in printed
        assert len(list(out.glob(f"analytics/*/*/*/{report}.csv"))) == 1
    assert "DIFFERS" not in printed
    assert list((out / "dataset" / "orders").glob("ingest_date=*/*.parquet"))


def test_demo_from_the_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.SAMPLE_FILE.is_file()
    assert cli.main(["demo", "--out", str(tmp_path / "out")]) == 0
    _check_demo_output(capsys.readouterr().out, tmp_path / "out")


def test_demo_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # Built from a copy: setuptools builds in the source tree, and a build/ left in the checkout would carry
    # files deleted since into the next wheel.
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPOSITORY / name).is_dir():
            shutil.copytree(REPOSITORY / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPOSITORY / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # The build backend is this environment's setuptools (requirements/dev.txt): no download, no build venv.
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    subprocess.run(build, check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("orders_analytics-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    assert not (site / "sample_orders.csv").exists() and not (site / "queries").exists()

    # The wheel's copies first on the path, ahead of this checkout's editable install; the dependencies
    # come from this interpreter's environment. The child says which copies it imported.
    program = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import lambda_app, orders_tools.cli as cli, orders_tools.sql as sql;"
        "print('from', lambda_app.__file__, cli.__file__, sql.find_queries_dir());"
        "sys.exit(cli.main(['demo', '--out', sys.argv[2]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(site), str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0].split()
    assert first[0] == "from" and all(part.startswith(str(site)) for part in first[1:]), first
    assert first[3] == str(site / "orders_tools" / "queries")
    _check_demo_output(done.stdout, tmp_path / "out")
