"""The streaming core with a sink in memory: the last flush split into two objects written at once."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lambda_app import streaming
from lambda_app.model import LoadCounts
from lambda_app.streaming import Source, _write_sorted, load_stream
from orders_tools.generate import write_csv

ROWS = 900


class ListSink:
    """Keeps each written table by name; records the thread of each write; may fail the writes of some tables."""

    def __init__(self, fail_if: Callable[[pa.Table], bool] | None = None) -> None:
        self.tables: dict[str, pa.Table] = {}
        self.threads: dict[str, int] = {}
        self._lock = threading.Lock()
        self._calls = 0
        self._fail_if = fail_if

    def write(self, table: pa.Table) -> list[str]:
        with self._lock:
            self._calls += 1
            call = self._calls
        name = f"part-{call}"
        if self._fail_if is not None and self._fail_if(table):
            raise OSError("no space left on device")
        with self._lock:
            self.tables[name] = table
            self.threads[name] = threading.get_ident()
        return [name]

    def discard(self, written: list[str]) -> None:
        for name in written:
            del self.tables[name]

    def observe(self, table: pa.Table) -> None:
        pass


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = Path(tmp_path_factory.mktemp("streaming")) / "orders.csv"
    write_csv(path, ROWS, seed=3)
    return path.read_bytes()


def load(export: bytes, sink: ListSink, split_tail_rows: int, counts: LoadCounts | None = None) -> LoadCounts:
    counts = counts if counts is not None else LoadCounts()
    source = Source("orders.csv", datetime(2026, 11, 26, tzinfo=UTC), 8192, 400, split_tail_rows=split_tail_rows)
    load_stream(io.BytesIO(export), source, sink, counts)
    return counts


def test_a_large_last_flush_becomes_two_sorted_halves_written_on_two_threads(export: bytes) -> None:
    sink = ListSink()
    counts = load(export, sink, split_tail_rows=2)
    assert counts.rows_loaded == ROWS and sorted(counts.written) == sorted(sink.tables)
    whole = ListSink()
    load(export, whole, split_tail_rows=10**9)
    assert len(sink.tables) == len(whole.tables) + 1
    first, second = (sink.tables[name] for name in counts.written[-2:])
    assert abs(first.num_rows - second.num_rows) <= 1
    assert first.num_rows + second.num_rows == list(whole.tables.values())[-1].num_rows
    assert sink.threads[counts.written[-2]] != sink.threads[counts.written[-1]]
    for table in sink.tables.values():
        dates = table["order_date"]
        assert pc.all(pc.less_equal(dates.slice(0, len(dates) - 1), dates.slice(1))).as_py()
    assert pc.max(first["order_date"]).as_py() <= pc.min(second["order_date"]).as_py()
    ids = sorted(pa.concat_tables(sink.tables.values())["order_id"].to_pylist())
    assert ids == sorted(pa.concat_tables(whole.tables.values())["order_id"].to_pylist())


def test_the_last_flush_splits_from_split_tail_rows_on(export: bytes) -> None:
    whole = ListSink()
    counts = load(export, whole, split_tail_rows=10**9)
    last = list(whole.tables.values())[-1].num_rows
    assert len(load(export, ListSink(), split_tail_rows=last + 1).written) == len(counts.written)
    assert len(load(export, ListSink(), split_tail_rows=last).written) == len(counts.written) + 1


@pytest.mark.parametrize("half", [0, 1])
def test_a_failed_half_raises_and_the_other_half_is_recorded_for_discard(export: bytes, half: int) -> None:
    split = ListSink()
    written = load(export, split, split_tail_rows=2).written  # the earlier writes, then the two halves
    writes = len(written)
    failing = split.tables[written[half - 2]]
    sink = ListSink(fail_if=lambda table: table.equals(failing))
    counts = LoadCounts()
    with pytest.raises(OSError, match="no space left"):
        load(export, sink, split_tail_rows=2, counts=counts)
    assert sorted(counts.written) == sorted(sink.tables)
    assert len(sink.tables) == writes - 1


def test_a_write_lets_its_pieces_go_before_it_encodes(export: bytes) -> None:
    """Expected: the sink gets one table sorted by date, and the list of pieces is already empty then, so a
    write in flight holds its rows once while the last flush is sorted beside it."""
    whole = ListSink()
    load(export, whole, split_tail_rows=10**9)
    table = next(iter(whole.tables.values()))  # sorted: its two halves in the other order are not
    pieces = [table.slice(100), table.slice(0, 100)]
    held: list[int] = []

    class Probe(ListSink):
        def write(self, table: pa.Table) -> list[str]:
            held.append(len(pieces))
            return super().write(table)

    sink = Probe()
    [name] = _write_sorted(sink, pieces)
    assert held == [0]
    written = sink.tables[name]
    assert written.num_rows == table.num_rows
    assert written["order_date"].to_pylist() == sorted(table["order_date"].to_pylist())
    assert sorted(written["order_id"].to_pylist()) == sorted(table["order_id"].to_pylist())


def test_the_last_flush_is_sorted_only_once_the_earlier_write_let_its_pieces_go(
    export: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expected: the main thread's sort of the last flush starts after the earlier write's sort ended (each
    background sort made slow), so at most ROWS_PER_FILE rows are held three times whatever the timing."""
    sort = streaming.sort_by_order_date
    spans: list[tuple[bool, float, float]] = []

    def slow_sort(tables: list[pa.Table]) -> pa.Table:
        started = time.monotonic()
        on_main = threading.current_thread() is threading.main_thread()
        if not on_main:
            time.sleep(0.2)
        ordered = sort(tables)
        spans.append((on_main, started, time.monotonic()))
        return ordered

    monkeypatch.setattr(streaming, "sort_by_order_date", slow_sort)
    counts = load(export, ListSink(), split_tail_rows=2)
    assert counts.rows_loaded == ROWS
    [(_, tail_started, _)] = [span for span in spans if span[0]]
    assert tail_started >= max(ended for on_main, _, ended in spans if not on_main)


@pytest.mark.parametrize("parallel_from", [0, 10**9], ids=["two-threads", "inline"])
def test_the_date_sort_gives_the_same_table_inline_and_on_two_threads(
    export: bytes, monkeypatch: pytest.MonkeyPatch, parallel_from: int
) -> None:
    sink = ListSink()
    load(export, sink, split_tail_rows=10**9)
    pieces = [table.slice(start, 100) for table in sink.tables.values() for start in range(0, table.num_rows, 100)]
    monkeypatch.setattr(streaming, "_PARALLEL_TAKE_ROWS", parallel_from)
    ordered = streaming.sort_by_order_date(list(pieces))
    whole = pa.concat_tables(pieces)
    assert ordered.schema == whole.schema
    assert ordered.num_rows == ROWS
    assert ordered.equals(whole.take(pc.sort_indices(whole, [("order_date", "ascending")])))
