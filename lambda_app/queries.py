"""The query library's templates: the part of ``queries/`` the Lambda needs.

Pure (standard library and pandas). A file in ``queries/`` is a template with
the placeholders Terraform's ``templatefile`` fills in: ``${database}``,
``${table}`` and, in the date-scoped queries, ``${ingest_date}`` (a
``YYYY-MM-DD`` partition value, or ``ALL`` for all history). :func:`render`
fills them safely; :func:`report_frame` gives a report query's answer the
columns and types of the report's CSV. Running the files (Athena through the
storage adapter; DuckDB in ``orders_tools.sql``) happens elsewhere.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd

from lambda_app.errors import QueryResultError, QueryTemplateError
from lambda_app.reports import REPORT_COLUMNS

ALL_HISTORY = "ALL"
PLACEHOLDERS: frozenset[str] = frozenset({"database", "table", "ingest_date"})

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


def ingest_date_value(ingest_date: str | date | None) -> str:
    """The ``${ingest_date}`` text: ``YYYY-MM-DD``, or ``ALL`` for ``None``; ``QueryTemplateError`` otherwise."""
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
    values = {"database": database, "table": table, "ingest_date": ingest_date_value(ingest_date)}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise QueryTemplateError(
                f"unknown placeholder ${{{name}}}; the only ones are {', '.join(sorted(PLACEHOLDERS))}"
            )
        return values[name]

    return PLACEHOLDER.sub(substitute, sql_text)


def report_sql(queries_dir: Path, report: str, *, database: str, table: str, ingest_date: str | date) -> str:
    """The rendered report query of one day."""
    text = (queries_dir / REPORT_QUERIES[report]).read_text(encoding="utf-8")
    return render(text, database=database, table=table, ingest_date=ingest_date)


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
