"""The streaming core: a CSV byte stream in, sorted Parquet-ready tables to a :class:`Sink`, rejects to a spool.

No AWS here: the unit of work gives it a sink that writes S3 objects, the
benchmark one that writes local files. Memory stays bounded: the stream is
read in pieces of ``CSV_BLOCK_BYTES``, and at most ``ROWS_PER_FILE`` good rows
wait for their write.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from lambda_app.cleaning import CleanBatch, CsvLayout, ReparseNeeded, iter_clean_batches, read_with_retries
from lambda_app.errors import ReconciliationError, RejectsTooLargeError
from lambda_app.logs import logger
from lambda_app.model import LoadCounts
from lambda_app.parquet import ROW_GROUP_ROWS
from lambda_app.pools import pool_if

# The rows from which the last flush of a file is written as two objects at once: after the parse,
# sorting and encoding it alone took 16-20% of a 1M-row file's time (docs/benchmarks.md, session 21).
SPLIT_TAIL_ROWS = 2 * ROW_GROUP_ROWS

# Below this many rows the date sort takes on the calling thread: two threads' start-up and hand-off cost more
# than they save (an orders-like table of 24 columns: about 1 ms on the calling thread against 2 ms on two
# threads at 10k rows, about even near 40k, twice as fast on two threads from 130k).
_PARALLEL_TAKE_ROWS = 32 * 1024


@dataclass(frozen=True)
class Source:
    """What is being read and how: the input key (stored on every row), its ingestion time, the piece sizes."""

    key: str
    ingested_at: datetime
    block_size: int
    rows_per_file: int
    max_rejects_bytes: int = 256 * 1024**2
    split_tail_rows: int = field(default_factory=lambda: SPLIT_TAIL_ROWS)  # read when built: tests lower it


class Sink(Protocol):
    """Where the good rows go."""

    def write(self, table: pa.Table) -> list[str]:
        """Store one table sorted by order date; return the names of what was written (for ``discard``).

        Two calls may run at once, on two threads: the earlier write and the second half of a split last
        flush (then the first half runs after the earlier write)."""
        ...

    def discard(self, written: list[str]) -> None:
        """Remove what earlier ``write`` calls of an abandoned pass wrote."""
        ...

    def observe(self, table: pa.Table) -> None:
        """See every good block as it is read (the benchmark feeds its report builder; a no-op in the Lambda)."""
        ...


def load_stream(stream: IO[bytes], source: Source, sink: Sink, load: LoadCounts) -> None:
    """Sniff the header, then :func:`stream_file`, reading again from the start when the file requires it.

    The fast parser is tried first; a file that needs the careful one (quoted
    line breaks, malformed rows) or another encoding is read again after the
    sink discarded what the first pass wrote.
    """

    def restart(again: ReparseNeeded) -> None:
        logger.info("reading the file again", extra={"key": source.key, "why": str(again)[:200]})
        sink.discard(load.written)
        if load.rejects_file:
            os.unlink(load.rejects_file)
        load.reset()

    def attempt(text: IO[bytes], layout: CsvLayout) -> None:
        stream_file(text, layout, source, sink, load)

    _, layout = read_with_retries(stream, attempt, restart)
    load.encoding = layout.encoding


def stream_file(stream: IO[bytes], layout: CsvLayout, source: Source, sink: Sink, load: LoadCounts) -> None:
    """Parse and validate piece by piece; hand the sink a sorted table every ``source.rows_per_file`` rows.

    Rejected rows are spooled to a local CSV file named in ``load.rejects_file``.
    Sorting + writing, and observing, each run on their own background thread,
    in order, while this thread parses the next piece (Arrow releases the
    GIL), with at most one write and two observations in flight so memory
    stays bounded. Nothing is left to overlap the last flush with, so when it
    holds at least ``source.split_tail_rows`` rows it is sorted once (once the
    earlier write has sorted and let its pieces go, while it encodes) and
    written as two objects on two threads (each half a date range of its own).
    A failed earlier write does not stop the two halves: they are recorded in
    ``load.written`` like every completed write, so the caller's rollback
    deletes them with the rest.
    """
    pending: list[pa.Table] = []
    pending_rows = 0
    rejects = _RejectsSpool(source.max_rejects_bytes)
    writer = _Worker(load, max_in_flight=1)  # each write holds ROWS_PER_FILE rows twice (and its sorted copy)
    second = _Worker(load, max_in_flight=1)  # the second half of a split last flush
    watcher = _Worker(load, max_in_flight=2)
    released = threading.Event()  # the last write submitted has let its pieces go (set: none yet)
    released.set()
    try:
        for batch in iter_clean_batches(
            stream, layout, source_key=source.key, ingested_at=source.ingested_at, block_size=source.block_size
        ):
            _account(batch, load)
            rejects.add(batch.rejects)
            if batch.good.num_rows:
                pending.append(batch.good)
                pending_rows += batch.good.num_rows
                watcher.submit(sink.observe, batch.good)
            if pending_rows >= source.rows_per_file:
                released = threading.Event()
                writer.submit(partial(_write_sorted, sink, released=released), pending)
                pending, pending_rows = [], 0
        if pending_rows >= source.split_tail_rows:
            # Sorted here while the earlier write may still be encoding, but not while it sorts: then its
            # pieces are let go, and at most ROWS_PER_FILE rows are held three times (its sorted copy, the
            # pieces here and their sorted copy), as when this waited for the whole write.
            released.wait()
            ordered = sort_by_order_date(pending)
            del pending[:]
            half = ordered.num_rows // 2
            second.submit(sink.write, ordered.slice(half))  # starts now, on its own thread
            writer.submit(sink.write, ordered.slice(0, half))  # starts when the earlier write is done
        elif pending_rows:
            writer.submit(partial(_write_sorted, sink), pending)
    finally:
        try:
            _close_all([writer, second, watcher])
        finally:
            load.rejects_file = rejects.close()


def _close_all(workers: list[_Worker]) -> None:
    """Close every worker (each records what it wrote), then re-raise the first failure."""
    failure: BaseException | None = None
    for worker in workers:
        try:
            worker.close()
        except BaseException as exc:  # the others still record what they wrote
            failure = failure or exc
    if failure is not None:
        raise failure


class _Worker:
    """An ordered background thread; what its tasks return (a list of names) is added to ``load.written``.

    ``close`` waits for every task, records every write that completed (so a
    failed or restarted load can delete it) and re-raises the first failure.
    """

    def __init__(self, load: LoadCounts, max_in_flight: int) -> None:
        self._load = load
        self._max_in_flight = max_in_flight
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink")
        self._futures: list[Future[Any]] = []

    def submit(self, task: Callable[[Any], Any], argument: Any) -> None:
        self._futures.append(self._pool.submit(task, argument))
        while len(self._futures) > self._max_in_flight:
            self._settle(self._futures.pop(0))

    def _settle(self, future: Future[Any]) -> None:
        result = future.result()
        if isinstance(result, list):
            self._load.written += result

    def close(self) -> None:
        failure: BaseException | None = None
        for future in self._futures:
            try:
                self._settle(future)
            except BaseException as exc:  # keep collecting what the other tasks wrote
                failure = failure or exc
        self._futures.clear()
        self._pool.shutdown(wait=True)
        if failure is not None:
            raise failure


def _account(batch: CleanBatch, load: LoadCounts) -> None:
    if (
        batch.good.num_rows + batch.rejects.num_rows != batch.rows_in
        or sum(batch.reasons.values()) != batch.rejects.num_rows
    ):
        raise ReconciliationError(
            f"a block of {batch.rows_in} rows became {batch.good.num_rows} loaded + {batch.rejects.num_rows} rejected"
        )
    load.rows_read += batch.rows_in
    load.rows_loaded += batch.good.num_rows
    load.rows_rejected += batch.rejects.num_rows
    load.reasons.update(batch.reasons)


def _write_sorted(sink: Sink, tables: list[pa.Table], released: threading.Event | None = None) -> list[str]:
    """Sort the pieces into one table and write it; the pieces are let go before the encoding starts.

    ``released`` is set once they are (or once the sort failed), so the caller may sort the next pieces.
    """
    try:
        ordered = sort_by_order_date(tables)
        del tables[:]  # the caller handed this list over: only the sorted copy stays while it is encoded
    finally:
        if released is not None:
            released.set()
    return sink.write(ordered)


def sort_by_order_date(tables: list[pa.Table]) -> pa.Table:
    """One table sorted by order date, so Parquet row-group statistics prune date filters."""
    table = pa.concat_tables(tables)
    order = pc.sort_indices(table["order_date"])
    # Column by column on two threads (take releases the GIL): several times faster than Table.take here.
    with pool_if(table.num_rows >= _PARALLEL_TAKE_ROWS, workers=2) as pool:
        columns = list(pool.map(lambda column: column.take(order), table.columns))
    return pa.Table.from_arrays(columns, schema=table.schema)


class _RejectsSpool:
    """Rejected rows streamed to a local CSV file (Lambda's /tmp), uploaded only on completion.

    Bounded: past ``max_bytes``, or when the disk is full, the file is refused as a whole
    (``RejectsTooLargeError``, permanent) instead of failing the same way on every retry.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._path: str | None = None
        self._writer: pv.CSVWriter | None = None
        self._sink: pa.OSFile | None = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        try:
            if self._writer is None:
                handle, self._path = tempfile.mkstemp(prefix="rejects-", suffix=".csv")
                os.close(handle)
                self._sink = pa.OSFile(self._path, "wb")
                self._writer = pv.CSVWriter(self._sink, table.schema)
            self._writer.write_table(table)
        except OSError as exc:  # ENOSPC and friends (pyarrow raises OSError subclasses for I/O errors)
            raise RejectsTooLargeError(
                f"the rejected rows could not be spooled to local disk: {exc.strerror or exc}"
            ) from exc
        assert self._sink is not None
        if self._sink.tell() > self._max_bytes:
            raise RejectsTooLargeError(
                f"the rejected rows pass MAX_REJECTS_BYTES ({self._max_bytes} bytes); nothing was loaded"
            )

    def close(self) -> str | None:
        if self._writer is not None and self._sink is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
        return self._path
