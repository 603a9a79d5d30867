"""Where DuckDB and Athena (Trino) answer the same SQL differently: translated to Trino's answer, or refused.

One test per trap. Each states the answer Athena (Trino) gives, with the page of
Trino's documentation that defines it; where the documentation is silent the
docstring names the Trino source that implements it. A translated trap runs the
transpiled SQL in DuckDB and must give Trino's answer; a refused one must name
the construct and say what Athena does. docs/sql-fidelity.md lists them all.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders_tools import sql
from orders_tools.errors import UnsupportedSqlError
from tests.helpers import examples

T = '"db"."orders"'  # a table with the dataset's Glue columns (ingest_date is a string)


_DUCKDB = duckdb.connect()  # one in-memory database: opening one costs ~40 ms, the queries here hold no state


def duck(athena_sql: str) -> list[tuple[Any, ...]]:
    """Transpile ``athena_sql`` and run it in DuckDB (a cursor of one in-memory database; queries only read)."""
    cursor = _DUCKDB.cursor()
    try:
        return cursor.execute(sql.to_duckdb(athena_sql)).fetchall()
    finally:
        cursor.close()


def refused(athena_sql: str, *fragments: str) -> str:
    """The refusal of ``athena_sql``; it must contain every fragment."""
    with pytest.raises(UnsupportedSqlError) as caught:
        sql.to_duckdb(athena_sql)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# ----------------------------------------------------------------------- rounding


def trino_round(x: float, d: int) -> float:
    """Trino's round(double, d), transcribed from MathFunctions.round: the oracle for the emulation."""
    if math.isnan(x) or math.isinf(x):
        return x
    factor = math.pow(10, d)
    sign = -1 if x < 0 else 1
    rescaled = sign * x * factor
    if math.isinf(rescaled):
        return x
    whole = math.floor(rescaled)
    if rescaled - whole >= 0.5:  # Math.round: half up, exactly
        whole += 1
    return sign * (whole / factor)


def test_round_of_a_double_rounds_the_scaled_value_half_up() -> None:
    """https://trino.io/docs/current/functions/math.html#round -- round(x, d) rounds to d decimal places.

    Trino's MathFunctions.round(double, long) scales |x| by 10^d in doubles and rounds that half up:
    round(2.675, 2) = 2.68 and round(571.785, 2) = 571.79 on Athena (the doubles are just below the
    half cent, their scaled values are exactly 267.5 and 57178.5). DuckDB's round gives 2.67 and 571.78.
    """
    assert duck("SELECT round(2.675e0, 2), round(571.785e0, 2), round(-2.675e0, 2), round(5928.575e0, 2)") == [
        (2.68, 571.79, -2.68, 5928.58)
    ]
    assert _DUCKDB.execute("SELECT round(2.675::DOUBLE, 2)").fetchone() == (2.67,)  # DuckDB's own answer


def test_round_keeps_nan_infinities_and_overflowing_scales() -> None:
    """https://trino.io/docs/current/functions/math.html#round -- NaN and infinities are returned as they are.

    MathFunctions.round returns NaN/inf unchanged, and x itself when |x| * 10^d overflows; a tie is
    decided on the exact double (round(0.49999999999999994) = 0, where floor(x + 0.5) would give 1),
    past 2^52 every double is whole, and a negative value rounding to zero is -0.0.
    """
    [row] = duck(
        "SELECT round(CAST('NaN' AS DOUBLE), 2), round(CAST('Infinity' AS DOUBLE), 2), "
        "round(-CAST('Infinity' AS DOUBLE)), round(1e308, 15), round(0.49999999999999994e0), "
        "round(4503599627370497e0), round(9.3e18, 2), round(CAST(NULL AS DOUBLE), 2), round(-0.001e0, 2)"
    )
    assert math.isnan(row[0])
    assert row[1:8] == (math.inf, -math.inf, 1e308, 0.0, 4503599627370497.0, 9.3e18, None)
    assert row[8] == 0.0
    assert math.copysign(1.0, row[8]) == -1.0


# Decimal half-units at d places (2.675 for d = 2): after scaling, many are exact ties.
HALF_UNITS = st.builds(lambda m, d: (float(f"{m}5e-{d + 1}"), d), st.integers(-(10**7), 10**7), st.integers(0, 6))
ANY_DOUBLE = st.tuples(st.floats(allow_nan=False, width=64), st.integers(0, 15))


