"""What the pipeline needs from storage, as a typed protocol (a port).

``lambda_app.aws.AwsStorage`` implements it on S3, Glue and Athena; the tests
have an in-memory implementation (``tests/fakes.py``) that the same scenarios
run against. Everything here takes and returns plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import IO, Protocol

import pandas as pd

from lambda_app.model import ObjectInfo


class PreconditionFailedError(Exception):
    """A conditional write lost: the object changed (``If-Match``) or exists (``If-None-Match: *``)."""


class Storage(Protocol):
    """Objects (S3), the table and its partitions (Glue), and report queries (Athena)."""

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """Size, ETag and version of an object (of that version, when given), or ``None`` when it is gone."""
        ...

    def open(self, bucket: str, key: str, version_id: str | None = None) -> AbstractContextManager[IO[bytes]]:
        """A seekable stream of the object's bytes (of that version, when given)."""
        ...

    def get(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or ``None`` when it does not exist."""
        ...

    def put(
        self, bucket: str, key: str, body: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        """Write an object; return its ETag.

        ``if_match``: only if the object's ETag is still this one;
        ``if_none_match``: only if no object has the key. A write whose
        condition fails raises :class:`PreconditionFailedError`.
        """
        ...

    def upload_file(self, bucket: str, key: str, path: str) -> None:
        """Write a local file as an object (multipart when large)."""
        ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """Keys under a prefix, sorted."""
        ...

    def delete(self, bucket: str, keys: list[str]) -> None:
        """Delete objects; keys that do not exist are fine."""
        ...

    def ensure_table(self, database: str, table: str, location: str) -> bool:
        """Create the dataset's table if it is missing (never alter it); True when this call created it."""
        ...

    def add_partition(self, database: str, table: str, location: str, value: str) -> None:
        """Register one partition (no-op when it is there)."""
        ...

    def query(self, sql: str, *, database: str, workgroup: str, parameters: Sequence[str] = ()) -> pd.DataFrame:
        """Run one rendered statement on Athena and return its result set.

        ``parameters`` are text values bound to the statement's ``?``, in order
        (Athena execution parameters, as varchar literals).
        """
        ...
