"""Every exception the runtime raises on purpose, each saying whether a retry can help.

``retryable`` is what the handler acts on, and every log line about a failure
carries it:

* ``retryable = False`` — permanent. ``InputFileError`` and its subclasses: the
  input object can never succeed as it is (wrong columns, not a CSV, empty, too
  large, too many bad rows). The unit of work writes an error record under
  ``errors/`` and the event is **not** retried. ``ConfigurationError`` fails the
  cold start.
* ``retryable = True`` — transient. Raised (or propagated, like botocore's
  errors, throttling and network failures) so Lambda or the queue retries the
  event and, after the retries, sends it to the failure destination.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of the pipeline's own errors."""

    retryable = False


class ConfigurationError(PipelineError):
    """An environment variable is missing or has an invalid value; the message names it and what it allows."""


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


class RejectsTooLargeError(InputFileError):
    """The rejected rows outgrow what may be spooled to local disk (``MAX_REJECTS_BYTES``, or the disk is full).

    Permanent: the file is refused with an error record instead of failing on every retry.
    """

    reason = "rejects_too_large"


class ObjectAccessDeniedError(InputFileError):
    """S3 answered 403 to the object's HEAD: with a prefix-conditioned ``s3:ListBucket`` AWS answers 403,
    not 404, for a key that does not exist, so a missing object and a missing permission look alike here."""

    reason = "object_inaccessible"


class ConcurrentLoadError(PipelineError):
    """Two invocations loaded the same key at once and one lost; retrying the event repairs it."""

    retryable = True


class ReconciliationError(PipelineError):
    """``rows_read != rows_loaded + rows_rejected``: a bug, never an input problem; retried, then the failure queue."""

    retryable = True


class RecordsFailedError(PipelineError):
    """Some records hit transient errors; raised after the others ran so Lambda retries the event."""

    retryable = True


class QueryTemplateError(PipelineError):
    """A query file's placeholders cannot be rendered (unknown ``${...}``, bad date or name)."""


class QueryResultError(PipelineError):
    """A report query returned columns other than the report's CSV columns."""


def is_retryable(exc: BaseException) -> bool:
    """The handler's verdict: the pipeline's own errors say so; anything else (botocore, OS) is transient."""
    return bool(getattr(exc, "retryable", True)) if isinstance(exc, PipelineError) else True
