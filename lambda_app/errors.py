"""Every exception the pipeline raises on purpose.

Two families matter to the handler:

* ``InputFileError`` — the input object can never succeed as it is (wrong
  columns, not a CSV, empty, too large, too many bad rows). The handler writes
  an error record under ``errors/`` and does **not** retry.
* Anything else (botocore errors, throttling, network) propagates so Lambda
  retries the event and, after the retries, sends it to the failure
  destination.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the pipeline's own errors."""


class ConfigurationError(PipelineError):
    """An environment variable is missing or has an invalid value."""


class InputFileError(PipelineError):
    """The input object is permanently unusable; retrying cannot help."""

    reason = "invalid_file"


class EmptyFileError(InputFileError):
    """The object has no bytes, or only a header and no data rows."""

    reason = "empty_file"


class MissingColumnsError(InputFileError):
    """A required column is absent from the header."""

    reason = "missing_columns"


class DuplicateColumnError(InputFileError):
    """Two header cells map to the same column."""

    reason = "duplicate_columns"


class UnreadableFileError(InputFileError):
    """The bytes cannot be parsed as CSV (binary data, broken quoting, overlong line)."""

    reason = "unreadable_file"


class FileTooLargeError(InputFileError):
    """The object is larger than ``MAX_OBJECT_BYTES``."""

    reason = "file_too_large"


class TooManyRejectsError(InputFileError):
    """More rows than ``MAX_REJECT_RATIO`` allows failed validation: likely a wrong format."""

    reason = "too_many_rejects"


class ConcurrentLoadError(PipelineError):
    """Two invocations loaded the same key at once and one lost; retrying the event repairs it."""


class ReconciliationError(PipelineError):
    """``rows_read != rows_loaded + rows_rejected``: a bug, never an input problem."""


class UnsupportedSqlError(PipelineError):
    """A query uses a construct that DuckDB would not answer the way Athena does.

    Raised by ``lambda_app.sql.to_duckdb`` instead of running the query locally
    and returning a different answer (integer or decimal division, month
    ``date_diff``, Joda-pattern ``format_datetime``, approximate aggregates...).
    Also raised for text that does not parse as one Athena statement.
    """


class QueryTemplateError(PipelineError):
    """A query file's placeholders cannot be rendered (unknown ``${...}``, bad date or name)."""


class LocalDatasetError(PipelineError):
    """The local output folder holds no Parquet dataset to query."""


class QueryResultError(PipelineError):
    """A report query returned columns other than the report's CSV columns."""
