"""The Athena query library in ``queries/``: render, check, run locally or on Athena.

The same ``.sql`` files run in three places:

* on Athena (Trino), through the workgroup: :func:`run_athena`, :func:`athena_reports`
  (the handler's ``REPORT_ENGINE=athena`` path) and Terraform's named queries;
* locally, on the Parquet dataset that ``orders-analytics run --out DIR`` copied out of
  the output bucket: :func:`run_local` transpiles them with sqlglot and runs them in
  DuckDB;
* in a DuckDB file for desktop BI tools: :func:`write_warehouse`.

A file is a template with three placeholders, the ones Terraform's ``templatefile``
fills in: ``${database}``, ``${table}`` and, in the date-scoped queries,
``${ingest_date}`` (a ``YYYY-MM-DD`` partition value, or ``ALL`` for all history; the
queries filter with ``('${ingest_date}' = 'ALL' OR ingest_date = '${ingest_date}')``).

Local answers must be Athena's answers. :func:`to_duckdb` refuses, with
``UnsupportedSqlError``, the constructs DuckDB would evaluate differently (see
:func:`check_faithful`), and fixes two result types (``date_trunc`` of a date stays a
date, ``sum`` of integers stays ``bigint``).

sqlglot, duckdb and awswrangler are imported inside the functions that need them, so
importing this module is cheap.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SchemaError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from lambda_app.aws import AwsStorage
from lambda_app.errors import QueryTemplateError
from lambda_app.queries import (
    ALL_HISTORY,
    COUNT_COLUMNS,
    PLACEHOLDER,
    PROFIT_COLUMNS,
    REPORT_QUERIES,
    VIEWS_SUBDIR,
    ingest_date_value,
    render,
    report_frame,
    report_sql,
)
from lambda_app.reports import REPORT_COLUMNS, neutralize_formula
from lambda_app.schema import GLUE_COLUMN_TYPES, GLUE_PARTITION_TYPES, PARTITION_COLUMN
from lambda_app.settings import Settings
from orders_tools.errors import LocalDatasetError, UnsupportedSqlError

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_TABLE",
    "QUERIES_DIR",
    "REPORT_COLUMNS",
    "REPORT_QUERIES",
    "ReportCheck",
    "athena_reports",
    "check_faithful",
    "compare_reports",
    "find_queries_dir",
    "query_files",
    "read_query",
    "render",
    "report_frame",
    "run_athena",
    "run_local",
    "to_duckdb",
    "write_warehouse",
]

# The Glue names the queries are rendered with locally: the deployment's defaults.
DEFAULT_DATABASE: str = Settings.glue_database
DEFAULT_TABLE: str = Settings.glue_table
DEFAULT_WORKGROUP: str = Settings.athena_workgroup
# Where the dataset sits under the folder ``orders-analytics run --out DIR`` writes.
LOCAL_DATASET_DIR: str = Settings.dataset_prefix.rstrip("/")
LOCAL_REPORTS_DIR: str = Settings.reports_prefix.rstrip("/")

PROFIT_TOLERANCE = 0.01
# The SQL library inside an installed wheel (pyproject maps queries/ there); a checkout uses queries/ itself.
PACKAGED_QUERIES = Path(__file__).resolve().parent / "queries"


def find_queries_dir(env: Mapping[str, str] | None = None) -> Path:
    """Locate the ``queries/`` folder.

    In order: ``$ORDERS_QUERIES_DIR`` when set; the repository's top-level
    ``queries/`` (a checkout or an editable install); the copy inside an
    installed wheel; ``$LAMBDA_TASK_ROOT/queries`` (the Lambda image copies the
    folder there). Returns the repository path when none exists, so error
    messages name the expected place.
    """
    env = os.environ if env is None else env
    explicit = env.get("ORDERS_QUERIES_DIR", "").strip()
    if explicit:
        return Path(explicit)
    repository = Path(__file__).resolve().parent.parent / "queries"
    candidates = [repository, PACKAGED_QUERIES]
    task_root = env.get("LAMBDA_TASK_ROOT", "").strip()
    if task_root:
        candidates.append(Path(task_root) / "queries")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return repository


QUERIES_DIR: Path = find_queries_dir()


def query_files(queries_dir: Path | None = None) -> list[Path]:
    """Every ``.sql`` file of the library, sorted by path."""
    return sorted((queries_dir or QUERIES_DIR).rglob("*.sql"))


# ----------------------------------------------------------------- faithfulness check

_INT_TYPES = frozenset({"TINYINT", "SMALLINT", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINT", "UBIGINT"})
_EXACT_TYPES = _INT_TYPES | {"DECIMAL", "BIGDECIMAL"}
_FLOAT_TYPES = frozenset({"DOUBLE", "FLOAT", "REAL"})
_TEXT_TYPES = frozenset({"VARCHAR", "CHAR", "TEXT", "NVARCHAR", "NCHAR", "STRING"})
# date_diff units whose DuckDB meaning (boundaries crossed) differs from Trino's (whole units elapsed).
_JODA_FUNCTIONS = frozenset({"FORMAT_DATETIME", "PARSE_DATETIME"})
_APPROXIMATE_FUNCTIONS = frozenset({"APPROX_DISTINCT", "APPROX_PERCENTILE", "APPROX_SET", "APPROX_MOST_FREQUENT"})
_SYNTHETIC = "orders_analytics_synthetic"


def _dataset_columns() -> dict[str, str]:
    return {**GLUE_COLUMN_TYPES, **GLUE_PARTITION_TYPES}


def _type_name(node: exp.Expr) -> str:
    data_type = node.type
    return data_type.this.name if data_type is not None else "UNKNOWN"


def _parse_one(athena_sql: str) -> exp.Expr:

    try:
        statements = [s for s in sqlglot.parse(athena_sql, read="athena") if s is not None]
    except (ParseError, TokenError) as exc:
        raise UnsupportedSqlError(f"the query does not parse as Athena SQL: {exc}") from exc
    if len(statements) != 1:
        raise UnsupportedSqlError(f"expected exactly one SQL statement, found {len(statements)}")
    return statements[0]


def _view_names() -> frozenset[str]:
    views = QUERIES_DIR / VIEWS_SUBDIR
    return frozenset(p.stem.lower() for p in views.glob("*.sql")) if views.is_dir() else frozenset()


def _annotated(expression: exp.Expr) -> exp.Expr:
    """A qualified, type-annotated copy; every non-CTE, non-view table has the dataset's columns."""

    ctes = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
    views = _view_names()
    created = expression.this if isinstance(expression, exp.Create) else None
    tables: dict[str, dict[str, dict[str, str]]] = {}
    for table in expression.find_all(exp.Table):
        name = table.name.lower()
        if table is created or not table.db or name in ctes or name in views:
            continue
        tables.setdefault(table.db, {})[table.name] = _dataset_columns()
    schema: dict[str, object] | None = dict(tables) or None
    copy = expression.copy()
    try:
        return annotate_types(qualify(copy, schema=schema, dialect="athena"), schema=schema, dialect="athena")
    except (OptimizeError, SchemaError):
        # Unresolvable columns: DuckDB will name them; types stay unknown (checks stay strict).
        return annotate_types(expression.copy(), dialect="athena")


