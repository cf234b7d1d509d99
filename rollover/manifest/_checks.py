"""The CSV manifest: check every cell of its table, hand back frozen rows.

`read_table` turns the file into cells pinned to their physical lines (pandas stays there); the rest
of the tool sees only `Manifest` and `ManifestRow`. Every problem in the file is collected before
`ManifestInvalid` is raised, each with the line a person sees in an editor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from rollover.errors import ManifestInvalid, Problem, closest, did_you_mean
from rollover.times import LocalTimeError, day_end, day_start, local_moment

from ._instructors import Enrolment, parse_instructors
from ._invalid import Invalid as _Invalid
from ._table import Table, header_key, read_table

COLUMNS = (
    "source_course_id",
    "target_course_id",
    "copy_into_existing",
    "name",
    "description",
    "external_id",
    "term_id",
    "available",
    "start_date",
    "end_date",
    "copy_profile",
    "instructors",
)
REQUIRED_COLUMNS = ("source_course_id", "target_course_id")
_COLUMN_ORDER = {column: position for position, column in enumerate(COLUMNS)}
_LONGEST_HEADER = 2 * max(len(column) for column in COLUMNS)
_HEADER_SHOWN = 80

MAX_TARGET_ID = 100
MAX_NAME = 333
MAX_EXTERNAL_ID = 256

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_AVAILABLE = {word.lower(): word for word in ("Yes", "No", "Disabled", "Term")}
_TARGET_ID = re.compile(r"[A-Za-z0-9._-]+")
_WHITESPACE = re.compile(r"\s")
# Control characters other than tab and line breaks: never meant, and a terminal acts on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DAY_PART = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")
_DATE_HINT = "write a date like 2027-01-11 or a date-time like 2027-01-11T08:00-06:00"

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
    index = _check_header(table, problems, notes)
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
    _check_repeated_header(table, problems)
    blank = [""] * len(lines)
    text = {
        column: table.columns[index[column]] if column in index else blank for column in COLUMNS
    }

    def parse(
        column: str, parser: Callable[[str], _T], *, repeats: bool = False
    ) -> list[_T | None]:
        return _parse_column(column, text[column], lines, parser, problems, repeats=repeats)

    source = parse("source_course_id", _parse_source)
    target = parse("target_course_id", _parse_target)
    into_existing = parse("copy_into_existing", _parse_flag, repeats=True)
    name = parse("name", _limit(MAX_NAME))
    description = parse("description", _free_text)
    external_id = parse("external_id", _limit(MAX_EXTERNAL_ID))
    term_id = parse("term_id", _free_text, repeats=True)
    available = parse("available", _parse_available, repeats=True)
    start = parse("start_date", _moment_parser(timezone, end_of_day=False), repeats=True)
    end = parse("end_date", _moment_parser(timezone, end_of_day=True), repeats=True)
    profile = parse("copy_profile", _profile_parser(profiles), repeats=True)
    # A department's instructors repeat down its rows: each distinct cell is parsed once.
    instructors = parse("instructors", _parse_instructors, repeats=True)
    _check_required(
        lines, text, [column for column in REQUIRED_COLUMNS if column in index], problems
    )
    _check_targets(lines, source, target, problems)
    _check_dates(lines, text, start, end, problems)
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
            strict=True,
        )
    ]


def _check_header(table: Table, problems: list[Problem], notes: list[Problem]) -> dict[str, int]:
    """Map each known column to its position; record missing, duplicate and unknown columns.

    A header close to a known column that the file lacks (`copy_profle`) is an error, not a
    warning: its cells would be ignored, and a copy made without them cannot be undone.
    """
    line = table.header_line
    index: dict[str, int] = {}
    unknown: list[tuple[str, str, str]] = []  # (key, as shown, raw)
    for position, raw in enumerate(table.header):
        shown = _shortened(raw.strip().strip("\ufeff").strip())
        name = header_key(raw)
        if not name:
            if any(table.columns[position]):
                notes.append(
                    Problem(
                        line,
                        None,
                        None,
                        f"column {position + 1} has no name in the header: its cells are ignored",
                    )
                )
        elif name in index:
            problems.append(
                Problem(
                    line,
                    shown,
                    raw,
                    f"column {name} appears twice in the header "
                    f"(columns {index[name] + 1} and {position + 1}): keep one",
                )
            )
        elif name in COLUMNS:
            index[name] = position
        else:
            unknown.append((name, shown, raw))
    missing = [column for column in COLUMNS if column not in index]
    resembled: set[str] = set()
    for name, shown, raw in unknown:
        # A header over twice as long as every column name resembles none of them (and difflib
        # would spend a second on a 10 MB one).
        near = closest(name, missing) if len(name) <= _LONGEST_HEADER else None
        if near is not None:
            resembled.add(near)
            problems.append(
                Problem(
                    line,
                    shown,
                    raw,
                    f"unknown column, close to {near}: rename "
                    f"it {near} (as it is, its cells would be ignored)",
                )
            )
        else:
            notes.append(Problem(line, shown, raw, "unknown column: its cells are ignored"))
    for column in REQUIRED_COLUMNS:
        if column not in index and column not in resembled:
            problems.append(
                Problem(
                    line,
                    column,
                    None,
                    f"required column {column} is missing from the header: add it",
                )
            )
    return index


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


def _check_repeated_header(table: Table, problems: list[Problem]) -> None:
    """Refuse a row that is the header again (two exports pasted into one file)."""
    names = [header_key(cell) for cell in table.header]
    for at, line in enumerate(table.lines):
        if [header_key(column[at]) for column in table.columns] == names:
            problems.append(
                Problem(
                    line,
                    None,
                    None,
                    "this line repeats the header (two files pasted together?): remove it",
                )
            )


def _shortened(header: str) -> str:
    """A header cell short enough to name a column in a message (the value shows it whole)."""
    return header if len(header) <= _HEADER_SHOWN else header[:_HEADER_SHOWN] + "..."


def _check_required(
    lines: list[int], text: dict[str, list[str]], present: list[str], problems: list[Problem]
) -> None:
    """A problem for each blank cell of a required column that the header has."""
    for column in present:
        for line, value in zip(lines, text[column], strict=True):
            if not value:
                problems.append(Problem(line, column, "", f"{column} is required: fill it in"))


def _check_targets(
    lines: list[int], source: list[str | None], target: list[str | None], problems: list[Problem]
) -> None:
    """Each target appears once (ignoring case, as course ids are matched) and is not its source."""
    first_line: dict[str, int] = {}
    for line, source_id, target_id in zip(lines, source, target, strict=True):
        if target_id is None:
            continue
        if source_id is not None and source_id.lower() == target_id.lower():
            problems.append(
                Problem(
                    line,
                    "target_course_id",
                    target_id,
                    "target_course_id is the "
                    "same course as source_course_id: give the new course's id",
                )
            )
        first = first_line.setdefault(target_id.lower(), line)
        if first != line:
            problems.append(
                Problem(
                    line,
                    "target_course_id",
                    target_id,
                    "duplicate "
                    f"target_course_id: line {first} already produces this "
                    "course (course ids are compared ignoring case); list each "
                    "target once",
                )
            )


def _check_dates(
    lines: list[int],
    text: dict[str, list[str]],
    start: list[datetime | None],
    end: list[datetime | None],
    problems: list[Problem],
) -> None:
    """Both dates or neither, and the start strictly before the end."""
    for line, start_text, end_text, start_at, end_at in zip(
        lines, text["start_date"], text["end_date"], start, end, strict=True
    ):
        if bool(start_text) != bool(end_text):
            given, blank = ("start_date", "end_date") if start_text else ("end_date", "start_date")
            problems.append(
                Problem(
                    line,
                    blank,
                    "",
                    f"{given} is given but {blank} is blank: give both dates or neither",
                )
            )
        elif start_at is not None and end_at is not None and start_at >= end_at:
            problems.append(
                Problem(
                    line, "end_date", end_text, f"end_date must be after start_date ({start_text})"
                )
            )


def _no_control(value: str) -> None:
    """Refuse a control character, naming it."""
    found = _CONTROL.search(value)
    if found:
        raise _Invalid(
            f"contains the control character {found.group()!r}: remove it (it is "
            "invisible in Excel; retyping the cell removes it)"
        )


def _parse_source(value: str) -> str:
    """A source course id or primary id: one word."""
    _no_control(value)
    if _WHITESPACE.search(value):
        raise _Invalid(
            "source_course_id must not contain spaces: use the courseId or the "
            "_123_1 primary id exactly as Learn shows it"
        )
    return value


def _parse_instructors(value: str) -> tuple[Enrolment, ...]:
    """`;`-separated user ids, each with an optional `=ROLE`, without control characters."""
    _no_control(value)
    return parse_instructors(value)


def _parse_target(value: str) -> str:
    """A target course id: Learn's allowed characters and length."""
    if not _TARGET_ID.fullmatch(value):
        bad = sorted({char for char in value if not _TARGET_ID.fullmatch(char)})
        raise _Invalid(
            "target_course_id may contain only letters, digits, '-', '_' and '.'; "
            f"remove {', '.join(repr(char) for char in bad)}"
        )
    if len(value) > MAX_TARGET_ID:
        raise _Invalid(
            f"target_course_id is {len(value)} characters long; Learn allows at most "
            f"{MAX_TARGET_ID}: shorten it"
        )
    return value


