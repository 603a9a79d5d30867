"""Each source's state object, changed only by compare-and-swap, and the ordering of its events.

One JSON object per source (input bucket + key) under ``state/sources/``:

* ``sequencer``, ``attempt``, ``days``, ``result``: the committed load (the
  newest event whose rows are in the dataset), or absent;
* ``pending``: attempts that registered before writing and have not finished
  (in flight, or crashed): ``{attempt: {"sequencer", "day", "started_at"}}``;
* ``garbage``: attempts whose objects must be deleted: ``{attempt: [days]}``.

Every change is a read, a pure function of the document, and a conditional
write (S3 ``If-Match`` on the ETag read, or ``If-None-Match: *`` when there is
no object yet); a lost race reads again and re-decides. So an older event can
never replace a newer one, and no attempt deletes objects that the state does
not hand it as garbage. The protocol around it is in :mod:`lambda_app.unit_of_work`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambda_app.errors import ConcurrentLoadError
from lambda_app.model import not_newer
from lambda_app.ports import PreconditionFailedError, Storage

MAX_ROUNDS = 25  # compare-and-swap rounds before the event is retried instead


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()


class JsonObjects:
    """JSON documents in the output bucket, read with their ETag and written conditionally."""

    def __init__(self, storage: Storage, bucket: str) -> None:
        self.storage = storage
        self.bucket = bucket

    def read(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        found = self.storage.get(self.bucket, key)
        if found is None:
            return None, None
        return dict(json.loads(found[0])), found[1]

    def update(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Apply ``change`` by compare-and-swap until it sticks; return what was written (``None``: nothing to do).

        ``change`` gets the current document (``None`` when absent) and returns
        the new one, or ``None`` to leave it; it may run several times.
        """
        for _ in range(MAX_ROUNDS):
            current, etag = self.read(key)
            wanted = change(None if current is None else json.loads(json.dumps(current)))
            if wanted is None:
                return None
            try:
                if etag is None:
                    self.storage.put(self.bucket, key, _dump(wanted), if_none_match=True)
                else:
                    self.storage.put(self.bucket, key, _dump(wanted), if_match=etag)
            except PreconditionFailedError:
                continue
            return wanted
        raise ConcurrentLoadError(f"s3://{self.bucket}/{key} kept changing under {MAX_ROUNDS} rounds of updates")

    def put_if_newer(self, key: str, document: dict[str, Any]) -> bool:
        """Write ``document`` unless the object holds one decided by a newer event (field ``decided_by``)."""

        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            newer_there = (
                current is not None
                and not_newer(document.get("decided_by"), current.get("decided_by"))
                and current.get("decided_by") != document.get("decided_by")
            )
            return None if newer_there else document

        return self.update(key, change) is not None
