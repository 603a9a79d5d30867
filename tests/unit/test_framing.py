"""Record framing, differentially: the rows the pipeline reads are the rows Python's csv module reads.

For generated CSV text (quoted fields with commas, quotes and CR/LF/CRLF inside, stray quotes in
unquoted fields, CR-only, LF and CRLF line ends, a header cell with a quoted line break, blank and
comma-only lines, UTF-8, Windows-1252 and UTF-16) and piece sizes down to 64 bytes, every row the
pipeline reads carries exactly the cells ``csv.reader`` gives for that record, in order; or the file
gets a defined error (a record longer than two pieces is ``UnreadableFileError``). Never a different
split.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lambda_app.cleaning import read_all
from lambda_app.errors import UnreadableFileError
from lambda_app.schema import INPUT_COLUMNS
from tests.helpers import CANONICAL_HEADER, examples

HEADER = CANONICAL_HEADER.split(",")
QUANTITY = HEADER.index("Quantity")
ALPHABET = st.sampled_from(["a", "b", "Z", " ", "é", '"', ",", "\n", "\r", "1", "-"])


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@st.composite
def cell(draw: st.DrawFn) -> tuple[str, str]:
    """``(value, text)``: a cell's value and how it is written (quoted when it must be, or by choice)."""
    value = draw(st.text(ALPHABET, max_size=8))
    must_quote = any(c in value for c in ",\r\n") or value.startswith('"')
    if must_quote or draw(st.booleans()):
        return value, _quoted(value)
    return value, value  # may hold a stray quote in the middle ("12\" Shelf"): csv reads it as a character


@st.composite
def csv_file(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    """A file's text and the data records it holds, as csv.reader reads them."""
    ends = draw(st.sampled_from([["\n"], ["\r\n"], ["\r"], ["\n", "\r\n", "\r"]]))
    header = list(HEADER)
    texts = [_quoted(h) if h != "Order Id" or not draw(st.booleans()) else '"Order\nId"' for h in header]
    lines = [",".join(texts) + draw(st.sampled_from(ends))]
    records: list[list[str]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        if draw(st.integers(min_value=0, max_value=9)) == 0:  # a blank or a comma-only line: not a row
            lines.append(draw(st.sampled_from(["", "," * (len(header) - 1)])) + draw(st.sampled_from(ends)))
            continue
        cells = [draw(cell()) for _ in header]
        value = "q" + draw(st.text(ALPHABET, max_size=4))  # never a valid quantity: every row is a reject
        cells[QUANTITY] = (value, _quoted(value))
        lines.append(",".join(text for _, text in cells) + draw(st.sampled_from(ends)))
        records.append([v for v, _ in cells])
    text = "".join(lines)
    if draw(st.booleans()):  # no line break after the last record
        text = text.removesuffix("\n").removesuffix("\r")
    expected = [r for r in csv.reader(io.StringIO(text, newline="")) if any(r)][1:]
    return text, expected


def _read(data: bytes, block_size: int) -> list[list[str]]:
    batches = read_all(data, source_key="k", ingested_at=datetime(2026, 1, 1, tzinfo=UTC), block_size=block_size)
    rows: list[list[str]] = []
    for batch in batches:
        assert batch.good.num_rows == 0
        for reject in batch.rejects.to_pylist():
            assert reject["reject_reason"] != "malformed_row", reject
            rows.append([reject[name] for name in _COLUMNS])
    return rows


_COLUMNS = INPUT_COLUMNS  # the rejects file holds them in this order, as the header does


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generated=csv_file(),
    block_size=st.sampled_from([64, 256, 1024, 1 << 20]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
@example(  # the attack's B3: a stray quote before a quoted line break
    generated=(
        ",".join(HEADER) + '\n12" Shelf,' + ",".join(["x"] * 13) + ',"multi\nline",q\n',
        [['12" Shelf', *["x"] * 13, "multi\nline", "q"]],
    ),
    block_size=1 << 20,
    encoding="utf-8",
).via("the attack report")
def test_rows_read_are_the_csv_modules_rows(
    generated: tuple[str, list[list[str]]], block_size: int, encoding: str
) -> None:
    text, expected = generated
    try:
        got = _read(text.encode(encoding), block_size)
    except UnreadableFileError as exc:
        refused = str(exc)
    else:
        assert got == expected
        return
    assert "longer than CSV_BLOCK_BYTES" in refused or "never closed" in refused, refused


def test_the_b3_example_is_one_row_not_two() -> None:
    """Expected: a stray quote in an unquoted field (12" Shelf) before a quoted line break is one row."""
    text = ",".join(HEADER) + '\n12" Shelf,' + ",".join(["x"] * 13) + ',"multi\nline",q\n'
    assert _read(text.encode(), 1 << 20) == [['12" Shelf', *["x"] * 13, "multi\nline", "q"]]


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
def test_files_much_larger_than_a_piece_are_cut_at_record_ends_with_any_line_end(end: str) -> None:
    """Expected (B1/B2): CR-only, LF and CRLF files of many pieces, with quoted line breaks and stray
    quotes, read every row once."""
    row = ['id"1', *["x"] * 13, "a\r\nb", "q"]
    text = ",".join(HEADER) + end + "".join(",".join([row[0], *row[1:14], '"a\r\nb"', "q"]) + end for _ in range(200))
    assert _read(text.encode(), 1024) == [row] * 200


@pytest.mark.parametrize("line_break", ["\r", "\n", "\r\n"])
def test_a_stray_quote_that_moves_the_fast_cut_inside_a_quoted_value_is_read_again_carefully(line_break: str) -> None:
    """Found by the property above (block 1024): quote parity fooled by ``1"``, the cut right after a
    line break inside the next row's quoted last value. Arrow read the unclosed quote to the end of the
    piece and the next piece from inside the value: rows with the right field count and wrong text."""
    block = 1024

    def row(*cells: str) -> str:
        return ",".join(cells) + "\n"

    def stray(padding: str) -> str:
        return row('1"', padding, *[""] * 12, "q", "")

    tail = row("x", *[""] * 13, '"q"', f'"{line_break}"')
    position = tail.index(line_break) + len(line_break)  # the cut the parity allows, inside the quotes
    width = block - position - len(stray(""))
    assert width > 0
    data = stray("a" * width) + tail + stray("b")  # its stray quote closes the quote the cut left open
    assert len(stray("a" * width)) + position == block  # the first piece is cut just there
    text = ",".join(HEADER) + "\n" + data
    expected = [r for r in csv.reader(io.StringIO(text, newline="")) if any(r)][1:]
    assert _read(text.encode(), block) == expected
