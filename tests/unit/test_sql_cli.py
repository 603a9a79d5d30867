"""The query/warehouse subcommands' argument handling and error exits (no AWS, no dataset)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
from awswrangler.exceptions import QueryFailed
from botocore.exceptions import ClientError

from orders_tools import cli_sql, sql


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orders-analytics")
    cli_sql.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_query_defaults() -> None:
    args = parse(["query", "orders_by_category", "--athena"])
    assert (args.database, args.table, args.workgroup) == ("orders_analytics", "orders", "primary")
    assert (args.format, args.date, args.data) == ("table", None, None)
    assert args.func is cli_sql.run_query


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "orders_by_category"],
        ["query", "orders_by_category", "--athena", "--data", "out"],
        ["query", "orders_by_category", "--athena", "--format", "json"],
        ["warehouse", "--data", "out"],
    ],
)
def test_bad_arguments_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(argv)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (QueryFailed("SYNTAX_ERROR: line 1:8: Column 'x' cannot be resolved"), "Athena could not run the query"),
        (ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetWorkGroup"), "AWS refused"),
    ],
)
def test_athena_failures_exit_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, failure: Exception, message: str
) -> None:
    seen: list[str] = []

    def refuse(sql_text: str, **kwargs: Any) -> None:
        seen.append(sql_text)
        seen.extend(kwargs["parameters"])
        raise failure

    monkeypatch.setattr(sql, "run_athena", refuse)
    args = parse(["query", "most_profitable_region", "--athena", "--date", "2024-03-01"])
    err = io.StringIO()
    assert args.func(args, out=io.StringIO(), err=err) == 1
    assert message in err.getvalue()
    assert "COALESCE(NULLIF(?, 'ALL'), ingest_date)" in seen[0]
    assert seen[1:] == ["2024-03-01"]


def test_bad_date_exits_2_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "run_athena", lambda *a, **k: pytest.fail("must not be called"))
    args = parse(["query", "most_profitable_region", "--athena", "--date", "01/03/2024"])
    err = io.StringIO()
    assert args.func(args, out=io.StringIO(), err=err) == 2
    assert "YYYY-MM-DD" in err.getvalue()


def test_show_sql_prints_the_duckdb_translation(tmp_path: Path) -> None:
    args = parse(["query", "orders_by_category", "--data", str(tmp_path), "--show-sql"])
    err = io.StringIO()
    assert args.func(args, out=io.StringIO(), err=err) == 2  # no dataset in tmp_path
    assert 'FROM "orders_analytics"."orders"' in err.getvalue()
    assert "no dataset under" in err.getvalue()
