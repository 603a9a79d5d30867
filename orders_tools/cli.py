"""``orders-analytics``: run the real pipeline on a laptop against a local AWS emulator.

Subcommands: ``demo``, ``run``, ``generate``, ``query``, ``warehouse``, ``view-columns``, ``bench``, ``bench-day``,
and for the operator of a deployed stack ``status``, ``replay``, ``smoke``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lambda_app.logs import logger
from orders_tools import bench, bench_day, cli_sql, generate, ops, sql
from orders_tools.emulator import local_aws

# The checkout's sample; an installed wheel builds the same rows with the generator (scripts/make_sample.py).
SAMPLE_FILE = Path(__file__).resolve().parent.parent / "sample_orders.csv"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders-analytics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the pipeline on sample_orders.csv in a local AWS emulator")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for the output bucket's copy")
    demo.add_argument("--verbose", action="store_true", help="show the handler's JSON logs")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="run the pipeline on your CSV files in a local AWS emulator")
    run.add_argument("files", nargs="+", type=Path, help="CSV files, uploaded under their base names, in order")
    run.add_argument("--out", type=Path, required=True, help="folder to copy the output bucket and catalog into")
    run.add_argument(
        "--date", type=date.fromisoformat, default=None, help="event date YYYY-MM-DD (default: today, UTC)"
    )
    run.add_argument("--quiet", action="store_true", help="do not print the report tables")
    run.add_argument("--verbose", action="store_true", help="show the handler's JSON logs")
    run.set_defaults(func=cmd_run)

    generate.register(sub)
    cli_sql.register(sub)
    bench.register(sub)
    bench_day.register(sub)
    ops.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logger.log_level
    if args.command in {"demo", "run"} and not args.verbose:
        # The handler's JSON logs are for CloudWatch; on a terminal show only problems.
        logger.setLevel("WARNING")
    try:
        result: int = args.func(args)
    finally:
        logger.setLevel(level)  # for the caller's process: main also runs in-process (tests, scripts)
    return result


def run_files(files: list[Path], out: Path, day: date | None = None, *, show: bool = True) -> tuple[int, list[Any]]:
    """Upload ``files`` to the emulator in order, deliver their S3 events to the real handler, copy results to ``out``.

    Returns ``(exit code, per-file results)``; exit code 1 when any file was rejected.
    """

    for path in files:
        if not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 2, []
    problem = _prepare_out(out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2, []
    now = datetime.now(UTC)
    base_time = now if day is None else datetime.combine(day, now.time(), tzinfo=UTC)
    exit_code = 0
    summaries: list[Any] = []
    with local_aws() as aws:
        for index, path in enumerate(files):
            head = aws.upload(path.name, path.read_bytes())
            event = aws.object_created_event(path.name, head, base_time + timedelta(milliseconds=index))
            summary = aws.deliver(event)
            summaries.extend(summary["files"])
            for item in summary["files"]:
                print(
                    f"{item['key']}: rows_read={item['rows_read']} = rows_loaded={item['rows_loaded']}"
                    f" + rows_rejected={item['rows_rejected']} [{item['status']}]"
                )
                if item["status"] == "rejected_file":
                    exit_code = 1
                    print(
                        f"error: {item['key']} was rejected ({item['reason']}); see errors/ in {out}", file=sys.stderr
                    )
        aws.download_output(out)
        catalog = aws.write_catalog(out)
        settings = aws.settings()
    if show:
        _show_reports(out, base_time.date(), settings.reports_prefix)
    print(f"output bucket copied to {out}/:")
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("_")):
        count = sum(1 for f in folder.rglob("*") if f.is_file())
        print(f"  {folder.name + '/':<12} {count:>4} object(s)")
    print(f"Glue table as registered: {catalog}")
    return exit_code, summaries


def _prepare_out(out: Path) -> str | None:
    """Make ``out`` an empty folder; a previous run's output (marked by ``_catalog/``) is replaced."""

    if out.exists() and not out.is_dir():
        return f"{out} exists and is not a folder"
    if out.is_dir() and any(out.iterdir()):
        if not (out / "_catalog").is_dir():
            return f"{out} is not empty and holds no earlier output; choose an empty or new folder"
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return None


def _show_reports(out: Path, day: date, reports_prefix: str) -> None:

    console = Console()
    folder = out / reports_prefix / f"{day:%Y/%m/%d}"
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        table = Table(title=f"[bold]{path.stem}[/bold]", title_justify="left")
        for column in rows[0] if rows else []:
            table.add_column(column, justify="right" if column in {"total_profit", "order_count"} else "left")
        for row in rows[1:]:
            table.add_row(*row)
        console.print(table)
        console.print(f"  [dim]{path}[/dim]\n")


def cmd_run(args: argparse.Namespace) -> int:
    code, _ = run_files(list(args.files), args.out, args.date, show=not args.quiet)
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="orders-demo-") as scratch:
        sample = SAMPLE_FILE
        if not sample.is_file():  # an installed wheel: the same file, built by the generator
            sample = Path(scratch) / SAMPLE_FILE.name
            generate.write_sample(sample)
        print(f"demo: local AWS emulator (moto) on 127.0.0.1, uploading {sample.name} and delivering its S3 event\n")
        code, _ = run_files([sample], args.out)
    day = datetime.now(UTC).date()
    print("\nAthena SQL in queries/ run locally (sqlglot -> DuckDB) against the same dataset:")
    checks = sql.compare_reports(args.out, day.isoformat())
    failed = 0
    for check in checks:
        print(f"  {'agrees' if check.ok else 'DIFFERS'}: {check.report} {check.detail}")
        failed += not check.ok
    return code or (1 if failed else 0)
