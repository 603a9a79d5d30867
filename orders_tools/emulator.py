"""A local AWS for ``orders-analytics demo``/``run`` and the tests.

Starts moto's server on 127.0.0.1 (random free port) and points the standard
AWS settings at it (``AWS_ENDPOINT_URL`` and dummy credentials), so the
handler's code (:class:`lambda_app.app.App`, with the real AWS adapter) and
awswrangler run unchanged, over HTTP, exactly as against AWS.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from lambda_app.app import App
from lambda_app.aws import AwsStorage
from lambda_app.settings import Settings
from orders_tools import s3_events

INPUT_BUCKET = "orders-input-local"
OUTPUT_BUCKET = "orders-output-local"
DATABASE = "orders_analytics"
TABLE = "orders"
REGION = "us-east-1"

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that Powertools' ``inject_lambda_context`` reads."""

    function_name: str = "orders-analytics-local"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orders-analytics-local"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/orders-analytics-local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@dataclass
class LocalAws:
    """A running emulator with the product's buckets and Glue database."""

    endpoint: str
    input_bucket: str = INPUT_BUCKET
    output_bucket: str = OUTPUT_BUCKET
    env: dict[str, str] = field(default_factory=dict)
    # The AWS adapter, built once, as the Lambda builds it once per process (tests may wrap it).
    adapter: AwsStorage = field(default_factory=AwsStorage)
    storage: Any = None
    _sequence: int = 0

    def __post_init__(self) -> None:
        self.storage = self.adapter
        self.s3: Any = self.adapter.session.client("s3")
        self.glue: Any = self.adapter.session.client("glue")

    def settings(self) -> Settings:
        """The pipeline's settings as the process environment has them now (tests change it per case)."""
        return Settings.from_env({**os.environ, **self.env})

    def app(self) -> App:
        """The handler's app with the current settings and the shared adapter."""
        return App(self.settings(), self.storage)

    def reset(self) -> None:
        """Empty the emulator and create the product's buckets and Glue database again."""
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 - the loopback emulator
        self._sequence = 0
        self.storage = self.adapter
        self.s3.create_bucket(Bucket=self.input_bucket)
        self.s3.put_bucket_versioning(Bucket=self.input_bucket, VersioningConfiguration={"Status": "Enabled"})
        self.s3.create_bucket(Bucket=self.output_bucket)
        self.glue.create_database(DatabaseInput={"Name": self.env["GLUE_DATABASE"]})

    def upload(self, key: str, body: bytes, bucket: str | None = None) -> dict[str, Any]:
        """Put an input object (in the input bucket unless told); return its HEAD (size, ETag, VersionId)."""
        self.s3.put_object(Bucket=bucket or self.input_bucket, Key=key, Body=body)
        return dict(self.s3.head_object(Bucket=bucket or self.input_bucket, Key=key))

    def create_bucket(self, bucket: str) -> None:
        """Another (versioned) input bucket."""
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def delete_input(self, key: str) -> None:
        """Delete an input object (every version, as if it never existed)."""
        versions = self.s3.list_object_versions(Bucket=self.input_bucket, Prefix=key)
        for item in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
            if item["Key"] == key:
                self.s3.delete_object(Bucket=self.input_bucket, Key=key, VersionId=item["VersionId"])

    def object_created_event(
        self, key: str, head: dict[str, Any], event_time: datetime, bucket: str | None = None
    ) -> dict[str, Any]:
        """The notification S3 would send for an upload just made (increasing sequencer per upload)."""
        self._sequence += 1
        return notification(bucket or self.input_bucket, key, head, event_time, self._sequence)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the handler's code with an event, as the Lambda service would."""
        return self.app().handle(event, LambdaContext())

    def read_output(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.output_bucket, Key=key)["Body"].read())

    def output_keys(self, prefix: str = "") -> list[str]:
        return self.adapter.list_keys(self.output_bucket, prefix)

    def download_output(self, target: Path) -> list[Path]:
        """Copy every object of the output bucket to ``target`` with the same keys."""
        written: list[Path] = []
        for key in self.output_keys():
            destination = target / key
            destination.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(self.output_bucket, key, str(destination))
            written.append(destination)
        return written

    def describe_table(self) -> dict[str, Any]:
        """The Glue table and its partitions, as registered."""
        settings = self.settings()
        glue = self.glue
        table = glue.get_table(DatabaseName=settings.glue_database, Name=settings.glue_table)["Table"]
        partitions: list[dict[str, Any]] = []
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=settings.glue_database, TableName=settings.glue_table
        ):
            partitions.extend(page["Partitions"])
        return {
            "database": settings.glue_database,
            "table": settings.glue_table,
            "location": table["StorageDescriptor"]["Location"],
            "columns": table["StorageDescriptor"]["Columns"],
            "partition_keys": table.get("PartitionKeys", []),
            "parameters": table.get("Parameters", {}),
            "partitions": sorted(
                ({"values": p["Values"], "location": p["StorageDescriptor"]["Location"]} for p in partitions),
                key=lambda p: p["values"],
            ),
        }

    def partitions(self) -> dict[str, list[str]]:
        """Registered partitions: location -> values."""
        return {p["location"]: p["values"] for p in self.describe_table()["partitions"]}

    def table_columns(self) -> list[str]:
        described = self.describe_table()
        return [c["Name"] for c in described["columns"]] + [c["Name"] for c in described["partition_keys"]]

    def write_catalog(self, target: Path) -> Path:
        """Write the Glue table as registered to ``target/_catalog/<db>.<table>.json``."""
        settings = self.settings()
        path = target / "_catalog" / f"{settings.glue_database}.{settings.glue_table}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.describe_table(), indent=2, default=str) + "\n")
        return path


