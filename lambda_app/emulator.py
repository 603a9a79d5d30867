"""A local AWS for ``orders-analytics demo``/``run`` and the integration tests.

Starts moto's server on 127.0.0.1 (random free port) and points the standard
AWS settings at it (``AWS_ENDPOINT_URL`` and dummy credentials), so the
handler and awswrangler run unchanged, over HTTP, exactly as against AWS.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lambda_app import events
from lambda_app.settings import Settings

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


@dataclass
class LocalAws:
    """A running emulator with the product's buckets and Glue database."""

    endpoint: str
    input_bucket: str = INPUT_BUCKET
    output_bucket: str = OUTPUT_BUCKET
    env: dict[str, str] = field(default_factory=dict)
    _sequence: int = 0

    def settings(self) -> Settings:
        return Settings.from_env({**os.environ, **self.env})

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        """Put an input object; return its HEAD (size, ETag, VersionId)."""
        import boto3

        s3 = boto3.client("s3")
        s3.put_object(Bucket=self.input_bucket, Key=key, Body=body)
        return dict(s3.head_object(Bucket=self.input_bucket, Key=key))

    def object_created_event(self, key: str, head: dict[str, Any], event_time: datetime) -> dict[str, Any]:
        """The notification S3 would send for an upload just made (increasing sequencer per upload)."""
        self._sequence += 1
        return events.s3_event(
            events.object_created_record(
                bucket=self.input_bucket,
                key=key,
                size=int(head["ContentLength"]),
                etag=str(head["ETag"]).strip('"'),
                event_time=event_time,
                sequencer=f"{int(event_time.timestamp() * 1000):012X}{self._sequence:06X}",
                version_id=head.get("VersionId"),
                region=REGION,
            )
        )

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the real handler with an S3 event, as the Lambda service would."""
        from lambda_app.handler import lambda_handler

        return lambda_handler(event, None)

    def download_output(self, target: Path) -> list[Path]:
        """Copy every object of the output bucket to ``target`` with the same keys."""
        import boto3

        s3 = boto3.client("s3")
        written: list[Path] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.output_bucket):
            for item in page.get("Contents", []):
                destination = target / item["Key"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(self.output_bucket, item["Key"], str(destination))
                written.append(destination)
        return written

    def write_catalog(self, target: Path) -> Path:
        """Write the Glue table as registered to ``target/_catalog/<db>.<table>.json``."""
        from lambda_app.storage import get_table_description

        settings = self.settings()
        description = get_table_description(settings)
        path = target / "_catalog" / f"{settings.glue_database}.{settings.glue_table}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(description, indent=2, default=str) + "\n")
        return path


@contextmanager
def local_aws(extra_env: dict[str, str] | None = None) -> Iterator[LocalAws]:
    """Run a moto server and the product's resources for the duration of the block.

    The process environment is pointed at the emulator inside the block and
    restored afterwards.
    """
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()  # noqa: S310 - loopback
    env = {
        **_AWS_ENV,
        "AWS_ENDPOINT_URL": endpoint,
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "GLUE_DATABASE": DATABASE,
        "GLUE_TABLE": TABLE,
        **(extra_env or {}),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=INPUT_BUCKET)
        s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.create_bucket(Bucket=OUTPUT_BUCKET)
        boto3.client("glue").create_database(DatabaseInput={"Name": env["GLUE_DATABASE"]})
        yield LocalAws(endpoint=endpoint, env=env)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
