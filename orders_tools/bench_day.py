"""The cost of one file across a day (issue 15, goal 3): many files, one ingest day, the real handler.

``orders-analytics bench-day`` starts a moto server in a process of its own
(:func:`orders_tools.bench.moto_process`), generates ``--files`` distinct exports of
``--rows`` lines (seed ``i`` for file ``i``; order numbers start ``--stride`` orders
after the previous file's, so neighbouring files share some order ids and the
reports must count them once), uploads them one at a time, and gives the real
``lambda_app.handler.lambda_handler`` the S3 ``ObjectCreated`` event JSON of each,
every event on the same UTC day. Per file it records the handler's call (load and
report refresh) and, inside it, the refresh (``daily_reports.refresh_reports``).

Since every file's refresh covers the whole day so far, the cost of file ``n``
may grow with ``n``. The summary quotes the first, median and last call and the
ratio of the median of the last three calls to the median of the first three
(one busy moment of a shared machine does not make the ratio). At the end the
day's three report CSVs are compared with the project's core run over all the
files (:func:`lambda_app.streaming.load_stream` into one report builder: no S3,
no partition read back): counts and names equal, ``total_profit`` within 0.01.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_app import daily_reports
from lambda_app.model import LoadCounts
from lambda_app.reports import ReportBuilder
from lambda_app.settings import Settings
from lambda_app.streaming import Source, load_stream
from orders_tools import bench
from orders_tools.emulator import LambdaContext, LocalAws, environment
from orders_tools.generate import FIRST_ORDER_NUMBER, FORMAT_VERSION, write_csv

if TYPE_CHECKING:
    from pandas import DataFrame

# Orders in a generated file of ROWS lines: about ROWS / 1.97 (generate.LINES_PER_ORDER's mean).
DEFAULT_FILES = 50
DEFAULT_ROWS = 100_000
DEFAULT_STRIDE = 40_000  # ~50,000 orders a file: each file shares ~10,000 order numbers with the next
EDGE = 3  # calls at each end whose median makes the ratio


@dataclass
class DayCurve:
    """One run: per file, the handler's call and the refresh inside it (seconds); the check at the end."""

    files: int
    rows: int
    stride: int
    handler_seconds: list[float] = field(default_factory=list)
    refresh_seconds: list[float] = field(default_factory=list)
    load_average: list[float] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    lambda_app: str = ""
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Median of the last ``EDGE`` calls over the median of the first ``EDGE``."""
        first = statistics.median(self.handler_seconds[:EDGE])
        return statistics.median(self.handler_seconds[-EDGE:]) / first if first else float("nan")

    def summary_lines(self) -> list[str]:
        calls, refresh = self.handler_seconds, self.refresh_seconds
        return [
            f"lambda_app: {self.lambda_app}",
            f"{self.files} files x {self.rows:,} rows on one day (order-number stride {self.stride:,})",
            f"handler call: first {calls[0]:.3f} s, median {statistics.median(calls):.3f} s, last {calls[-1]:.3f} s",
            f"  of which the report refresh: first {refresh[0]:.3f} s, median {statistics.median(refresh):.3f} s,"
            f" last {refresh[-1]:.3f} s",
            f"last {EDGE} / first {EDGE} (medians): {self.ratio:.2f}x",
            f"1-minute load average: {min(self.load_average):.1f}-{max(self.load_average):.1f}"
            f" (median {statistics.median(self.load_average):.1f})",
            "reports agree with the core over all files"
            if not self.differences
            else "DISAGREE with the core: " + "; ".join(self.differences),
        ]


def day_files(workdir: Path, files: int, rows: int, stride: int) -> list[Path]:
    """The generated exports (cached in ``workdir``): file ``i`` has seed ``i`` and its own order numbers."""
    folder = workdir / f"day-{rows}-stride{stride}-v{FORMAT_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i in range(files):
        path = folder / f"orders-{i:03d}.csv"
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            write_csv(partial, rows, seed=i, first_order=FIRST_ORDER_NUMBER + i * stride)
            os.replace(partial, path)
        paths.append(path)
    return paths


class _ReportSink:
    """A :class:`lambda_app.streaming.Sink` that keeps nothing but the report builder's fold."""

    def __init__(self) -> None:
        self.builder = ReportBuilder()

    def write(self, table: Any) -> list[str]:
        return []

    def discard(self, written: list[str]) -> None:
        raise RuntimeError("a generated file was read twice")

    def observe(self, table: Any) -> None:
        self.builder.add(table)


