"""The Athena query library in ``queries/``: render, check, run locally or on Athena.

The same ``.sql`` files run in three places:

* on Athena (Trino), through the workgroup: :func:`run_athena`, :func:`athena_reports`
  (the handler's ``REPORT_ENGINE=athena`` path) and Terraform's named queries;
* locally, on the Parquet dataset that ``orders-analytics run --out DIR`` copied out of
  the output bucket: :func:`run_local` transpiles them with sqlglot and runs them in
  DuckDB;
* in a DuckDB file for desktop BI tools: :func:`write_warehouse`.

A file is a template with two placeholders, the ones Terraform's ``templatefile``
fills in: ``${database}`` and ``${table}``. The date-scoped queries take the
ingestion date as an Athena execution parameter, ``?`` (a ``YYYY-MM-DD``
partition value, or ``ALL`` for all history; the queries filter with
``ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)``): Athena's console
prompts for it, the Lambda's Athena engine and ``run_athena`` pass it as
ExecutionParameters, and ``run_local`` binds the same value to DuckDB's ``?``.

Local answers must be Athena's answers. :func:`to_duckdb` refuses, with
``UnsupportedSqlError``, the constructs DuckDB would evaluate differently (see
:func:`check_faithful`), and fixes two result types (``date_trunc`` of a date stays a
date, ``sum`` of integers stays ``bigint``).

sqlglot, duckdb and awswrangler are imported inside the functions that need them, so
importing this module is cheap.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
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
    Query,
    ingest_date_value,
    query_parameters,
    render,
    report_frame,
    report_query,
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
    "VIEWS_SUBDIR",
    "VIEW_COLUMNS_FILE",
    "WAREHOUSE_STORAGE_VERSION",
    "HalfCentSum",
    "ReportCheck",
    "ViewColumn",
    "ViewDefinition",
    "athena_reports",
    "check_faithful",
    "compare_reports",
    "find_queries_dir",
    "half_cent_sums",
    "query_files",
    "query_parameters",
    "read_query",
    "render",
    "report_frame",
    "run_athena",
    "run_local",
    "to_duckdb",
    "view_columns",
    "view_columns_json",
    "view_definition",
    "write_warehouse",
]

# The Glue names the queries are rendered with locally: the deployment's defaults.
DEFAULT_DATABASE: str = Settings.glue_database
DEFAULT_TABLE: str = Settings.glue_table
DEFAULT_WORKGROUP: str = Settings.athena_workgroup
# Where the dataset sits under the folder ``orders-analytics run --out DIR`` writes.
LOCAL_DATASET_DIR: str = Settings.dataset_prefix.rstrip("/")
LOCAL_REPORTS_DIR: str = Settings.reports_prefix.rstrip("/")

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
_NUMBER_TYPES = _EXACT_TYPES | _FLOAT_TYPES
_TEXT_TYPES = frozenset({"VARCHAR", "CHAR", "TEXT", "NVARCHAR", "NCHAR", "STRING", "NAME"})
_DATE_TYPES = frozenset({"DATE", "DATE32"})
_TIMESTAMP_TYPES = frozenset(
    {
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIMESTAMPLTZ",
        "TIMESTAMPNTZ",
        "DATETIME",
        "TIMESTAMP_S",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
    }
)
_TEMPORAL_TYPES = _DATE_TYPES | _TIMESTAMP_TYPES | {"TIME", "TIMETZ"}
_UNTYPED = frozenset({"UNKNOWN", "NULL"})
_JODA_FUNCTIONS = frozenset({"FORMAT_DATETIME", "PARSE_DATETIME"})
_APPROXIMATE_FUNCTIONS = frozenset({"APPROX_DISTINCT", "APPROX_PERCENTILE", "APPROX_SET", "APPROX_MOST_FREQUENT"})
_SYNTHETIC = "orders_analytics_synthetic"
# ROUND(x, d) is emulated for these d: 10**d is an exact double, as Java's Math.pow(10, d) is.
_ROUND_DIGITS = range(16)
# date_format / date_parse specifiers (as sqlglot maps Trino's MySQL-style ones to strftime) whose
# DuckDB output is Trino's: %Y year, %m %d zero-padded month and day, %H hour (00-23), %M (Trino %i)
# minutes, %S (Trino %s / %S) seconds, %j day of year, %y two-digit year, %% a percent sign.
_SAME_SPECIFIERS = frozenset("YmdHMSjy%")
_ISO_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?")
_VOLATILE_FUNCTIONS = frozenset({"RAND", "RANDOM", "UUID", "SHUFFLE"})
# Functions that return arrays, which sqlglot leaves untyped.
_ARRAY_FUNCTIONS = (exp.Split, exp.RegexpSplit, exp.Array, exp.ArrayAgg, exp.ArraySort, exp.ArrayDistinct)
# sqlglot's strftime specifiers back to Trino's (for messages).
_TRINO_SPECIFIERS: dict[str, str] = {
    k: v for k, v in Dialect.get_or_raise("athena").INVERSE_TIME_MAPPING.items() if len(k) == 2
}


def _dataset_columns() -> dict[str, str]:
    return {**GLUE_COLUMN_TYPES, **GLUE_PARTITION_TYPES}


def _type_name(node: exp.Expr | None) -> str:
    data_type = node.type if node is not None else None
    return data_type.this.name if data_type is not None else "UNKNOWN"


def _family(type_name: str) -> str | None:
    """The comparison family of a type: text, number, temporal, boolean, array, map; None when unknown."""
    if type_name in _TEXT_TYPES:
        return "text"
    if type_name in _NUMBER_TYPES:
        return "number"
    if type_name in _TEMPORAL_TYPES:
        return "temporal"
    if type_name in {"BOOLEAN", "ARRAY", "MAP", "STRUCT"}:
        return type_name.lower()
    return None


def _trino_type(type_name: str) -> str:
    """A sqlglot type name as Athena calls the type, for messages."""
    if type_name in _TEXT_TYPES:
        return "varchar"
    return {"INT": "integer", "TIMESTAMPTZ": "timestamp with time zone"}.get(type_name, type_name.lower())


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


def _without_synthetic_casts(expression: exp.Expr) -> exp.Expr:

    def unwrap(node: exp.Expr) -> exp.Expr:
        return node.this if isinstance(node, exp.Cast) and node.meta.get(_SYNTHETIC) else node

    return expression.transform(unwrap, copy=False)


def _shown(node: exp.Expr) -> str:
    return _without_synthetic_casts(node.copy()).sql(dialect="athena")


def _function_name(node: exp.Expr) -> str:

    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name().upper()
    return ""


def _int_literal(node: exp.Expr | None) -> int | None:
    """The value of an integer literal (``-3`` included), else None."""
    if isinstance(node, exp.Cast) and node.meta.get(_SYNTHETIC):
        return None
    if isinstance(node, exp.Neg):
        inner = _int_literal(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Paren):
        return _int_literal(node.this)
    if isinstance(node, exp.Literal) and node.is_number:
        try:
            return int(node.this)
        except ValueError:
            return None
    return None


def _text_literal(node: exp.Expr | None) -> str | None:
    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _duck(template: str, **parts: exp.Expr) -> exp.Expr:
    """A DuckDB expression from ``template`` with each ``__name__`` column replaced by ``parts[name]``."""
    tree = sqlglot.parse_one(template, read="duckdb")

    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("__"):
            return parts[node.name.strip("_")].copy()
        return node

    return tree.transform(fill, copy=False)


def _trino_round(value: exp.Expr, digits: int) -> exp.Expr:
    """Trino's ``round(x, d)`` of a DOUBLE, as DuckDB SQL.

    Trino (``MathFunctions.round(double, long)``) returns NaN and infinities as
    they are; otherwise it scales the magnitude in doubles (``|x| * 10^d``),
    rounds that double half up exactly (``Math.round``, or
    ``DoubleMath.roundToBigInteger(HALF_UP)`` past the long range), divides by
    ``10^d`` and restores the sign; a scaled value that overflows to infinity
    returns ``x``. ``floor(v) + (v - floor(v) >= 0.5)`` is that exact half-up
    rounding (``v - floor(v)`` is exact in binary), where ``floor(v + 0.5)``
    would round twice. DuckDB's own ``round`` rounds the binary value instead,
    so ``round(2.675, 2)`` is 2.67 there and 2.68 on Athena.
    """
    return _duck(
        "CASE WHEN isnan(__x__) OR isinf(__x__) OR isinf(abs(__x__) * __f__) THEN __x__ "
        "ELSE (CASE WHEN __x__ < 0 THEN -1 ELSE 1 END) * ((floor(abs(__x__) * __f__) + "
        "CASE WHEN abs(__x__) * __f__ - floor(abs(__x__) * __f__) >= 0.5 THEN 1 ELSE 0 END) / __f__) END",
        x=value,
        f=exp.cast(exp.Literal.number(10**digits), exp.DataType.build("DOUBLE")),
    )


class _Rule(NamedTuple):
    """What the checker does with one node: refuse it (``problem``) or replace it (``build``)."""

    problem: str | None = None
    build: Callable[[], exp.Expr] | None = None


_KEEP = _Rule()


def _refuse(message: str) -> _Rule:
    return _Rule(problem=message)


def _replace(build: Callable[[], exp.Expr]) -> _Rule:
    return _Rule(build=build)


def _division(node: exp.Div) -> _Rule:
    left, right = _type_name(node.this), _type_name(node.expression)
    if left in _FLOAT_TYPES or right in _FLOAT_TYPES:
        return _KEEP
    if left in _INT_TYPES and right in _INT_TYPES:
        return _refuse(
            f"integer division `{_shown(node)}`: Athena truncates (7 / 2 = 3), DuckDB does not; "
            "CAST one operand AS DOUBLE"
        )
    if left in _EXACT_TYPES and right in _EXACT_TYPES:
        return _refuse(
            f"decimal division `{_shown(node)}`: Athena keeps the operands' scale (1.0 / 3 = 0.3), "
            "DuckDB does not; CAST one operand AS DOUBLE"
        )
    return _refuse(
        f"division `{_shown(node)}` with operand types {left} and {right}: cannot prove it is not "
        "integer or decimal division; CAST one operand AS DOUBLE"
    )


def _date_diff(node: exp.Expr) -> _Rule:
    unit_node = node.args.get("unit")
    unit = (unit_node.name if unit_node is not None else "DAY").upper()
    operands = {_type_name(node.this), _type_name(node.expression)}
    if unit == "DAY" and operands == {"DATE"}:
        return _KEEP
    return _refuse(
        f"`{_shown(node)}`: Athena counts whole {unit.lower()}s elapsed, DuckDB counts "
        f"{unit.lower()} boundaries crossed; only date_diff('day', date, date) agrees "
        "(for months compare year(x) * 12 + month(x))"
    )


def _round(node: exp.Round) -> _Rule:
    kind = _type_name(node.this)
    decimals = node.args.get("decimals")
    digits = 0 if decimals is None else _int_literal(decimals)
    if kind in _EXACT_TYPES:
        return _KEEP  # both round DECIMAL and integers half away from zero, exactly
    if kind not in {"DOUBLE"}:
        return _refuse(
            f"`{_shown(node)}` rounds a value of type {kind}: only DOUBLE, DECIMAL and integer rounding "
            "is emulated (Athena rounds a DOUBLE's scaled value half up, DuckDB its binary value); CAST it AS DOUBLE"
        )
    if digits is None or digits not in _ROUND_DIGITS:
        return _refuse(
            f"`{_shown(node)}`: Athena rounds |x| * 10^d half up in doubles; the local runner emulates that for "
            f"a literal d from 0 to {_ROUND_DIGITS[-1]} only"
        )
    if any(_function_name(n) in _VOLATILE_FUNCTIONS for n in node.this.walk()):
        return _refuse(f"`{_shown(node)}`: rounding a random value cannot be emulated (it is evaluated several times)")
    return _replace(lambda: _trino_round(node.this, digits))


def _cast_to_integer(node: exp.Cast) -> _Rule:
    source = _type_name(node.this)
    if source in _EXACT_TYPES or source == "BOOLEAN":
        return _KEEP  # DECIMAL: both round half away from zero
    if source == "DOUBLE":
        # Trino: DoubleMath.roundToLong(x, HALF_UP) (bigint), (long) round(x) (the smaller types):
        # half away from zero. DuckDB rounds half to even (CAST(2.5 AS BIGINT) = 2).
        return _replace(lambda: exp.Cast(this=_trino_round(node.this, 0), to=node.to.copy()))
    if source in _TEXT_TYPES:
        return _refuse(
            f"`{_shown(node)}` casts text to an integer: Athena accepts only an integer's digits ('2.5' fails), "
            "DuckDB rounds '2.5' to 3; CAST the text AS DOUBLE first"
        )
    return _refuse(
        f"`{_shown(node)}` casts a value of type {source} to an integer: cannot tell how Athena would round it; "
        "CAST it AS DOUBLE or DECIMAL first"
    )


def _cast_to_text(node: exp.Cast) -> _Rule:
    source = _type_name(node.this)
    target = node.to
    length = _int_literal(target.expressions[0].this) if target.expressions else None
    if source in _FLOAT_TYPES:
        return _refuse(
            f"`{_shown(node)}`: Athena prints doubles in scientific notation (1.5E0), DuckDB does not; "
            "round first and cast to DECIMAL: CAST(CAST(round(x, 2) AS DECIMAL(18, 2)) AS VARCHAR)"
        )
    if source in _TIMESTAMP_TYPES or source in {"TIME", "TIMETZ"}:
        return _refuse(
            f"`{_shown(node)}`: Athena prints a timestamp with its precision (the table's timestamp(3): "
            "'2024-03-01 09:30:00.000', current_timestamp with ' UTC'), DuckDB without trailing zeros; "
            "use date_format(x, '%Y-%m-%d %H:%i:%s')"
        )
    if target.this.name in {"CHAR", "NCHAR"}:
        return _refuse(
            f"`{_shown(node)}`: Athena pads char(n) with spaces and compares it padded, DuckDB has no char type; "
            "use VARCHAR"
        )
    if length is None:
        return _KEEP
    if source in _TEXT_TYPES:
        # Trino truncates text cast to a shorter varchar(n); DuckDB ignores the length.
        return _replace(lambda: _duck("substring(__x__, 1, __n__)", x=node.this, n=exp.Literal.number(length)))
    return _refuse(
        f"`{_shown(node)}`: Athena fails when the text of a {source} is longer than {length} characters, "
        "DuckDB ignores the length; CAST AS VARCHAR without a length"
    )


def _cast_to_date(node: exp.Cast) -> _Rule:
    source = _type_name(node.this)
    if source in _TEMPORAL_TYPES:
        return _KEEP
    literal = _text_literal(node.this)
    if literal is not None:
        try:
            date.fromisoformat(literal)
            strict = _ISO_DATE_TEXT.fullmatch(literal) is not None
        except ValueError:
            strict = False
        if strict:
            return _KEEP
        return _refuse(
            f"`{_shown(node)}`: Athena reads dates as ISO 8601 (YYYY-MM-DD) and rejects other text such as "
            "'2024/03/01', which DuckDB accepts; write DATE 'YYYY-MM-DD' or use date_parse(text, '%m/%d/%Y')"
        )
    if source in _TEXT_TYPES:
        # Athena and DuckDB agree on YYYY-MM-DD text; other text fails locally instead of being read differently.
        return _replace(
            lambda: _duck(
                "CASE WHEN __x__ IS NULL OR regexp_full_match(__x__, '\\d{4}-\\d{2}-\\d{2}') THEN __cast__ "
                "ELSE error('text is not a YYYY-MM-DD date: Athena and DuckDB read other date text differently') END",
                x=node.this,
                cast=node.copy(),
            )
        )
    return _refuse(f"`{_shown(node)}` casts a value of type {source} to a date: cannot tell what Athena would do")


def _cast_to_timestamp(node: exp.Cast) -> _Rule:
    source = _type_name(node.this)
    if source in _TEMPORAL_TYPES:
        return _KEEP
    literal = _text_literal(node.this)
    if literal is not None and _TIMESTAMP_TEXT.fullmatch(literal):
        return _KEEP
    return _refuse(
        f"`{_shown(node)}`: Athena's TIMESTAMP is timestamp(3), so it rounds text to milliseconds, and it reads "
        "only ISO text; DuckDB keeps microseconds and reads more formats. Use a TIMESTAMP 'YYYY-MM-DD HH:MM:SS.fff' "
        "literal with at most 3 fractional digits"
    )


def _cast(node: exp.Cast) -> _Rule:
    if node.meta.get(_SYNTHETIC):
        return _KEEP
    target = node.to.this.name
    if target in _INT_TYPES:
        return _cast_to_integer(node)
    if target in _TEXT_TYPES:
        return _cast_to_text(node)
    if target in _DATE_TYPES:
        return _cast_to_date(node)
    if target in _TIMESTAMP_TYPES:
        return _cast_to_timestamp(node)
    return _KEEP


def _substring(node: exp.Substring) -> _Rule:
    start = node.args.get("start")
    length = node.args.get("length")
    first = _int_literal(start)
    count = _int_literal(length) if length is not None else None
    if first is not None and first >= 1 and (length is None or (count is not None and count >= 0)):
        return _KEEP  # positions from 1 and a non-negative length mean the same in both
    if start is None:
        return _KEEP

    def build() -> exp.Expr:
        # Trino (StringFunctions.substr): start 0 or length <= 0 give ''; a negative start counts from the
        # end and one before the first character gives ''. DuckDB reads start 0 as "before the first".
        size = length.copy() if length is not None else _duck("length(__s__)", s=node.this)
        return _duck(
            "CASE WHEN __s__ IS NULL OR __p__ IS NULL OR __n__ IS NULL THEN NULL "
            "WHEN __p__ = 0 OR __n__ <= 0 THEN '' "
            "WHEN __p__ > 0 THEN substring(__s__, __p__, __n__) "
            "WHEN __p__ + length(__s__) < 0 THEN '' "
            "ELSE substring(__s__, __p__ + length(__s__) + 1, __n__) END",
            s=node.this,
            p=start,
            n=size,
        )

    return _replace(build)


def _split_part(node: exp.SplitPart) -> _Rule:
    index = node.args["part_index"]
    literal = _int_literal(index)
    if literal is not None and literal < 1:
        return _refuse(f"`{_shown(node)}`: Athena fails (index must be greater than zero), DuckDB counts from the end")
    # Trino returns NULL past the last field, DuckDB ''.
    return _replace(
        lambda: _duck(
            "CASE WHEN __i__ < 1 THEN error('split_part: index must be greater than zero') "
            "WHEN __i__ > len(string_split(__s__, __d__)) THEN NULL ELSE split_part(__s__, __d__, __i__) END",
            s=node.this,
            d=node.args["delimiter"],
            i=index,
        )
    )


def _re2_replacement(java: str) -> str | None:
    """A Java ``Matcher.replaceAll`` replacement as an RE2 rewrite (``$1`` -> ``\\1``); None if not translatable."""
    out: list[str] = []
    position = 0
    while position < len(java):
        char = java[position]
        if char == "\\":
            if position + 1 == len(java):
                return None  # Java: "character to be escaped is missing"
            escaped = java[position + 1]
            out.append("\\\\" if escaped == "\\" else escaped)
            position += 2
        elif char == "$":
            digit = java[position + 1 : position + 2]
            following = java[position + 2 : position + 3]
            if not digit.isdigit() or following.isdigit():
                return None  # ${name} or $12 (Java reads as many digits as groups exist)
            out.append("\\" + digit)
            position += 2
        else:
            out.append(char)
            position += 1
    return "".join(out)


def _regexp_replace(node: exp.RegexpReplace) -> _Rule:
    replacement = node.args.get("replacement")
    if replacement is None:
        return _KEEP
    text = _text_literal(replacement)
    translated = _re2_replacement(text) if text is not None else None
    if translated is None:
        return _refuse(
            f"`{_shown(node)}`: Athena reads the replacement as Java does ($1 is group 1, \\$ a dollar sign), "
            "DuckDB as RE2 (\\1); only a literal replacement with single-digit $n references is translated"
        )
    if translated == text:
        return _KEEP

    def build() -> exp.Expr:
        copy = node.copy()
        copy.set("replacement", exp.Literal.string(translated))
        return copy

    return _replace(build)


def _regexp_extract(node: exp.RegexpExtract) -> _Rule:
    group = node.args.get("group")
    pattern = _text_literal(node.expression)
    number = _int_literal(group) if group is not None else 0
    if number and (pattern is None or any(c in pattern for c in "?*|{")):
        return _refuse(
            f"`{_shown(node)}`: a group that takes no part in the match is NULL on Athena and '' in DuckDB; "
            "only patterns without ?, *, | or {} are translated"
        )

    def build() -> exp.Expr:
        # Trino returns NULL when nothing matches, DuckDB ''.
        return _duck(
            "CASE WHEN regexp_matches(__s__, __p__) THEN __extract__ END",
            s=node.this,
            p=node.expression,
            extract=node.copy(),
        )

    return _replace(build)


def _extract(node: exp.Extract) -> _Rule:
    unit = node.this.name.upper()
    if unit in {"DOW", "DAY_OF_WEEK", "DAYOFWEEK"}:
        # Trino: ISO day of the week, 1 (Monday) to 7 (Sunday); DuckDB's dow is 0 (Sunday) to 6.
        return _replace(lambda: _duck("isodow(__x__)", x=node.expression))
    if unit in {"YOW", "YEAR_OF_WEEK"}:
        return _replace(lambda: _duck("isoyear(__x__)", x=node.expression))
    return _KEEP


def _time_format(node: exp.Expr, name: str) -> _Rule:
    pattern = _text_literal(node.args.get("format"))
    if pattern is None:
        return _refuse(f"`{_shown(node)}`: {name} with a computed format cannot be checked")
    specifiers = set(re.findall(r"%(.)", pattern.replace("%%", "")))
    different = sorted(_TRINO_SPECIFIERS.get("%" + s, "%" + s) for s in specifiers - _SAME_SPECIFIERS)
    if different:
        return _refuse(
            f"`{_shown(node)}`: {name} specifier(s) {', '.join(different)} are not checked to format alike in "
            "Athena and DuckDB (names, week numbers and padding differ); use %Y %m %d %H %i %s %j %y"
        )
    return _KEEP


def _comparison(node: exp.Expr, pairs: list[tuple[exp.Expr, exp.Expr]]) -> _Rule:
    for left, right in pairs:
        kinds = (_type_name(left), _type_name(right))
        families = tuple(_family(k) for k in kinds)
        if None in families or families[0] == families[1]:
            continue
        return _refuse(
            f"`{_shown(node)}` compares {_trino_type(kinds[0])} with {_trino_type(kinds[1])}: Athena rejects it "
            "(no implicit cast between text, numbers and dates), DuckDB casts and answers; compare like with "
            "like, e.g. ingest_date = '2024-03-01'"
        )
    return _KEEP


def _date_arithmetic(node: exp.Add | exp.Sub) -> _Rule:
    kinds = (_type_name(node.this), _type_name(node.expression))
    temporal = [k in _TEMPORAL_TYPES for k in kinds]
    if not any(temporal):
        return _KEEP
    if all(temporal):
        return _refuse(
            f"`{_shown(node)}` subtracts dates or timestamps: Athena rejects date - date (and returns an "
            "interval for timestamps), DuckDB returns a number of days; use date_diff('day', a, b)"
        )
    other = kinds[temporal.index(False)]
    if other in _NUMBER_TYPES:
        return _refuse(
            f"`{_shown(node)}` adds a number to a date: Athena rejects it, DuckDB adds days; "
            "use date_add('day', n, d) or d + INTERVAL 'n' DAY"
        )
    return _KEEP


def _concatenation(node: exp.Expr, operands: list[exp.Expr]) -> _Rule:
    for operand in operands:
        kind = _type_name(operand)
        if kind in _TEXT_TYPES or kind in _UNTYPED or kind == "ARRAY":
            continue
        return _refuse(
            f"`{_shown(node)}` concatenates a {_trino_type(kind)}: Athena's || and concat() take only text "
            "(it rejects 1.5E0 || ''), DuckDB converts the value to text; CAST it AS VARCHAR"
        )
    return _KEEP


def _subscript(node: exp.Bracket) -> _Rule:
    base = _type_name(node.this)
    if base == "MAP":
        return _refuse(f"`{_shown(node)}`: Athena fails on a missing map key, DuckDB returns NULL; use element_at")
    if node.args.get("safe") or len(node.expressions) != 1:
        return _KEEP  # element_at(): NULL past the end in both
    index = node.expressions[0]
    literal = _int_literal(index)
    if literal is not None and literal + 1 < 1:  # sqlglot stores SQL's 1-based index minus one
        return _refuse(
            f"`{_shown(node)}`: Athena fails (SQL array indices start at 1), DuckDB returns NULL or counts from the end"
        )
    if base != "ARRAY" and not isinstance(node.this, _ARRAY_FUNCTIONS):
        return _refuse(f"`{_shown(node)}` subscripts a value of type {base}: cannot tell what Athena would do")

    def build() -> exp.Expr:
        # Athena fails past the last element; DuckDB returns NULL.
        position = exp.Add(this=index.copy(), expression=exp.Literal.number(1))
        return _duck(
            "CASE WHEN __i__ < 1 OR __i__ > len(__a__) THEN error('array subscript out of bounds') ELSE __item__ END",
            i=position,
            a=node.this,
            item=node.copy(),
        )

    return _replace(build)


def _rule(node: exp.Expr) -> _Rule:
    """What to do with one node of the typed Athena tree (see :func:`check_faithful`)."""
    name = _function_name(node)
    if isinstance(node, exp.Div):
        return _division(node)
    if isinstance(node, (exp.DateDiff, exp.TimestampDiff, exp.DatetimeDiff)):
        return _date_diff(node)
    if isinstance(node, (exp.ApproxDistinct, exp.ApproxQuantile)) or name in _APPROXIMATE_FUNCTIONS:
        return _refuse(
            f"`{_shown(node)}` is approximate, with a different algorithm in DuckDB; "
            "use count(DISTINCT ...) or an exact aggregate"
        )
    if name in _JODA_FUNCTIONS:
        return _refuse(
            f"`{_shown(node)}` uses a Joda-Time pattern that DuckDB does not read; "
            "use date_format with %-specifiers (date_format(x, '%Y-%m'))"
        )
    if isinstance(node, exp.Format) or name == "FORMAT":
        return _refuse(
            f"`{_shown(node)}`: Athena formats with Java's String.format (format('%.2f', 2.675) = '2.68', "
            "rounding the shortest decimal text half up), DuckDB's format() reads {} placeholders and its printf "
            "rounds the binary value ('2.67'); use round() and CAST(... AS DECIMAL(p, s))"
        )
    if isinstance(node, exp.Round):
        return _round(node)
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _cast(node)
    if isinstance(node, exp.Substring):
        return _substring(node)
    if isinstance(node, exp.SplitPart):
        return _split_part(node)
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    if isinstance(node, exp.RegexpExtract):
        return _regexp_extract(node)
    if isinstance(node, exp.Extract):
        return _extract(node)
    if isinstance(node, exp.TimeToStr):
        return _time_format(node, "date_format")
    if isinstance(node, exp.StrToTime):
        return _time_format(node, "date_parse")
    if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)):
        return _comparison(node, [(node.this, node.expression)])
    if isinstance(node, exp.Between):
        return _comparison(node, [(node.this, node.args["low"]), (node.this, node.args["high"])])
    if isinstance(node, exp.In) and not node.args.get("query"):
        return _comparison(node, [(node.this, item) for item in node.expressions])
    if isinstance(node, (exp.Add, exp.Sub)):
        return _date_arithmetic(node)
    if isinstance(node, exp.DPipe):
        return _concatenation(node, [node.this, node.expression])
    if isinstance(node, exp.Concat):
        return _concatenation(node, list(node.expressions))
    if isinstance(node, exp.Bracket):
        return _subscript(node)
    return _KEEP


def _typed(athena_sql: str) -> exp.Expr:
    return _annotated(_with_decimal_literals(_parse_one(athena_sql)))


def _problems(typed: exp.Expr) -> list[str]:
    return list(dict.fromkeys(rule.problem for rule in map(_rule, typed.walk()) if rule.problem))


def check_faithful(athena_sql: str) -> None:
    """Raise ``UnsupportedSqlError`` if the local runner cannot give Athena's answer to ``athena_sql``.

    Refused, with a message naming the construct and what Athena does (see
    docs/sql-fidelity.md for the full table and the Trino references):
    ``/`` unless one operand is provably DOUBLE (integer division truncates in
    Athena, decimal division keeps the scale); ``date_diff`` except ``'day'``
    between dates; Joda-pattern and approximate functions; ``format()``;
    ``round`` of a REAL, of an unknown type or with a non-literal ``d``; casts
    of doubles or timestamps to text, of text to integers, of non-ISO text to
    dates, of text with more than milliseconds to timestamps; ``char(n)``;
    comparisons across text, numbers and dates; date - date and date + number;
    ``||`` and ``concat`` of non-text; array index 0 and map subscripts; Java
    replacements DuckDB cannot express; ``date_format`` specifiers not checked
    to agree. Everything else that differs is translated by :func:`to_duckdb`.
    """
    problems = _problems(_typed(athena_sql))
    if problems:
        raise UnsupportedSqlError("query would not run faithfully in DuckDB:\n- " + "\n- ".join(problems))


def _translated(typed: exp.Expr) -> exp.Expr:
    """``typed`` with every node that has a Trino-faithful DuckDB form replaced by it (innermost first)."""
    for node in reversed(list(typed.walk())):
        build = _rule(node).build
        if build is None:
            continue
        replacement = build()
        replacement.type = node.type
        if node is typed:
            typed = replacement
        else:
            node.replace(replacement)
    return typed


def _wrap_cast(node: exp.Expr, to: str) -> None:
    """Replace ``node`` with ``CAST(node AS to)``, keeping the node itself in the tree."""

    cast = exp.Cast(to=exp.DataType.build(to))
    node.replace(cast)
    cast.set("this", node)


def _duckdb_types(expression: exp.Expr) -> exp.Expr:
    """Keep Athena's result types where DuckDB's differ.

    ``date_trunc`` of a DATE, ``date + interval`` and ``date_add`` of a DATE stay DATEs
    (DuckDB: TIMESTAMP); ``sum`` of integers
    and ``count_if`` stay BIGINT (DuckDB: HUGEINT, which pandas receives as float).
    """

    for trunc in list(expression.find_all(exp.DateTrunc, exp.TimestampTrunc)):
        if _type_name(trunc.this) == "DATE":
            _wrap_cast(trunc, "DATE")
    for shift in list(expression.find_all(exp.Add, exp.Sub, exp.DateAdd, exp.DateSub)):
        # date + interval and date_add(unit, n, date) are DATEs in Trino; DuckDB returns a TIMESTAMP.
        date_operand = _type_name(shift.this) == "DATE"
        if date_operand and (not isinstance(shift, (exp.Add, exp.Sub)) or isinstance(shift.expression, exp.Interval)):
            _wrap_cast(shift, "DATE")
    for aggregate in list(expression.find_all(exp.Sum, exp.CountIf)):
        if isinstance(aggregate, exp.Sum) and _type_name(aggregate.this) not in _INT_TYPES:
            continue
        outer: exp.Expr = aggregate
        while isinstance(outer.parent, (exp.Window, exp.Filter)):
            outer = outer.parent
        _wrap_cast(outer, "BIGINT")
    return expression


def to_duckdb(athena_sql: str) -> str:
    """Transpile one Athena statement to DuckDB SQL that gives Athena's answer, or raise ``UnsupportedSqlError``.

    The statement is checked by :func:`check_faithful` first; then the constructs
    DuckDB evaluates differently are rewritten into DuckDB SQL with Trino's
    semantics (``round`` of a DOUBLE, casts of doubles to integers, ``substr``,
    ``split_part``, ``regexp_replace`` back-references, ``regexp_extract`` without
    a match, ``extract(DOW)``, ``varchar(n)``, non-ISO date text, array
    subscripts). The output is qualified (every column names its table) and keeps
    Athena's result types.
    """
    return _transpile(athena_sql)


@functools.lru_cache(maxsize=128)
def _transpile(athena_sql: str) -> str:
    typed = _typed(athena_sql)
    problems = _problems(typed)
    if problems:
        raise UnsupportedSqlError("query would not run faithfully in DuckDB:\n- " + "\n- ".join(problems))
    translated = _duckdb_types(_translated(typed))
    return _without_synthetic_casts(translated).sql(dialect="duckdb")


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


def _dataset_source(data_dir: Path, *, relative_to: Path | None = None) -> str:
    root = _dataset_root(Path(data_dir)).resolve()
    if not any(root.rglob("*.parquet")):
        raise LocalDatasetError(f"no Parquet files under {root}")
    location = os.path.relpath(root, relative_to.resolve()) if relative_to is not None else str(root)
    pattern = _quote_literal(f"{Path(location).as_posix()}/**/*.parquet")
    return (
        f"read_parquet({pattern}, hive_partitioning = true, "
        f"hive_types = {{{_quote_literal(PARTITION_COLUMN)}: 'VARCHAR'}})"
    )


def _attach_dataset(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    database: str,
    table: str,
    *,
    materialize: bool = False,
    relative_to: Path | None = None,
) -> None:
    kind = "TABLE" if materialize else "VIEW"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_identifier(database)}")
    source = _dataset_source(data_dir, relative_to=None if materialize else relative_to)
    con.execute(
        f"CREATE OR REPLACE {kind} {_quote_identifier(database)}.{_quote_identifier(table)} AS SELECT * FROM {source}"
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
    rendered, transpiled by :func:`to_duckdb` and run with its ``?`` bound to
    ``ingest_date`` (``None``: all history, as the parameter ``ALL``), and
    run in an in-memory DuckDB where ``"<database>"."<table>"`` is the dataset
    (``ingest_date`` a VARCHAR, as in Glue) and the library's views it names exist.
    A ``CREATE VIEW`` file is created and then selected from.
    """

    text = read_query(sql_path_or_text)
    rendered = render(text, database=database, table=table)
    statement = to_duckdb(rendered)
    parameters = list(query_parameters(rendered, ingest_date))
    expression = _parse_one(rendered)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")  # Athena's session time zone: current_date is a UTC date
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
        return con.execute(statement, parameters).df()
    finally:
        con.close()


