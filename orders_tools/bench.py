"""Benchmarks: the project's core against a naive pandas job, DuckDB and polars, on generated files.

Every *way* does the same job on a local CSV export: parse and type the
columns, compute ``profit``, write snappy Parquet partitioned by
``ingest_date``, and return the three reports as DataFrames:

* ``most_profitable_region``: ``region, total_profit`` (sum of profit, rounded
  to 2 places, by total descending then region);
* ``shipping_method_by_category``: ``category, ship_mode, order_count`` (per
  category the ship mode with the most distinct order ids, missing ship modes
  left out, ties to the alphabetically first mode);
* ``orders_by_category``: ``category, sub_category, order_count`` (distinct
  order ids per pair).

Ways are registered in :data:`WAYS`. The runner starts one fresh process per
way (``python -m orders_tools.bench run-one WAY CSV OUT RESULT.json``) so each
way's peak memory is its own; the child writes its timing, its peak RSS and its
reports to disk, and the parent compares the reports across ways (profit
within 0.01, everything else exact) and prints a table.

Peak RSS is the child's ``VmHWM`` (Linux) rather than ``ru_maxrss``: on Linux
``ru_maxrss`` survives ``fork``/``exec`` and would report the parent's peak
when the parent is the larger process.

Time is the wall time of the way's function in a fresh interpreter, imports of
the libraries it uses included (as in a Lambda cold start), unless the way marks
the part to time with :func:`timed` (the ``handler`` way times only the
handler's call, not the emulator's start or the upload). CPU seconds are the
child's user + system time over the same span.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import math
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pandas import DataFrame

import pyarrow as pa

from lambda_app.reports import REPORT_COLUMNS, REPORT_NAMES

# The partition value every way writes: a constant, so runs are comparable.
BENCH_INGEST_DATE = "2024-01-01"
# Largest accepted difference between two ways' total_profit values.
PROFIT_TOLERANCE = 0.01
# Piece of the file parsed at a time by the parse-only lower bound.
PARSE_CHUNK_BYTES = 16 * 1024**2

Way = Callable[[Path, Path], "dict[str, DataFrame] | None"]


# --- the ways ---------------------------------------------------------------------------------


def _check_canonical_header(csv_path: Path) -> None:
    """Raise ``ValueError`` unless the file's header is the canonical columns, in order.

    The DuckDB and parse-only ways name and type columns by position.
    """
    from lambda_app.schema import INPUT_COLUMNS, normalize_header

    with open(csv_path, encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\r\n").split(",")
    if tuple(normalize_header(cell) for cell in header) != INPUT_COLUMNS:
        raise ValueError(f"{csv_path}: header is not the canonical export header: {header}")


def naive_pandas(csv_path: Path, out_dir: Path) -> dict[str, DataFrame]:
    """The straightforward pandas job: whole file in memory, groupby/apply, ``to_parquet``."""
    import pandas as pd

    from lambda_app.schema import MISSING_SHIP_MODES, PARTITION_COLUMN, normalize_header

    df = pd.read_csv(csv_path, dtype={"Postal Code": str})
    df = df.rename(columns=normalize_header)
    df["order_date"] = pd.to_datetime(df["order_date"], format="%Y-%m-%d")
    df["profit"] = (df["list_price"] * (1 - df["discount_percent"] / 100) - df["cost_price"]) * df["quantity"]
    df[PARTITION_COLUMN] = BENCH_INGEST_DATE
    df.to_parquet(out_dir, engine="pyarrow", compression="snappy", partition_cols=[PARTITION_COLUMN], index=False)

    region = df.groupby("region")["profit"].sum().round(2).reset_index(name="total_profit")
    region = region.sort_values(["total_profit", "region"], ascending=[False, True], ignore_index=True)

    mode_key = df["ship_mode"].fillna("").astype(str).str.strip().str.lower()
    shipped = df.loc[~mode_key.isin(MISSING_SHIP_MODES), ["category", "ship_mode", "order_id"]]

    def top_mode(group: DataFrame) -> Any:
        counts = group.groupby("ship_mode")["order_id"].nunique()
        best = int(counts.max())
        return pd.Series({"ship_mode": min(counts[counts == best].index), "order_count": best})

    shipping = shipped.groupby("category").apply(top_mode).reset_index()
    shipping["order_count"] = shipping["order_count"].astype("int64")
    shipping = shipping.sort_values("category", ignore_index=True)

    by_category = (
        df.groupby(["category", "sub_category"])["order_id"]
        .nunique()
        .reset_index(name="order_count")
        .sort_values(["category", "sub_category"], ignore_index=True)
    )
    return {
        "most_profitable_region": region[list(REPORT_COLUMNS["most_profitable_region"])],
        "shipping_method_by_category": shipping[list(REPORT_COLUMNS["shipping_method_by_category"])],
        "orders_by_category": by_category[list(REPORT_COLUMNS["orders_by_category"])],
    }


def _sql_text(value: object) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


_DUCKDB_TYPES: dict[str, str] = {
    "order_date": "DATE",
    "cost_price": "DOUBLE",
    "list_price": "DOUBLE",
    "quantity": "BIGINT",
    "discount_percent": "DOUBLE",
}


def duckdb_job(csv_path: Path, out_dir: Path) -> dict[str, DataFrame]:
    """The same job in DuckDB: one streaming ``COPY`` from the typed CSV to Parquet, reports in SQL.

    The CSV is read once, straight into the partitioned Parquet output (with
    ``preserve_insertion_order = false``, DuckDB's advice for large copies);
    the reports then read the few columns they need back from that output, so
    the table is never held in memory. ``out_dir`` must not exist or be empty.
    """
    import duckdb

    from lambda_app.schema import INPUT_COLUMNS, MISSING_SHIP_MODES, PARTITION_COLUMN

    _check_canonical_header(csv_path)
    columns = ", ".join(f"{_sql_text(c)}: {_sql_text(_DUCKDB_TYPES.get(c, 'VARCHAR'))}" for c in INPUT_COLUMNS)
    missing = ", ".join(_sql_text(m) for m in sorted(MISSING_SHIP_MODES))
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"""
            COPY (
                SELECT *,
                       (list_price * (1 - discount_percent / 100) - cost_price) * quantity AS profit,
                       {_sql_text(BENCH_INGEST_DATE)} AS {PARTITION_COLUMN}
                FROM read_csv({_sql_text(csv_path)}, header = true, delim = ',', quote = '"',
                              dateformat = '%Y-%m-%d', columns = {{{columns}}})
            )
            TO {_sql_text(out_dir)} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY ({PARTITION_COLUMN}))
            """
        )
        con.execute(
            f"""
            CREATE VIEW orders AS
            SELECT * FROM read_parquet({_sql_text(out_dir / "**" / "*.parquet")}, hive_partitioning = true)
            """
        )
        region = con.execute(
            """
            SELECT region, round(sum(profit), 2) AS total_profit
            FROM orders GROUP BY region ORDER BY total_profit DESC, region
            """
        ).df()
        shipping = con.execute(
            f"""
            WITH counts AS (
                SELECT category, ship_mode, count(DISTINCT order_id) AS order_count
                FROM orders
                WHERE lower(trim(coalesce(ship_mode, ''))) NOT IN ({missing})
                GROUP BY category, ship_mode
            )
            SELECT category, ship_mode, order_count FROM (
                SELECT *, row_number() OVER (PARTITION BY category ORDER BY order_count DESC, ship_mode) AS rank
                FROM counts
            ) WHERE rank = 1 ORDER BY category
            """
        ).df()
        by_category = con.execute(
            """
            SELECT category, sub_category, count(DISTINCT order_id) AS order_count
            FROM orders GROUP BY category, sub_category ORDER BY category, sub_category
            """
        ).df()
    finally:
        con.close()
    return {
        "most_profitable_region": region,
        "shipping_method_by_category": shipping,
        "orders_by_category": by_category,
    }


def polars_job(csv_path: Path, out_dir: Path) -> dict[str, DataFrame]:
    """The same job in polars, lazy, on its streaming engine: what an analyst would write instead.

    ``scan_csv`` with the columns typed by name (no inference), ``profit`` and
    ``ingest_date`` added, ``sink_parquet`` partitioned by ``ingest_date``
    (snappy); then the three reports from the written Parquet, collected
    together on the streaming engine so the scan is shared. Like the DuckDB
    way it needs the canonical header and clean data: a bad cell fails the
    run instead of becoming a reject.
    """
    import polars as pl

    from lambda_app.schema import INPUT_COLUMNS, MISSING_SHIP_MODES, PARTITION_COLUMN

    _check_canonical_header(csv_path)
    types: dict[str, Any] = {"order_date": pl.Date, "quantity": pl.Int64}
    types |= dict.fromkeys(("cost_price", "list_price", "discount_percent"), pl.Float64)
    orders = pl.scan_csv(
        csv_path,
        new_columns=list(INPUT_COLUMNS),  # checked above to be the header, normalised, in order
        infer_schema=False,  # text unless overridden: no inference pass
        schema_overrides=types,
        empty_string_is_null=False,  # as the core and DuckDB: an empty ship mode is text, then "missing"
    ).with_columns(
        profit=(pl.col("list_price") * (1 - pl.col("discount_percent") / 100) - pl.col("cost_price"))
        * pl.col("quantity"),
        **{PARTITION_COLUMN: pl.lit(BENCH_INGEST_DATE)},
    )
    orders.sink_parquet(
        pl.PartitionBy(out_dir, key=PARTITION_COLUMN, include_key=False),  # Hive style: the key is the folder
        compression="snappy",
        mkdir=True,
        engine="streaming",
    )

    written = pl.scan_parquet(out_dir / "**" / "*.parquet", hive_partitioning=True)
    region = (
        written.group_by("region")
        .agg(total_profit=pl.col("profit").sum().round(2))
        .sort(["total_profit", "region"], descending=[True, False])
    )
    mode_key = pl.col("ship_mode").fill_null("").str.strip_chars().str.to_lowercase()
    shipping = (
        written.filter(~mode_key.is_in(sorted(MISSING_SHIP_MODES)))
        .group_by("category", "ship_mode")
        .agg(order_count=pl.col("order_id").n_unique())
        .sort(["category", "order_count", "ship_mode"], descending=[False, True, False])
        .unique("category", keep="first", maintain_order=True)
    )
    by_category = (
        written.group_by("category", "sub_category")
        .agg(order_count=pl.col("order_id").n_unique())
        .sort("category", "sub_category")
    )
    queries = {
        "most_profitable_region": region,
        "shipping_method_by_category": shipping,
        "orders_by_category": by_category,
    }
    frames = pl.collect_all(list(queries.values()), engine="streaming")
    return {name: frame.select(REPORT_COLUMNS[name]).to_pandas() for name, frame in zip(queries, frames, strict=True)}


def _line_chunks(csv_path: Path, size: int) -> Iterator[memoryview]:
    """The data rows of a file in pieces of about ``size`` bytes, each ending at a line end.

    Only for files without line breaks inside quoted values (generated files).
    """
    with open(csv_path, "rb") as handle:
        handle.readline()  # the header
        rest = b""
        while chunk := handle.read(size):
            data = rest + chunk if rest else chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield memoryview(data)[:cut]
        if rest:
            yield memoryview(rest)


def csv_parse_only(csv_path: Path) -> None:
    """Parse and type the whole file with pyarrow, a piece at a time, keeping nothing: the lower bound.

    The file is cut at line ends into ``PARSE_CHUNK_BYTES`` pieces, each parsed
    by ``pyarrow.csv`` with the dataset's types. (``pyarrow.csv.open_csv`` alone
    is not a bound on memory: its reader runs far ahead of the consumer, and its
    peak RSS grows with the file, ~1.1 GB for a 750 MB file.)
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from lambda_app.schema import INPUT_COLUMNS

    _check_canonical_header(csv_path)
    types = {"order_date": pa.date32(), "quantity": pa.int64()}
    types |= {c: pa.float64() for c in ("cost_price", "list_price", "discount_percent")}
    read_options = pacsv.ReadOptions(column_names=list(INPUT_COLUMNS), block_size=PARSE_CHUNK_BYTES)
    convert_options = pacsv.ConvertOptions(column_types={c: types.get(c, pa.string()) for c in INPUT_COLUMNS})
    for chunk in _line_chunks(csv_path, PARSE_CHUNK_BYTES):
        pacsv.read_csv(pa.py_buffer(chunk), read_options=read_options, convert_options=convert_options)