def _with_decimal_literals(expression: exp.Expr) -> exp.Expr:
    """Trino reads ``1.5`` as DECIMAL (sqlglot types it DOUBLE): make the checker see that."""

    def retype(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Literal) and node.is_number and "." in node.this and "e" not in node.this.lower():
            whole, _, fraction = node.this.lstrip("-").partition(".")
            precision = max(len(whole.lstrip("0")) + len(fraction), 1)
            cast = exp.cast(node.copy(), exp.DataType.build(f"DECIMAL({precision}, {len(fraction)})"))
            cast.meta[_SYNTHETIC] = True
            return cast
        return node

    return expression.copy().transform(retype)


def _shown(node: exp.Expr) -> str:

    def unwrap(n: exp.Expr) -> exp.Expr:
        return n.this if isinstance(n, exp.Cast) and n.meta.get(_SYNTHETIC) else n

    return node.copy().transform(unwrap).sql(dialect="athena")


def _function_name(node: exp.Expr) -> str:

    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name().upper()
    return ""


def _problems(expression: exp.Expr) -> Iterator[str]:

    typed = _annotated(_with_decimal_literals(expression))
    for node in typed.walk():
        if isinstance(node, exp.Div):
            left, right = _type_name(node.this), _type_name(node.expression)
            if left in _FLOAT_TYPES or right in _FLOAT_TYPES:
                continue
            if left in _INT_TYPES and right in _INT_TYPES:
                yield (
                    f"integer division `{_shown(node)}`: Athena truncates (7 / 2 = 3), DuckDB does not; "
                    "CAST one operand AS DOUBLE"
                )
            elif left in _EXACT_TYPES and right in _EXACT_TYPES:
                yield (
                    f"decimal division `{_shown(node)}`: Athena keeps the operands' scale (1.0 / 3 = 0.3), "
                    "DuckDB does not; CAST one operand AS DOUBLE"
                )
            else:
                yield (
                    f"division `{_shown(node)}` with operand types {left} and {right}: cannot prove it is not "
                    "integer or decimal division; CAST one operand AS DOUBLE"
                )
        elif isinstance(node, (exp.DateDiff, exp.TimestampDiff, exp.DatetimeDiff)):
            unit_node = node.args.get("unit")
            unit = (unit_node.name if unit_node is not None else "DAY").upper()
            operands = {_type_name(node.this), _type_name(node.expression)}
            if unit != "DAY" or operands != {"DATE"}:
                yield (
                    f"`{_shown(node)}`: Athena counts whole {unit.lower()}s elapsed, DuckDB counts "
                    f"{unit.lower()} boundaries crossed; only date_diff('day', date, date) agrees "
                    "(for months compare year(x) * 12 + month(x))"
                )
        elif isinstance(node, (exp.ApproxDistinct, exp.ApproxQuantile)) or _function_name(node) in (
            _APPROXIMATE_FUNCTIONS
        ):
            yield (
                f"`{_shown(node)}` is approximate, with a different algorithm in DuckDB; "
                "use count(DISTINCT ...) or an exact aggregate"
            )
        elif _function_name(node) in _JODA_FUNCTIONS:
            yield (
                f"`{_shown(node)}` uses a Joda-Time pattern that DuckDB does not read; "
                "use date_format with %-specifiers (date_format(x, '%Y-%m'))"
            )
        elif (
            isinstance(node, (exp.Cast, exp.TryCast))
            and not node.meta.get(_SYNTHETIC)
            and node.to.this.name in _TEXT_TYPES
            and _type_name(node.this) in _FLOAT_TYPES
        ):
            yield (
                f"`{_shown(node)}`: Athena prints doubles in scientific notation (1.5E0), DuckDB does not; "
                "format with format('%.2f', x) or cast to DECIMAL first"
            )