# --------------------------------------------------------------------- run on Athena


def run_athena(
    sql_text: str,
    *,
    database: str,
    workgroup: str,
    parameters: Sequence[str] = (),
    storage: AwsStorage | None = None,
) -> pd.DataFrame:
    """Run one rendered statement on Athena through the runtime's adapter and return its result set.

    ``parameters`` are the text values of its ``?`` (see :func:`query_parameters`).
    """
    if PLACEHOLDER.search(sql_text):
        raise QueryTemplateError("the query still has ${...} placeholders: render() it first")
    return (storage or AwsStorage()).query(sql_text, database=database, workgroup=workgroup, parameters=parameters)


def athena_reports(
    *, database: str, table: str, workgroup: str, ingest_date: str | date, storage: AwsStorage | None = None
) -> dict[str, pd.DataFrame]:
    """The three daily reports of ``ingest_date``, computed by Athena from ``queries/reports``, as the CSVs' frames."""
    storage = storage or AwsStorage()
    frames: dict[str, pd.DataFrame] = {}
    for report in REPORT_QUERIES:
        query: Query = report_query(QUERIES_DIR, report, database=database, table=table, ingest_date=ingest_date)
        answer = run_athena(
            query.sql, database=database, workgroup=workgroup, parameters=query.parameters, storage=storage
        )
        frames[report] = report_frame(report, answer)
    return frames