def _parse_only_way(csv_path: Path, _out_dir: Path) -> None:
    csv_parse_only(csv_path)


class _LocalSink:
    """The benchmark's :class:`lambda_app.streaming.Sink`: Parquet files on disk, reports built as rows arrive."""

    def __init__(self, partition: Path) -> None:
        from lambda_app.reports import ReportBuilder

        self.partition = partition
        self.builder = ReportBuilder()
        self._numbers = itertools.count()  # next() is atomic: two writes may run at once (a split last flush)

    def write(self, table: Any) -> list[str]:
        from lambda_app.parquet import encode_parquet

        path = self.partition / f"part-{next(self._numbers):05d}.snappy.parquet"
        encode_parquet(table, str(path))  # the Lambda's own encoding; it uploads the same bytes
        return [str(path)]

    def discard(self, written: list[str]) -> None:
        from lambda_app.reports import ReportBuilder

        for path in written:
            Path(path).unlink()
        self.builder = ReportBuilder()

    def observe(self, table: Any) -> None:
        self.builder.add(table)


def core_job(csv_path: Path, out_dir: Path) -> dict[str, DataFrame]:
    """The project's own streaming core with a local Parquet sink.

    Exactly the Lambda's path (:func:`lambda_app.streaming.load_stream`: pieces,
    validation, typing, profit, date-sorted objects of ``ROWS_PER_FILE`` rows
    with the same row groups) and its incremental report builder; only the sink
    differs (files on disk instead of objects in S3).
    """
    from lambda_app.model import LoadCounts
    from lambda_app.schema import PARTITION_COLUMN
    from lambda_app.settings import Settings
    from lambda_app.streaming import Source, load_stream

    partition = out_dir / f"{PARTITION_COLUMN}={BENCH_INGEST_DATE}"
    partition.mkdir(parents=True, exist_ok=True)
    sink = _LocalSink(partition)
    load = LoadCounts()
    ingested_at = datetime.combine(date.fromisoformat(BENCH_INGEST_DATE), datetime.min.time(), tzinfo=UTC)
    with csv_path.open("rb") as stream:
        source = Source(csv_path.name, ingested_at, Settings.block_size_bytes, Settings.rows_per_file)
        load_stream(stream, source, sink, load)
    if load.rows_rejected or load.rows_read != load.rows_loaded:
        raise ValueError(f"generated rows were rejected: {dict(load.reasons)}")
    return {name: table.to_pandas() for name, table in sink.builder.build().items()}