def notification(bucket: str, key: str, head: dict[str, Any], event_time: datetime, sequence: int) -> dict[str, Any]:
    """The S3 notification of an upload described by its HEAD; ``sequence`` makes its sequencer grow per upload."""
    return s3_events.s3_event(
        s3_events.object_created_record(
            bucket=bucket,
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head["ETag"]).strip('"'),
            event_time=event_time,
            sequencer=f"{int(event_time.timestamp() * 1000):012X}{sequence:06X}",
            version_id=head.get("VersionId"),
            region=REGION,
        )
    )


class _RequestBody:
    """One request's body on a kept-alive connection: reads stop at its ``Content-Length``.

    Werkzeug's handler, after the app, reads whatever the socket holds to drain an
    unread body; on a kept-alive connection that would be the next request. Given
    this as its ``rfile``, it reads at most the rest of this body instead.
    """

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data: bytes = self._stream.read(wanted) if wanted else b""
        self._left -= len(data)
        return data

    def drain(self) -> None:
        while self._left and self.read(1 << 16):
            pass


class _Dispatcher(DomainDispatcherApplication):  # type: ignore[misc]  # moto is Any to mypy
    """Moto's WSGI app, which finds the backend of each host name once instead of on every request.

    Moto looks the backend up twice per request, under a lock that every
    request takes, and each lookup lists moto's package folder (a ``stat`` per
    service) and tries every service's URL patterns: about 1 ms per call. The
    answer depends on the host name only.
    """

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:  # moto calls this under its lock
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return super().__call__(environ, start_response)
        except BaseException:
            environ[_FAILED] = True  # the handler closes the connection: the response may be cut short
            raise


_FAILED = "orders_tools.emulator.failed"


class _KeepAliveHandler(MotoRequestHandler):  # type: ignore[misc]  # moto is Any to mypy
    """Moto's request handler without werkzeug's ``Connection: close`` on every response.

    Werkzeug's development server closes every connection (it cannot drain an
    unread body safely), so each AWS call opened a new connection and a new server
    thread. Here a request with a ``Content-Length`` (or none) is read through a
    :class:`_RequestBody`, so werkzeug's drain after the app stops at the body's
    end, and what that drain missed (bytes already in the reader's buffer) is
    drained after it; the connection stays open for the client's next call. A
    chunked request, one werkzeug answers with an error before the app, and one
    whose app raised still close it.
    """

    protocol_version = "HTTP/1.1"
    # False until a request with a known length is read: werkzeug's own error answers (a bad request line,
    # headers too long) are sent before ``run_wsgi`` and close the connection as werkzeug does.
    _keep_alive = False
    _environ: dict[str, Any] | None = None
    # Werkzeug writes the headers and the body separately: with Nagle's algorithm on, a kept-alive connection
    # waits for the client's delayed ACK (40 ms) before the body goes out; a closed one flushed at the close.
    disable_nagle_algorithm = True
    rfile: Any  # the connection's reader, or this request's body while the app runs
    close_connection: bool

    def make_environ(self) -> Any:
        self._environ = super().make_environ()
        return self._environ

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length", "0")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if not (length.isascii() and length.isdigit()) or chunked:
            super().run_wsgi()  # werkzeug's way: drain what comes, then close
            return
        connection = self.rfile
        body = _RequestBody(connection, int(length))
        self.rfile, self._keep_alive, self._environ = body, True, None
        try:
            super().run_wsgi()
            if self._environ is not None and self._environ.get(_FAILED):
                self.close_connection = True  # the app failed: what was sent of its answer may be incomplete
            else:
                body.drain()
        finally:
            self.rfile, self._keep_alive = connection, False

    def send_header(self, keyword: str, value: str) -> None:
        closing = keyword.lower() == "connection" and value.lower() == "close"
        failed = self._environ is not None and self._environ.get(_FAILED, False)
        if closing and not self.close_connection and self._keep_alive and not failed:
            return  # werkzeug's unconditional close; the client's own "Connection: close" still closes
        super().send_header(keyword, value)


@contextmanager
def local_aws(extra_env: dict[str, str] | None = None) -> Iterator[LocalAws]:
    """Run a moto server and the product's resources for the duration of the block.

    The process environment is pointed at the emulator inside the block and
    restored afterwards.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    # What moto's ThreadedMotoServer runs (its WSGI app on werkzeug's threaded server), with the two classes above.
    server = make_server("127.0.0.1", 0, _Dispatcher(), threaded=True, request_handler=_KeepAliveHandler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    host, port = str(server.server_address[0]), server.server_address[1]
    endpoint = f"http://{host}:{port}"
    env = {
        **_AWS_ENV,
        "AWS_ENDPOINT_URL": endpoint,
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "GLUE_DATABASE": DATABASE,
        "GLUE_TABLE": TABLE,
        **(extra_env or {}),
    }
    try:
        with environment(env):
            emulator = LocalAws(endpoint=endpoint, env=env)
            emulator.reset()  # moto keeps its state per process, not per server: start from an empty account
            yield emulator
    finally:
        server.shutdown()
        serving.join()


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` inside the block, restored afterwards."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
