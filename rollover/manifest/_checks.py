"""The CSV manifest: check every cell of its table, hand back frozen rows.

`read_table` turns the file into cells pinned to their physical lines (pandas stays there);
`check_header` finds the columns, each column's parser (`_columns`) checks its cells, and the
checks across rows (`_across`) come last. The rest of the tool sees only `Manifest` and
`ManifestRow`. Every problem in the file is collected before `ManifestInvalid` is raised, each
with the line a person sees in an editor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from rollover.errors import ManifestInvalid, Problem

from ._across import (
    check_children,
    check_dates,
    check_required,
    check_targets,
    check_term_shifts,
)
from ._columns import (
    MAX_EXTERNAL_ID,
    MAX_NAME,
    free_text,
    limit,
    moment_parser,
    parse_available,
    parse_children,
    parse_flag,
    parse_instructors_cell,
    parse_source,
    parse_target,
    profile_parser,
)
from ._header import COLUMNS, REQUIRED_COLUMNS, check_header, check_repeated_header
from ._instructors import Enrolment
from ._invalid import Invalid as _Invalid
from ._shift import DateShift, parse_shift
from ._table import Table, read_table

_COLUMN_ORDER = {column: position for position, column in enumerate(COLUMNS)}

_T = TypeVar("_T")


@dataclass(frozen=True)
class ManifestRow:
    """One course to produce, as the manifest asks for it; None means leave the field as copied."""

    line: int
    source_course_id: str
    target_course_id: str
    copy_into_existing: bool
    name: str | None
    description: str | None
    external_id: str | None
    term_id: str | None
    available: str | None
    start_date: datetime | None
    end_date: datetime | None
    copy_profile: str | None
    # Last, with a default: rows are built by keyword across the tree. Empty when the cell is blank.
    instructors: tuple[Enrolment, ...] = ()
    # Merged sections: existing courses to attach to the target as its children, each as
    # Learn's path takes it (courseId, `externalId:ID` or `_12_1`), in the cell's order.
    children: tuple[str, ...] = ()
    # How the copy's dated items move (`shift_dates`); None when the cell is blank.
    shift: DateShift | None = None


@dataclass(frozen=True)
class Manifest:
    """A manifest that passed every check: its rows in file order and what was ignored."""

    path: Path
    rows: tuple[ManifestRow, ...]
    warnings: tuple[Problem, ...]
    zone: ZoneInfo  # the zone of its dates without a UTC offset
    # The first date without a UTC offset, as (line, column, value): read in `zone`, so a run
    # on a machine set to UTC must be told which zone the registrar meant.
    local_date: tuple[int, str, str] | None = None


def load_manifest(
    path: Path,
    *,
    timezone: ZoneInfo,
    profiles: Collection[str],
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Manifest:
    """Read and check a manifest; raise ManifestInvalid listing every problem in it."""
    problems: list[Problem] = []
    notes: list[Problem] = []
    rows: list[ManifestRow] = []
    local_dates: list[tuple[int, str, str]] = []
    table = read_table(path, COLUMNS, delimiter=delimiter, encoding=encoding, problems=problems)
    if table is not None:
        rows = _check_table(table, timezone, profiles, problems, notes, local_dates)
    if problems:
        problems.sort(key=_reading_order)
        hint = next((problem.hint for problem in problems if problem.hint), None)
        raise ManifestInvalid(str(path), problems, warnings=notes, hint=hint)
    return Manifest(
        path=path,
        rows=tuple(rows),
        warnings=tuple(notes),
        zone=timezone,
        local_date=min(local_dates, key=lambda d: (d[0], d[1] != "start_date"), default=None),
    )


def _reading_order(problem: Problem) -> tuple[int, int]:
    """Sort key: by line, then in contract column order (whole-row problems first)."""
    if problem.column is None:
        return problem.line or 0, -1
    return problem.line or 0, _COLUMN_ORDER.get(problem.column.lower(), len(COLUMNS))


def _check_table(
    table: Table,
    timezone: ZoneInfo,
    profiles: Collection[str],
    problems: list[Problem],
    notes: list[Problem],
    local_dates: list[tuple[int, str, str]],
) -> list[ManifestRow]:
    """Check the header, every cell, then each row as a whole; return rows only if all is well.
    The first date of each date column that has no UTC offset goes to `local_dates`."""
    index = check_header(table, problems, notes)
    lines = table.lines
    if not lines:
        if not problems:  # rows the reader already refused are not "no rows"
            problems.append(
                Problem(
                    table.header_line,
                    None,
                    None,
                    "no course rows: add one line per course below the header",
                )
            )
        return []
    check_repeated_header(table, problems)
    blank = [""] * len(lines)
    text = {
        column: table.columns[index[column]] if column in index else blank for column in COLUMNS
    }

    def parse(
        column: str, parser: Callable[[str], _T], *, repeats: bool = False
    ) -> list[_T | None]:
        return _parse_column(column, text[column], lines, parser, problems, repeats=repeats)

    source = parse("source_course_id", parse_source)
    target = parse("target_course_id", parse_target)
    into_existing = parse("copy_into_existing", parse_flag, repeats=True)
    name = parse("name", limit(MAX_NAME))
    description = parse("description", free_text)
    external_id = parse("external_id", limit(MAX_EXTERNAL_ID))
    term_id = parse("term_id", free_text, repeats=True)
    available = parse("available", parse_available, repeats=True)
    start = parse("start_date", moment_parser(timezone, end_of_day=False), repeats=True)
    end = parse("end_date", moment_parser(timezone, end_of_day=True), repeats=True)
    profile = parse("copy_profile", profile_parser(profiles), repeats=True)
    # A department's instructors repeat down its rows: each distinct cell is parsed once.
    instructors = parse("instructors", parse_instructors_cell, repeats=True)
    children = parse("child_course_ids", parse_children)
    shift = parse("shift_dates", parse_shift, repeats=True)
    check_required(
        lines, text, [column for column in REQUIRED_COLUMNS if column in index], problems
    )
    check_targets(lines, source, target, problems)
    check_dates(lines, text, start, end, problems)
    check_children(lines, text["child_course_ids"], source, target, children, problems)
    check_term_shifts(lines, text, shift, problems)
    if problems:
        return []
    for column in ("start_date", "end_date"):
        local_dates.extend(
            next(
                (
                    [(line, column, value.strip())]
                    for line, value in zip(lines, text[column], strict=True)
                    if value.strip() and datetime.fromisoformat(value.strip()).tzinfo is None
                ),
                [],
            )
        )
    return [
        ManifestRow(
            line=line,
            source_course_id=str(row[0]),
            target_course_id=str(row[1]),
            copy_into_existing=bool(row[2]),
            name=row[3],
            description=row[4],
            external_id=row[5],
            term_id=row[6],
            available=row[7],
            start_date=row[8],
            end_date=row[9],
            copy_profile=row[10],
            instructors=row[11] or (),
            children=row[12] or (),
            shift=row[13],
        )
        for line, *row in zip(
            lines,
            source,
            target,
            into_existing,
            name,
            description,
            external_id,
            term_id,
            available,
            start,
            end,
            profile,
            instructors,
            children,
            shift,
            strict=True,
        )
    ]


def _parse_column(
    column: str,
    values: list[str],
    lines: list[int],
    parse: Callable[[str], _T],
    problems: list[Problem],
    *,
    repeats: bool,
) -> list[_T | None]:
    """Parse each cell of a column: blank is None, a bad cell is None plus its Problems.

    With `repeats`, each distinct value is parsed once, refused ones too: dates, flags, terms
    and a department's instructors repeat on nearly every row of a real manifest.
    """
    parsed: list[_T | None] = []
    known: dict[str, _T] = {}
    refused: dict[str, tuple[str, ...]] = {}
    for line, value in zip(lines, values, strict=True):
        if not value:
            parsed.append(None)
        elif value in known:
            parsed.append(known[value])
        else:
            messages = refused.get(value)
            if messages is None:
                try:
                    result = parse(value)
                except _Invalid as exc:
                    messages = exc.messages
                    if repeats:
                        refused[value] = messages
                else:
                    if repeats:
                        known[value] = result
                    parsed.append(result)
                    continue
            problems.extend(Problem(line, column, value, message) for message in messages)
            parsed.append(None)
    return parsed