# -------------------------------------------------------------- compare with the CSVs

# The money column of a report, the column it sums and the report's group key: what compare_reports
# needs to tell whether a rounded sum could land on either side of a half cent.
_SUMMED: dict[str, tuple[str, str, str]] = {"most_profitable_region": ("total_profit", "profit", "region")}
_UNIT_ROUNDOFF = Fraction(1, 2**53)


class ReportCheck(NamedTuple):
    """One report's comparison: the query's answer against the Lambda's CSV.

    ``ok`` means every cell is the same text as in the CSV (money to the cent,
    counts exactly). ``half_cents`` names the groups whose sum of doubles lies so
    close to a half cent that another summation order could round it to the other
    cent (see :func:`half_cent_sums`); ``detail`` says so.
    """

    report: str
    ok: bool
    detail: str
    half_cents: tuple[str, ...] = ()


class HalfCentSum(NamedTuple):
    """A group's sum of doubles that different summation orders may round to different cents."""

    group: str
    exact_sum: Fraction
    half_cent: Fraction
    error_bound: Fraction
    terms: int

    def describe(self) -> str:
        distance = float(abs(self.exact_sum - self.half_cent))
        return (
            f"{self.group}: the exact sum of its {self.terms} doubles is {float(self.exact_sum):.17g}, "
            f"{distance:.3g} from the half cent {float(self.half_cent):.3f}, within the rounding error of adding "
            f"them in some order (up to {float(self.error_bound):.3g}): engines that add in different orders "
            "(the Lambda chunk by chunk, DuckDB and Athena row by row and split by split) may round it to either "
            "cent, both correctly"
        )