def check_faithful(athena_sql: str) -> None:
    """Raise ``UnsupportedSqlError`` if DuckDB could answer ``athena_sql`` differently from Athena.

    Rejected: ``/`` unless one operand is provably DOUBLE/REAL (integer division
    truncates in Athena, decimal division keeps the operands' scale: ``1.0 / 3 =
    0.3``); ``date_diff`` except ``'day'`` between two dates (Athena counts whole
    units, DuckDB boundaries); ``format_datetime``/``parse_datetime`` (Joda
    patterns); approximate aggregates; casting a DOUBLE to VARCHAR (``1.5E0``).
    """
    problems = list(dict.fromkeys(_problems(_parse_one(athena_sql))))
    if problems:
        raise UnsupportedSqlError("query would not run faithfully in DuckDB:\n- " + "\n- ".join(problems))


def _wrap_cast(node: exp.Expr, to: str) -> None:
    """Replace ``node`` with ``CAST(node AS to)``, keeping the node itself in the tree."""

    cast = exp.Cast(to=exp.DataType.build(to))
    node.replace(cast)
    cast.set("this", node)


def _duckdb_types(expression: exp.Expr) -> exp.Expr:
    """Keep Athena's result types where DuckDB's differ.

    ``date_trunc`` of a DATE stays a DATE (DuckDB: TIMESTAMP); ``sum`` of integers
    and ``count_if`` stay BIGINT (DuckDB: HUGEINT, which pandas receives as float).
    """

    for trunc in list(expression.find_all(exp.DateTrunc, exp.TimestampTrunc)):
        if _type_name(trunc.this) == "DATE":
            _wrap_cast(trunc, "DATE")
    for aggregate in list(expression.find_all(exp.Sum, exp.CountIf)):
        if isinstance(aggregate, exp.Sum) and _type_name(aggregate.this) not in _INT_TYPES:
            continue
        outer: exp.Expr = aggregate
        while isinstance(outer.parent, (exp.Window, exp.Filter)):
            outer = outer.parent
        _wrap_cast(outer, "BIGINT")
    return expression