def core_reports(paths: Sequence[Path], day: date) -> dict[str, DataFrame]:
    """The three reports of all the files together, by the project's core (the oracle here)."""
    sink = _ReportSink()
    ingested_at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    for path in paths:
        load = LoadCounts()
        with path.open("rb") as stream:
            load_stream(
                stream, Source(path.name, ingested_at, Settings.block_size_bytes, Settings.rows_per_file), sink, load
            )
        if load.rows_rejected:
            raise ValueError(f"{path}: generated rows were rejected: {dict(load.reasons)}")
    return {name: table.to_pandas() for name, table in sink.builder.build().items()}


@contextmanager
def _timed_refresh(spent: list[float]) -> Iterator[None]:
    """Record the time of every ``daily_reports.refresh_reports`` call (the handler's app calls it by module)."""
    real = daily_reports.refresh_reports

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    daily_reports.refresh_reports = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        daily_reports.refresh_reports = real  # type: ignore[assignment]


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor(), "python": platform.python_version()}


def run_day(
    workdir: Path,
    files: int = DEFAULT_FILES,
    rows: int = DEFAULT_ROWS,
    stride: int = DEFAULT_STRIDE,
    quiet: bool = False,
) -> DayCurve:
    """Deliver ``files`` generated exports through the real handler on one day; time each call; check the reports."""
    paths = day_files(workdir, files, rows, stride)
    day = date.fromisoformat(bench.BENCH_INGEST_DATE)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    curve = DayCurve(files=files, rows=rows, stride=stride, machine=machine())
    with bench.moto_process() as endpoint, environment(bench.emulator_env(endpoint)):
        aws = LocalAws(endpoint=endpoint, env=bench.emulator_env(endpoint))
        aws.reset()
        handler = importlib.import_module("lambda_app.handler")
        curve.lambda_app = str(Path(str(handler.__file__)).parent)
        with _timed_refresh(curve.refresh_seconds):
            for i, path in enumerate(paths):
                key = f"day/{path.name}"
                aws.s3.upload_file(str(path), aws.input_bucket, key)
                head = dict(aws.s3.head_object(Bucket=aws.input_bucket, Key=key))
                event = aws.object_created_event(key, head, start + timedelta(seconds=i))
                curve.load_average.append(os.getloadavg()[0])
                started = time.perf_counter()
                summary = handler.lambda_handler(event, LambdaContext())
                curve.handler_seconds.append(time.perf_counter() - started)
                bench.check_loaded(summary, rows)
                if not quiet:
                    print(
                        f"file {i + 1:3d}: handler {curve.handler_seconds[-1]:.3f} s,"
                        f" refresh {curve.refresh_seconds[-1]:.3f} s",
                        file=sys.stderr,
                    )
        written = bench.read_reports(aws, day)
    curve.differences = bench.compare_reports(core_reports(paths, day), written)
    return curve


def _run_cli(args: argparse.Namespace) -> int:
    curve = run_day(args.workdir, args.files, args.rows, args.stride)
    for line in curve.summary_lines():
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**asdict(curve), "ratio": curve.ratio}, indent=2) + "\n", encoding="utf-8")
    return 1 if curve.differences else 0


def register(subparsers: Any) -> None:
    """Add the ``bench-day`` subcommand."""
    parser = subparsers.add_parser(
        "bench-day",
        help="deliver many files on one day through the real handler on moto; time each file's call",
        description="The per-file cost across a day: each call's time, reports included, and the last/first ratio.",
    )
    parser.add_argument("--files", type=int, default=DEFAULT_FILES, help=f"files (default {DEFAULT_FILES})")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows per file (default {DEFAULT_ROWS:,})")
    parser.add_argument(
        "--stride", type=int, default=DEFAULT_STRIDE, help="order numbers between two files' first orders"
    )
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"), help="generated files (cached)")
    parser.add_argument("--json", type=Path, default=None, help="write the curve here as JSON")
    parser.set_defaults(func=_run_cli)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orders_tools.bench_day")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