def yes_or_no(value: object) -> bool | None:
    """A yes/no word as a bool: true/false, yes/no, y/n, on/off or 1/0 in any case (a bool as
    it is), None for anything else. The one rule for the manifest's cells, rollover.toml's
    [notify] and the environment's ROLLOVER_SMTP_STARTTLS."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _parse_flag(value: str) -> bool:
    """true/false (also yes/no, y/n, on/off, 1/0), in any case."""
    flag = yes_or_no(value)
    if flag is None:
        raise _Invalid(
            "copy_into_existing must be true or false (also yes/no, y/n, on/off or 1/0; leave "
            "it blank for false)"
        )
    return flag


def _parse_available(value: str) -> str:
    """Yes, No, Disabled or Term, in Learn's spelling."""
    try:
        return _AVAILABLE[value.lower()]
    except KeyError:
        raise _Invalid(
            "available must be Yes, No, Disabled or Term (or blank to leave it as copied)"
        ) from None


def _free_text(value: str) -> str:
    """Text of any length, without control characters."""
    _no_control(value)
    return value


def _limit(most: int) -> Callable[[str], str]:
    """A parser that accepts text of at most `most` characters."""

    def parse(value: str) -> str:
        _no_control(value)
        if len(value) > most:
            raise _Invalid(
                f"is {len(value)} characters long; Learn allows at most {most}: shorten it"
            )
        return value

    return parse