def lambda_on_emulator(csv_path: Path, _out_dir: Path) -> dict[str, DataFrame]:
    """End to end: the real handler, given an S3 event JSON, against a local moto server.

    Starts the emulator, uploads the file to the input bucket, delivers the
    ``ObjectCreated`` event to the handler's app (the
    Lambda's path: Parquet objects put through the AWS adapter, Glue table and
    partition, reports recomputed from the partition) and reads the three
    report CSVs back. The
    time includes the emulator's start and the upload; the peak RSS includes the
    emulator, which keeps every object in this process's memory.
    """
    import pandas as pd

    from lambda_app import paths
    from orders_tools.emulator import local_aws

    ingested_at = datetime.combine(date.fromisoformat(BENCH_INGEST_DATE), datetime.min.time(), tzinfo=UTC)
    with local_aws() as aws:
        s3 = aws.s3
        s3.upload_file(str(csv_path), aws.input_bucket, csv_path.name)
        head = dict(s3.head_object(Bucket=aws.input_bucket, Key=csv_path.name))
        summary = aws.deliver(aws.object_created_event(csv_path.name, head, ingested_at))
        [result] = summary["files"]
        if result["rows_rejected"] or result["rows_read"] != result["rows_loaded"]:
            raise ValueError(f"generated rows were rejected: {result['rejected_by_reason']}")
        settings = aws.settings()
        reports = {}
        for name in REPORT_NAMES:
            body = s3.get_object(Bucket=aws.output_bucket, Key=paths.report_key(settings, ingested_at.date(), name))
            reports[name] = pd.read_csv(body["Body"], keep_default_na=False)
    return reports