@settings(max_examples=examples(400), deadline=None)
@given(st.one_of(HALF_UNITS, ANY_DOUBLE))
def test_round_emulation_equals_trinos_algorithm(case: tuple[float, int]) -> None:
    """https://trino.io/docs/current/functions/math.html#round -- the emulation agrees bit for bit with Trino's code."""
    x, d = case
    [(got,)] = duck(f"SELECT round(CAST('{x!r}' AS DOUBLE), {d})")
    want = trino_round(x, d)
    assert struct.pack("<d", got) == struct.pack("<d", want), (x, d, got, want)


def test_round_of_a_decimal_is_left_to_duckdb_which_agrees() -> None:
    """https://trino.io/docs/current/functions/math.html#round -- a DECIMAL rounds half up, exactly.

    2.675 is a DECIMAL literal in Trino: round(2.675, 2) = 2.68; DuckDB reads the literal as DECIMAL too.
    """
    assert duck("SELECT round(2.675, 2), round(-2.675, 2)") == [(Decimal("2.68"), Decimal("-2.68"))]
    assert "CASE" not in sql.to_duckdb("SELECT round(2.675, 2)")


def test_round_of_a_real_or_with_a_computed_scale_is_refused() -> None:
    """https://trino.io/docs/current/functions/math.html#round -- round(x, d) with d an integer."""
    refused(f"SELECT round(profit, quantity) FROM {T}", "ROUND", "literal d")
    refused(f"SELECT round(profit, 16) FROM {T}", "literal d from 0 to 15")
    refused("SELECT round(CAST(1.5 AS REAL))", "REAL")
    refused("SELECT round(rand() * 10, 2)", "random")


def test_cast_of_a_double_to_an_integer_rounds_half_away_from_zero() -> None:
    """https://trino.io/docs/current/functions/conversion.html#cast -- casting a DOUBLE to an integer rounds.

    Trino's DoubleOperators: CAST(2.5e0 AS BIGINT) = 3 (DoubleMath.roundToLong(x, HALF_UP)),
    CAST(-2.5e0 AS BIGINT) = -3, CAST(2.5e0 AS INTEGER) = 3 ((long) round(x)). DuckDB rounds half to
    even: 2 and -2. A DECIMAL 2.5 rounds half up in both.
    """
    assert duck(
        "SELECT CAST(2.5e0 AS BIGINT), CAST(-2.5e0 AS BIGINT), CAST(3.5e0 AS INTEGER), CAST(0.5e0 AS SMALLINT), "
        "TRY_CAST(-0.5e0 AS TINYINT), CAST(2.5 AS BIGINT), CAST(2.4999999999999996e0 AS BIGINT)"
    ) == [(3, -3, 4, 1, -1, 3, 2)]
    assert _DUCKDB.execute("SELECT CAST(2.5::DOUBLE AS BIGINT)").fetchone() == (2,)  # DuckDB's own answer


def test_cast_of_text_to_an_integer_is_refused() -> None:
    """https://trino.io/docs/current/functions/conversion.html#cast -- CAST('2.5' AS BIGINT) fails on Athena.

    Trino parses the text as an integer (VarcharOperators: Long.parseLong); DuckDB rounds '2.5' to 3.
    """
    refused("SELECT CAST('2.5' AS BIGINT)", "CAST('2.5' AS BIGINT)", "'2.5' fails")


# ------------------------------------------------------------------------- text


def test_format_is_refused() -> None:
    """https://trino.io/docs/current/functions/conversion.html#format -- format() is Java's String.format.

    format('%.2f', 2.675) = '2.68' on Athena (Java rounds the shortest decimal text, 2.675, half up);
    DuckDB's format('%.2f', x) returns the text '%.2f' (it reads {} placeholders) and printf gives '2.67'.
    """
    refused("SELECT format('%.2f', 2.675e0)", "FORMAT('%.2f', 2.675e0)", "Java's String.format", "'2.68'")


