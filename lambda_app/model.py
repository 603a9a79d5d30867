"""The value types that pass between the layers: an object event in, a file's result out.

Pure: standard library only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """What happened to one input object."""

    LOADED = "loaded"
    REJECTED_FILE = "rejected_file"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"  # a manifest whose rows a newer version of the key replaced (on another day)


@dataclass(frozen=True)
class ObjectEvent:
    """One S3 ``ObjectCreated`` record, decoded."""

    bucket: str
    key: str
    event_time: datetime
    sequencer: str | None = None
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None

    @property
    def ingest_date(self) -> date:
        return self.event_time.astimezone(UTC).date()


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD request tells about an object."""

    size: int
    etag: str
    version_id: str | None = None


@dataclass
class FileResult:
    """What happened to one input object; also the body of its run manifest."""

    bucket: str
    key: str
    status: Status
    ingest_date: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    objects_written: list[str] = field(default_factory=list)
    reason: str | None = None
    detail: str | None = None
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    encoding: str | None = None
    duration_seconds: float = 0.0
    affected_days: list[str] = field(default_factory=list)
    superseded_days: list[str] = field(default_factory=list)
    decided_by: str | None = None  # the sequencer of the event that wrote this document (newer ones win)

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["status"] = str(self.status)
        return document


@dataclass
class LoadCounts:
    """Running totals of one file's load (the manifest's numbers)."""

    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    written: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    encoding: str = "utf-8"

    def reset(self) -> None:
        """Forget a partial read (objects written must have been deleted first)."""
        self.__dict__.update(LoadCounts().__dict__)


def sequence_number(sequencer: str | None) -> int | None:
    """An S3 event sequencer as a number, or ``None`` when absent or not hexadecimal.

    Sequencers are hexadecimal strings of varying length; S3's documentation
    says to left-pad the shorter with zeros before comparing, i.e. compare the
    numbers.
    """
    if not sequencer:
        return None
    try:
        return int(sequencer, 16)
    except ValueError:
        return None


def not_newer(candidate: str | None, than: str | None) -> bool:
    """True when both sequencers are known and ``candidate`` is the same event as ``than``, or an older one."""
    a, b = sequence_number(candidate), sequence_number(than)
    return a is not None and b is not None and a <= b
