"""``orders-analytics query`` and ``orders-analytics warehouse``: the query library's commands.

``orders_tools.cli`` builds the parser and calls :func:`register`; each subcommand
sets ``func`` (``args -> exit code``) for it to dispatch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb
import pandas as pd
from awswrangler.exceptions import QueryFailed
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from lambda_app.errors import PipelineError
from orders_tools import sql

EXIT_OK = 0
EXIT_QUERY_FAILED = 1
EXIT_BAD_QUERY = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``query`` and ``warehouse`` subcommands to ``subparsers``."""
    query = subparsers.add_parser(
        "query",
        help="run a query of queries/ locally (DuckDB) or on Athena",
        description=(
            "Run one Athena SQL file of the query library. With --data it is transpiled to DuckDB "
            "and run on the Parquet dataset that `orders-analytics run --out DIR` wrote; constructs "
            "DuckDB would answer differently are refused. With --athena it runs on Athena."
        ),
    )
    query.add_argument(
        "file", help="a .sql file (a path, or relative to queries/) or a report name such as orders_by_category"
    )
    where = query.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", type=Path, metavar="DIR", help="output folder of `orders-analytics run --out DIR`")
    where.add_argument("--athena", action="store_true", help="run on Athena through the workgroup")
    query.add_argument("--date", metavar="YYYY-MM-DD", help="ingestion date to scope to (default: all history)")
    query.add_argument("--format", choices=("table", "csv"), default="table", help="output format (default: table)")
    query.add_argument("--max-rows", type=int, default=50, metavar="N", help="rows shown by --format table")
    query.add_argument("--workgroup", default=sql.DEFAULT_WORKGROUP, help="Athena workgroup (with --athena)")
    query.add_argument("--database", default=sql.DEFAULT_DATABASE, help="Glue database (default: %(default)s)")
    query.add_argument("--table", default=sql.DEFAULT_TABLE, help="Glue table (default: %(default)s)")
    query.add_argument("--show-sql", action="store_true", help="print the SQL that is run to stderr")
    query.set_defaults(func=run_query)

    warehouse = subparsers.add_parser(
        "warehouse",
        help="write a DuckDB database with the dataset and the BI views, for desktop BI tools",
        description=(
            "Write FILE.duckdb: the dataset as DATABASE.TABLE over the local Parquet files and every view "
            "of queries/views, transpiled from Athena SQL. Open it in any DuckDB-capable BI or SQL tool."
        ),
    )
    warehouse.add_argument("--data", type=Path, required=True, metavar="DIR", help="output folder of `run --out`")
    warehouse.add_argument("--db", type=Path, required=True, metavar="FILE", help="DuckDB file to (re)write")
    warehouse.add_argument(
        "--materialize", action="store_true", help="copy the rows into the file instead of reading the Parquet files"
    )
    warehouse.add_argument(
        "--relative-paths",
        action="store_true",
        help="store the dataset path relative to the file's folder (open it from there, or SET file_search_path)",
    )
    warehouse.add_argument(
        "--storage-version",
        default=sql.WAREHOUSE_STORAGE_VERSION,
        metavar="vX.Y.Z",
        help="DuckDB storage format to write (default: %(default)s, readable by DuckDB 1.0 and later)",
    )
    warehouse.add_argument("--database", default=sql.DEFAULT_DATABASE, help="schema name (default: %(default)s)")
    warehouse.add_argument("--table", default=sql.DEFAULT_TABLE, help="dataset relation name (default: %(default)s)")
    warehouse.set_defaults(func=run_warehouse)

    columns = subparsers.add_parser(
        "view-columns",
        help="print (or --write) queries/views/columns.json, the views' output columns Terraform puts in Glue",
    )
    columns.add_argument("--write", action="store_true", help="rewrite queries/views/columns.json")
    columns.set_defaults(func=run_view_columns)


def run_query(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``query`` subcommand."""

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        rendered = sql.render(sql.read_query(args.file), database=args.database, table=args.table)
        parameters = sql.query_parameters(rendered, args.date)
        if args.show_sql:
            print(rendered if args.athena else sql.to_duckdb(rendered), file=err)
            if parameters:
                print(f"-- parameters (one per ?): {', '.join(parameters)}", file=err)
        if args.athena:
            frame = _run_on_athena(rendered, parameters, args, err)
            if frame is None:
                return EXIT_QUERY_FAILED
        else:
            frame = sql.run_local(args.file, args.data, ingest_date=args.date, database=args.database, table=args.table)
    except (PipelineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_QUERY
    except duckdb.Error as exc:
        print(f"error: DuckDB could not run the query: {exc}", file=err)
        return EXIT_QUERY_FAILED
    if args.format == "csv":
        frame.to_csv(out, index=False, lineterminator="\n")
    else:
        _print_table(frame, title=str(args.file), max_rows=args.max_rows, out=out)
    return EXIT_OK


def _run_on_athena(
    rendered: str, parameters: tuple[str, ...], args: argparse.Namespace, err: TextIO
) -> pd.DataFrame | None:
    """The query's result from Athena, or None after printing why Athena or AWS refused it."""

    try:
        return sql.run_athena(rendered, database=args.database, workgroup=args.workgroup, parameters=parameters)
    except QueryFailed as exc:
        print(f"error: Athena could not run the query: {exc}", file=err)
    except (BotoCoreError, ClientError) as exc:
        print(f"error: AWS refused the request: {exc}", file=err)
    return None


def _print_table(frame: pd.DataFrame, *, title: str, max_rows: int, out: TextIO) -> None:

    shown = frame.head(max(max_rows, 0))
    cells = [[_cell(v) for v in row] for row in shown.itertuples(index=False)]
    headers = [str(c) for c in frame.columns]
    table = Table(title=title, title_justify="left")
    for position, column in enumerate(frame.columns):
        numeric = pd.api.types.is_numeric_dtype(frame[column].dtype)
        table.add_column(headers[position], justify="right" if numeric else "left")
    for row in cells:
        table.add_row(*row)
    # On a terminal rich fits the table to it; piped output gets the table's natural width.
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    natural = sum(widths) + 3 * len(widths) + 1
    console = Console(file=out, width=None if out.isatty() else max(natural, 40))
    console.print(table)
    more = f" (first {len(shown)} shown; --max-rows or --format csv for all)" if len(shown) < len(frame) else ""
    console.print(f"{len(frame)} row(s){more}")


def _cell(value: Any) -> str:

    if _missing(value):
        return ""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    return str(value)


def _missing(value: Any) -> bool:

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def run_warehouse(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``warehouse`` subcommand."""

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        relations = sql.write_warehouse(
            args.data,
            args.db,
            database=args.database,
            table=args.table,
            materialize=args.materialize,
            relative_paths=args.relative_paths,
            storage_version=args.storage_version,
        )
    except PipelineError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_QUERY
    except duckdb.Error as exc:
        print(f"error: DuckDB could not build the warehouse: {exc}", file=err)
        return EXIT_QUERY_FAILED
    print(f"wrote {args.db} with {len(relations)} relation(s):", file=out)
    for name in relations:
        print(f"  {name}", file=out)
    return EXIT_OK


def run_view_columns(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``view-columns`` subcommand."""

    out = out or sys.stdout
    text = sql.view_columns_json()
    if args.write:
        target = sql.QUERIES_DIR / sql.VIEWS_SUBDIR / sql.VIEW_COLUMNS_FILE
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}", file=out)
    else:
        out.write(text)
    return EXIT_OK