def _moment_parser(timezone: ZoneInfo, *, end_of_day: bool) -> Callable[[str], datetime]:
    """A parser of ISO 8601 dates and date-times to aware UTC; ones without an offset are local
    time in `timezone`, with that date's own offset. A date alone is the whole day: its first
    second, or with `end_of_day` its last (a course runs through its end date)."""

    def parse(value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid(_bad_date(value)) from None
        try:
            if moment.tzinfo is None:
                day = _date_alone(value)
                if day is None:
                    moment = local_moment(moment, timezone)
                else:
                    moment = day_end(day, timezone) if end_of_day else day_start(day, timezone)
            return moment.astimezone(UTC)
        except LocalTimeError as exc:
            raise _Invalid(str(exc)) from None
        except OverflowError:
            raise _Invalid(f"this date is out of range: {_DATE_HINT}") from None

    return parse


def _date_alone(value: str) -> date | None:
    """The day `value` names when it is a date without a time (2027-01-11, 20270111, 2027-W02-1)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _bad_date(value: str) -> str:
    """Why `value` is not a date: a day the calendar lacks, or not ISO 8601 at all."""
    found = _DAY_PART.match(value.strip())
    if found:
        year, month, day = (int(part) for part in found.groups())
        if 1 <= month <= 12 and day >= 1:
            try:
                date(year, month, day)
            except ValueError:
                return (
                    f"there is no such day: {year:04d}-{month:02d} has no day {day}; check the date"
                )
    return f"not an ISO 8601 date or date-time: {_DATE_HINT}"


def _profile_parser(profiles: Collection[str]) -> Callable[[str], str]:
    """A parser of copy profile names, in any case, to the name as `profiles` spells it."""
    by_lower = {name.lower(): name for name in profiles}
    known = ", ".join(sorted(profiles))

    def parse(value: str) -> str:
        try:
            return by_lower[value.lower()]
        except KeyError:
            raise _Invalid(
                f"unknown copy profile{did_you_mean(value, profiles)}; the known "
                f"profiles are: {known} (more can be defined under [profiles.NAME] "
                "in rollover.toml)"
            ) from None

    return parse