def to_duckdb(athena_sql: str) -> str:
    """Transpile one Athena statement to DuckDB SQL, or raise ``UnsupportedSqlError``.

    The statement is checked by :func:`check_faithful` first; the output is qualified
    (every column names its table) and keeps Athena's result types.
    """
    return _transpile(athena_sql)


@functools.lru_cache(maxsize=128)
def _transpile(athena_sql: str) -> str:
    check_faithful(athena_sql)
    typed = _duckdb_types(_annotated(_parse_one(athena_sql)))
    return typed.sql(dialect="duckdb")


# ----------------------------------------------------------------------- run locally


def _dataset_root(data_dir: Path) -> Path:
    nested = data_dir / LOCAL_DATASET_DIR
    if nested.is_dir():
        return nested
    if any(data_dir.glob(f"{PARTITION_COLUMN}=*")):
        return data_dir
    raise LocalDatasetError(
        f"no dataset under {nested}: run `orders-analytics run FILE.csv --out {data_dir}` first, "
        f"or pass the folder that holds the {PARTITION_COLUMN}=YYYY-MM-DD partitions"
    )


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dataset_source(data_dir: Path) -> str:
    root = _dataset_root(Path(data_dir)).resolve()
    if not any(root.rglob("*.parquet")):
        raise LocalDatasetError(f"no Parquet files under {root}")
    pattern = _quote_literal(f"{root.as_posix()}/**/*.parquet")
    return (
        f"read_parquet({pattern}, hive_partitioning = true, "
        f"hive_types = {{{_quote_literal(PARTITION_COLUMN)}: 'VARCHAR'}})"
    )


def _attach_dataset(
    con: duckdb.DuckDBPyConnection, data_dir: Path, database: str, table: str, *, materialize: bool = False
) -> None:
    kind = "TABLE" if materialize else "VIEW"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_identifier(database)}")
    con.execute(
        f"CREATE OR REPLACE {kind} {_quote_identifier(database)}.{_quote_identifier(table)} AS "
        f"SELECT * FROM {_dataset_source(data_dir)}"
    )


def read_query(sql_path_or_text: str | Path) -> str:
    """The Athena SQL text of a query given as a path, a path under ``queries/``, a report name or SQL text."""
    if isinstance(sql_path_or_text, Path):
        return sql_path_or_text.read_text(encoding="utf-8")
    text = sql_path_or_text
    if "\n" not in text and len(text) < 4096:
        name = text.strip()
        candidates = [Path(name), QUERIES_DIR / name]
        if name in REPORT_QUERIES:
            candidates.append(QUERIES_DIR / REPORT_QUERIES[name])
        for candidate in candidates:
            if candidate.suffix == ".sql" and candidate.is_file():
                return candidate.read_text(encoding="utf-8")
        if name.endswith(".sql"):
            raise FileNotFoundError(f"no query file {name} (looked in . and {QUERIES_DIR})")
    return text


