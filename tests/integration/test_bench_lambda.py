"""The end-to-end benchmark ways: the real handler on the emulator agrees with the core on the same file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from orders_tools import bench
from orders_tools.generate import write_csv

ROOT = Path(__file__).resolve().parents[2]


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


def test_handler_way_times_the_call_alone_and_agrees_with_the_core(tmp_path: Path) -> None:
    """In a child, as ``make bench`` runs it: INIT reported beside the call; the emulator's process is gone after."""
    csv_path = tmp_path / "orders.csv"
    write_csv(csv_path, 2000, seed=8)
    core = bench.core_job(csv_path, tmp_path / "core")
    result = bench._run_child("handler", csv_path, tmp_path / "out", tmp_path / "handler.json")
    assert set(result["sections"]) == {"init"}
    assert 0 < result["sections"]["init"]["seconds"] < result["seconds"] + 5
    assert bench.compare_reports(core, bench.load_reports(result["reports"])) == []


def test_moto_floor_moves_the_files_bytes_and_the_ratio_line_compares_the_handler_with_it(tmp_path: Path) -> None:
    """The floor way times only moto's GET of the input and PUTs of the core's Parquet objects; with the
    handler and the core of the same size, a line says how far the handler is above floor + core."""
    csv_path = tmp_path / "orders.csv"
    write_csv(csv_path, 2000, seed=8)
    floor = bench._run_child("moto_floor", csv_path, tmp_path / "floor", tmp_path / "floor.json")
    core = bench.core_job(csv_path, tmp_path / "core")
    assert floor["seconds"] > 0
    assert floor["emulator_cpu_seconds"] >= 0  # not NaN: the moto process was measured
    assert bench.compare_reports(core, bench.load_reports(floor["reports"])) == []
    results = [
        bench.BenchResult("core", 2000, 1, 1.0, 1),
        bench.BenchResult("moto_floor", 2000, 1, 0.5, 1, emulator_cpu_seconds=0.4),
        bench.BenchResult("handler", 2000, 1, 1.75, 1, emulator_cpu_seconds=1.25),
    ]
    [line] = [text for text in bench.ratio_lines(results) if text.startswith("handler above")]
    assert "+0.25 s = +25% of the core's 1.00 s" in line
    assert "the emulator's own CPU: 1.25 s during the handler, 0.40 s during the floor" in line


def test_the_emulators_cpu_is_timed_beside_the_ways_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process registered as the emulator that burns a third of a CPU second inside the timed block (and
    waits, alive, outside it) shows up in the section's emulator CPU, not in the way's own."""
    burn = (
        "import sys, time\nsys.stdin.readline()\nend = time.process_time() + 0.35\n"
        "while time.process_time() < end:\n    pass\nprint('burnt', flush=True)\nsys.stdin.readline()\n"
    )
    burner = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert burner.stdin is not None and burner.stdout is not None
    monkeypatch.setattr(bench, "_EMULATORS", [burner.pid])
    monkeypatch.setattr(bench, "_SECTIONS", {})
    try:
        with bench.timed():
            burner.stdin.write("go\n")
            burner.stdin.flush()
            assert burner.stdout.readline() == "burnt\n"
    finally:
        burner.stdin.close()
        burner.wait(timeout=30)
    section = bench._SECTIONS["seconds"]
    assert 0.3 <= section["emulator_cpu_seconds"] < 5
    assert section["cpu_seconds"] < 0.3  # the way's own CPU is not the emulator's


def test_moto_process_serves_and_stops() -> None:
    import boto3

    with bench.moto_process() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, **_credentials())
        s3.create_bucket(Bucket="bench-bucket")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["bench-bucket"]
    with pytest.raises(OSError):  # noqa: PT011 - refused or reset: the server is gone either way
        urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5)  # noqa: S310 - loopback


def _credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def _script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import ``scripts/<name>.py`` (registered in ``sys.modules`` for the test: its dataclasses need it)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="needs this checkout's .venv")
def test_side_by_side_script_checks_every_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sides (both this checkout), a cold and a warm call each: timings for each, reports checked."""
    vs = _script("bench_handler_vs", monkeypatch)
    out = tmp_path / "vs.json"
    sides = ["--side", f"a={ROOT}", "--side", f"b={ROOT}"]
    options = ["--rows", "300", "--repeat", "1", "--warmup", "0", "--warm", "--workdir", str(tmp_path)]
    code = vs.main([*sides, *options, "--json", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0 and report["problems"] == []
    medians = report["sizes"]["300"]["medians"]
    assert set(medians) == {"a", "b"}
    for metrics in medians.values():
        assert {"init", "cold call", "warm call", "init + cold call", "whole process"} <= set(metrics)
        assert metrics["whole process"] > metrics["init + cold call"] > metrics["cold call"] > 0
    [turn] = report["sizes"]["300"]["turns"]["a"]
    assert turn["lambda_app"] == str(ROOT / "lambda_app")
    assert len(turn["calls"]) == 2