# --- the handler, emulator excluded -------------------------------------------------------------

# Sections a way timed with :func:`timed`, by name; ``run_one`` clears it before each way.
_SECTIONS: dict[str, dict[str, float]] = {}
# The process ids of the moto servers :func:`moto_process` is running now: their CPU is timed beside the way's.
_EMULATORS: list[int] = []


@contextmanager
def timed(name: str = "seconds") -> Iterator[None]:
    """Time the block (wall and this process's CPU) as the way's section ``name``.

    A way that times a ``"seconds"`` section is reported with that time
    instead of its whole run's; other sections are reported beside it.
    """
    cpu, emulator, started = _cpu_seconds(), _emulator_cpu_seconds(), time.perf_counter()
    try:
        yield
    finally:
        _SECTIONS[name] = {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu_seconds() - cpu}
        if _EMULATORS:
            _SECTIONS[name]["emulator_cpu_seconds"] = _emulator_cpu_seconds() - emulator


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _emulator_cpu_seconds() -> float:
    """User + system CPU seconds of the running moto servers so far (Linux's ``/proc``; NaN elsewhere).

    On a machine with few cores the emulator competes with the handler for them: the handler way's time
    includes whatever of this could not run on an idle core.
    """
    total = 0.0
    for pid in _EMULATORS:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        except OSError:
            return math.nan
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def moto_process(timeout: float = 60.0) -> Iterator[str]:
    """A moto server in a process of its own; yields its endpoint URL.

    Unlike :func:`orders_tools.emulator.local_aws` (a server thread in the
    caller's process), the emulator's request handling and the objects it
    holds then cost the measured process nothing: its time and peak RSS are
    the handler's own, as in Lambda, where S3 is elsewhere.
    """
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _EMULATORS.append(server.pid)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5).close()  # noqa: S310 - loopback
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"the moto server exited with {server.returncode}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        _EMULATORS.remove(server.pid)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def emulator_env(endpoint: str) -> dict[str, str]:
    """The environment that points the handler (and boto3) at the emulator at ``endpoint``."""
    from orders_tools import emulator

    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": emulator.REGION,
        "AWS_REGION": emulator.REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "OUTPUT_BUCKET": emulator.OUTPUT_BUCKET,
        "GLUE_DATABASE": emulator.DATABASE,
        "GLUE_TABLE": emulator.TABLE,
    }


def stage_events(aws: Any, csv_path: Path, count: int = 1) -> list[dict[str, Any]]:
    """Empty the emulator, upload ``csv_path`` ``count`` times, return the ``ObjectCreated`` event of each copy.

    Copy ``i`` is ``bench/<i>/<name>`` with an event time on day ``i`` after
    :data:`BENCH_INGEST_DATE`, so each lands in a partition of its own and
    every call does the same work (its day's reports cover one file).
    """
    aws.reset()
    start = datetime.combine(date.fromisoformat(BENCH_INGEST_DATE), datetime.min.time(), tzinfo=UTC)
    events: list[dict[str, Any]] = []
    for i in range(count):
        key = f"bench/{i}/{csv_path.name}"
        aws.s3.upload_file(str(csv_path), aws.input_bucket, key)
        head = dict(aws.s3.head_object(Bucket=aws.input_bucket, Key=key))
        events.append(aws.object_created_event(key, head, start + timedelta(days=i)))
    return events


def read_reports(aws: Any, day: date) -> dict[str, DataFrame]:
    """The three report CSVs of ``day`` from the emulator's output bucket."""
    import pandas as pd

    from lambda_app import paths

    settings = aws.settings()
    reports: dict[str, DataFrame] = {}
    for name in REPORT_NAMES:
        body = aws.s3.get_object(Bucket=aws.output_bucket, Key=paths.report_key(settings, day, name))["Body"]
        text = {c: "str" for c in REPORT_COLUMNS[name] if c in _TEXT_COLUMNS}
        reports[name] = pd.read_csv(body, dtype=text, keep_default_na=False)
    return reports


def check_loaded(summary: dict[str, Any], rows: int | None = None) -> None:
    """Raise ``ValueError`` unless the handler's summary says one file was loaded whole (``rows`` rows if given)."""
    [result] = summary["files"]
    if result["status"] != "loaded" or result["rows_rejected"] or result["rows_read"] != result["rows_loaded"]:
        raise ValueError(f"the file was not loaded whole: {result}")
    if rows is not None and result["rows_loaded"] != rows:
        raise ValueError(f"{result['rows_loaded']} rows loaded, the file has {rows}")


