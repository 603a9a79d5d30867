"""to_duckdb(): refuses what DuckDB would answer differently, keeps Athena's result types."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from lambda_app.errors import PipelineError
from orders_tools import sql
from orders_tools.errors import UnsupportedSqlError

T = '"db"."orders"'

REJECTED = {
    "integer literals": ("SELECT 7 / 2", "integer division"),
    "bigint column by literal": (f"SELECT quantity / 2 FROM {T}", "integer division"),
    "count by count": (f"SELECT COUNT(DISTINCT order_id) / COUNT(*) FROM {T}", "integer division"),
    "sum of bigint by count": (f"SELECT SUM(quantity) / COUNT(*) FROM {T} GROUP BY region", "integer division"),
    "integer CTE column": (
        f"WITH c AS (SELECT region, COUNT(*) AS n FROM {T} GROUP BY region) SELECT n / 2 AS half FROM c",
        "integer division",
    ),
    "integer window": (f"SELECT COUNT(*) / SUM(COUNT(*)) OVER () FROM {T} GROUP BY region", "integer division"),
    "decimal literal": ("SELECT 1.0 / 3", "decimal division"),
    "decimal scaling of a count": (f"SELECT COUNT(*) * 1.0 / SUM(quantity) FROM {T}", "decimal division"),
    "decimal CTE column": (
        f"WITH c AS (SELECT COUNT(*) * 1.0 AS n FROM {T}) SELECT n / 2 AS x FROM c",
        "decimal division",
    ),
    "cast to decimal": (f"SELECT CAST(quantity AS DECIMAL(10, 2)) / 3 FROM {T}", "decimal division"),
    "unknown operand types": ("SELECT x / y FROM somewhere", "cannot prove"),
    "date_diff month": (f"SELECT date_diff('month', order_date, DATE '2024-03-01') FROM {T}", "whole months"),
    "date_diff quarter": (f"SELECT date_diff('quarter', order_date, current_date) FROM {T}", "whole quarters"),
    "date_diff year": (f"SELECT date_diff('year', order_date, current_date) FROM {T}", "whole years"),
    "date_diff week": (f"SELECT date_diff('week', order_date, current_date) FROM {T}", "whole weeks"),
    "date_diff day on timestamps": (f"SELECT date_diff('day', ingested_at, current_timestamp) FROM {T}", "whole days"),
    "format_datetime": (f"SELECT format_datetime(ingested_at, 'yyyy-MM') FROM {T}", "Joda"),
    "parse_datetime": ("SELECT parse_datetime('2024-03', 'yyyy-MM')", "Joda"),
    "approx_distinct": (f"SELECT approx_distinct(order_id) FROM {T}", "approximate"),
    "approx_percentile": (f"SELECT approx_percentile(profit, 0.5) FROM {T}", "approximate"),
    "double to varchar": (f"SELECT CAST(profit AS VARCHAR) FROM {T}", "scientific notation"),
    "two statements": ("SELECT 1; SELECT 2", "exactly one"),
    "not SQL": ("SELECT FROM WHERE (", "does not parse"),
}


@pytest.mark.parametrize(("query", "reason"), REJECTED.values(), ids=REJECTED.keys())
def test_unfaithful_constructs_are_refused(query: str, reason: str) -> None:
    with pytest.raises(UnsupportedSqlError, match=reason):
        sql.to_duckdb(query)


def test_every_problem_is_listed_once() -> None:
    with pytest.raises(UnsupportedSqlError) as caught:
        sql.check_faithful(f"SELECT quantity / 2, 7 / 2, format_datetime(ingested_at, 'yyyy') FROM {T}")
    message = str(caught.value)
    assert message.count("integer division") == 2
    assert message.count("Joda") == 1
    assert '"orders"."quantity" / 2' in message


def test_unsupported_sql_is_a_pipeline_error() -> None:
    assert issubclass(UnsupportedSqlError, PipelineError)


ACCEPTED = {
    "double by bigint": f"SELECT profit / quantity FROM {T}",
    "cast to double": f"SELECT CAST(quantity AS DOUBLE) / 2 FROM {T}",
    "double by integer literal": f"SELECT discount_percent / 100 FROM {T}",
    "exponent literal is a double": "SELECT 1e0 / 3",
    "double share of a window sum": (
        f"SELECT 100 * CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER () FROM {T} GROUP BY region"
    ),
    "date_diff day on dates": f"SELECT date_diff('day', order_date, DATE '2024-03-01') FROM {T}",
    "date_format": f"SELECT date_format(order_date, '%Y-%m') FROM {T}",
    "bigint to varchar": f"SELECT CAST(quantity AS VARCHAR) FROM {T}",
}


@pytest.mark.parametrize("query", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_faithful_constructs_transpile(query: str) -> None:
    assert sql.to_duckdb(query).upper().startswith("SELECT")


def _run(duck_sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db")
    con.execute(
        "CREATE TABLE db.orders AS SELECT * FROM (VALUES "
        "(DATE '2024-01-31', 2::BIGINT, 1.5::DOUBLE, 'East'), "
        "(DATE '2024-02-15', 3::BIGINT, 2.25::DOUBLE, 'East')"
        ") AS v(order_date, quantity, profit, region)"
    )
    return con.execute(duck_sql).fetchall()


def test_date_trunc_of_a_date_stays_a_date() -> None:
    duck = sql.to_duckdb(f"SELECT date_trunc('month', order_date) AS m FROM {T} ORDER BY m")
    assert _run(duck) == [(dt.date(2024, 1, 1),), (dt.date(2024, 2, 1),)]


def test_sum_of_integers_and_count_if_stay_bigint() -> None:
    duck = sql.to_duckdb(
        f"SELECT SUM(quantity) AS units, COUNT_IF(profit > 2) AS big, "
        f"SUM(SUM(quantity)) OVER () AS total, SUM(profit) AS p FROM {T} GROUP BY region"
    )
    typed = _run(
        duck.replace("SELECT", "SELECT typeof(units), typeof(big), typeof(total), typeof(p), * FROM (SELECT", 1) + ")"
    )
    assert typed == [("BIGINT", "BIGINT", "BIGINT", "DOUBLE", 5, 1, 5, 3.75)]


def test_date_diff_in_days_agrees_with_athena() -> None:
    duck = sql.to_duckdb(f"SELECT date_diff('day', order_date, DATE '2024-03-01') AS d FROM {T} ORDER BY d")
    assert _run(duck) == [(15,), (30,)]


def test_date_format_uses_the_same_specifiers() -> None:
    duck = sql.to_duckdb(f"SELECT date_format(order_date, '%Y-%m-%d') AS d FROM {T} ORDER BY d")
    assert _run(duck) == [("2024-01-31",), ("2024-02-15",)]


def test_rounding_is_half_away_from_zero_like_athena() -> None:
    duck = sql.to_duckdb("SELECT ROUND(CAST(0.125 AS DOUBLE), 2) AS a, ROUND(CAST(-0.125 AS DOUBLE), 2) AS b")
    assert _run(duck) == [(0.13, -0.13)]
