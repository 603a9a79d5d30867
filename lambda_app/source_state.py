"""Each source's state object, changed only by compare-and-swap, and the ordering of its events.

One JSON object per source (input bucket + key) under ``state/sources/``:

* ``sequencer``, ``attempt``, ``days``, ``result``: the committed load (the
  newest event whose rows are in the dataset), or absent;
* ``pending``: attempts that registered before writing and have not finished
  (in flight, or crashed): ``{attempt: {"sequencer", "day", "started_at"}}``;
* ``garbage``: attempts whose objects must be deleted: ``{attempt: [days]}``;
* ``owed``: days a commit changed besides its own whose refresh is not yet confirmed (absent when none);
  the next commit of the source refreshes them too (``unit_of_work.owed_days``).

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
    """JSON documents in the output bucket, read with their ETag and written conditionally.

    An update starts from the version this object last read or wrote of the
    key, when it has one, instead of reading it again: its write is conditional
    on that ETag, so a stale version only costs a lost round (and a fresh read).
    A key last read as absent is remembered as absent: the update's write is
    then ``If-None-Match: *``, which loses the same way if the key appeared (a
    new file's write-ahead needs no second GET of its missing state).
    A change that finds nothing to do in a remembered version is decided again
    on a fresh read, so no decision rests on a version older than the call.
    """

    _REMEMBERED = 16  # keys whose last version is kept (the unit of work touches one state at a time)

    def __init__(self, storage: Storage, bucket: str) -> None:
        self.storage = storage
        self.bucket = bucket
        # key -> (body, ETag) last read or written here, or None: absent when last read
        self._versions: dict[str, tuple[bytes, str] | None] = {}

    def read(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        found = self.storage.get(self.bucket, key)
        if found is None:
            self._remember(key, None)
            return None, None
        self._remember(key, found)
        return dict(json.loads(found[0])), found[1]

    def update(
        self,
        key: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        *,
        likely_new: bool = False,
    ) -> dict[str, Any] | None:
        """Apply ``change`` by compare-and-swap until it sticks; return what was written (``None``: nothing to do).

        ``change`` gets the current document (``None`` when absent) and returns
        the new one, or ``None`` to leave it; it may run several times.
        ``likely_new``: with no remembered version, start as if the key were
        absent (``If-None-Match: *``) instead of reading it: one GET fewer for a
        key that is usually new, one lost PUT more when it is not.
        """
        remembered = likely_new or key in self._versions
        version = self._versions.pop(key, None)
        for _ in range(MAX_ROUNDS):
            current: dict[str, Any] | None
            etag: str | None
            if remembered:
                current, etag = (dict(json.loads(version[0])), version[1]) if version is not None else (None, None)
            else:
                current, etag = self.read(key)
            wanted = change(current)
            if wanted is None:
                if remembered:  # decide "nothing to do" on the object as it is now
                    remembered = False
                    continue
                return None
            remembered = False
            body = _dump(wanted)
            try:
                if etag is None:
                    written = self.storage.put(self.bucket, key, body, if_none_match=True)
                else:
                    written = self.storage.put(self.bucket, key, body, if_match=etag)
            except PreconditionFailedError:
                continue
            self._remember(key, (body, written))
            return wanted
        raise ConcurrentLoadError(f"s3://{self.bucket}/{key} kept changing under {MAX_ROUNDS} rounds of updates")

    def _remember(self, key: str, version: tuple[bytes, str] | None) -> None:
        if len(self._versions) >= self._REMEMBERED:
            self._versions.clear()
        self._versions[key] = version

    def put_if_newer(self, key: str, document: dict[str, Any]) -> bool:
        """Write ``document`` unless the object holds one decided by a newer event (field ``decided_by``).

        Its documents (a key's manifest or error record of a day) are usually new: written ``likely_new``.
        """

        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            newer_there = (
                current is not None
                and not_newer(document.get("decided_by"), current.get("decided_by"))
                and current.get("decided_by") != document.get("decided_by")
            )
            return None if newer_there else document

        return self.update(key, change, likely_new=True) is not None