def _fraction_bits(value: float) -> int:
    denominator = value.as_integer_ratio()[1]
    return denominator.bit_length() - 1


def half_cent_sums(groups: Mapping[str, list[float]]) -> list[HalfCentSum]:
    """The groups whose rounded-to-cents sum depends on the order the doubles are added in.

    For each group: if every term is a multiple of ``2^-e`` and the sum of their
    magnitudes stays below ``2^(53 - e)``, every partial sum is exact, in any
    order, and nothing can straddle. Otherwise any order's computed sum is within
    ``(n - 1) * u * sum(|x|)`` of the exact sum (``u = 2^-53``), and rounding to
    cents scales by 100 with one more rounding (``2 * u * |sum|``): a group is
    listed when the half cent nearest to its exact sum lies within that bound.
    """
    found: list[HalfCentSum] = []
    for group, values in groups.items():
        finite = [v for v in values if math.isfinite(v)]
        if not finite or len(finite) != len(values):
            continue
        magnitude = sum((Fraction(abs(v)) for v in finite), Fraction(0))
        bits = max(_fraction_bits(v) for v in finite)
        if magnitude * 2**bits < 2**53:
            continue  # every partial sum is exact
        exact = sum((Fraction(v) for v in finite), Fraction(0))
        cents = math.floor(exact * 100)
        half = Fraction(2 * cents + 1, 200)
        bound = (len(finite) - 1) * _UNIT_ROUNDOFF * magnitude + 2 * _UNIT_ROUNDOFF * abs(exact)
        if abs(exact - half) <= bound:
            found.append(HalfCentSum(group, exact, half, bound, len(finite)))
    return found


