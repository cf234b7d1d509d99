"""A CSV file's bytes as a table of text cells, each row pinned to the physical line it starts on.

The standard library's csv module reads the records, fed one physical line at a time so that
`reader.line_num` says where each record starts; a row with more cells than the header and a quote
never closed are found there. pandas then tidies the cells as a frame indexed by those lines, here
and nowhere else; what leaves is a `Table` of plain strings. Line numbers are the ones a person
sees in an editor: blank lines above the header count, and a quoted cell may span several lines.
Every problem found is appended to the caller's list.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import pandas as pd

from rollover.errors import Problem

MAX_COLUMNS = 16_384  # Excel's widest sheet
_EXCEL_HINT = "in Excel use File > Save As > 'CSV UTF-8 (Comma delimited)'"

# Lines that carry nothing (spaces, commas, a byte order mark) before the header: the first of them
# would be taken as the header and size every row, so they are cut off before the csv module reads.
_LEADING_BLANK_LINES = re.compile(r"\A(?:(?:[^\S\r\n]|[,\ufeff])*(?:\r\n|\r|\n))+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WORD_GAP = re.compile(r"[\s_-]+")


@dataclass(frozen=True)
class Table:
    """The header and the non-blank rows, column by column, each row with its physical line."""

    header: list[str]
    header_line: int
    lines: list[int]
    columns: list[list[str]]


def read_table(
    path: Path, expected: Sequence[str], *, delimiter: str, encoding: str, problems: list[Problem]
) -> Table | None:
    """The file as a Table whose header should name `expected`, or None after recording why not."""
    text = _read_text(path, encoding, problems)
    if text is None:
        return None
    return _table_from_text(text, delimiter, expected, problems)


def _read_text(path: Path, encoding: str, problems: list[Problem]) -> str | None:
    """The file's text, or None after recording why it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(Problem(None, None, str(path), "file not found: check the path"))
        return None
    except OSError as exc:
        problems.append(Problem(None, None, str(path), f"cannot read the file: {exc.strerror}"))
        return None
    utf8 = codecs.lookup(encoding).name == "utf-8"
    if data.startswith(b"PK\x03\x04"):
        problems.append(
            Problem(
                None,
                None,
                None,
                f"this is an Excel workbook (.xlsx), not a CSV file: {_EXCEL_HINT}",
            )
        )
        return None
    if utf8 and data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        problems.append(
            Problem(
                None,
                None,
                None,
                "this file is UTF-16 text (Excel's 'Unicode "
                f"Text'): pass --encoding utf-16, or {_EXCEL_HINT}",
            )
        )
        return None
    try:
        # Excel's "CSV UTF-8" starts with a byte order mark; it is not part of the header.
        return data.decode("utf-8-sig" if utf8 else encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        shown = data[start : end if end >= 0 else len(data)][:120].decode(encoding, "replace")
        hint = (
            f"{_EXCEL_HINT}, or pass --encoding cp1252 if Excel saved it as plain 'CSV'"
            if utf8
            else f"check --encoding {encoding}, or {_EXCEL_HINT}"
        )
        problems.append(
            Problem(
                line,
                None,
                shown.rstrip("\r"),
                f"the file is not {encoding} text (byte "
                f"0x{data[exc.start]:02x} is not {encoding}): {hint}",
            )
        )
        return None


def _header_wanted(expected: Sequence[str]) -> str:
    """The message that names the header the file should start with."""
    return f"the first line must be the header ({', '.join(expected)})"


def _empty_file(expected: Sequence[str]) -> Problem:
    """The problem of a file that holds no record at all."""
    return Problem(None, None, None, f"the file is empty: {_header_wanted(expected)}")


def _table_from_text(
    text: str, delimiter: str, expected: Sequence[str], problems: list[Problem]
) -> Table | None:
    """Read the CSV text with the csv module, then tidy its cells as a frame indexed by line."""
    leading = _LEADING_BLANK_LINES.match(text)
    first_line = 1
    if leading:
        first_line += _line_breaks(leading.group())
        text = text[leading.end() :]
    # A byte order mark at the very start (twice, when a file was saved twice with one) is not
    # part of the header, and would keep a quote after it from opening a quoted cell.
    text = text.lstrip("\ufeff")
    lines_of_text = _PhysicalLines(text, first_line)
    records = _read_records(text, first_line, delimiter, lines_of_text, problems)
    if not records:
        if not problems:
            problems.append(_empty_file(expected))
        return None
    header_line, header = records[0]
    width = len(header)
    if width > MAX_COLUMNS:  # not a manifest
        problems.append(
            Problem(
                header_line,
                None,
                None,
                f"the header has {width} columns, more "
                f"than any spreadsheet: is this the manifest? "
                f"{_header_wanted(expected)}",
            )
        )
        return None
    lines: list[int] = []
    rows: list[list[str]] = []
    too_wide: list[Problem] = []
    for line, cells in records[1:]:
        if len(cells) > width:
            too_wide.append(
                Problem(
                    line,
                    None,
                    lines_of_text.excerpt(line),
                    f"this row has {len(cells)} cells but the header has {width}: remove the "
                    "extra cells, or put a cell that contains a comma in double quotes",
                )
            )
        else:
            # A cell's surrounding spaces are not part of it; a short row ends in blank cells.
            cells[:] = map(str.strip, cells)
            cells += [""] * (width - len(cells))
            lines.append(line)
            rows.append(cells)
    del records
    if not any(cell.strip() for cell in header):
        problems.extend(too_wide)
        problems.append(Problem(first_line, None, None, _header_wanted(expected)))
        return None
    other = _other_delimiter(header, delimiter, expected)
    if other is not None:
        # Rows read with the wrong delimiter say nothing true about cell counts: leave them out.
        used = "tabs" if other == "\t" else repr(other)
        option = "tab" if other == "\t" else f"'{other}'"
        problems.append(
            Problem(
                header_line,
                None,
                header[0][:120],
                f"this file uses {used} as its delimiter, not {delimiter!r}: pass "
                f"--delimiter {option} (or in Excel save it as 'CSV UTF-8 (Comma delimited)')",
                hint=f"run the same command again with --delimiter {option}",
            )
        )
        return None
    problems.extend(too_wide)
    frame = pd.DataFrame(
        rows, index=pd.Index(lines, name="line"), columns=range(width), dtype=object
    )
    del rows
    frame = frame[(frame != "").any(axis=1)]  # a blank line or a line of commas is no course
    return Table(
        header=header,
        header_line=header_line,
        lines=frame.index.tolist(),
        columns=[frame[column].tolist() for column in frame.columns],
    )


def header_key(cell: str) -> str:
    """A header cell as a column key: case, surrounding spaces, and spaces, hyphens or
    underscores between words ignored (`Source Course ID` is source_course_id)."""
    return _WORD_GAP.sub("_", cell.lstrip("\ufeff").strip().lower())


def _other_delimiter(header: list[str], delimiter: str, expected: Collection[str]) -> str | None:
    """The delimiter a one-column header was really written with (European Excel uses ';')."""
    if len(header) != 1:
        return None
    for other in (";", "\t", ",", "|"):
        if (
            other != delimiter
            and other in header[0]
            and any(header_key(name) in expected for name in header[0].split(other))
        ):
            return other
    return None


def _read_records(
    text: str,
    first_line: int,
    delimiter: str,
    lines_of_text: _PhysicalLines,
    problems: list[Problem],
) -> list[tuple[int, list[str]]]:
    """Each CSV record's cells with the physical line it starts on.

    A quoted cell whose closing quote is missing runs to the end of the file: that record is
    recorded as a problem instead, and the records before it are still read.
    """
    at_end = False

    def end_of_text() -> Iterator[str]:
        nonlocal at_end
        at_end = True
        yield from ()

    # The limit is process-wide and 128 KiB by default; a cell may be as long as the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # newline="" splits the text at CRLF, CR and LF alike and keeps the line breaks, so the
    # reader keeps a quoted cell's line breaks and counts physical lines in `line_num`.
    physical = chain(io.StringIO(text, newline=""), end_of_text())
    reader = csv.reader(physical, delimiter=delimiter, quotechar='"', doublequote=True)
    records: list[tuple[int, list[str]]] = []
    line = first_line
    for cells in reader:
        if at_end:  # the reader wanted more lines for this record: its quote never closed
            problems.append(
                Problem(
                    # The open cell runs to the end: its line breaks are the text's last ones.
                    first_line + _line_breaks(text) - _line_breaks(cells[-1]),
                    None,
                    lines_of_text.excerpt(line),
                    "a quoted cell starts here and its closing double quote is missing: add it "
                    '(a double quote inside a quoted cell is written twice, "")',
                )
            )
            break
        records.append((line, cells))
        line = first_line + reader.line_num
    return records


class _PhysicalLines:
    """A text's physical lines by number, for messages; split only when a message needs one."""

    def __init__(self, text: str, first_line: int) -> None:
        self._text = text
        self._first_line = first_line
        self._lines: list[str] | None = None

    def excerpt(self, line: int) -> str:
        """The start of physical line `line`, shortened for a message."""
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self._text)
        return self._lines[line - self._first_line][:80]


def _line_breaks(text: str) -> int:
    """How many line breaks the text holds, a CRLF counting as one."""
    return text.count("\r") + text.count("\n") - text.count("\r\n")