def handler_on_emulator(csv_path: Path, _out_dir: Path) -> dict[str, DataFrame]:
    """The real handler's call, timed alone: the emulator runs in another process and is ready before.

    Untimed: start a moto server process, create the buckets and the Glue
    database, upload the file. Timed as ``init``: ``import lambda_app.handler``
    (the Lambda's INIT: settings, AWS session and clients; tooling imported
    by this process before, such as boto3, is not counted again). Timed as
    the way's seconds: ``lambda_handler(event, context)`` with the S3 event
    JSON. Then the report CSVs are read back. The peak RSS is this process's,
    without the emulator's objects. For the cold start in a clean process and
    the old layout side by side, see ``scripts/bench_handler_vs.py``.
    """
    from orders_tools.emulator import LambdaContext, LocalAws, environment

    with moto_process() as endpoint, environment(emulator_env(endpoint)):
        aws = LocalAws(endpoint=endpoint, env=emulator_env(endpoint))
        [event] = stage_events(aws, csv_path)
        with timed("init"):
            handler = importlib.import_module("lambda_app.handler")
        with timed():
            summary = handler.lambda_handler(event, LambdaContext())
        check_loaded(summary)
        return read_reports(aws, date.fromisoformat(BENCH_INGEST_DATE))


def moto_floor(csv_path: Path, out_dir: Path) -> dict[str, DataFrame]:
    """The emulator's own floor under the handler: the same bytes in and out of moto, nothing else.

    Untimed: start a moto server process, upload the file, and run the core
    (:func:`core_job`) into ``out_dir`` for the Parquet objects the handler
    would put. Timed: one streaming GET of the whole input object (read in the
    handler's piece size) and one PUT of each of those Parquet objects to the
    output bucket, through the same adapter (one boto3 client) the Lambda uses.
    The handler's seconds minus this and minus the core's is what the pipeline
    adds on top of moving its bytes and doing its work (:func:`ratio_lines`).
    """
    from lambda_app.aws import AwsStorage
    from lambda_app.settings import Settings
    from orders_tools.emulator import LocalAws, environment

    with moto_process() as endpoint, environment(emulator_env(endpoint)):
        aws = LocalAws(endpoint=endpoint, env=emulator_env(endpoint))
        [event] = stage_events(aws, csv_path)
        key = event["Records"][0]["s3"]["object"]["key"]
        reports = core_job(csv_path, out_dir)
        objects = sorted(out_dir.rglob("*.parquet"))
        storage = AwsStorage()
        with timed():
            with storage.open(aws.input_bucket, key) as stream:
                while stream.read(Settings.block_size_bytes):
                    pass
            for number, path in enumerate(objects):
                storage.put(aws.output_bucket, f"floor/{number:05d}.snappy.parquet", path.read_bytes())
    return reports


# Name -> way (registered in this module so the child processes see them too);
# a ``package.module:function`` spec works without registering.
WAYS: dict[str, Way] = {
    "core": core_job,
    "pandas": naive_pandas,
    "duckdb": duckdb_job,
    "polars": polars_job,
    "parse_only": _parse_only_way,
}
REFERENCE_WAY = "core"
# Ways run only when asked for by name (``--ways core lambda_moto``): slow, or not a like-for-like job.
EXTRA_WAYS: dict[str, Way] = {
    "lambda_moto": lambda_on_emulator,
    "handler": handler_on_emulator,
    "moto_floor": moto_floor,
}


def resolve_way(name: str) -> Way:
    """The registered way ``name``, or the function named by a ``module:function`` spec."""
    if name in WAYS or name in EXTRA_WAYS:
        return WAYS.get(name) or EXTRA_WAYS[name]
    if ":" in name:
        module, _, attribute = name.partition(":")
        way: Way = getattr(importlib.import_module(module), attribute)
        return way
    raise KeyError(f"unknown way {name!r}; registered: {', '.join([*WAYS, *EXTRA_WAYS])}")


# --- one way, in a child process --------------------------------------------------------------


