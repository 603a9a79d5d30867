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
import re
import shutil
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from lambda_app.errors import LocalDatasetError, QueryResultError, QueryTemplateError, UnsupportedSqlError
from lambda_app.reports import REPORT_COLUMNS
from lambda_app.schema import GLUE_COLUMN_TYPES, GLUE_PARTITION_TYPES, PARTITION_COLUMN
from lambda_app.settings import Settings

if TYPE_CHECKING:
    import boto3
    import duckdb
    import pandas as pd
    from sqlglot import exp

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

_DEFAULTS = Settings(output_bucket="-")
# The Glue names the queries are rendered with locally: the deployment's defaults.
DEFAULT_DATABASE: str = _DEFAULTS.glue_database
DEFAULT_TABLE: str = _DEFAULTS.glue_table
DEFAULT_WORKGROUP: str = _DEFAULTS.athena_workgroup
# Where the dataset sits under the folder ``orders-analytics run --out DIR`` writes.
LOCAL_DATASET_DIR: str = _DEFAULTS.dataset_prefix.rstrip("/")
LOCAL_REPORTS_DIR: str = _DEFAULTS.reports_prefix.rstrip("/")

ALL_HISTORY = "ALL"
PROFIT_TOLERANCE = 0.01


def find_queries_dir(env: Mapping[str, str] | None = None) -> Path:
    """Locate the ``queries/`` folder.

    In order: ``$ORDERS_QUERIES_DIR`` when set; the repository's top-level
    ``queries/`` (a checkout or an editable install); ``$LAMBDA_TASK_ROOT/queries``
    (the Lambda image copies the folder there). Returns the repository path when
    none exists, so error messages name the expected place.
    """
    env = os.environ if env is None else env
    explicit = env.get("ORDERS_QUERIES_DIR", "").strip()
    if explicit:
        return Path(explicit)
    repository = Path(__file__).resolve().parent.parent / "queries"
    candidates = [repository]
    task_root = env.get("LAMBDA_TASK_ROOT", "").strip()
    if task_root:
        candidates.append(Path(task_root) / "queries")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return repository


QUERIES_DIR: Path = find_queries_dir()

# Report name (the CSV's name without ``.csv``) -> its query, relative to QUERIES_DIR.
REPORT_QUERIES: dict[str, str] = {
    "most_profitable_region": "reports/most_profitable_region.sql",
    "shipping_method_by_category": "reports/shipping_method_by_category.sql",
    "orders_by_category": "reports/orders_by_category.sql",
}

_COUNT_COLUMNS = frozenset({"order_count"})
_PROFIT_COLUMNS = frozenset({"total_profit"})

VIEWS_SUBDIR = "views"


def query_files(queries_dir: Path | None = None) -> list[Path]:
    """Every ``.sql`` file of the library, sorted by path."""
    return sorted((queries_dir or QUERIES_DIR).rglob("*.sql"))


# --------------------------------------------------------------------------- render

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PLACEHOLDERS: frozenset[str] = frozenset({"database", "table", "ingest_date"})


def _ingest_date_value(ingest_date: str | date | None) -> str:
    if ingest_date is None:
        return ALL_HISTORY
    text = ingest_date.isoformat() if isinstance(ingest_date, date) else str(ingest_date).strip()
    if text.upper() == ALL_HISTORY:
        return ALL_HISTORY
    if not _ISO_DATE.match(text):
        raise QueryTemplateError(f"ingest_date must be YYYY-MM-DD or None (all history), got {ingest_date!r}")
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise QueryTemplateError(f"ingest_date {text!r} is not a calendar date") from exc
    return text


def render(sql_text: str, *, database: str, table: str, ingest_date: str | date | None = None) -> str:
    """Fill a query file's ``${database}``, ``${table}`` and ``${ingest_date}``.

    ``ingest_date=None`` (or ``"ALL"``) selects all history. Raises
    ``QueryTemplateError`` on any other placeholder, on a Terraform directive
    (``%{``), on a name that is not a plain Glue identifier and on a date that is
    not ``YYYY-MM-DD``: the values end up inside SQL, so nothing else gets in.
    """
    for label, name in (("database", database), ("table", table)):
        if not _NAME.match(name):
            raise QueryTemplateError(f"{label} name {name!r} must be letters, digits, '_' or '-'")
    if "%{" in sql_text:
        raise QueryTemplateError("the query contains '%{', a Terraform template directive")
    values = {"database": database, "table": table, "ingest_date": _ingest_date_value(ingest_date)}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise QueryTemplateError(
                f"unknown placeholder ${{{name}}}; the only ones are {', '.join(sorted(PLACEHOLDERS))}"
            )
        return values[name]

    return _PLACEHOLDER.sub(substitute, sql_text)


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
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

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
    from sqlglot import exp
    from sqlglot.errors import OptimizeError, SchemaError
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

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
    from sqlglot import exp

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
    from sqlglot import exp

    def unwrap(n: exp.Expr) -> exp.Expr:
        return n.this if isinstance(n, exp.Cast) and n.meta.get(_SYNTHETIC) else n

    return node.copy().transform(unwrap).sql(dialect="athena")


