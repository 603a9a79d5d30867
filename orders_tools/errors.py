"""The tooling's own errors (the runtime's are in ``lambda_app.errors``)."""

from __future__ import annotations

from lambda_app.errors import PipelineError


class UnsupportedSqlError(PipelineError):
    """A query uses a construct that DuckDB would not answer the way Athena does.

    Raised by ``orders_tools.sql.to_duckdb`` instead of running the query locally
    and returning a different answer (integer or decimal division, month
    ``date_diff``, Joda-pattern ``format_datetime``, approximate aggregates...).
    Also raised for text that does not parse as one Athena statement.
    """


class LocalDatasetError(PipelineError):
    """The local output folder holds no Parquet dataset to query."""