def _create_views(con: duckdb.DuckDBPyConnection, names: set[str], database: str, table: str) -> list[str]:
    """Create the library's views among ``names`` (all of them when ``names`` is empty); return their names."""

    views_dir = QUERIES_DIR / VIEWS_SUBDIR
    files = {p.stem.lower(): p for p in sorted(views_dir.glob("*.sql"))} if views_dir.is_dir() else {}
    wanted = [name for name in files if not names or name in names]
    pending = {
        name: to_duckdb(render(files[name].read_text(encoding="utf-8"), database=database, table=table))
        for name in wanted
    }
    created: list[str] = []
    while pending:
        progress = False
        failure: Exception | None = None
        for name, statement in list(pending.items()):
            try:
                con.execute(statement)
            except duckdb.CatalogException as exc:  # depends on a view not created yet
                failure = exc
                continue
            created.append(name)
            del pending[name]
            progress = True
        if not progress and failure is not None:
            raise failure
    return created


def _referenced_tables(expression: exp.Expr) -> set[str]:

    return {t.name.lower() for t in expression.find_all(exp.Table)}


def run_local(
    sql_path_or_text: str | Path,
    data_dir: str | Path,
    *,
    ingest_date: str | date | None = None,
    database: str = DEFAULT_DATABASE,
    table: str = DEFAULT_TABLE,
) -> pd.DataFrame:
    """Run one query of the library on the local Parquet dataset under ``data_dir``.

    ``sql_path_or_text`` is a ``.sql`` path (absolute, relative to the current
    folder or to ``queries/``), a report name, or Athena SQL text. The query is
    rendered (``ingest_date=None``: all history), transpiled by :func:`to_duckdb` and
    run in an in-memory DuckDB where ``"<database>"."<table>"`` is the dataset
    (``ingest_date`` a VARCHAR, as in Glue) and the library's views it names exist.
    A ``CREATE VIEW`` file is created and then selected from.
    """

    text = read_query(sql_path_or_text)
    rendered = render(text, database=database, table=table, ingest_date=ingest_date)
    statement = to_duckdb(rendered)
    expression = _parse_one(rendered)
    con = duckdb.connect(":memory:")
    try:
        _attach_dataset(con, Path(data_dir), database, table)
        needed = _referenced_tables(expression) & _view_names()
        target = expression.this if isinstance(expression, exp.Create) else None
        if target is not None:
            needed.discard(target.name.lower())
        if needed:
            _create_views(con, needed, database, table)
        if target is not None:
            con.execute(statement)
            qualified = exp.table_(target.name, db=target.db or None, quoted=True).sql(dialect="duckdb")
            return con.execute(f"SELECT * FROM {qualified}").df()
        return con.execute(statement).df()
    finally:
        con.close()


# --------------------------------------------------------------------- run on Athena


def run_athena(sql_text: str, *, database: str, workgroup: str, storage: AwsStorage | None = None) -> pd.DataFrame:
    """Run one rendered statement on Athena through the runtime's adapter and return its result set."""
    if PLACEHOLDER.search(sql_text):
        raise QueryTemplateError("the query still has ${...} placeholders: render() it first")
    return (storage or AwsStorage()).query(sql_text, database=database, workgroup=workgroup)


def athena_reports(
    *, database: str, table: str, workgroup: str, ingest_date: str | date, storage: AwsStorage | None = None
) -> dict[str, pd.DataFrame]:
    """The three daily reports of ``ingest_date``, computed by Athena from ``queries/reports``, as the CSVs' frames."""
    storage = storage or AwsStorage()
    return {
        report: report_frame(
            report,
            run_athena(
                report_sql(QUERIES_DIR, report, database=database, table=table, ingest_date=ingest_date),
                database=database,
                workgroup=workgroup,
                storage=storage,
            ),
        )
        for report in REPORT_QUERIES
    }


# -------------------------------------------------------------- compare with the CSVs


class ReportCheck(NamedTuple):
    """One report's comparison: the query's answer against the Lambda's CSV."""

    report: str
    ok: bool
    detail: str


def _reports_dir(data_dir: Path, ingest_date: str) -> Path:
    year, month, day = ingest_date.split("-")
    return data_dir / LOCAL_REPORTS_DIR / year / month / day


