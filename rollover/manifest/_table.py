"""A CSV file's bytes as a table of text cells, each row pinned to the physical line it starts on.

pandas reads the file here and nowhere else; what leaves is a `Table` of plain strings. Line numbers
are the ones a person sees in an editor: blank lines above the header count, and a quoted cell may
span several lines. Every problem found is appended to the caller's list.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rollover.errors import Problem

MAX_COLUMNS = 16_384  # Excel's widest sheet
_EXCEL_HINT = "in Excel use File > Save As > 'CSV UTF-8 (Comma delimited)'"

# Lines that carry nothing (spaces, commas) before the header: pandas would take the first of them
# as the header and size every row by it, so they are cut off before pandas sees the text.
_LEADING_BLANK_LINES = re.compile(r"\A(?:(?:[^\S\r\n]|,)*(?:\r\n|\r|\n))+")
_QUOTE_OR_NEWLINE = re.compile(r'"|\r\n|\r|\n')
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")
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
    """Parse the CSV text with pandas and pin each record to its physical line."""
    leading = _LEADING_BLANK_LINES.match(text)
    first_line = 1
    if leading:
        first_line += len(_QUOTE_OR_NEWLINE.findall(leading.group()))
        text = text[leading.end() :]
    # pandas drops a byte order mark at the very start itself; a second one (a file saved twice
    # with a BOM) must go too, or pandas and the scanner would disagree about a quote after it.
    text = text.lstrip("\ufeff")
    starts, offsets, open_quote = _scan_records(text, first_line, delimiter)
    if open_quote is not None:
        record = len(offsets) - 1
        problems.append(
            Problem(
                open_quote,
                None,
                _excerpt(text, offsets[record]),
                "a quoted cell starts here and its closing double quote is missing: add it "
                '(a double quote inside a quoted cell is written twice, "")',
            )
        )
        # Everything after the open quote is one endless cell; check the rows before it.
        text = text[: offsets[record]]
        del starts[record:], offsets[record:]
    if not starts:
        if not problems:
            problems.append(_empty_file(expected))
        return None
    header_end = offsets[1] if len(offsets) > 1 else len(text)
    width = text.count(delimiter, 0, header_end) + 1
    if width > MAX_COLUMNS:  # not a manifest; pandas would take minutes to read it
        problems.append(
            Problem(
                starts[0],
                None,
                None,
                f"the header has {width} columns, more "
                f"than any spreadsheet: is this the manifest? "
                f"{_header_wanted(expected)}",
            )
        )
        return None
    before = len(problems)
    parsed = _parse_records(text, delimiter, starts, offsets, expected, problems)
    if parsed is None:
        return None
    frame, lines = parsed
    # Whole columns at a time: per-cell pandas access would cost seconds on 100,000 rows.
    columns = [[cell.strip() for cell in frame[column].tolist()] for column in frame.columns]
    if not lines or not any(column[0] for column in columns):
        problems.append(Problem(first_line, None, None, _header_wanted(expected)))
        return None
    header = [str(frame[column].iat[0]) for column in frame.columns]
    other = _other_delimiter(header, delimiter, expected)
    if other is not None:
        # Rows read with the wrong delimiter say nothing true about cell counts: drop that noise.
        del problems[before:]
        used = "tabs" if other == "\t" else repr(other)
        option = "tab" if other == "\t" else f"'{other}'"
        problems.append(
            Problem(
                lines[0],
                None,
                header[0][:120],
                f"this file uses {used} as its delimiter, not {delimiter!r}: pass "
                f"--delimiter {option} (or in Excel save it as 'CSV UTF-8 (Comma delimited)')",
                hint=f"run the same command again with --delimiter {option}",
            )
        )
        return None
    keep = [at for at, cells in enumerate(zip(*columns, strict=True)) if at and any(cells)]
    return Table(
        header=header,
        header_line=lines[0],
        lines=[lines[at] for at in keep],
        columns=[[column[at] for at in keep] for column in columns],
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


def _parse_records(
    text: str,
    delimiter: str,
    starts: list[int],
    offsets: list[int],
    expected: Sequence[str],
    problems: list[Problem],
) -> tuple[pd.DataFrame, list[int]] | None:
    """pandas' reading of the text, every cell as text, and the start line of each row it kept."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                header=None,
                index_col=False,
                dtype=str,
                engine="c",
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                on_bad_lines="warn",
            )
        except pd.errors.EmptyDataError:
            problems.append(_empty_file(expected))
            return None
        except pd.errors.ParserError as exc:
            problems.append(
                Problem(None, None, None, f"the file cannot be read as CSV ({exc}); {_EXCEL_HINT}")
            )
            return None
    skipped: set[int] = set()
    for warning in caught:
        for found in _SKIPPED_LINE.finditer(str(warning.message)):
            record, width, saw = (int(group) for group in found.groups())
            skipped.add(record - 1)
            problems.append(
                Problem(
                    starts[record - 1],
                    None,
                    _excerpt(text, offsets[record - 1]),
                    f"this row has {saw} cells but the header has {width}: remove the extra "
                    "cells, or put a cell that contains a comma in double quotes",
                )
            )
    lines = [line for record, line in enumerate(starts) if record not in skipped]
    if len(lines) != len(frame):
        problems.append(
            Problem(
                None,
                None,
                None,
                f"found {len(lines)} rows but pandas read "
                f"{len(frame)}, so line numbers cannot be trusted; {_EXCEL_HINT}",
            )
        )
        return None
    return frame, lines


def _scan_records(
    text: str, first_line: int, delimiter: str = ","
) -> tuple[list[int], list[int], int | None]:
    """Start line and offset of every CSV record, and the line of a quote never closed.

    Mirrors pandas' C tokenizer: a double quote opens a quoted cell only at the start of a cell,
    a doubled quote inside one is a literal quote, and a line break inside one does not end the
    record. Only quotes and line breaks are visited, so a 100,000-row file scans in milliseconds.
    """
    starts, offsets = [first_line], [0]
    line = first_line
    quoted_since: int | None = None
    escaped_quote_at = -1
    for found in _QUOTE_OR_NEWLINE.finditer(text):
        at = found.start()
        if text[at] != '"':
            line += 1
            if quoted_since is None:
                starts.append(line)
                offsets.append(found.end())
        elif quoted_since is not None:
            if at == escaped_quote_at:
                continue
            if text.startswith('"', at + 1):
                escaped_quote_at = at + 1
            else:
                quoted_since = None
        elif at == offsets[-1] or text[at - 1] == delimiter:
            quoted_since = line
    if offsets[-1] == len(text):
        starts.pop()
        offsets.pop()
    return starts, offsets, quoted_since


def _excerpt(text: str, offset: int) -> str:
    """The first line of the record at offset, shortened for a message."""
    end = len(text)
    for stop in ("\r", "\n"):
        found = text.find(stop, offset, offset + 80)
        if found != -1:
            end = min(end, found)
    end = min(end, offset + 80)
    return text[offset:end]
