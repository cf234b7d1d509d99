"""Checks across the cells of a row and across rows: required cells, targets, dates."""

from __future__ import annotations

from datetime import datetime

from rollover.errors import Problem


def check_required(
    lines: list[int], text: dict[str, list[str]], present: list[str], problems: list[Problem]
) -> None:
    """A problem for each blank cell of a required column that the header has."""
    for column in present:
        for line, value in zip(lines, text[column], strict=True):
            if not value:
                problems.append(Problem(line, column, "", f"{column} is required: fill it in"))


def check_targets(
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


def check_dates(
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
