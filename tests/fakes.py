"""The storage port in memory, faults injected into any storage, and an in-memory twin of the emulator.

``MemoryStorage`` implements ``lambda_app.ports.Storage`` with S3's semantics
where the pipeline relies on them (versions, ETags, conditional writes, sorted
listings, deletes of missing keys) and Glue's (create-if-missing, partitions).
``MemoryAws`` has the interface of ``orders_tools.emulator.LocalAws``, so a
scenario runs unchanged against either: ``world`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import pandas as pd
from botocore.exceptions import ClientError

from lambda_app import paths
from lambda_app.app import App
from lambda_app.model import ObjectInfo
from lambda_app.paths import MAX_KEY_BYTES
from lambda_app.ports import PreconditionFailedError, Storage
from lambda_app.schema import GLUE_COLUMN_TYPES, GLUE_PARTITION_TYPES
from lambda_app.settings import Settings
from orders_tools.emulator import DATABASE, INPUT_BUCKET, OUTPUT_BUCKET, TABLE, LambdaContext, notification


@dataclass
class _Version:
    body: bytes
    etag: str
    version_id: str


class MemoryStorage:
    """``Storage`` in a dict; every bucket versioned; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], list[_Version]] = {}
        self._counter = 0
        self.tables: dict[tuple[str, str], dict[str, Any]] = {}

    def _put(self, bucket: str, key: str, body: bytes) -> _Version:
        self._counter += 1
        version = _Version(bytes(body), hashlib.md5(body).hexdigest(), f"v{self._counter:08d}")  # noqa: S324 - S3's ETag
        self._objects.setdefault((bucket, key), []).append(version)
        return version

    def _current(self, bucket: str, key: str) -> _Version | None:
        versions = self._objects.get((bucket, key))
        return versions[-1] if versions else None

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo | None:
        with self._lock:
            versions = self._objects.get((bucket, key)) or []
            chosen = [v for v in versions if version_id is None or v.version_id == version_id]
        found = chosen[-1] if chosen else None
        return None if found is None else ObjectInfo(len(found.body), found.etag, found.version_id)

    @contextmanager
    def open(self, bucket: str, key: str, version_id: str | None = None) -> Iterator[IO[bytes]]:
        with self._lock:
            versions = self._objects.get((bucket, key)) or []
            chosen = [v for v in versions if version_id is None or v.version_id == version_id]
        if not chosen:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "missing"}}, "GetObject")
        yield io.BytesIO(chosen[-1].body)

    def get(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            current = self._current(bucket, key)
        return None if current is None else (current.body, current.etag)

    def put(
        self, bucket: str, key: str, body: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        if len(key.encode()) > MAX_KEY_BYTES:  # what S3 answers; moto does not check
            raise ClientError({"Error": {"Code": "KeyTooLongError", "Message": "Your key is too long"}}, "PutObject")
        with self._lock:
            current = self._current(bucket, key)
            if if_none_match and current is not None:
                raise PreconditionFailedError(f"s3://{bucket}/{key} exists")
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailedError(f"s3://{bucket}/{key} changed")
            return self._put(bucket, key, body).etag

    def upload_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "rb") as handle:
            self.put(bucket, key, handle.read())

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for (b, k) in self._objects if b == bucket and k.startswith(prefix))

    def delete(self, bucket: str, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._objects.pop((bucket, key), None)

    def delete_every_version(self, bucket: str, key: str) -> None:
        self.delete(bucket, [key])

    def ensure_table(self, database: str, table: str, location: str) -> bool:
        with self._lock:
            if (database, table) in self.tables:
                return False
            self.tables[(database, table)] = {
                "location": location,
                "columns": dict(GLUE_COLUMN_TYPES),
                "partition_keys": dict(GLUE_PARTITION_TYPES),
                "partitions": {},
            }
            return True

    def add_partition(self, database: str, table: str, location: str, value: str) -> None:
        with self._lock:
            self.tables[(database, table)]["partitions"].setdefault(location, [value])

    def query(self, sql: str, *, database: str, workgroup: str, parameters: Sequence[str] = ()) -> pd.DataFrame:
        raise NotImplementedError("MemoryStorage runs no SQL: the Athena engine is tested on the emulator")


@dataclass
class _Fault:
    method: str
    action: Callable[..., None]
    when: Callable[..., bool]
    active: bool = True


class FaultyStorage:
    """Any ``Storage`` with hooks: ``before(method, action, when)`` runs ``action(*args)`` before matching calls."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self._faults: list[_Fault] = []

    def before(
        self, method: str, action: Callable[..., None], when: Callable[..., bool] = lambda *a, **k: True
    ) -> Callable[[], None]:
        """Install a hook; return a function that removes it."""
        fault = _Fault(method, action, when)
        self._faults.append(fault)

        def restore() -> None:
            fault.active = False

        return restore

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            for fault in self._faults:
                if fault.active and fault.method == name and fault.when(*args, **kwargs):
                    fault.action(*args, **kwargs)
            return real(*args, **kwargs)

        return call


class LandsThenFails:
    """A storage whose ``nth`` PUT of ``key`` reaches storage but whose answer is lost: ``error`` is raised
    after the write (a timeout or reset connection, or the SDK's retry answered 412)."""

    def __init__(self, inner: Any, key: str, nth: int, error: BaseException) -> None:
        self.inner, self.key, self.nth, self.error, self.seen = inner, key, nth, error, 0

    def put(self, bucket: str, key: str, body: bytes, **kwargs: Any) -> str:
        etag: str = self.inner.put(bucket, key, body, **kwargs)
        if key == self.key:
            self.seen += 1
            if self.seen == self.nth:
                raise self.error
        return etag

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Killed(BaseException):
    """Raised past every ``except Exception``: nothing after it runs, as when Lambda kills the process."""


def kill_at_commit(world: Any, key: str) -> Callable[[], None]:
    """Make the invocation die (``Killed``) at the commit of input ``key``: the second write of its state
    (the first is the write-ahead). Wraps ``world.storage`` in a ``FaultyStorage``; returns the undo."""
    faulty = world.storage if isinstance(world.storage, FaultyStorage) else FaultyStorage(world.storage)
    world.storage = faulty
    state = f"state/sources/{paths.source_id(world.input_bucket, key)}.json"
    writes: list[str] = []

    def action(_bucket: str, written: str, *_: Any, **__: Any) -> None:
        if written == state:
            writes.append(written)
            if len(writes) == 2:
                raise Killed

    return faulty.before("put", action)


def fail_after(calls: int, code: str, operation: str) -> Callable[..., None]:
    """An action raising a botocore ``ClientError`` with ``code`` on the ``calls``-th call and after."""
    seen = {"n": 0}

    def action(*_: Any, **__: Any) -> None:
        seen["n"] += 1
        if seen["n"] >= calls:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)

    return action


@dataclass
class MemoryAws:
    """The emulator's interface (``LocalAws``) over ``MemoryStorage``: the same scenarios, in milliseconds."""

    input_bucket: str = INPUT_BUCKET
    output_bucket: str = OUTPUT_BUCKET
    env: dict[str, str] = field(
        default_factory=lambda: {"OUTPUT_BUCKET": OUTPUT_BUCKET, "GLUE_DATABASE": DATABASE, "GLUE_TABLE": TABLE}
    )
    memory: MemoryStorage = field(default_factory=MemoryStorage)
    storage: Any = None
    _sequence: int = 0

    def __post_init__(self) -> None:
        self.storage = self.memory

    def settings(self) -> Settings:
        return Settings.from_env({**os.environ, **self.env})

    def app(self) -> App:
        return App(self.settings(), self.storage)

    def reset(self) -> None:
        self.memory = MemoryStorage()
        self.storage = self.memory
        self._sequence = 0

    def upload(self, key: str, body: bytes, bucket: str | None = None) -> dict[str, Any]:
        self.memory.put(bucket or self.input_bucket, key, body)
        info = self.memory.head(bucket or self.input_bucket, key)
        assert info is not None
        return {"ContentLength": info.size, "ETag": f'"{info.etag}"', "VersionId": info.version_id}

    def delete_input(self, key: str) -> None:
        self.memory.delete(self.input_bucket, [key])

    def create_bucket(self, bucket: str) -> None:
        """Buckets exist as soon as they hold an object here."""

    def object_created_event(
        self, key: str, head: dict[str, Any], event_time: datetime, bucket: str | None = None
    ) -> dict[str, Any]:
        self._sequence += 1
        return notification(bucket or self.input_bucket, key, head, event_time, self._sequence)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.app().handle(event, LambdaContext())

    def read_output(self, key: str) -> bytes:
        found = self.memory.get(self.output_bucket, key)
        if found is None:
            raise KeyError(key)
        return found[0]

    def output_keys(self, prefix: str = "") -> list[str]:
        return self.memory.list_keys(self.output_bucket, prefix)

    def partitions(self) -> dict[str, list[str]]:
        """Registered partitions: location -> values."""
        settings = self.settings()
        table = self.memory.tables.get((settings.glue_database, settings.glue_table))
        return dict(table["partitions"]) if table else {}

    def table_columns(self) -> list[str]:
        settings = self.settings()
        table = self.memory.tables[(settings.glue_database, settings.glue_table)]
        return [*table["columns"], *table["partition_keys"]]
