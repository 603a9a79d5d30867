"""render(), QUERIES_DIR discovery and the import cost of orders_tools.sql."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lambda_app.errors import PipelineError, QueryTemplateError
from orders_tools import sql

TEMPLATE = 'SELECT * FROM "${database}"."${table}" WHERE ingest_date = COALESCE(NULLIF(?, \'ALL\'), ingest_date)'


def test_render_fills_the_names_and_leaves_the_date_parameter() -> None:
    out = sql.render(TEMPLATE, database="orders_analytics", table="orders")
    assert out == (
        'SELECT * FROM "orders_analytics"."orders" WHERE ingest_date = COALESCE(NULLIF(?, \'ALL\'), ingest_date)'
    )


def test_the_date_is_one_text_parameter_per_question_mark() -> None:
    rendered = sql.render(TEMPLATE, database="d", table="t")
    assert sql.query_parameters(rendered, "2024-03-01") == ("2024-03-01",)
    assert sql.query_parameters(rendered, date(2024, 2, 29)) == ("2024-02-29",)
    assert sql.query_parameters("SELECT 1 WHERE ? = ? AND x = '?' -- ?\n AND \"a?\" = 1", "2024-03-01") == (
        "2024-03-01",
        "2024-03-01",
    )


@pytest.mark.parametrize("ingest_date", [None, "ALL", "all"])
def test_no_date_selects_all_history(ingest_date: str | None) -> None:
    assert sql.query_parameters(TEMPLATE, ingest_date) == ("ALL",)


def test_a_date_for_a_query_without_parameters_is_an_error() -> None:
    assert sql.query_parameters("SELECT 1", None) == ()
    with pytest.raises(QueryTemplateError, match="no date parameter"):
        sql.query_parameters("SELECT 1", "2024-03-01")


@pytest.mark.parametrize("bad", ["2024-3-1", "2024-02-30", "yesterday", "2024-03-01' OR '1'='1", ""])
def test_a_date_that_is_not_yyyy_mm_dd_is_refused(bad: str) -> None:
    with pytest.raises(QueryTemplateError):
        sql.query_parameters(TEMPLATE, bad)


@pytest.mark.parametrize(("database", "table"), [('a"b', "t"), ("d", "t; DROP TABLE x"), ("", "t"), ("d", "t.u")])
def test_render_refuses_names_that_are_not_glue_identifiers(database: str, table: str) -> None:
    with pytest.raises(QueryTemplateError):
        sql.render(TEMPLATE, database=database, table=table)


def test_render_refuses_unknown_placeholders_and_terraform_directives() -> None:
    with pytest.raises(QueryTemplateError, match="region"):
        sql.render("SELECT '${region}'", database="d", table="t")
    with pytest.raises(QueryTemplateError, match="execution parameter"):
        sql.render("SELECT '${ingest_date}'", database="d", table="t")
    with pytest.raises(QueryTemplateError, match="%\\{"):
        sql.render("SELECT '%{ if x }'", database="d", table="t")


def test_template_errors_are_pipeline_errors() -> None:
    assert issubclass(QueryTemplateError, PipelineError)


def test_queries_dir_is_the_repository_folder() -> None:
    repository = Path(__file__).resolve().parents[2]
    assert repository / "queries" == sql.QUERIES_DIR
    assert (sql.QUERIES_DIR / sql.REPORT_QUERIES["orders_by_category"]).is_file()


def test_queries_dir_env_override_wins(tmp_path: Path) -> None:
    assert sql.find_queries_dir({"ORDERS_QUERIES_DIR": str(tmp_path)}) == tmp_path


def test_queries_dir_falls_back_to_the_lambda_task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "task" / "queries").mkdir(parents=True)
    # An installed (non-editable) package: no queries/ next to it.
    monkeypatch.setattr(sql, "__file__", str(tmp_path / "site-packages" / "lambda_app" / "sql.py"))
    assert sql.find_queries_dir({"LAMBDA_TASK_ROOT": str(tmp_path / "task")}) == tmp_path / "task" / "queries"
    assert sql.find_queries_dir({}) == tmp_path / "site-packages" / "queries"
