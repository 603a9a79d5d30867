"""Parse, validate and type order CSV data in bounded memory.

Pure module: takes a binary stream (a local file or an S3 object opened by
the storage module), yields typed Arrow tables of good rows and tables of
rejected rows with their reasons. Imports only pyarrow, numpy and the
standard library; never reads the clock or the environment.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import encodings.cp1252
import io
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from lambda_app.arrays import one_array
from lambda_app.errors import EmptyFileError, MissingColumnsError, UnreadableFileError
from lambda_app.schema import INPUT_COLUMNS, MEMORY_SCHEMA, MISSING_SHIP_MODES, map_header, normalize_header

# Reject reasons, in the order rows are checked. A row's `reject_reason` lists
# every reason that applies, separated by "; "; the run manifest counts each
# row once, under its first reason.
REASONS: tuple[str, ...] = (
    "malformed_row",
    "missing_order_id",
    "missing_region",
    "missing_category",
    "missing_sub_category",
    "invalid_order_date",
    "invalid_cost_price",
    "invalid_list_price",
    "invalid_quantity",
    "invalid_discount_percent",
    "invalid_profit",
)

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("reject_reason", pa.string()),
        *(pa.field(c, pa.string()) for c in INPUT_COLUMNS),
        pa.field("raw_line", pa.string()),
    ]
)

MIN_YEAR, MAX_YEAR = 1900, 2199
MAX_QUANTITY = 1_000_000_000
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_QUANTITY = r"^\+?\d+(\.0*)?$"
_ISO_DATE = r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"
_US_DATE = r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_SNIFF_BYTES = 1 << 20
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_HEADER_SEARCH_LINES = 6  # a title or blank lines above the header (spreadsheet exports) are skipped up to this
_KNOWN = frozenset(INPUT_COLUMNS)
_HEADER_LIKE = 3  # a line naming this many known columns is a header (with columns missing), not a title
_CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")  # never in text, often in binary data

# Windows-1252 as WHATWG defines it (what browsers and Excel read): the five bytes cp1252 leaves undefined
# (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode to the C1 control characters of the same number instead of failing.
# Registered as a codec because pyarrow's CSV reader transcodes through Python codecs by name.
WINDOWS_1252 = "x-orders-windows-1252"


def _c1_controls(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


class _Windows1252Decoder(encodings.cp1252.IncrementalDecoder):
    def __init__(self, errors: str = "strict") -> None:
        super().__init__("orders-c1-controls")


def _find_codec(name: str) -> codecs.CodecInfo | None:
    if name.replace("-", "_") != WINDOWS_1252.replace("-", "_"):
        return None
    return codecs.CodecInfo(
        name=WINDOWS_1252,
        encode=encodings.cp1252.Codec().encode,
        decode=lambda data, errors="strict": codecs.charmap_decode(
            data, "orders-c1-controls", encodings.cp1252.decoding_table
        ),
        incrementalencoder=encodings.cp1252.IncrementalEncoder,
        incrementaldecoder=_Windows1252Decoder,
    )


codecs.register_error("orders-c1-controls", _c1_controls)
codecs.register(_find_codec)

# One CSV record as Python's csv module (excel dialect, non-strict) reads it: a field is quoted (a quote
# opens it only at the field's start; "" inside; anything after the closing quote belongs to the field) or
# unquoted (quotes inside are plain characters); a record ends at CRLF, CR or LF outside quotes. Atomic
# groups and possessive repeats: no backtracking, linear time.
_FIELD = rb'(?>"(?>[^"]|"")*+"[^,\r\n]*+|(?:[^,"\r\n][^,\r\n]*+)?)'
_RECORD = _FIELD + rb"(?:," + _FIELD + rb")*+(?:\r\n|\r|\n)"
_ONE_RECORD = re.compile(_RECORD)
_RECORDS = re.compile(rb"(?>" + _RECORD + rb")*+")

T = TypeVar("T")

# Arrow's message when a value does not convert to its column's type (the number is the file's column index).
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error")


class _TextNeeded(Exception):
    """A piece read with typed columns has rejected rows: it must be read again as text to keep their values."""


@dataclass(frozen=True)
class CsvLayout:
    """What the header told us: where each known column is, and the text encoding."""

    positions: dict[str, int]
    encoding: str
    field_count: int
    # False: the fast parser (about twice as fast); a quoted line break then shows up as a
    # malformed row, and the file is read again with True (see ``ReparseNeeded``).
    newlines_in_values: bool = False
    # Where the data starts (bytes after the UTF-8 BOM, blank or title lines and the header record).
    data_offset: int = 0
    # The header's line (1 for most files; more when blank or title lines come first).
    header_line: int = 1


@dataclass
class CleanBatch:
    """One block of input: typed good rows and the rejected rows with reasons."""

    good: pa.Table
    rejects: pa.Table
    reasons: dict[str, int] = field(default_factory=dict)
    rows_in: int = 0


def sniff_layout(head: bytes) -> CsvLayout:
    """Find and read the header record in the first bytes of a file.

    Decides the encoding (UTF-8 with or without BOM, else Windows-1252) and
    maps the header. The header is a CSV record like any other (a quoted cell
    may hold a line break). Blank lines, lines of commas only and up to a few
    title lines above it are skipped. Raises an ``InputFileError`` subclass for
    an empty or binary file, or when no line maps to the required columns
    (the message is about the first non-blank line, and says no later one did).
    """
    start = len(_UTF8_BOM) if head.startswith(_UTF8_BOM) else 0
    if not head[start:].strip(b"\r\n\t ,"):
        raise EmptyFileError("the object is empty: no header row")
    if b"\x00" in head:
        raise UnreadableFileError("the object contains NUL bytes: binary data, not a CSV file")
    if len(_CONTROL_BYTES.findall(head)) > 0.01 * len(head):
        raise UnreadableFileError("more than 1% of the first bytes are control characters: binary data, not a CSV file")
    encoding = detect_encoding(head[start:])
    position, first_problem, line = start, None, 0
    while line < _HEADER_SEARCH_LINES and position < len(head):
        match = _ONE_RECORD.match(head, position)
        if match is not None:
            end = match.end()
        elif len(head) < _SNIFF_BYTES:
            end = len(head)  # the file's last line, without a line break
        else:
            raise UnreadableFileError("no record end in the first MiB: not a CSV file, or the header is too long")
        line += 1
        cells = _cells(head[position:end], encoding)
        position = end
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or commas only (spreadsheets pad exports with them)
        try:
            positions = map_header(cells)
        except MissingColumnsError as exc:
            if sum(normalize_header(cell) in _KNOWN for cell in cells) >= _HEADER_LIKE:
                raise  # a header, with columns missing
            first_problem = first_problem or exc
            continue
        return CsvLayout(positions, encoding, len(cells), data_offset=end, header_line=line)
    if first_problem is None:
        raise EmptyFileError("the object holds no header row")
    raise MissingColumnsError(
        f"{first_problem} (the first non-blank line is not a header, and none of the first"
        f" {_HEADER_SEARCH_LINES} lines is)"
    ) from first_problem


def _cells(record: bytes, encoding: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(record.decode(_codec(encoding)), newline="")), [])
    except csv.Error as exc:  # e.g. a header cell longer than the csv module's field limit (128 KiB)
        raise UnreadableFileError(f"the header row cannot be parsed: {exc}") from exc


def _codec(encoding: str) -> str:
    """The codec that decodes bytes labelled ``encoding`` here (UTF-16 input is transcoded to UTF-8 first)."""
    return WINDOWS_1252 if encoding == "cp1252" else "utf-8"


def detect_encoding(sample: bytes) -> str:
    """``"utf-8"`` if ``sample`` is valid UTF-8 (a cut multi-byte tail is allowed), else ``"cp1252"``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    return "cp1252"  # every byte sequence is Windows-1252 text (WHATWG's definition: see WINDOWS_1252)