def test_regexp_replace_back_references_are_translated() -> None:
    """https://trino.io/docs/current/functions/regexp.html#regexp_replace -- $g references group g.

    regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ') = '3ca 3cb 14m'; a dollar sign is written \\$.
    Every match is replaced. DuckDB's RE2 writes group references as \\1 and replaces the first match only.
    """
    assert duck(
        "SELECT regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 '), regexp_replace('a.b', '\\.', '\\$'), "
        "regexp_replace('aaa', 'a', 'b'), regexp_replace('a1', '(\\d)', '\\\\$1')"
    ) == [("3ca 3cb 14m", "a$b", "bbb", "a\\1")]


def test_regexp_replace_that_duckdb_cannot_express_is_refused() -> None:
    """https://trino.io/docs/current/functions/regexp.html#regexp_replace -- ${name} names a group."""
    refused("SELECT regexp_replace('ab', '(?<x>b)', '${x}')", "${x}", "Java")
    refused(f"SELECT regexp_replace(region, 'a', region) FROM {T}", "literal replacement")


def test_regexp_extract_without_a_match_is_null() -> None:
    """https://trino.io/docs/current/functions/regexp.html#regexp_extract -- the first substring matched.

    No match: Trino returns NULL (JoniRegexpFunctions.regexpExtract); DuckDB returns ''.
    """
    assert duck(
        "SELECT regexp_extract('abc', 'x(b)', 1), regexp_extract('abc', 'a(b)', 1), regexp_extract('abc', 'b')"
    ) == [(None, "b", "b")]
    refused("SELECT regexp_extract('ab', 'a(x)?b', 1)", "NULL on Athena and '' in DuckDB")


def test_split_part_past_the_last_field_is_null() -> None:
    """https://trino.io/docs/current/functions/string.html#split_part -- "If the index is larger than the
    number of fields, then null is returned." DuckDB returns ''. An index below 1 fails on Athena.
    """
    assert duck("SELECT split_part('a,b', ',', 5), split_part('a,b', ',', 2), split_part('', ',', 1)") == [
        (None, "b", "")
    ]
    refused("SELECT split_part('a,b', ',', 0)", "index must be greater than zero")
    with pytest.raises(duckdb.Error, match="greater than zero"):
        duck("SELECT split_part('a,b', ',', i) FROM (VALUES (0)) AS v(i)")


def test_substr_from_position_zero_is_empty() -> None:
    """https://trino.io/docs/current/functions/string.html#substring -- positions start with 1; a negative
    start counts from the end. Trino's substr: start 0 (or a length <= 0) gives '', a start before the
    first character gives ''. DuckDB reads substr('hello', 0, 3) as 'he'.
    """
    assert duck(
        "SELECT substr('hello', 0, 3), substr('hello', -3, 2), substr('hello', -10, 3), substr('hello', 2), "
        "substr('hello', 0), substr('hello', 3, -1), substr('hello', 2, 3), substring('hello', 5, 9)"
    ) == [("", "ll", "", "ello", "", "", "ell", "o")]


def test_cast_to_varchar_n_truncates() -> None:
    """https://trino.io/docs/current/language/types.html#varchar -- varchar(n) holds at most n characters;
    CAST('abcdef' AS VARCHAR(3)) = 'abc' on Athena. DuckDB ignores the length: 'abcdef'.
    """
    assert duck("SELECT CAST('abcdef' AS VARCHAR(3)), CAST('ab' AS VARCHAR(3)), CAST('héllo' AS VARCHAR(2))") == [
        ("abc", "ab", "hé")
    ]
    refused(f"SELECT CAST(quantity AS VARCHAR(2)) FROM {T}", "longer than 2 characters")
    refused("SELECT CAST('a' AS CHAR(3))", "pads char(n)")


def test_double_to_varchar_is_refused() -> None:
    """https://trino.io/docs/current/functions/conversion.html#cast -- a DOUBLE prints in scientific notation.

    CAST(1.5e0 AS VARCHAR) = '1.5E0' on Athena; DuckDB prints '1.5'.
    """
    refused(f"SELECT CAST(profit AS VARCHAR) FROM {T}", "scientific notation (1.5E0)")


def test_concatenating_a_double_is_refused() -> None:
    """https://trino.io/docs/current/functions/string.html#string-operators -- || concatenates strings.

    Athena rejects 1.5e0 || '' (no || for double and varchar); DuckDB answers '1.5'. concat() likewise.
    """
    refused(f"SELECT profit || '' FROM {T}", "concatenates a double", "rejects")
    refused(f"SELECT concat(region, quantity) FROM {T}", "concatenates a bigint")
    assert duck("SELECT 'a' || 'b', concat('a', 'b')") == [("ab", "ab")]


