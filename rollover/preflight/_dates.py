"""The dated items a shift moves, read from the rows' sources: each source's lists once (one per
kind), counted as `DatedCounts` so the plan shows the PATCHes; for a `term` shift the source's
start, and the offset it gives each row. Only GETs are sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rollover.errors import CountRefused, LearnNotFound
from rollover.learn import COURSE_KINDS, DatedKind, LearnClient, id_form
from rollover.manifest import Enrolment, ManifestRow
from rollover.plan import DatedCounts, DateShift, RowSpec, term_offset


@dataclass(frozen=True)
class RowShift:
    """One row that shifts dates, as the check found it: its offset (None until its source's
    start is known, for `term`) and what its source holds to move (None: not read)."""

    line: int
    target_course_id: str
    source_course_id: str
    shift: DateShift
    days: int | None
    dated: DatedCounts | None
    source_start: datetime | None = None  # for `term`: the source's start, as Learn gave it


@dataclass(frozen=True)
class SourceDates:
    """What reading the sources found: the rows, the lists read and what stops the run, as
    (line, value, message) of the row's `shift_dates`."""

    rows: tuple[RowShift, ...]
    lists: int
    problems: tuple[tuple[int, str, str], ...]


async def read_sources(
    client: LearnClient, shifting: Sequence[tuple[ManifestRow, RowSpec]], zone: ZoneInfo
) -> SourceDates:
    """Count each shifted row's source's dated items (every kind, once per source) and, for a
    `term` shift, read its start: a source without one, and a list Learn refuses (403, the
    entitlement named, once per kind), are problems on the first row that needs them."""
    counts: dict[str, DatedCounts | None] = {}
    starts: dict[str, datetime | None] = {}
    missing: set[str] = set()
    refused: set[DatedKind] = set()
    problems: list[tuple[int, str, str]] = []
    lists = 0
    for row, spec in shifting:
        assert spec.shift is not None
        source = spec.source_course_id
        if source not in counts:
            found: dict[DatedKind, int] = {}
            for kind in COURSE_KINDS:
                if kind in refused or source in missing:
                    continue
                lists += 1
                try:
                    found[kind] = len(await client.dated_items(id_form(source), kind))
                except LearnNotFound:
                    missing.add(source)  # a missing source is a problem of its own
                except CountRefused as exc:
                    refused.add(kind)
                    problems.append(
                        (
                            row.line,
                            _cell(spec.shift),
                            f"shifting dates reads the {exc.counted} of each source, but "
                            f"{exc.message}: grant it to that user and run the same command "
                            "again, or leave shift_dates blank",
                        )
                    )
            counts[source] = (
                DatedCounts(**{kind.value: count for kind, count in found.items()})
                if len(found) == len(COURSE_KINDS)
                else None
            )
        if spec.shift.term and source not in starts and source not in missing:
            try:
                starts[source] = await client.course_start(id_form(source))
            except LearnNotFound:
                missing.add(source)
            else:
                if starts[source] is None:
                    problems.append(
                        (
                            row.line,
                            _cell(spec.shift),
                            f"a term shift moves dates from the source's start, but "
                            f"{source} has no start date in Learn (neither its own duration "
                            "nor its term's): give the course or its term a start date in "
                            "Learn, or write a shift like +119d in this row's shift_dates cell",
                        )
                    )
    rows = []
    for row, spec in shifting:
        assert spec.shift is not None
        start = starts.get(spec.source_course_id)
        days = spec.shift.days
        if spec.shift.term:
            days = (
                term_offset(start, row.start_date, zone)
                if start is not None and row.start_date is not None
                else None
            )
        rows.append(
            RowShift(
                row.line,
                spec.target_course_id,
                spec.source_course_id,
                spec.shift,
                days,
                counts.get(spec.source_course_id),
                start,
            )
        )
    return SourceDates(tuple(rows), lists, tuple(problems))


def _cell(shift: DateShift) -> str:
    """The row's shift as a cell writes it (its own, or --shift-dates' for a blank cell)."""
    return "term" if shift.term else f"{shift.days or 0:+d}d"


def unknown_reader(line: int, reader: Enrolment) -> tuple[int, str, str, str]:
    """(line, column, value, message) of a --learn-user Learn does not know, on the first row
    whose calendar it would read."""
    return (
        line,
        "shift_dates",
        reader.user_id,
        "--learn-user names a user Learn does not know: --shift-calendar enrols it in each "
        "shifted course to read its calendar. Give the Learn user the REST integration acts as "
        "(Learn's REST API Integrations page), or run without --shift-calendar",
    )