def peak_rss_bytes() -> int:
    """This process's peak resident set size, in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def run_one(way: str, csv_path: Path, out_dir: Path, result_path: Path) -> dict[str, Any]:
    """Run one way, then write ``result_path`` (JSON) and its reports as CSV files beside it.

    Meant to run in a fresh process (see :func:`run_bench`); returns the result dict.
    """
    func = resolve_way(way)
    _SECTIONS.clear()
    cpu, started = _cpu_seconds(), time.perf_counter()
    reports = func(csv_path, out_dir)
    seconds, cpu_seconds = time.perf_counter() - started, _cpu_seconds() - cpu
    peak = peak_rss_bytes()
    sections = dict(_SECTIONS)
    emulator_cpu_seconds = math.nan
    if "seconds" in sections:  # the way timed its own part
        seconds, cpu_seconds = sections["seconds"]["seconds"], sections["seconds"]["cpu_seconds"]
        emulator_cpu_seconds = sections["seconds"].get("emulator_cpu_seconds", math.nan)
    files: dict[str, str] = {}
    if reports is not None:
        reports_dir = result_path.parent / f"{result_path.stem}-reports"
        reports_dir.mkdir(parents=True, exist_ok=True)
        for name in REPORT_NAMES:
            path = reports_dir / f"{name}.csv"
            reports[name].to_csv(path, index=False)
            files[name] = str(path)
    result: dict[str, Any] = {
        "way": way,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_bytes": peak,
        "emulator_cpu_seconds": emulator_cpu_seconds,  # NaN: no emulator, or not on Linux
        "sections": {name: section for name, section in sections.items() if name != "seconds"},
        "reports": files,
    }
    result_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


# --- the parent: files, children, comparison, table -------------------------------------------


@dataclass(frozen=True)
class BenchResult:
    """One way on one file."""

    way: str
    rows: int
    csv_bytes: int
    seconds: float
    peak_rss_bytes: int
    parquet_rows: int | None = None
    # The way whose reports this one's were compared with (None: not compared).
    compared_with: str | None = None
    # Differences from that way's reports (empty: they agree).
    differences: tuple[str, ...] = ()
    is_reference: bool = False
    error: str | None = None
    # User + system CPU seconds of the child over the timed span (median of the runs).
    cpu_seconds: float = math.nan
    # Other sections the way timed (name -> median seconds), e.g. the handler's ``init``.
    sections: dict[str, float] = field(default_factory=dict)
    # The machine's 1-minute load average as the runs started (median): 2 cores, other people's work counts.
    load_average: float = math.nan
    # CPU seconds the emulator's process used over the timed span (median; NaN for ways without one).
    emulator_cpu_seconds: float = math.nan

    @property
    def mb_per_second(self) -> float:
        """CSV throughput in MB (10^6 bytes) per second."""
        return self.csv_bytes / 1e6 / self.seconds if self.seconds > 0 else math.nan


def bench_csv(workdir: Path, rows: int, seed: int = 0, progress: bool = False) -> Path:
    """The generated export for ``(rows, seed)`` in ``workdir``, written on first use."""
    from orders_tools.generate import FORMAT_VERSION, write_csv

    path = workdir / f"orders-{rows}-seed{seed}-v{FORMAT_VERSION}.csv"
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        write_csv(partial, rows, seed=seed, progress=progress)
        os.replace(partial, path)
    return path


_TEXT_COLUMNS = frozenset({"region", "category", "sub_category", "ship_mode"})


def load_reports(files: dict[str, str]) -> dict[str, DataFrame]:
    """Read the report CSVs a child wrote."""
    import pandas as pd

    reports: dict[str, DataFrame] = {}
    for name, path in files.items():
        text = {c: "str" for c in REPORT_COLUMNS[name] if c in _TEXT_COLUMNS}
        reports[name] = pd.read_csv(path, dtype=text, keep_default_na=False)
    return reports


def compare_reports(
    expected: dict[str, DataFrame], actual: dict[str, DataFrame], tolerance: float = PROFIT_TOLERANCE
) -> list[str]:
    """Differences between two ways' reports (empty when they agree).

    Rows are compared in order: the order is part of each report's definition.
    ``total_profit`` may differ by ``tolerance``; names must be equal and counts
    equal as numbers (``19 == 19.0``).
    """
    differences: list[str] = []
    for name, columns in REPORT_COLUMNS.items():
        if name not in expected or name not in actual:
            differences.append(f"{name}: missing")
            continue
        want, got = expected[name], actual[name]
        if list(got.columns) != list(columns):
            differences.append(f"{name}: columns {list(got.columns)} != {list(columns)}")
            continue
        if len(want) != len(got):
            differences.append(f"{name}: {len(got)} rows != {len(want)}")
        shown = 0
        for i, (row_want, row_got) in enumerate(
            zip(want.itertuples(index=False), got.itertuples(index=False), strict=False)
        ):
            for column, a, b in zip(columns, row_want, row_got, strict=True):
                if column in _TEXT_COLUMNS:
                    same = a == b
                elif column == "total_profit":
                    same = abs(float(a) - float(b)) <= tolerance + 1e-9
                else:
                    same = float(a) == float(b)
                if not same and shown < 5:
                    differences.append(f"{name} row {i} {column}: {b!r} != {a!r}")
                    shown += 1
    return differences


def _parquet_rows(out_dir: Path) -> int | None:
    import pyarrow.dataset as ds

    if not out_dir.exists():
        return None
    return int(ds.dataset(out_dir, format="parquet", partitioning="hive").count_rows())


def _run_child(way: str, csv_path: Path, out_dir: Path, result_path: Path) -> dict[str, Any]:
    env = dict(os.environ)
    command = [
        sys.executable,
        "-m",
        "orders_tools.bench",
        "run-one",
        way,
        str(csv_path),
        str(out_dir),
        str(result_path),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"way {way!r} exited with {completed.returncode}: {tail}")
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    return result


def run_bench(
    rows_list: Sequence[int] = (1_000_000, 5_000_000, 10_000_000),
    ways: Sequence[str] | None = None,
    workdir: Path | str = Path("bench-data"),
    *,
    seed: int = 0,
    repeat: int = 1,
    quiet: bool = False,
    keep_output: bool = False,
) -> list[BenchResult]:
    """Run each way on a generated file of each size, compare the reports, print a table.

    Files are generated once per ``(rows, seed)`` and kept in ``workdir``. Each
    way runs ``repeat`` times, each time in a new process, the ways taking
    turns (run 1 of every way, then run 2 of every way, ...) so that a busy
    spell of the machine is shared; the result keeps the median time and CPU
    time and the largest peak RSS. Reports are compared with the
    ``core`` way's when it runs, else with the first way that returns reports.
    The Parquet output is counted, then deleted unless ``keep_output``.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    from rich.console import Console

    workdir = Path(workdir)
    names = list(ways) if ways is not None else list(WAYS)
    names.sort(key=lambda n: n != REFERENCE_WAY)  # the reference first; stable otherwise
    for name in names:
        resolve_way(name)
    console = Console(stderr=True, quiet=quiet)
    results: list[BenchResult] = []
    for rows in rows_list:
        csv_path = bench_csv(workdir, rows, seed, progress=not quiet and rows >= 100_000)
        csv_bytes = csv_path.stat().st_size
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        counts: dict[str, list[int | None]] = {name: [] for name in names}
        loads: dict[str, list[float]] = {name: [] for name in names}
        errors: dict[str, str] = {}
        for attempt in range(1, repeat + 1):
            for name in names:
                if name in errors:
                    continue
                label = name.replace(":", "_").replace("/", "_")
                out_dir = workdir / "out" / str(rows) / label
                result_path = workdir / "results" / str(rows) / f"{label}.json"
                out_dir.parent.mkdir(parents=True, exist_ok=True)
                result_path.parent.mkdir(parents=True, exist_ok=True)
                console.print(f"[bold]{name}[/] on {rows:,} rows (run {attempt} of {repeat}) ...")
                shutil.rmtree(out_dir, ignore_errors=True)
                loads[name].append(os.getloadavg()[0])
                try:
                    runs[name].append(_run_child(name, csv_path, out_dir, result_path))
                except RuntimeError as exc:
                    errors[name] = str(exc)
                    continue
                counts[name].append(_parquet_rows(out_dir))
                if not keep_output or attempt < repeat:
                    shutil.rmtree(out_dir, ignore_errors=True)
        reference: tuple[str, dict[str, DataFrame]] | None = None
        for name in names:
            if name in errors:
                results.append(BenchResult(name, rows, csv_bytes, math.nan, 0, error=errors[name]))
                continue
            compared_with: str | None = None
            differences: tuple[str, ...] = ()
            is_reference = False
            child = runs[name][-1]
            wrong = [c for c in counts[name] if c not in (None, rows)]  # a wrong count in any run is reported
            if child["reports"]:
                reports = load_reports(child["reports"])
                if reference is None:
                    reference = (name, reports)
                    is_reference = True
                else:
                    compared_with = reference[0]
                    differences = tuple(compare_reports(reference[1], reports))
            results.append(
                BenchResult(
                    way=name,
                    rows=rows,
                    csv_bytes=csv_bytes,
                    seconds=statistics.median(float(run["seconds"]) for run in runs[name]),
                    peak_rss_bytes=max(int(run["peak_rss_bytes"]) for run in runs[name]),
                    parquet_rows=wrong[0] if wrong else counts[name][-1],
                    compared_with=compared_with,
                    differences=differences,
                    is_reference=is_reference,
                    cpu_seconds=statistics.median(float(run.get("cpu_seconds", math.nan)) for run in runs[name]),
                    emulator_cpu_seconds=statistics.median(
                        float(run.get("emulator_cpu_seconds", math.nan)) for run in runs[name]
                    ),
                    sections={
                        section: statistics.median(float(run["sections"][section]["seconds"]) for run in runs[name])
                        for section in child.get("sections", {})
                    },
                    load_average=statistics.median(loads[name]),
                )
            )
    if not quiet:
        print_results(results)
    return results


