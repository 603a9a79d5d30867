"""The query library's templates: the part of ``queries/`` the Lambda needs.

Pure (standard library and pandas). A file in ``queries/`` is a template with
the two placeholders Terraform's ``templatefile`` fills in, ``${database}`` and
``${table}``; :func:`render` fills them safely. The date-scoped queries take the
ingestion date as Athena execution parameters: every ``?`` of a file is the
date, a ``YYYY-MM-DD`` partition value or ``ALL`` for all history, bound as
text (:func:`query_parameters`), so the saved named queries prompt for it in the
console and every engine runs the same text. :func:`report_frame` gives a
report query's answer the columns and types of the report's CSV. Running the
files (Athena through the storage adapter; DuckDB in ``orders_tools.sql``)
happens elsewhere.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from lambda_app.errors import QueryResultError, QueryTemplateError
from lambda_app.reports import REPORT_COLUMNS

ALL_HISTORY = "ALL"
PLACEHOLDERS: frozenset[str] = frozenset({"database", "table"})
# How a date-scoped file filters on its one parameter: 'ALL' keeps every partition, a date one.
DATE_FILTER = "ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)"

# Report name (the CSV's name without ``.csv``) -> its query, relative to the queries folder.
REPORT_QUERIES: dict[str, str] = {
    "most_profitable_region": "reports/most_profitable_region.sql",
    "shipping_method_by_category": "reports/shipping_method_by_category.sql",
    "orders_by_category": "reports/orders_by_category.sql",
}
VIEWS_SUBDIR = "views"
COUNT_COLUMNS = frozenset({"order_count"})
PROFIT_COLUMNS = frozenset({"total_profit"})

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Query(NamedTuple):
    """A rendered statement and the text values of its ``?`` parameters, in order."""

    sql: str
    parameters: tuple[str, ...] = ()


def ingest_date_value(ingest_date: str | date | None) -> str:
    """The date parameter's value: ``YYYY-MM-DD``, or ``ALL`` for ``None``; ``QueryTemplateError`` otherwise."""
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


def parameter_count(sql_text: str) -> int:
    """The number of ``?`` parameters in ``sql_text``, outside comments, string literals and quoted names."""
    count = 0
    position = 0
    length = len(sql_text)
    while position < length:
        char = sql_text[position]
        if sql_text.startswith("--", position):
            newline = sql_text.find("\n", position)
            position = length if newline < 0 else newline
        elif sql_text.startswith("/*", position):
            end = sql_text.find("*/", position + 2)
            position = length if end < 0 else end + 2
        elif char in "'\"":
            end = position + 1
            while end < length:
                if sql_text[end] == char:
                    if sql_text[end + 1 : end + 2] == char:  # a doubled quote inside the literal
                        end += 2
                        continue
                    break
                end += 1
            position = end + 1
        else:
            count += char == "?"
            position += 1
    return count


def query_parameters(sql_text: str, ingest_date: str | date | None) -> tuple[str, ...]:
    """The execution parameters of a rendered file: the date (or ``ALL``) once per ``?``."""
    count = parameter_count(sql_text)
    value = ingest_date_value(ingest_date)
    if count == 0 and value != ALL_HISTORY:
        raise QueryTemplateError("the query takes no date parameter, so it cannot be scoped to one day")
    return (value,) * count


def render(sql_text: str, *, database: str, table: str) -> str:
    """Fill a query file's ``${database}`` and ``${table}``.

    Raises ``QueryTemplateError`` on any other placeholder (``${ingest_date}`` is
    an execution parameter, ``?``, since the date left the templates), on a
    Terraform directive (``%{``) and on a name that is not a plain Glue
    identifier: the values end up inside SQL, so nothing else gets in.
    """
    for label, name in (("database", database), ("table", table)):
        if not _NAME.match(name):
            raise QueryTemplateError(f"{label} name {name!r} must be letters, digits, '_' or '-'")
    if "%{" in sql_text:
        raise QueryTemplateError("the query contains '%{', a Terraform template directive")
    values = {"database": database, "table": table}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise QueryTemplateError(
                f"unknown placeholder ${{{name}}}; the only ones are {', '.join(sorted(PLACEHOLDERS))} "
                "(the ingestion date is the execution parameter ?)"
            )
        return values[name]

    return PLACEHOLDER.sub(substitute, sql_text)


def report_sql(queries_dir: Path, report: str, *, database: str, table: str) -> str:
    """The rendered report query (its ``?`` is the ingestion date: see :func:`report_query`)."""
    text = (queries_dir / REPORT_QUERIES[report]).read_text(encoding="utf-8")
    return render(text, database=database, table=table)


def report_query(queries_dir: Path, report: str, *, database: str, table: str, ingest_date: str | date) -> Query:
    """The rendered report query of one day with its execution parameters."""
    sql = report_sql(queries_dir, report, database=database, table=table)
    return Query(sql, query_parameters(sql, ingest_date))


def report_frame(report: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the report CSV's columns, in order, and its dtypes."""
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
        if column in COUNT_COLUMNS:
            out[column] = values.astype("int64")
        elif column in PROFIT_COLUMNS:
            out[column] = values.astype("float64").round(2)
        else:
            out[column] = values.astype("str")
    return out