def _compare(report: str, expected: pd.DataFrame, actual: pd.DataFrame) -> ReportCheck:
    if list(expected.columns) != list(actual.columns):
        return ReportCheck(report, False, f"columns differ: CSV {list(expected.columns)}, query {list(actual.columns)}")
    if len(expected) != len(actual):
        return ReportCheck(report, False, f"row counts differ: CSV {len(expected)}, query {len(actual)}")
    for position, (want, got) in enumerate(
        zip(expected.itertuples(index=False), actual.itertuples(index=False), strict=True)
    ):
        for column, a, b in zip(expected.columns, want, got, strict=True):
            if column in PROFIT_COLUMNS:
                same = math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=PROFIT_TOLERANCE + 1e-9)
            else:
                same = a == b
            if not same:
                return ReportCheck(report, False, f"row {position + 1}, {column}: CSV {a!r}, query {b!r}")
    return ReportCheck(report, True, f"{len(expected)} rows agree")


def compare_reports(data_dir: str | Path, ingest_date: str | date) -> list[ReportCheck]:
    """Run the three report queries locally and compare them with the Lambda's CSVs.

    The CSVs are read from ``data_dir/analytics/YYYY/MM/DD/``. Rows must agree in
    order; ``total_profit`` within 0.01, everything else exactly (text as the CSV
    writer stores it: formula-like cells prefixed with ``'``). One
    :class:`ReportCheck` per report, in :data:`REPORT_QUERIES` order.
    """

    data_dir = Path(data_dir)
    day = ingest_date_value(ingest_date)
    if day == ALL_HISTORY:
        raise QueryTemplateError("compare_reports needs one ingest date, the day of the CSV reports")
    folder = _reports_dir(data_dir, day)
    checks: list[ReportCheck] = []
    for report, relative in REPORT_QUERIES.items():
        path = folder / f"{report}.csv"
        if not path.is_file():
            checks.append(ReportCheck(report, False, f"no CSV at {path}"))
            continue
        columns = REPORT_COLUMNS[report]
        dtypes = {c: ("int64" if c in COUNT_COLUMNS else "float64" if c in PROFIT_COLUMNS else "str") for c in columns}
        try:
            expected = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[])
        except (ValueError, pd.errors.ParserError) as exc:
            checks.append(ReportCheck(report, False, f"cannot read {path}: {exc}"))
            continue
        actual = report_frame(report, run_local(QUERIES_DIR / relative, data_dir, ingest_date=day))
        for column in columns:
            if column not in COUNT_COLUMNS and column not in PROFIT_COLUMNS:
                # As the CSV writer stores it: formula-like text gets a leading "'".
                actual[column] = actual[column].map(neutralize_formula)
        checks.append(_compare(report, expected, actual))
    return checks


# ------------------------------------------------------------------------ warehouse


def write_warehouse(
    data_dir: str | Path,
    db_path: str | Path,
    *,
    database: str = DEFAULT_DATABASE,
    table: str = DEFAULT_TABLE,
    materialize: bool = False,
) -> list[str]:
    """Write a DuckDB database file with the dataset and every view of ``queries/views``.

    ``"<database>"."<table>"`` is a view over the Parquet files (absolute paths:
    the file follows new data but not a moved folder), or with ``materialize=True``
    a table holding a copy (a self-contained file). ``ingest_date`` is VARCHAR, as
    in Glue. An existing file at ``db_path`` is replaced. Returns the qualified
    names of the relations created.
    """

    target = Path(db_path)
    source = Path(data_dir)
    _dataset_source(source)  # fail before touching the target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(target.name + ".tmp")
    for leftover in (scratch, Path(f"{scratch}.wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    try:
        _attach_dataset(con, source, database, table, materialize=materialize)
        views = _create_views(con, set(), database, table)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    Path(f"{target}.wal").unlink(missing_ok=True)
    shutil.move(scratch, target)
    return [f"{database}.{table}", *(f"{database}.{view}" for view in views)]