def _ratio(value: float, base: float | None) -> str:
    if base is None or not base or math.isnan(value) or math.isnan(base):
        return ""
    return f"{value / base:.2f}x"


def print_results(results: Sequence[BenchResult]) -> None:
    """Print the results table, the ratio lines and the agreement lines to stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="orders-analytics bench")
    headers = (
        "way",
        "rows",
        "CSV MB",
        "seconds",
        "CPU s",
        "MB/s",
        "peak RSS MiB",
        "time vs core",
        "CPU vs core",
        "memory vs core",
        "load",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "way" else "right")
    core = {r.rows: r for r in results if r.way == REFERENCE_WAY and r.error is None}
    for r in results:
        base = core.get(r.rows)
        table.add_row(
            r.way,
            f"{r.rows:,}",
            f"{r.csv_bytes / 1e6:,.1f}",
            "failed" if r.error else f"{r.seconds:.2f}",
            "" if r.error or math.isnan(r.cpu_seconds) else f"{r.cpu_seconds:.2f}",
            "" if r.error else f"{r.mb_per_second:,.1f}",
            "" if r.error else f"{r.peak_rss_bytes / 2**20:,.0f}",
            _ratio(r.seconds, base.seconds if base else None),
            _ratio(r.cpu_seconds, base.cpu_seconds if base else None),
            _ratio(r.peak_rss_bytes, base.peak_rss_bytes if base else None),
            "" if math.isnan(r.load_average) else f"{r.load_average:.1f}",
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped to a file: do not wrap at 80 columns
    console.print(table)
    # The children import lambda_app as this process did: the same Arrow allocator (settings.ALLOCATOR_DEFAULTS).
    console.print(f"Arrow memory pool: {pa.default_memory_pool().backend_name} ({platform.machine()})", markup=False)
    for line in [*ratio_lines(results), *section_lines(results), *agreement_lines(results)]:
        console.print(line, markup=False, highlight=False)


def ratio_lines(results: Sequence[BenchResult]) -> list[str]:
    """The core against the tool an analyst would use (polars) and against the parse-only bound, per size."""
    lines: list[str] = []
    ok = {(r.way, r.rows): r for r in results if r.error is None}
    for rows in dict.fromkeys(r.rows for r in results):
        core = ok.get((REFERENCE_WAY, rows))
        if core is None:
            continue
        for way, label in (
            ("polars", "core / polars"),
            ("duckdb", "core / duckdb"),
            ("parse_only", "core / parse_only"),
        ):
            other = ok.get((way, rows))
            if other is None:
                continue
            line = f"{label} @ {rows:,} rows: wall {_ratio(core.seconds, other.seconds)}"
            if not math.isnan(core.cpu_seconds) and not math.isnan(other.cpu_seconds):
                line += f", CPU {_ratio(core.cpu_seconds, other.cpu_seconds)}"
            line += f", peak RSS {_ratio(core.peak_rss_bytes, other.peak_rss_bytes)}"
            lines.append(line + " (below 1.00x: the core is faster / smaller)")
        handler, floor = ok.get(("handler", rows)), ok.get(("moto_floor", rows))
        if handler is not None and floor is not None:
            above = handler.seconds - floor.seconds - core.seconds
            line = (
                f"handler above moto floor + core @ {rows:,} rows: {above:+.2f} s = {above / core.seconds:+.0%}"
                f" of the core's {core.seconds:.2f} s (handler {handler.seconds:.2f} s, floor {floor.seconds:.2f} s;"
                " goal: at most +25%)"
            )
            if not (math.isnan(handler.emulator_cpu_seconds) or math.isnan(floor.emulator_cpu_seconds)):
                line += (
                    f"; the emulator's own CPU: {handler.emulator_cpu_seconds:.2f} s during the handler,"
                    f" {floor.emulator_cpu_seconds:.2f} s during the floor, on {os.cpu_count()} cores shared"
                    " with the handler"
                )
            lines.append(line)
    return lines


def section_lines(results: Sequence[BenchResult]) -> list[str]:
    """The other parts a way timed (not in its seconds), e.g. the handler's INIT."""
    return [
        f"{r.way} @ {r.rows:,} rows: {name} {seconds:.3f} s (median; not in the seconds column)"
        for r in results
        if r.error is None
        for name, seconds in r.sections.items()
    ]