def test_concat_and_greatest_with_null_are_null() -> None:
    """https://trino.io/docs/current/functions/string.html#concat and
    https://trino.io/docs/current/functions/comparison.html#greatest-and-least -- concat('a', NULL) and
    greatest(1, NULL) are NULL on Athena; DuckDB's concat skips NULLs and its greatest ignores them.
    """
    assert duck("SELECT concat('a', NULL), greatest(1, NULL), least(2, NULL, 1)") == [(None, None, None)]


# ------------------------------------------------------------------------- dates


def test_day_of_week_is_iso() -> None:
    """https://trino.io/docs/current/functions/datetime.html#day_of_week -- "ISO day of the week ...
    from 1 (Monday) to 7 (Sunday)"; extract(DOW FROM x) is the same. DuckDB's dow is 0 (Sunday) to 6.
    """
    sunday, monday = "DATE '2024-03-03'", "DATE '2024-03-04'"
    assert duck(
        f"SELECT extract(DOW FROM {sunday}), day_of_week({sunday}), dow({sunday}), "
        f"extract(DAY_OF_WEEK FROM {monday}), extract(YOW FROM DATE '2024-12-30')"
    ) == [(7, 7, 7, 1, 2025)]


def test_comparing_the_text_ingest_date_with_a_date_is_refused() -> None:
    """https://trino.io/docs/current/functions/comparison.html -- comparisons need comparable types.

    ingest_date is a string in Glue: Athena rejects ingest_date = DATE '2024-03-01' (cannot apply
    operator varchar = date); DuckDB casts the text and answers.
    """
    refused(
        f"SELECT COUNT(*) FROM {T} WHERE ingest_date = DATE '2024-03-01'",
        "compares varchar with date",
        "Athena rejects it",
    )
    refused(f"SELECT COUNT(*) FROM {T} WHERE ingest_date BETWEEN DATE '2024-03-01' AND DATE '2024-03-02'")
    refused(f"SELECT COUNT(*) FROM {T} WHERE quantity IN ('1', '2')", "compares bigint with varchar")
    assert sql.to_duckdb(
        f"SELECT COUNT(*) FROM {T} WHERE ingest_date = '2024-03-01' AND order_date < DATE '2024-03-01'"
    )


def test_date_minus_date_is_refused() -> None:
    """https://trino.io/docs/current/functions/datetime.html#date-and-time-operators -- date - interval, not
    date - date: Athena rejects DATE '2024-03-03' - DATE '2024-03-01' (DuckDB: 2) and DATE + 1 (DuckDB: the
    next day); date_diff('day', a, b) is the way.
    """
    refused("SELECT DATE '2024-03-03' - DATE '2024-03-01'", "subtracts dates", "date_diff")
    refused(f"SELECT order_date + 1 FROM {T}", "adds a number to a date")
    assert duck("SELECT DATE '2024-03-01' + INTERVAL '1' DAY, date_add('month', 1, DATE '2024-01-31')") == [
        (dt.date(2024, 3, 2), dt.date(2024, 2, 29))
    ]


def test_non_iso_date_text_is_refused_or_fails() -> None:
    """https://trino.io/docs/current/language/types.html#date -- a DATE literal is 'YYYY-MM-DD'.

    Athena rejects CAST('2024/03/01' AS DATE); DuckDB reads it as 2024-03-01. Text from a column is cast
    when it is YYYY-MM-DD and fails locally otherwise, instead of being read as DuckDB reads it.
    """
    refused("SELECT CAST('2024/03/01' AS DATE)", "ISO 8601", "'2024/03/01'")
    refused("SELECT DATE '2024-02-30'", "ISO 8601")
    assert duck("SELECT CAST(s AS DATE) FROM (VALUES ('2024-03-01'), (NULL)) AS v(s)") == [
        (dt.date(2024, 3, 1),),
        (None,),
    ]
    with pytest.raises(duckdb.Error, match="YYYY-MM-DD"):
        duck("SELECT CAST(s AS DATE) FROM (VALUES ('2024/03/01')) AS v(s)")