def _reports_dir(data_dir: Path, ingest_date: str) -> Path:
    year, month, day = ingest_date.split("-")
    return data_dir / LOCAL_REPORTS_DIR / year / month / day


def _csv_text(column: str, value: object) -> str:
    """A query value as the Lambda's CSV writer stores it (money with two decimals, text neutralised)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column in PROFIT_COLUMNS:
        return f"{float(value) + 0.0:.2f}"  # type: ignore[arg-type]
    if column in COUNT_COLUMNS:
        return str(int(value))  # type: ignore[call-overload]
    return neutralize_formula(str(value))


def _compare(
    report: str, expected: pd.DataFrame, actual: pd.DataFrame, straddles: Mapping[str, HalfCentSum]
) -> ReportCheck:
    names = tuple(straddles)
    notes = "; ".join(s.describe() for s in straddles.values())
    if list(expected.columns) != list(actual.columns):
        return ReportCheck(report, False, f"columns differ: CSV {list(expected.columns)}, query {list(actual.columns)}")
    if len(expected) != len(actual):
        return ReportCheck(report, False, f"row counts differ: CSV {len(expected)}, query {len(actual)}")
    money = _SUMMED.get(report)
    for position, (want, got) in enumerate(
        zip(expected.itertuples(index=False), actual.itertuples(index=False), strict=True)
    ):
        for column, a, b in zip(expected.columns, want, got, strict=True):
            text = _csv_text(column, b)
            if a == text:
                continue
            where = f"row {position + 1}, {column}: CSV {a!r}, query {text!r}"
            if money is not None and column == money[0]:
                group = str(dict(zip(expected.columns, want, strict=True))[money[2]])
                if group in straddles:
                    return ReportCheck(report, False, f"{where}, a half-cent straddle, not an error: {notes}", names)
            return ReportCheck(report, False, where + (f" (note: {notes})" if notes else ""), names)
    agree = f"{len(expected)} rows agree exactly"
    if notes:
        agree += f" (note, the agreement on these cents is luck: {notes})"
    return ReportCheck(report, True, agree, names)


def _summed_groups(data_dir: Path, day: str, report: str) -> dict[str, list[float]]:
    if report not in _SUMMED:
        return {}
    _, summed, group = _SUMMED[report]
    query = (
        f'SELECT {group}, {summed} FROM "{DEFAULT_DATABASE}"."{DEFAULT_TABLE}" '
        f"WHERE ingest_date = '{day}' AND {summed} IS NOT NULL"
    )
    frame = run_local(query, data_dir)
    groups: dict[str, list[float]] = {}
    for key, value in zip(frame[group], frame[summed], strict=True):
        groups.setdefault(str(key), []).append(float(value))
    return groups


def compare_reports(data_dir: str | Path, ingest_date: str | date) -> list[ReportCheck]:
    """Run the three report queries locally and compare them with the Lambda's CSVs, exactly.

    The CSVs are read from ``data_dir/analytics/YYYY/MM/DD/`` as text. Rows must
    agree in order and every cell must be the CSV's text: ``total_profit`` to the
    cent (as the CSV writer prints it, ``%.2f``), counts exactly, text as stored
    (formula-like cells prefixed with ``'``). There is no tolerance. Where a
    region's profit sum lies within floating-point summation error of a half cent
    (:func:`half_cent_sums`), the check says so: in ``detail`` and in
    ``half_cents``, whether the cents agree or not. One :class:`ReportCheck` per
    report, in :data:`REPORT_QUERIES` order.
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
        try:
            expected = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
        except (ValueError, pd.errors.ParserError) as exc:
            checks.append(ReportCheck(report, False, f"cannot read {path}: {exc}"))
            continue
        actual = report_frame(report, run_local(QUERIES_DIR / relative, data_dir, ingest_date=day))
        straddles = {s.group: s for s in half_cent_sums(_summed_groups(data_dir, day, report))}
        checks.append(_compare(report, expected, actual, straddles))
    return checks


# ------------------------------------------------------------------------ views in the catalog

# The view file's statement: the SELECT after CREATE OR REPLACE VIEW "db"."name" AS (Terraform's
# views.tf applies the same pattern to the same rendered text).
_CREATE_VIEW = re.compile(r'CREATE\s+OR\s+REPLACE\s+VIEW\s+"[^"]+"\."([^"]+)"\s+AS\s+(.*)\Z', re.S | re.I)
_DUCKDB_OF_GLUE = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "bigint": "BIGINT",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
# A view column's DuckDB type (the transpiled view keeps Athena's result types) -> (Hive, Trino) type names.
_CATALOG_TYPES = {
    "VARCHAR": ("string", "varchar"),
    "BIGINT": ("bigint", "bigint"),
    "INTEGER": ("int", "integer"),
    "DOUBLE": ("double", "double"),
    "DATE": ("date", "date"),
    "TIMESTAMP": ("timestamp", "timestamp(3)"),
    "BOOLEAN": ("boolean", "boolean"),
}
VIEW_COLUMNS_FILE = "columns.json"


class ViewColumn(NamedTuple):
    """One output column of a view: its name, Glue (Hive) type and Athena (Trino) type."""

    name: str
    hive_type: str
    presto_type: str


class ViewDefinition(NamedTuple):
    """A view of ``queries/views`` as the Glue catalog holds it: the SELECT and its output columns."""

    name: str
    sql: str
    columns: tuple[ViewColumn, ...]


def _view_select(path: Path, database: str, table: str) -> tuple[str, str]:
    rendered = render(path.read_text(encoding="utf-8"), database=database, table=table)
    match = _CREATE_VIEW.search(rendered)
    if match is None:
        raise UnsupportedSqlError(f'{path} is not CREATE OR REPLACE VIEW "<database>"."<name>" AS <select>')
    return match.group(1), match.group(2).strip()


def view_columns(database: str = DEFAULT_DATABASE, table: str = DEFAULT_TABLE) -> dict[str, tuple[ViewColumn, ...]]:
    """The output columns of every view of ``queries/views``, from DuckDB's types of the transpiled views.

    The views are created over an empty table with the dataset's Glue columns;
    the transpilation keeps Athena's result types, so DuckDB's column types are
    the ones Athena's analyzer gives the view.
    """
    con = duckdb.connect(":memory:")
    try:
        columns = ", ".join(
            f"{_quote_identifier(name)} {_DUCKDB_OF_GLUE[kind]}" for name, kind in _dataset_columns().items()
        )
        con.execute(f"CREATE SCHEMA {_quote_identifier(database)}")
        con.execute(f"CREATE TABLE {_quote_identifier(database)}.{_quote_identifier(table)} ({columns})")
        names = _create_views(con, set(), database, table)
        found: dict[str, tuple[ViewColumn, ...]] = {}
        for name in names:
            described = con.execute(f"DESCRIBE {_quote_identifier(database)}.{_quote_identifier(name)}").fetchall()
            found[name] = tuple(ViewColumn(str(row[0]), *_catalog_type(name, row)) for row in described)
        return found
    finally:
        con.close()


def _catalog_type(view: str, row: tuple[Any, ...]) -> tuple[str, str]:
    kind = str(row[1])
    if kind.startswith("DECIMAL"):
        return kind.lower(), kind.lower()
    if kind not in _CATALOG_TYPES:
        raise UnsupportedSqlError(f"view {view}: column {row[0]} has type {kind}, which has no Glue type mapping")
    return _CATALOG_TYPES[kind]


def view_definition(
    path: str | Path, *, database: str = DEFAULT_DATABASE, table: str = DEFAULT_TABLE
) -> ViewDefinition:
    """The Glue view of one file of ``queries/views``: its name, its SELECT (the Presto view's
    ``originalSql``) and its columns (from ``columns.json``, see :func:`view_columns`)."""
    path = Path(path)
    name, select = _view_select(path, database, table)
    stored = json.loads((path.parent / VIEW_COLUMNS_FILE).read_text(encoding="utf-8"))
    return ViewDefinition(name, select, tuple(ViewColumn(**c) for c in stored[name]))


def view_columns_json(database: str = DEFAULT_DATABASE, table: str = DEFAULT_TABLE) -> str:
    """``queries/views/columns.json`` as it should be: Terraform reads the views' columns from it."""
    columns = {name: [c._asdict() for c in cols] for name, cols in sorted(view_columns(database, table).items())}
    return json.dumps(columns, indent=2) + "\n"


# ------------------------------------------------------------------------ warehouse


# DuckDB storage format of the warehouse file: v1.0.0 is read by every DuckDB 1.x and 2.x client (the
# default of the writing DuckDB 2.x is its own format, which 1.x clients and drivers cannot open).
WAREHOUSE_STORAGE_VERSION = "v1.0.0"
_STORAGE_VERSION = re.compile(r"v\d+\.\d+\.\d+")


def write_warehouse(
    data_dir: str | Path,
    db_path: str | Path,
    *,
    database: str = DEFAULT_DATABASE,
    table: str = DEFAULT_TABLE,
    materialize: bool = False,
    relative_paths: bool = False,
    storage_version: str = WAREHOUSE_STORAGE_VERSION,
) -> list[str]:
    """Write a DuckDB database file with the dataset and every view of ``queries/views``.

    ``"<database>"."<table>"`` is a view over the Parquet files, or with
    ``materialize=True`` a table holding a copy (a self-contained file). The view
    stores the dataset folder's absolute path, or with ``relative_paths=True`` its
    path relative to the folder of ``db_path`` (move both together; DuckDB resolves
    relative paths against the client's working directory, or ``SET
    file_search_path`` to the folder). ``ingest_date`` is VARCHAR, as in Glue. The
    file is written in DuckDB's ``storage_version`` format (``v1.0.0``: readable by
    DuckDB 1.0 and later). An existing file at ``db_path`` is replaced. Returns the
    qualified names of the relations created.
    """

    target = Path(db_path)
    source = Path(data_dir)
    if not _STORAGE_VERSION.fullmatch(storage_version):
        raise LocalDatasetError(f"storage version {storage_version!r} is not like v1.0.0")
    _dataset_source(source)  # fail before touching the target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(target.name + ".tmp")
    for leftover in (scratch, Path(f"{scratch}.wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            f"ATTACH {_quote_literal(str(scratch))} AS warehouse (STORAGE_VERSION {_quote_literal(storage_version)})"
        )
        con.execute("USE warehouse")
        relative_to = target.parent if relative_paths else None
        if relative_to is not None:
            # The views are created (and their columns bound) here, reading from the file's own folder.
            con.execute(f"SET file_search_path = {_quote_literal(str(relative_to.resolve()))}")
        _attach_dataset(con, source, database, table, materialize=materialize, relative_to=relative_to)
        views = _create_views(con, set(), database, table)
        con.execute("CHECKPOINT warehouse")
        con.execute("USE memory")
        con.execute("DETACH warehouse")
    finally:
        con.close()
    Path(f"{target}.wal").unlink(missing_ok=True)
    shutil.move(scratch, target)
    return [f"{database}.{table}", *(f"{database}.{view}" for view in views)]
