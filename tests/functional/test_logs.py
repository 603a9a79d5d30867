"""The handler's logs: one JSON object per line, with keys and counts, and never an input cell's value."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from lambda_app.logs import logger
from tests.fakes import MemoryAws
from tests.helpers import EVENT_TIME, csv_bytes, line

SECRET = "Zq7SECRET"  # in every cell of the messy files below; no log line may contain it


def _cells(i: int) -> dict[str, str]:
    return {"order_id": f"{SECRET}-id-{i}", "region": f"{SECRET}-region", "category": f"{SECRET}-cat"}


FILES = {
    # good rows, bad rows of each kind, a malformed row, a quoted line break (re-read carefully)
    "mixed.csv": csv_bytes(
        *(line(**_cells(i)) for i in range(8)),
        line(f"{SECRET}-q", quantity=f"{SECRET}"),
        line(f"{SECRET}-d", order_date=f"{SECRET}-date"),
        f"{SECRET}-short,row",
        line(f"{SECRET}-nl", region=f'"{SECRET}\nregion"'),
    ),
    # too many bad rows: the whole file is refused
    "refused.csv": csv_bytes(*(line(f"{SECRET}-{i}", quantity=f"{SECRET}") for i in range(5))),
    # missing columns, with secret header cells and values
    "columns.csv": csv_bytes(f"{SECRET},x", header=f"Order Id,{SECRET}-header"),
    # not a CSV at all
    "binary.csv": b"\x00\x01" + SECRET.encode() + b"\xff\xfe" * 100,
    # Windows-1252 text
    "cp1252.csv": csv_bytes(line(f"{SECRET}-caf\u00e9")).replace("é".encode(), b"\xe9"),
}


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """What the handler's logger writes (to stdout, i.e. CloudWatch, in Lambda), captured."""
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
        logger.setLevel(level)


def test_every_log_line_is_json_and_no_input_value_reaches_a_log(log_stream: io.StringIO) -> None:
    """Expected: delivering messy, refused and unreadable files logs only JSON objects (one per line), each
    with a level and a message; the marker in every input cell and header appears in none of them."""
    aws = MemoryAws()
    for i, (key, body) in enumerate(FILES.items()):
        head = aws.upload(key, body)
        aws.deliver(aws.object_created_event(key, head, EVENT_TIME + timedelta(seconds=i)))
    out = log_stream.getvalue()
    lines = [text for text in out.splitlines() if text.strip()]
    assert len(lines) >= len(FILES)
    for text in lines:
        document = json.loads(text)
        assert isinstance(document, dict) and {"level", "message"} <= set(document), text
        assert SECRET not in text, text