def test_timestamp_text_and_precision_are_refused() -> None:
    """https://trino.io/docs/current/language/types.html#timestamp -- TIMESTAMP is timestamp(3), printed
    with its precision: CAST(ingested_at AS VARCHAR) = '2024-03-01 09:30:00.000' on Athena (DuckDB:
    '2024-03-01 09:30:00'), and CAST('... 10:00:00.123456' AS TIMESTAMP) rounds to milliseconds.
    """
    refused(f"SELECT CAST(ingested_at AS VARCHAR) FROM {T}", "timestamp(3)", "'2024-03-01 09:30:00.000'")
    refused("SELECT CAST(current_timestamp AS VARCHAR)", "' UTC'")
    refused("SELECT CAST('2024-03-01 10:00:00.123456' AS TIMESTAMP)", "milliseconds")
    assert duck("SELECT CAST('2024-03-01 10:00:00.123' AS TIMESTAMP)") == [(dt.datetime(2024, 3, 1, 10, 0, 0, 123000),)]


def test_date_format_specifiers_outside_the_checked_set_are_refused() -> None:
    """https://trino.io/docs/current/functions/datetime.html#mysql-date-functions -- MySQL-style specifiers.

    date_format(DATE '2024-03-01', '%Y-%m-%d %H:%i:%s') = '2024-03-01 00:00:00' in both; %W (weekday name),
    %a, %v and the others are not checked and refused.
    """
    assert duck("SELECT date_format(TIMESTAMP '2024-03-01 09:05:07', '%Y-%m-%d %H:%i:%s %j %y')") == [
        ("2024-03-01 09:05:07 061 24",)
    ]
    refused("SELECT date_format(DATE '2024-03-01', '%W')", "%W")
    refused("SELECT date_parse('03/01/2024 9', '%m/%d/%Y %k')", "%k")


def test_current_date_is_the_utc_date(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """https://trino.io/docs/current/functions/datetime.html#current_date -- the date in the session time
    zone, UTC on Athena. The local runner sets DuckDB's TimeZone to UTC whatever the machine's TZ.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = tmp_path / "dataset" / "orders" / "ingest_date=2024-03-01"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), part / "p.parquet")
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: its date is ahead of UTC's most of the day
    frame = sql.run_local("SELECT current_date AS today", tmp_path)
    assert frame["today"].iloc[0].date() == dt.datetime.now(dt.UTC).date()


# ------------------------------------------------------------------------ arrays


def test_array_index_zero_is_refused_and_past_the_end_fails() -> None:
    """https://trino.io/docs/current/functions/array.html#subscript-operator -- arrays start at 1; Athena
    fails on split('a,b', ',')[0] (DuckDB: NULL) and on an index past the end (DuckDB: NULL);
    element_at returns NULL past the end in both.
    """
    refused("SELECT split('a,b', ',')[0]", "indices start at 1")
    assert duck("SELECT split('a,b', ',')[2], element_at(split('a,b', ','), 5)") == [("b", None)]
    with pytest.raises(duckdb.Error, match="out of bounds"):
        duck("SELECT split('a,b', ',')[3]")


# -------------------------------------------------------------- existing checks


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        # https://trino.io/docs/current/functions/math.html#mathematical-operators: integer division truncates.
        ("SELECT 7 / 2", "Athena truncates (7 / 2 = 3)"),
        # Decimal division keeps the scale of its operands.
        ("SELECT 1.0 / 3", "keeps the operands' scale"),
        # https://trino.io/docs/current/functions/datetime.html#date_diff: whole units elapsed.
        (f"SELECT date_diff('month', order_date, DATE '2024-03-01') FROM {T}", "whole months"),
        # https://trino.io/docs/current/functions/aggregate.html#approximate-aggregate-functions
        (f"SELECT approx_distinct(order_id) FROM {T}", "approximate"),
        # https://trino.io/docs/current/functions/datetime.html#java-date-functions: Joda-Time patterns.
        (f"SELECT format_datetime(ingested_at, 'yyyy') FROM {T}", "Joda"),
    ],
)
def test_earlier_traps_stay_refused(query: str, fragment: str) -> None:
    """The traps the checker refused before (integer and decimal division, date_diff units, approximate
    aggregates, Joda patterns), each with the Trino page that defines Athena's behaviour in the comment.
    """
    refused(query, fragment)