class ReparseNeeded(Exception):
    """The file must be read again from the start with ``layout`` (what was written from it is void)."""

    def __init__(self, layout: CsvLayout, why: str) -> None:
        super().__init__(why)
        self.layout = layout


class Utf8Fallback(ReparseNeeded):
    """A file that looked like UTF-8 is not: read again as Windows-1252."""


class _PieceCleaner:
    """Parses and cleans the pieces of one pass over a file with one layout.

    Malformed lines (a wrong number of fields) are collected in ``malformed``
    by pyarrow's invalid-row handler while a piece is parsed.
    """

    def __init__(self, layout: CsvLayout, *, source_key: str, ingested_at: datetime) -> None:
        self.layout = layout
        self.source_key = source_key
        self.ingested_at = ingested_at
        self.by_position = {f"f{pos}": name for name, pos in layout.positions.items()}
        self.typed = {f"f{pos}": MEMORY_SCHEMA.field(name).type for name, pos in layout.positions.items()}
        self.as_text = dict.fromkeys(self.by_position, pa.string())
        # The file's last field is read even when no column is taken from it: see _may_end_inside_quotes.
        self.last_field = f"f{layout.field_count - 1}"
        self.extra = [] if self.last_field in self.by_position else [self.last_field]
        self.typed.update(dict.fromkeys(self.extra, pa.string()))
        self.as_text.update(dict.fromkeys(self.extra, pa.string()))
        self.malformed: list[str] = []
        self.parse_options = pv.ParseOptions(
            newlines_in_values=layout.newlines_in_values, invalid_row_handler=self._on_invalid_row
        )

    def _on_invalid_row(self, row: pv.InvalidRow) -> str:
        self.malformed.append(row.text)
        return "skip"

    @contextlib.contextmanager
    def _undecodable_rows_are_quiet(self) -> Iterator[None]:
        """Keep pyarrow's failure to hand a non-UTF-8 malformed row to ``_on_invalid_row`` out of stderr.

        pyarrow decodes the row's text before calling the handler. When that fails,
        the ``UnicodeDecodeError`` goes to ``sys.unraisablehook``, which prints a
        traceback: plain text among the Lambda's JSON log lines. The parse then
        fails with ``ArrowInvalid`` and :meth:`clean` reads the file again as
        Windows-1252, so nothing is lost and the traceback says nothing an operator
        needs. Every other unraisable exception still reaches the hook that was in
        place. Pieces are parsed on one thread, so the swap never overlaps itself.
        """
        previous = sys.unraisablehook

        def hook(unraisable: Any) -> None:
            if not (
                isinstance(unraisable.exc_value, UnicodeDecodeError)
                and getattr(unraisable.object, "__self__", None) is self
            ):
                previous(unraisable)

        sys.unraisablehook = hook
        try:
            yield
        finally:
            sys.unraisablehook = previous

    def parse(self, piece: memoryview, read_options: pv.ReadOptions, types: dict[str, pa.DataType]) -> pa.Table:
        """Parse one piece; a column whose values do not all convert is read again as text, and stays text.

        ``types`` is updated in place, so later pieces of a messy file do not pay for the failed conversion again.
        """
        while True:
            self.malformed.clear()
            convert_options = pv.ConvertOptions(
                include_columns=[*self.by_position, *self.extra],
                column_types=types,
                null_values=[""],  # only typed columns can be null: an empty number or date
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            try:
                with self._undecodable_rows_are_quiet():
                    return pv.read_csv(pa.py_buffer(piece), read_options, self.parse_options, convert_options)
            except pa.ArrowInvalid as exc:
                failed = _CONVERSION_ERROR.match(str(exc))
                column = f"f{failed.group(1)}" if failed else None
                if column is None or types.get(column) == pa.string():
                    raise
                types[column] = pa.string()

    def clean(self, piece: memoryview, read_options: pv.ReadOptions) -> CleanBatch | None:
        """The piece's rows validated and typed; ``None`` when it holds no row (malformed lines aside)."""
        layout = self.layout
        types = self.typed
        while True:
            try:
                table = self.parse(piece, read_options, types)
            except pa.ArrowInvalid as exc:
                message = _without_row_text(str(exc))
                if layout.encoding == "utf-8" and ("invalid UTF8" in message or not _is_utf8(piece)):
                    # Also when pyarrow could not hand a malformed row to the handler as UTF-8 text.
                    raise Utf8Fallback(dataclasses.replace(layout, encoding="cp1252"), message) from exc
                if "Empty CSV file" in message:
                    return None
                if not layout.newlines_in_values:
                    raise ReparseNeeded(_careful(layout), message) from exc
                raise UnreadableFileError(f"the CSV cannot be parsed: {message}") from exc
            if self.malformed and not layout.newlines_in_values:
                raise ReparseNeeded(_careful(layout), "a row has the wrong number of fields: reading again carefully")
            if not layout.newlines_in_values and _may_end_inside_quotes(table[self.last_field]):
                raise ReparseNeeded(_careful(layout), "a piece may end inside a quoted value: reading again carefully")
            table = table.drop_columns(self.extra)
            raw = _without_blank_rows(table.rename_columns([self.by_position[n] for n in table.column_names]))
            if not raw.num_rows:
                return None
            try:
                return clean_table(raw, source_key=self.source_key, ingested_at=self.ingested_at)
            except _TextNeeded:
                types = self.as_text  # rejected rows keep their original text: read the piece again as text


def iter_clean_batches(
    stream: IO[bytes],
    layout: CsvLayout,
    *,
    source_key: str,
    ingested_at: datetime,
    block_size: int,
) -> Iterator[CleanBatch]:
    """Stream ``stream`` (positioned at the start of the file) piece by piece.

    The bytes are cut into pieces of about ``block_size`` at record ends (see
    :func:`iter_pieces`) and each piece is parsed on its own, so memory stays
    bounded by the piece size: Arrow's own streaming reader reads ahead without
    limit. Every row read ends up either in a batch's ``good`` table (typed,
    with ``MEMORY_SCHEMA``) or in its ``rejects`` table with a reason.
    """
    _skip(stream, layout.data_offset)
    cleaner = _PieceCleaner(layout, source_key=source_key, ingested_at=ingested_at)
    read_options = pv.ReadOptions(
        column_names=[f"f{i}" for i in range(layout.field_count)],
        block_size=max(1 << 20, min(block_size, 8 << 20)),  # parallel parse within a piece
        encoding=_codec(layout.encoding),
    )
    for piece in iter_pieces(stream, block_size, exact=layout.newlines_in_values):
        batch = cleaner.clean(piece, read_options)
        del piece
        if batch is not None:
            yield batch
        if cleaner.malformed:
            yield _malformed_batch(cleaner.malformed)
            cleaner.malformed.clear()


def _may_end_inside_quotes(last_field: pa.ChunkedArray) -> bool:
    """Whether the piece's last value ends with a line break: the sign of a fast cut made inside quotes.

    The fast cut (:func:`_last_record_end`) trusts quote parity, which a stray quote in an unquoted field
    (``1"``) can fool into cutting right after a line break inside a quoted value. Arrow then reads the
    unclosed quote to the end of the piece, as the last field of a row that may well have the right number
    of fields, and starts the next piece inside the value: rows read cleanly, with wrong text. A cut made
    inside quotes always leaves the piece's last value ending with that line break; a cut made outside
    quotes does that only when the file's last field really holds a quoted trailing line break, which
    the careful reading then reads the same way.
    """
    if not len(last_field):
        return False
    value = last_field[len(last_field) - 1].as_py()
    return isinstance(value, str) and value.endswith(("\r", "\n"))


def _without_row_text(message: str) -> str:
    """pyarrow's parse error without the row it quotes ("Expected 16 columns, got 3: a,b,c" -> "... got 3")."""
    head, found, _ = message.partition(" columns, got ")
    if found:
        count = re.match(r"\d+", _)
        return f"{head}{found}{count.group(0) if count else ''}"
    return message.split("\n", 1)[0][:200]


def _is_utf8(piece: memoryview) -> bool:
    try:
        codecs.decode(piece, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _without_blank_rows(raw: pa.Table) -> pa.Table:
    """``raw`` without lines of empty cells only (",,,,": spreadsheets pad exports with them): empty lines, not rows."""
    if not raw.num_rows or "order_id" not in raw.column_names:
        return raw
    order_id = raw.column("order_id")
    if pa.types.is_string(order_id.type):
        lengths = pc.binary_length(order_id)  # from the offsets: no string compared
        if not lengths.null_count and pc.min(lengths).as_py() > 0:
            return raw  # the usual case, decided on one column: every row has an order id
    elif not pc.any(pc.fill_null(pc.equal(pc.cast(order_id, pa.string()), ""), True)).as_py():
        return raw
    blank: pa.Array | pa.ChunkedArray | None = None
    for column in raw.columns:
        empty = pc.is_null(column)
        if pa.types.is_string(column.type) or pa.types.is_dictionary(column.type):
            empty = pc.or_kleene(empty, pc.equal(pc.cast(column, pa.string()), ""))
        blank = empty if blank is None else pc.and_kleene(blank, empty)
    assert blank is not None
    blank = pc.fill_null(blank, False)
    return raw.filter(pc.invert(blank)) if pc.any(blank).as_py() else raw


def _skip(stream: IO[bytes], count: int) -> None:
    while count > 0:
        skipped = len(stream.read(min(count, 1 << 20)))
        if not skipped:
            return
        count -= skipped


_FIRST_BUFFER_BYTES = 1 << 16


def iter_pieces(stream: IO[bytes], size: int, *, exact: bool = False) -> Iterator[memoryview]:
    """Cut a CSV byte stream into pieces of about ``size`` bytes, each ending at a record end.

    A record ends at a line break (CRLF, CR or LF) outside quotes. The fast
    cut (``exact=False``) counts quotes: a position is outside quotes when the
    number of ``"`` before it is even, which holds for files that quote whole
    fields; a stray quote inside an unquoted field (``12" Shelf``) breaks it,
    but then the piece does not parse cleanly and the file is read again in
    careful mode, whose cut (``exact=True``) follows Python's csv module
    record by record (:data:`_RECORDS`, about 100 MB/s). A record longer than
    ``size`` (or an unbalanced quote) that leaves no cut within ``2 * size``
    bytes is a permanent ``UnreadableFileError``; so is a NUL byte anywhere.

    Every piece is a view of one reused buffer, valid only until the next
    piece is asked for (``pyarrow.csv.read_csv`` copies what it keeps): the
    file is copied once, into memory that is already mapped, instead of three
    times into fresh allocations (measured 0.9 s -> 0.4 s for 745 MB). The
    buffer starts small and grows fourfold while reads fill it, up to three
    pieces: a small file does not pay for zeroing 48 MiB (measured 23 ms a file).
    """
    buffer = bytearray(min(3 * size, _FIRST_BUFFER_BYTES))
    filled = 0  # buffer[:filled] holds bytes read but not yet handed out
    last_end = _last_record_end_exact if exact else _last_record_end
    while True:
        room = min(size, len(buffer) - filled)
        read = _read_into(stream, memoryview(buffer)[filled : filled + room])
        if not read:
            if filled:
                yield memoryview(buffer)[:filled]
            return
        if buffer.find(b"\x00", filled, filled + read) >= 0:
            raise UnreadableFileError("the object contains NUL bytes: binary data, not a CSV file")
        filled += read
        if read == room and len(buffer) < 3 * size:  # more is coming, probably: grow towards three pieces
            # A new buffer, not a resize: a piece handed out before may still be viewed (and a bytearray
            # with views cannot be resized); the old one lives as long as such a view.
            grown = bytearray(min(3 * size, 4 * len(buffer)))
            grown[:filled] = memoryview(buffer)[:filled]
            buffer = grown
        cut = last_end(buffer, filled)
        if cut <= 0:
            if filled >= 2 * size:
                raise UnreadableFileError(
                    f"no record end within {filled} bytes: a row is longer than CSV_BLOCK_BYTES ({size})"
                    " or a quote is never closed"
                )
            continue
        yield memoryview(buffer)[:cut]
        buffer[: filled - cut] = buffer[cut:filled]  # the start of the next record moves to the front
        filled -= cut


def _read_into(stream: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (``readinto`` where the stream has one); the number of bytes read."""
    try:
        return stream.readinto(view) or 0  # type: ignore[attr-defined]
    except (AttributeError, NotImplementedError, io.UnsupportedOperation):
        data = stream.read(len(view))
        view[: len(data)] = data
        return len(data)


def _previous_line_break(buffer: bytes | bytearray, end: int) -> int:
    """Index of the last CR or LF in ``buffer[:end]``, or -1."""
    return max(buffer.rfind(b"\n", 0, end), buffer.rfind(b"\r", 0, end))


def _last_record_end(buffer: bytes | bytearray, stop: int) -> int:
    """Index just after the last line break with an even number of quotes before it, or 0 when there is none."""
    if buffer.find(b'"', 0, stop) < 0:  # no quotes at all (most pieces of most exports): a memchr, not a count
        return _previous_line_break(buffer, stop) + 1
    total = buffer.count(b'"', 0, stop)
    position = _previous_line_break(buffer, stop)
    quotes_after = 0
    end = stop
    while position >= 0:
        quotes_after += buffer.count(b'"', position, end)
        if (total - quotes_after) % 2 == 0:
            return position + 1
        end = position
        position = _previous_line_break(buffer, position)
    return 0


def _last_record_end_exact(buffer: bytes | bytearray, stop: int) -> int:
    """Index just after the last whole record of ``buffer[:stop]`` read as Python's csv module reads it."""
    match = _RECORDS.match(buffer, 0, stop)
    return match.end() if match else 0


def _careful(layout: CsvLayout) -> CsvLayout:
    return dataclasses.replace(layout, newlines_in_values=True)


def read_head(stream: IO[bytes]) -> bytes:
    """First bytes of a stream, for :func:`sniff_layout`."""
    return stream.read(_SNIFF_BYTES)


def clean_table(raw: pa.Table, *, source_key: str, ingested_at: datetime) -> CleanBatch:
    """Validate and type a table of raw values named by canonical column.

    Columns are text, or already what ``MEMORY_SCHEMA`` says (the CSV reader
    converts on the fast path: numbers, dates, dictionary-encoded text).
    Absent optional columns are added as nulls. Text is trimmed; ship mode
    placeholders become null. Raises ``_TextNeeded`` when a row must be
    rejected from a table with converted columns, whose original text is gone.
    """
    n = raw.num_rows
    trimmed = {name: _trim(raw.column(name)) for name in raw.column_names}
    for name in INPUT_COLUMNS:
        if name not in trimmed:
            trimmed[name] = pa.nulls(n, pa.string())

    failures: list[tuple[str, pa.Array | pa.ChunkedArray]] = []
    for name in ("order_id", "region", "category", "sub_category"):
        failures.append((f"missing_{name}", _is_blank(trimmed[name])))
    order_date, bad_date = parse_dates(trimmed["order_date"])
    failures.append(("invalid_order_date", bad_date))
    cost, bad_cost = _parse_number(trimmed["cost_price"], low=0.0, high=None)
    failures.append(("invalid_cost_price", bad_cost))
    price, bad_price = _parse_number(trimmed["list_price"], low=0.0, high=None)
    failures.append(("invalid_list_price", bad_price))
    quantity, bad_quantity = _parse_quantity(trimmed["quantity"])
    failures.append(("invalid_quantity", bad_quantity))
    discount = trimmed["discount_percent"]
    if pa.types.is_string(discount.type):
        discount = pc.utf8_rtrim(discount, characters="% ")
    discount, bad_discount = _parse_number(discount, low=0.0, high=100.0)
    failures.append(("invalid_discount_percent", bad_discount))
    # Finite inputs can still overflow (a list price of 1e308 times 10): a profit that is not a number is no profit.
    profit = compute_profit(
        pa.table({"cost_price": cost, "list_price": price, "quantity": quantity, "discount_percent": discount})
    )
    failures.append(("invalid_profit", one_array(pc.fill_null(pc.invert(pc.is_finite(profit)), False))))

    bad = failures[0][1]
    for _, failed in failures[1:]:
        bad = pc.or_(bad, failed)
    bad = one_array(bad)
    any_bad = pc.any(bad).as_py()
    if any_bad and not all(pa.types.is_string(raw.column(name).type) for name in raw.column_names):
        raise _TextNeeded()

    ship_mode = trimmed["ship_mode"]
    ship_missing = _each_distinct(
        ship_mode,
        lambda labels: pc.or_kleene(
            pc.is_null(labels), pc.is_in(pc.utf8_lower(labels), pa.array(sorted(MISSING_SHIP_MODES)))
        ),
    )
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "order_id": trimmed["order_id"],
        "order_date": order_date,
        "ship_mode": _null_where(ship_missing, ship_mode),
        **{name: _null_if_blank(trimmed[name]) for name in ("segment", "country", "city", "state", "postal_code")},
        "region": trimmed["region"],
        "category": trimmed["category"],
        "sub_category": trimmed["sub_category"],
        "product_id": _null_if_blank(trimmed["product_id"]),
        "cost_price": cost,
        "list_price": price,
        "quantity": quantity,
        "discount_percent": discount,
    }
    good = pa.table({**columns, "profit": profit})
    if any_bad:
        good = good.filter(pc.invert(bad))
    source = pa.DictionaryArray.from_arrays(
        pa.repeat(pa.scalar(0, pa.int32()), good.num_rows), pa.array([source_key], pa.string())
    )
    good = good.append_column("source_key", source)
    stamp = pa.scalar(ingested_at.replace(tzinfo=None), pa.timestamp("ms"))
    good = good.append_column("ingested_at", pa.repeat(stamp, good.num_rows))
    good = good.cast(MEMORY_SCHEMA)
    if not any_bad:
        return CleanBatch(good=good, rejects=REJECTS_SCHEMA.empty_table(), reasons={}, rows_in=n)

    # Reasons are worked out on the (usually few) rejected rows only.
    bad_failures = [(name, pc.filter(failed, bad)) for name, failed in failures]
    first = pa.nulls(len(bad_failures[0][1]), pa.string())
    for name, failed in reversed(bad_failures):
        first = pc.if_else(failed, pa.scalar(name), first)
    rejects = pa.table(
        {
            "reject_reason": _joined_reasons(bad_failures, len(first)),
            **{name: pc.filter(raw.column(name), bad) for name in INPUT_COLUMNS if name in raw.column_names},
        }
    )
    counts = pc.value_counts(first).to_pylist()
    return CleanBatch(
        good=good, rejects=_conform_rejects(rejects), reasons={c["values"]: c["counts"] for c in counts}, rows_in=n
    )


def _each_distinct(
    values: pa.ChunkedArray | pa.Array, function: Callable[[pa.Array], pa.Array]
) -> pa.Array | pa.ChunkedArray:
    """``function`` (a yes/no question) of every value; of each distinct label only, when ``values`` is
    dictionary-encoded. When no label is a yes (a clean column), every row's answer is no without a take."""
    if not pa.types.is_dictionary(values.type):
        return function(values)
    encoded = one_array(values)
    answers = function(encoded.dictionary)
    if not encoded.null_count and not answers.null_count and not pc.any(answers).as_py():
        return pa.repeat(pa.scalar(False), len(encoded))
    return pc.take(answers, encoded.indices)


def _trim(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text without surrounding whitespace; a dictionary's labels are trimmed once each; other types as they are."""
    if pa.types.is_string(values.type):
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        if not any(map(_may_need_trim, chunks)):
            return values  # the usual case: no value starts or ends with a byte that could be whitespace
        return pc.utf8_trim_whitespace(values)
    if pa.types.is_dictionary(values.type):
        encoded = one_array(values)
        labels = pc.utf8_trim_whitespace(encoded.dictionary)
        if pc.count_distinct(labels, mode="all").as_py() < len(labels):
            # " West" and "West" trim to one label: encode again so each label has one index (grouping by
            # index must mean grouping by value, or one region's profit is summed in two parts).
            return pc.dictionary_encode(pc.take(labels, encoded.indices))
        return pa.DictionaryArray.from_arrays(encoded.indices, labels)
    return values


# Every whitespace character Arrow's utf8_trim_whitespace removes is ASCII up to the space, or not ASCII
# (its first byte is >= 0xC2 and its last one a continuation byte >= 0x80).
_EDGE_BYTES = np.zeros(256, bool)
_EDGE_BYTES[:0x21] = _EDGE_BYTES[0x7F:] = True


def _may_need_trim(chunk: pa.Array) -> bool:
    """Whether some value of a ``string`` array starts or ends with a byte that may belong to whitespace.

    Looks at two bytes per value through the offsets (about a tenth of the time trimming takes, which
    builds every string again); ``True`` also for any byte that is not printable ASCII.
    """
    if not len(chunk):
        return False
    _, offsets_buffer, data_buffer = chunk.buffers()
    if data_buffer is None:
        return False  # every value is empty
    offsets = np.frombuffer(offsets_buffer, np.int32, len(chunk) + 1, chunk.offset * 4)
    data = np.frombuffer(data_buffer, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    filled = ends > starts
    if not filled.all():
        starts, ends = starts[filled], ends[filled]
    return bool(_EDGE_BYTES[data[starts]].any() or _EDGE_BYTES[data[ends - 1]].any())


def _null_where(mask: pa.Array | pa.ChunkedArray, values: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    """``values`` with nulls where ``mask`` is true (a dictionary's indices are nulled, its labels kept)."""
    if not pc.any(mask).as_py():
        return values
    if pa.types.is_dictionary(values.type):
        encoded = one_array(values)
        indices = pc.if_else(mask, pa.scalar(None, encoded.indices.type), encoded.indices)
        return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)
    return pc.if_else(mask, pa.scalar(None, values.type), values)


def compute_profit(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """``(list_price * (1 - discount_percent / 100) - cost_price) * quantity``, the business definition."""
    net_price = pc.multiply(table["list_price"], pc.subtract(1.0, pc.divide(table["discount_percent"], 100.0)))
    return pc.multiply(pc.subtract(net_price, table["cost_price"]), pc.cast(table["quantity"], pa.float64()))


def parse_dates(values: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """Parse ISO ``YYYY-MM-DD`` and US ``M/D/YYYY`` dates.

    Returns ``(date32 array with nulls where invalid, boolean "invalid" mask)``.
    Impossible dates (Feb 30, month 13, years outside 1900-2199) are invalid,
    not rolled over.
    """
    values = one_array(values)
    try:  # fast path: strict ISO dates, impossible ones refused by Arrow itself
        fast = pc.cast(values, pa.date32())
    except pa.ArrowInvalid:
        return _parse_dates_slowly(values)
    years = pc.year(fast)
    ok = pc.fill_null(pc.and_(pc.greater_equal(years, MIN_YEAR), pc.less_equal(years, MAX_YEAR)), False)
    return _null_unless(ok, fast), pc.invert(ok)


def _parse_dates_slowly(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    iso = pc.extract_regex(values, _ISO_DATE)
    us = pc.extract_regex(values, _US_DATE)
    parts = {}
    for part in ("y", "m", "d"):
        merged = pc.coalesce(pc.struct_field(iso, part), pc.struct_field(us, part))
        parts[part] = pc.cast(merged, pa.int32()).to_numpy(zero_copy_only=False)
    y, m, d = (np.nan_to_num(parts[p].astype("float64"), nan=0).astype("int64") for p in ("y", "m", "d"))
    month_ok = (m >= 1) & (m <= 12)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = _DAYS_IN_MONTH[np.where(month_ok, m, 0)] + ((m == 2) & leap)
    ok = month_ok & (d >= 1) & (d <= days) & (y >= MIN_YEAR) & (y <= MAX_YEAR)
    safe_y, safe_m, safe_d = np.where(ok, y, 1970), np.where(ok, m, 1), np.where(ok, d, 1)
    months = (safe_y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (safe_m - 1)
    epoch_days = (months.astype("datetime64[D]") + (safe_d - 1)).astype("int64")
    result = pa.array(epoch_days.astype("int32"), pa.int32(), mask=~ok).cast(pa.date32())
    return result, pa.array(~ok)


def _null_unless(ok: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``values`` with nulls where ``ok`` is false; ``values`` itself when every row is ok (no copy: the usual case)."""
    if pc.all(ok).as_py():
        return values
    return pc.if_else(ok, values, pa.scalar(None, values.type))


def _is_blank(values: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    # Bytes, not code points: faster.
    return _each_distinct(values, lambda labels: pc.fill_null(pc.equal(pc.binary_length(labels), 0), True))


def _null_if_blank(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return _null_where(_is_blank(values), values)


def _parse_number(
    values: pa.ChunkedArray | pa.Array, *, low: float, high: float | None
) -> tuple[pa.ChunkedArray | pa.Array, pa.Array]:
    try:  # fast path: every value is a number ("nan"/"inf" are caught by is_finite below)
        number = pc.cast(values, pa.float64())
        ok = pc.fill_null(pc.is_finite(number), False)
    except pa.ArrowInvalid:
        matches = pc.fill_null(pc.match_substring_regex(values, _NUMBER), False)
        number = pc.cast(pc.if_else(matches, values, pa.scalar("0")), pa.float64())
        ok = pc.and_(matches, pc.is_finite(number))
    ok = pc.and_(ok, pc.greater_equal(number, low))
    if high is not None:
        ok = pc.and_(ok, pc.less_equal(number, high))
    ok = pc.fill_null(ok, False)  # an empty value the CSV reader turned into null: invalid, never unknown
    return _null_unless(ok, number), one_array(pc.invert(ok))


def _parse_quantity(values: pa.ChunkedArray | pa.Array) -> tuple[pa.ChunkedArray | pa.Array, pa.Array]:
    try:  # fast path: plain integers
        number = pc.cast(values, pa.int64())
        ok = pc.fill_null(pc.and_(pc.greater(number, 0), pc.less_equal(number, MAX_QUANTITY)), False)
        return _null_unless(ok, number), one_array(pc.invert(ok))
    except pa.ArrowInvalid:
        pass
    matches = pc.fill_null(pc.match_substring_regex(values, _QUANTITY), False)
    # Arrow's integer cast refuses a leading "+" (and "2.0"): keep the digits only, without leading zeros,
    # so "00000000001" is 1 here as on the fast path (a value's verdict never depends on its neighbours).
    digits = pc.replace_substring_regex(pc.if_else(matches, values, pa.scalar("0")), r"^\+|\.0*$", "")
    digits = pc.utf8_ltrim(digits, characters="0")
    digits = pc.if_else(pc.equal(pc.utf8_length(digits), 0), pa.scalar("0"), digits)
    short = pc.less_equal(pc.utf8_length(digits), 10)
    number = pc.cast(pc.if_else(short, digits, pa.scalar("0")), pa.int64())
    ok = pc.and_(pc.and_(matches, short), pc.and_(pc.greater(number, 0), pc.less_equal(number, MAX_QUANTITY)))
    return pc.if_else(ok, number, pa.scalar(None, pa.int64())), one_array(pc.invert(ok))


def _joined_reasons(failures: list[tuple[str, pa.Array | pa.ChunkedArray]], n: int) -> pa.Array:
    joined = pa.array([""] * n, pa.string())
    for name, failed in failures:
        piece = pc.if_else(failed, pa.scalar(name + "; "), pa.scalar(""))
        joined = pc.binary_join_element_wise(joined, piece, "")
    return one_array(pc.utf8_rtrim(joined, characters="; "))


def _malformed_batch(lines: list[str]) -> CleanBatch:
    rejects = pa.table(
        {
            "reject_reason": pa.array(["malformed_row"] * len(lines), pa.string()),
            "raw_line": pa.array(lines, pa.string()),
        }
    )
    return CleanBatch(
        good=MEMORY_SCHEMA.empty_table(),
        rejects=_conform_rejects(rejects),
        reasons={"malformed_row": len(lines)},
        rows_in=len(lines),
    )


def _conform_rejects(table: pa.Table) -> pa.Table:
    n = table.num_rows
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(n, pa.string()) for f in REJECTS_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=REJECTS_SCHEMA)


def read_with_retries(
    stream: IO[bytes], attempt: Callable[[IO[bytes], CsvLayout], T], on_retry: Callable[[ReparseNeeded], None]
) -> tuple[T, CsvLayout]:
    """Sniff the header, then run ``attempt`` over the whole stream, again from the start when the file requires it.

    A UTF-16 file (with a BOM) is transcoded to UTF-8 on the way in, so
    ``attempt`` gets the stream to read. The fast parser is tried first; a
    file that needs the careful one (quoted line breaks, malformed rows, a
    stray quote) or another encoding raises ``ReparseNeeded``, ``on_retry``
    drops what the pass produced, and the next pass uses the layout it names.
    Returns the last pass's result and its layout.
    """
    stream.seek(0)
    utf16 = stream.read(2) in _UTF16_BOMS
    stream.seek(0)
    text = cast(IO[bytes], _Utf16AsUtf8(stream)) if utf16 else stream
    layout = sniff_layout(read_head(text))
    if utf16:
        layout = dataclasses.replace(layout, encoding="utf-16")
    for _ in range(4):  # fast; careful; Windows-1252; Windows-1252 careful
        text.seek(0)
        try:
            return attempt(text, layout), layout
        except ReparseNeeded as again:
            on_retry(again)
            layout = again.layout
    raise UnreadableFileError("the CSV could not be parsed with any supported setting")


class _Utf16AsUtf8(io.RawIOBase):
    """A UTF-16 byte stream (BOM first) read as UTF-8: decoded and encoded again piece by piece."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("a transcoded stream seeks to its start only")
        self._inner.seek(0)
        self._decoder = codecs.getincrementaldecoder("utf-16")()
        self._pending = b""
        return 0

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(target).cast("B")
        while len(self._pending) < len(view):
            raw = self._inner.read(max(len(view), 1 << 16))
            try:
                self._pending += self._decoder.decode(raw, final=not raw).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(f"the UTF-16 text is broken: {exc.reason}") from exc
            if not raw:
                break
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def read_all(data: bytes, *, source_key: str, ingested_at: datetime, block_size: int = 1 << 20) -> list[CleanBatch]:
    """Clean a whole in-memory file (tests and small local jobs), re-reading as the file requires."""
    stream = io.BytesIO(data)
    batches, _ = read_with_retries(
        stream,
        lambda text, layout: list(
            iter_clean_batches(text, layout, source_key=source_key, ingested_at=ingested_at, block_size=block_size)
        ),
        lambda _: None,  # nothing to drop: the batches of a failed pass are never returned
    )
    return batches
