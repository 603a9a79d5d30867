"""Every file of queries/: parses as one Athena statement, renders, transpiles, is Terraform-safe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from lambda_app.queries import DATE_FILTER, parameter_count
from orders_tools import sql

FILES = sql.query_files()
IDS = [str(p.relative_to(sql.QUERIES_DIR)) for p in FILES]


def test_library_has_the_reports_analyses_and_views() -> None:
    names = {p.relative_to(sql.QUERIES_DIR).as_posix() for p in FILES}
    assert set(sql.REPORT_QUERIES.values()) <= names
    assert len([n for n in names if n.startswith("analyses/")]) >= 7
    assert {
        "views/v_orders_enriched.sql",
        "views/v_report_most_profitable_region.sql",
        "views/v_report_shipping_method_by_category.sql",
        "views/v_report_orders_by_category.sql",
    } <= names
    assert list(sql.REPORT_QUERIES) == list(sql.REPORT_COLUMNS)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_file_is_one_athena_statement_with_named_columns(path: Path) -> None:
    rendered = sql.render(path.read_text(encoding="utf-8"), database="db", table="orders")
    statements = [s for s in sqlglot.parse(rendered, read="athena") if s is not None]
    assert len(statements) == 1
    assert not rendered.rstrip().endswith(";")
    statement = statements[0]
    query = statement.expression if isinstance(statement, exp.Create) else statement
    assert isinstance(query, exp.Query)
    names = query.named_selects
    assert names, "every output column has a name"
    assert all(name and not name.startswith("_col") for name in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_file_uses_only_the_terraform_placeholders(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "%{" not in text
    assert set(re.findall(r"\$\{([^}]*)\}", text)) <= {"database", "table"}
    assert "$${" not in text
    assert '"${database}"."${table}"' in text


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_file_scoping_matches_its_kind(path: Path) -> None:
    """Date-scoped files take the date as one Athena execution parameter (?) in the WHERE clause; views none."""
    text = path.read_text(encoding="utf-8")
    relative = path.relative_to(sql.QUERIES_DIR).as_posix()
    rendered = sql.render(text, database="db", table="orders")
    placeholders = list(sqlglot.parse_one(rendered, read="athena").find_all(exp.Placeholder))
    if relative.startswith("views/"):
        assert placeholders == []
        assert re.search(r'CREATE OR REPLACE VIEW "\$\{database\}"\."' + re.escape(path.stem) + '"', text)
    else:
        assert DATE_FILTER in text
        assert len(placeholders) == 1 == parameter_count(rendered)
        assert all(p.find_ancestor(exp.Where) is not None for p in placeholders)  # Athena: ? only in WHERE
        assert "CREATE" not in text.upper().split("--")[0]


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_file_transpiles_faithfully_to_duckdb(path: Path) -> None:
    rendered = sql.render(path.read_text(encoding="utf-8"), database="db", table="orders")
    duck = sql.to_duckdb(rendered)
    assert sqlglot.parse_one(duck, read="duckdb") is not None
    assert "COALESCE(NULLIF(?, 'ALL')" in duck or path.parent.name == "views"


@pytest.mark.parametrize("report", list(sql.REPORT_QUERIES))
def test_report_query_selects_the_csv_columns_in_order(report: str) -> None:
    text = (sql.QUERIES_DIR / sql.REPORT_QUERIES[report]).read_text(encoding="utf-8")
    query = sqlglot.parse_one(sql.render(text, database="db", table="t"), read="athena")
    assert isinstance(query, exp.Query)
    assert tuple(query.named_selects) == sql.REPORT_COLUMNS[report]
    assert query.args.get("order") is not None, "the report's row order is fixed by ORDER BY"


def test_view_columns_file_is_current() -> None:
    """Terraform reads the views' Glue columns from queries/views/columns.json: regenerate with
    `orders-analytics view-columns --write` after changing a view."""
    stored = (sql.QUERIES_DIR / sql.VIEWS_SUBDIR / sql.VIEW_COLUMNS_FILE).read_text(encoding="utf-8")
    assert stored == sql.view_columns_json()


def test_view_definition_is_the_select_with_the_columns() -> None:
    view = sql.view_definition(sql.QUERIES_DIR / "views/v_report_orders_by_category.sql")
    assert view.name == "v_report_orders_by_category"
    assert view.sql.startswith("SELECT\n    ingest_date,")
    assert view.sql.endswith("GROUP BY ingest_date, category, sub_category")
    assert 'FROM "orders_analytics"."orders"' in view.sql
    assert [tuple(c) for c in view.columns] == [
        ("ingest_date", "string", "varchar"),
        ("category", "string", "varchar"),
        ("sub_category", "string", "varchar"),
        ("order_count", "bigint", "bigint"),
    ]
