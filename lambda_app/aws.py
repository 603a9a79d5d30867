"""The storage port on AWS: S3 through one boto3 client, Glue and Athena through awswrangler.

The only runtime module that talks to AWS. One :class:`AwsStorage` is built per
process at the Lambda's INIT and reused by every invocation: building a boto3
session and client costs ~15 ms each, and awswrangler builds both on every call
that gets no session (measured: 20 constructions took 0.31 s of a 0.77 s
delivery; docs/benchmarks.md).

awswrangler asks its session for a client on every call, so the session here
is a :class:`ClientCachingSession`: each client (S3, Glue, Athena) is built once
per process.

Thread safety: boto3 clients are thread-safe and sessions are not. The S3
client is built here, once, and is the only thing the pipeline's background
writer thread touches; awswrangler's calls (Glue, Athena) run on the invoking
thread only, and the session's client cache takes a lock.

Endpoints and credentials come from the standard AWS settings
(``AWS_ENDPOINT_URL`` points everything at the local emulator in
``orders-analytics demo``/``run`` and in the tests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, cast

import awswrangler as wr
import boto3
import botocore.session
import pandas as pd
from aws_lambda_powertools.utilities.streaming import S3Object
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.loaders import Loader, create_loader

from lambda_app.errors import ObjectAccessDeniedError, QueryResultError
from lambda_app.model import ObjectInfo
from lambda_app.ports import PreconditionFailedError
from lambda_app.schema import COLUMN_COMMENTS, GLUE_COLUMN_TYPES, GLUE_PARTITION_TYPES

# Standard retry mode (exponential backoff with jitter, throttling included); enough connections for the
# reader, the background writer and a multipart upload's parts.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=16)
_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
_DENIED = frozenset({"403", "AccessDenied", "Forbidden"})
_LOST_CONDITION = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_DELETE_BATCH = 1000  # DeleteObjects' limit


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


_LOADERS: dict[str | None, Loader] = {}  # AWS_DATA_PATH -> the process's loader of botocore's JSON models
_LOADERS_LOCK = threading.Lock()


def _botocore_session() -> botocore.session.Session:
    """A new botocore session that reads botocore's service models through the process's one loader.

    Each botocore session builds its own loader and parses the same JSON models
    again (botocore issue #3078): a session with S3, Glue and Athena clients cost
    ~300 ms of CPU here, ~70 ms with the loader shared. The Lambda builds one
    session per process; the tooling and the tests build many. The models are
    read-only files, and the loader's cache is keyed by what was asked for.
    """
    session = botocore.session.get_session()
    data_path = session.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = create_loader(data_path)
    session.register_component("data_loader", loader)
    return session


class ClientCachingSession(boto3.Session):  # type: ignore[misc]  # boto3 ships no types
    """A boto3 session that builds each distinct client once and hands out the same one after.

    awswrangler takes a session, not a client, and calls ``session.client(...)``
    on every call (a Glue client for each of ``does_table_exist``,
    ``create_parquet_table`` and ``add_parquet_partitions``; measured ~30 ms
    each). Clients are thread-safe; the cache is keyed by every argument
    (a ``Config`` by the options it was given), so a caller asking for a
    different endpoint, region or configuration gets its own client.
    Sessions of one process share one loader of botocore's models (:func:`_botocore_session`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and "botocore_session" not in kwargs:
            kwargs["botocore_session"] = _botocore_session()
        super().__init__(*args, **kwargs)
        with _LOADERS_LOCK:  # boto3.Session appended its data path to the shared loader once more
            paths = self._loader.search_paths
            paths[:] = list(dict.fromkeys(paths))
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        config = kwargs.get("config")
        options = dict(kwargs, config=sorted(config._user_provided_options.items()) if config else None)
        key = repr((args, sorted(options.items())))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = super().client(*args, **kwargs)
            return self._clients[key]


class AwsStorage:
    """:class:`lambda_app.ports.Storage` on S3, Glue and Athena."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        self.session = session or ClientCachingSession()
        self._s3: Any = self.session.client("s3", config=_CLIENT_CONFIG)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo | None:
        try:
            versioned = {"VersionId": version_id} if version_id else {}
            meta = self._s3.head_object(Bucket=bucket, Key=key, **versioned)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            if error_code(exc) in _DENIED:
                raise ObjectAccessDeniedError(
                    f"s3://{bucket}/{key}: HEAD answered 403 (the object is gone and s3:ListBucket is not granted"
                    " for it, or s3:GetObject is not granted)"
                ) from exc
            raise
        return ObjectInfo(
            size=int(meta["ContentLength"]), etag=str(meta.get("ETag", "")).strip('"'), version_id=meta.get("VersionId")
        )

    @contextmanager
    def open(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[IO[bytes]]:
        # Powertools' seekable reader: one streaming GET, a ranged GET again only after a seek.
        stream = S3Object(bucket=bucket, key=key, version_id=version_id, boto3_client=self._s3)
        try:
            yield cast(IO[bytes], stream)
        finally:
            stream.close()  # type: ignore[no-untyped-call]

    def get(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        return response["Body"].read(), str(response.get("ETag", "")).strip('"')

    def put(
        self, bucket: str, key: str, body: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        conditions: dict[str, str] = {}
        if if_match is not None:
            conditions["IfMatch"] = f'"{if_match}"'
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        try:
            response = self._s3.put_object(Bucket=bucket, Key=key, Body=body, **conditions)
        except ClientError as exc:
            code = error_code(exc)
            # If-Match on a key that is gone is answered 404 NoSuchKey: the object changed all the same.
            if conditions and (code in _LOST_CONDITION or (if_match is not None and code in _MISSING)):
                raise PreconditionFailedError(f"s3://{bucket}/{key} changed meanwhile") from exc
            raise
        return str(response.get("ETag", "")).strip('"')

    def upload_file(self, bucket: str, key: str, path: str) -> None:
        self._s3.upload_file(path, bucket, key)  # the transfer manager: multipart above 8 MiB

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = self._s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise ClientError(
                    {"Error": {"Code": first.get("Code", "DeleteFailed"), "Message": first.get("Message", "")}},
                    "DeleteObjects",
                )

    def ensure_table(self, database: str, table: str, location: str) -> bool:
        if wr.catalog.does_table_exist(database=database, table=table, boto3_session=self.session):
            return False
        try:
            wr.catalog.create_parquet_table(
                database=database,
                table=table,
                path=location,
                columns_types=GLUE_COLUMN_TYPES,
                partitions_types=GLUE_PARTITION_TYPES,
                compression="snappy",
                description="Order lines loaded by orders-analytics; one Hive partition per UTC ingestion date.",
                columns_comments=COLUMN_COMMENTS,
                mode="append",  # never "overwrite": that would drop a concurrent creator's partitions
                boto3_session=self.session,
            )
        except Exception as exc:
            if error_code(exc) == "AlreadyExistsException" or "AlreadyExists" in str(exc):
                return False  # a concurrent creator won the race: fine
            raise
        return True

    def add_partition(self, database: str, table: str, location: str, value: str) -> None:
        wr.catalog.add_parquet_partitions(
            database=database,
            table=table,
            partitions_values={location: [value]},
            compression="snappy",
            boto3_session=self.session,
        )

    def query(self, sql: str, *, database: str, workgroup: str, parameters: Sequence[str] = ()) -> pd.DataFrame:
        # awswrangler's plain path (ctas_approach=False): Athena writes the result CSV to the workgroup's
        # output location and awswrangler reads it back with the result's types; no temporary table.
        # Parameters go to Athena as ExecutionParameters (paramstyle qmark): SQL literals, so text is quoted.
        literals = ["'" + value.replace("'", "''") + "'" for value in parameters]
        frame = wr.athena.read_sql_query(
            sql=sql,
            database=database,
            workgroup=workgroup,
            ctas_approach=False,
            params=literals or None,
            paramstyle="qmark",
            boto3_session=self.session,
        )
        if not isinstance(frame, pd.DataFrame):  # an iterator only when chunksize is set, which it is not
            raise QueryResultError("awswrangler returned an iterator instead of a DataFrame")
        return frame