def _function_name(node: exp.Expr) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name().upper()
    return ""


def _problems(expression: exp.Expr) -> Iterator[str]:
    from sqlglot import exp

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
    from sqlglot import exp

    cast = exp.Cast(to=exp.DataType.build(to))
    node.replace(cast)
    cast.set("this", node)


def _duckdb_types(expression: exp.Expr) -> exp.Expr:
    """Keep Athena's result types where DuckDB's differ.

    ``date_trunc`` of a DATE stays a DATE (DuckDB: TIMESTAMP); ``sum`` of integers
    and ``count_if`` stay BIGINT (DuckDB: HUGEINT, which pandas receives as float).
    """
    from sqlglot import exp

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
    import duckdb

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
    from sqlglot import exp

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
    import duckdb
    from sqlglot import exp

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


def run_athena(
    sql_text: str, *, database: str, workgroup: str, boto3_session: boto3.Session | None = None
) -> pd.DataFrame:
    """Run one rendered statement on Athena and return its result set.

    Uses awswrangler's plain path (``ctas_approach=False``): Athena writes the
    result CSV to the workgroup's output location and awswrangler reads it back
    with the result's column types. No temporary table is created.
    """
    if _PLACEHOLDER.search(sql_text):
        raise QueryTemplateError("the query still has ${...} placeholders: render() it first")
    import awswrangler as wr
    import pandas as pd

    frame = wr.athena.read_sql_query(
        sql=sql_text,
        database=database,
        workgroup=workgroup,
        ctas_approach=False,
        boto3_session=boto3_session,
    )
    if not isinstance(frame, pd.DataFrame):  # an iterator only when chunksize is set, which it is not
        raise QueryResultError("awswrangler returned an iterator instead of a DataFrame")
    return frame


def report_frame(report: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the report CSV's columns, in order, and its dtypes."""
    import pandas as pd

    columns = list(REPORT_COLUMNS[report])
    if frame.empty and set(frame.columns) != set(columns):
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    if list(frame.columns) != columns:
        raise QueryResultError(f"{report}: the query returned columns {list(frame.columns)}, expected {columns}")
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in columns:
        values = frame[column].reset_index(drop=True)
        if values.isna().any():
            raise QueryResultError(f"{report}: NULL in {column}, which the report never has")
        if column in _COUNT_COLUMNS:
            out[column] = values.astype("int64")
        elif column in _PROFIT_COLUMNS:
            out[column] = values.astype("float64").round(2)
        else:
            out[column] = values.astype("str")
    return out


def athena_reports(
    *,
    database: str,
    table: str,
    workgroup: str,
    ingest_date: str | date,
    boto3_session: boto3.Session | None = None,
) -> dict[str, pd.DataFrame]:
    """The three daily reports of ``ingest_date``, computed by Athena from ``queries/reports``.

    Keys are the report names of :data:`REPORT_QUERIES` (in the CSVs' order);
    each frame has the CSV's columns and dtypes (``order_count`` int64,
    ``total_profit`` float64 rounded to 2) in the query's row order.
    """
    if ingest_date is None:
        raise QueryTemplateError("athena_reports needs the ingest_date whose reports it computes")
    reports: dict[str, pd.DataFrame] = {}
    for report, relative in REPORT_QUERIES.items():
        text = (QUERIES_DIR / relative).read_text(encoding="utf-8")
        sql_text = render(text, database=database, table=table, ingest_date=ingest_date)
        frame = run_athena(sql_text, database=database, workgroup=workgroup, boto3_session=boto3_session)
        reports[report] = report_frame(report, frame)
    return reports


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
            if column in _PROFIT_COLUMNS:
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
    import pandas as pd

    from lambda_app.reports import neutralize_formula

    data_dir = Path(data_dir)
    day = _ingest_date_value(ingest_date)
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
        dtypes = {
            c: ("int64" if c in _COUNT_COLUMNS else "float64" if c in _PROFIT_COLUMNS else "str") for c in columns
        }
        try:
            expected = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[])
        except (ValueError, pd.errors.ParserError) as exc:
            checks.append(ReportCheck(report, False, f"cannot read {path}: {exc}"))
            continue
        actual = report_frame(report, run_local(QUERIES_DIR / relative, data_dir, ingest_date=day))
        for column in columns:
            if column not in _COUNT_COLUMNS and column not in _PROFIT_COLUMNS:
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
    import duckdb

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
