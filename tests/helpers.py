"""Helpers for tests: canonical CSV lines, and driving the handler through the emulator or its in-memory twin."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from hypothesis import settings

from orders_tools.emulator import LocalAws
from tests.fakes import MemoryAws

# Either backend: the emulator (real AWS adapter over HTTP) or its in-memory twin.
World = LocalAws | MemoryAws

CANONICAL_HEADER = (
    "Order Id,Order Date,Ship Mode,Segment,Country,City,State,Postal Code,Region,Category,"
    "Sub Category,Product Id,cost price,List Price,Quantity,Discount Percent"
)
EVENT_TIME = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


def examples(n: int) -> int:
    """A property test's budget: ``n`` examples under the default profile, scaled by the loaded one.

    The default profile has hypothesis's 100 examples; ``thorough`` (HYPOTHESIS_PROFILE=thorough, `make
    test-thorough`) has 1000, so every budget grows tenfold there.
    """
    return max(1, n * settings.default.max_examples // 100)


def every(n: int) -> int:
    """A sweep's stride: every ``n``-th case under the default profile, every case under ``thorough``."""
    return max(1, n * 100 // settings.default.max_examples)


def csv_bytes(*rows: str, header: str = CANONICAL_HEADER, newline: str = "\r\n") -> bytes:
    """A CSV file in the canonical export format (CRLF by default)."""
    return newline.join([header, *rows]).encode() + newline.encode()


def line(
    order_id: str = "CA-1",
    order_date: str = "2023-09-05",
    ship_mode: str = "Standard Class",
    region: str = "West",
    category: str = "Furniture",
    sub_category: str = "Bookcases",
    cost: str = "240",
    price: str = "260",
    quantity: str = "2",
    discount: str = "2",
) -> str:
    """One canonical data row; defaults are the issue's example line."""
    return (
        f"{order_id},{order_date},{ship_mode},Consumer,United States,San Francisco,California,94109,"
        f"{region},{category},{sub_category},FUR-BO-10001798,{cost},{price},{quantity},{discount}"
    )


def upload_and_deliver(aws: World, key: str, body: bytes, when: datetime = EVENT_TIME) -> dict[str, Any]:
    head = aws.upload(key, body)
    return aws.deliver(aws.object_created_event(key, head, when))


def read_output(aws: World, key: str) -> bytes:
    return aws.read_output(key)


def output_keys(aws: World, prefix: str = "") -> list[str]:
    return aws.output_keys(prefix)


def report_rows(aws: World, name: str, day: str = "2026/11/26") -> list[list[str]]:
    import csv

    text = read_output(aws, f"analytics/{day}/{name}.csv").decode()
    return list(csv.reader(io.StringIO(text)))


def manifest_key(aws: World, key: str, day: str = "2026/11/26") -> str:
    """Where the run manifest of input ``key`` (in the input bucket) lives for a day (``YYYY/MM/DD``)."""
    return f"runs/{day}/{aws.input_bucket}/{key}.json"


def error_key(aws: World, key: str, day: str = "2026/11/26") -> str:
    return f"errors/{day}/{aws.input_bucket}/{key}.json"


def rejects_key(aws: World, key: str, partition: str = "ingest_date=2026-11-26") -> str:
    """The one rejects object of input ``key`` in a day (its name carries the loading attempt's id)."""
    folder = f"rejects/{partition}/{aws.input_bucket}/{key}."
    found = [k for k in aws.output_keys(folder) if k.endswith(".rejects.csv") and "/" not in k[len(folder) :]]
    assert len(found) == 1, found
    return found[0]
