"""The end-to-end benchmark way: the real handler on the emulator agrees with the core on the same file."""

from __future__ import annotations

from pathlib import Path

from orders_tools import bench
from orders_tools.generate import write_csv


def test_lambda_way_reports_equal_the_core_way(tmp_path: Path) -> None:
    csv_path = tmp_path / "orders.csv"
    write_csv(csv_path, 3000, seed=5)
    core = bench.core_job(csv_path, tmp_path / "core")
    on_emulator = bench.resolve_way("lambda_moto")(csv_path, tmp_path / "lambda")
    assert core is not None and on_emulator is not None
    assert bench.compare_reports(core, on_emulator) == []
    assert len(on_emulator["orders_by_category"]) > 1


def test_lambda_way_is_not_run_by_default() -> None:
    assert "lambda_moto" not in bench.WAYS