def agreement_lines(results: Sequence[BenchResult]) -> list[str]:
    """One line per way and size: errors, report agreement and Parquet row counts."""
    lines: list[str] = []
    for r in results:
        where = f"{r.way} @ {r.rows:,} rows"
        if r.error:
            lines.append(f"FAILED {where}: {r.error}")
            continue
        if r.parquet_rows is not None and r.parquet_rows != r.rows:
            lines.append(f"MISMATCH {where}: Parquet has {r.parquet_rows:,} rows")
        if r.is_reference:
            lines.append(f"reference {where}: the other ways' reports are compared with these")
        elif r.compared_with is not None and r.differences:
            lines.append(f"DISAGREE {where} vs {r.compared_with}: " + "; ".join(r.differences))
        elif r.compared_with is not None:
            lines.append(f"agree     {where}: same three reports as {r.compared_with}")
    return lines


def all_agree(results: Sequence[BenchResult]) -> bool:
    """True when no way failed, every compared way agrees and every Parquet count matches."""
    return all(r.error is None and not r.differences and r.parquet_rows in (None, r.rows) for r in results)


# --- command line -----------------------------------------------------------------------------


def _run_cli(args: argparse.Namespace) -> int:
    try:
        results = run_bench(
            args.rows, args.ways, args.workdir, seed=args.seed, repeat=args.repeat, keep_output=args.keep_output
        )
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0 if all_agree(results) else 1


def _run_one_cli(args: argparse.Namespace) -> int:
    run_one(args.way, args.csv, args.out, args.result)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "bench",
        help="time the core, naive pandas, DuckDB and polars on generated files and check they agree",
        description="Generate order exports, run each way in its own process, print time, MB/s and peak RSS.",
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000, 5_000_000, 10_000_000],
        help="file sizes (default 1M, 5M and 10M)",
    )
    parser.add_argument("--ways", nargs="+", default=None, help="ways to run (default: every registered way)")
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"), help="generated files and results")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per way; the median time and CPU time and the largest peak RSS are kept",
    )
    parser.add_argument("--keep-output", action="store_true", help="keep each way's Parquet output")
    parser.set_defaults(func=_run_cli)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orders_tools.bench``: ``bench ...`` or ``run-one WAY CSV OUT RESULT`` (used by the runner)."""
    parser = argparse.ArgumentParser(prog="python -m orders_tools.bench")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    one = sub.add_parser("run-one", help="run one way in this process and write RESULT (JSON)")
    one.add_argument("way")
    one.add_argument("csv", type=Path)
    one.add_argument("out", type=Path)
    one.add_argument("result", type=Path)
    one.set_defaults(func=_run_one_cli)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    # Re-import so the registry is ``orders_tools.bench.WAYS``, not a copy in ``__main__``.
    from orders_tools.bench import main as _main

    exit_code = _main(sys.argv[1:])
    # The child's result is written and closed by now. Skip the interpreter's teardown: with Arrow's
    # thread pools still alive it can abort ("terminate called without an active exception", SIGABRT;
    # apache/arrow#34314), seen here after a parse_only run of a small file, which turned a finished
    # run into a failed one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
