"""Checks across the cells of a row and across rows: required cells, targets, dates, children,
a `term` shift's start date."""

from __future__ import annotations

from datetime import datetime

from rollover.errors import Problem

from ._columns import course_key
from ._shift import DateShift


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


def check_children(
    lines: list[int],
    cells: list[str],
    source: list[str | None],
    target: list[str | None],
    children: list[tuple[str, ...] | None],
    problems: list[Problem],
) -> None:
    """Each child is named once in the whole manifest and is no row's target or source.

    A child is an existing course attached to its row's target: never copied, never copied
    from, never a parent itself (Learn merges one level only). CourseIds are compared ignoring
    case; `externalId:` and primary ids only as written, since which course they name is known
    only to Learn. Each problem is on the child's line and names the other line.
    """
    targets: dict[str, tuple[int, str]] = {}
    sources: dict[str, list[tuple[int, str]]] = {}
    for line, source_id, target_id in zip(lines, source, target, strict=True):
        if target_id is not None:
            targets.setdefault(course_key(target_id), (line, target_id))
        if source_id is not None:
            sources.setdefault(course_key(source_id), []).append((line, source_id))
    parents = {line for line, listed in zip(lines, children, strict=True) if listed}
    first: dict[str, tuple[int, str]] = {}  # each child's first line, as written there
    for line, cell, target_id, listed in zip(lines, cells, target, children, strict=True):
        for child in listed or ():
            key = course_key(child)
            messages: list[str] = []
            if target_id is not None and course_key(target_id) == key:
                messages.append(_a_target(child, line, line, target_id, parent=True))
            elif key in targets:
                at, written = targets[key]
                messages.append(_a_target(child, line, at, written, parent=at in parents))
            used = sources.get(key, [])
            mine = [(at, written) for at, written in used if at == line]
            other = next(((at, written) for at, written in used if at != line), None)
            if mine:
                messages.append(
                    f"{child} is this row's source_course_id{_spelled(child, mine[0][1])}: the "
                    "course copied from is not merged into its copy; remove it from "
                    "child_course_ids"
                )
            elif other is not None:
                messages.append(
                    f"{child} is the source_course_id of line {other[0]}"
                    f"{_spelled(child, other[1])}: a course this manifest copies from is not "
                    "made a child (a child's content is managed from its parent); remove it "
                    f"here or copy line {other[0]} from another course"
                )
            earlier = first.setdefault(key, (line, child))
            if earlier[0] != line:
                messages.append(
                    f"{child} is already a child on line {earlier[0]}"
                    f"{_spelled(child, earlier[1])}: a course is merged under one parent only; "
                    "list it once"
                )
            problems.extend(Problem(line, "child_course_ids", cell, text) for text in messages)


def _a_target(child: str, line: int, at: int, written: str, *, parent: bool) -> str:
    """The message for a child that is the target of line `at` (this line's own, or a parent's
    with children of its own, or another copy's)."""
    spelled = _spelled(child, written)
    if at == line:
        return (
            f"{child} is this row's own target_course_id{spelled}: a course cannot be merged "
            "into itself; remove it from child_course_ids"
        )
    if parent:
        return (
            f"{child} is the target_course_id of line {at}{spelled}, a parent with children of "
            "its own: a parent cannot be a child (Learn merges one level only); remove it from "
            "child_course_ids"
        )
    return (
        f"{child} is the target_course_id of line {at}{spelled}, a course this manifest "
        "copies: a child is an existing course, attached but never copied; remove it from "
        f"child_course_ids or remove line {at}"
    )


def _spelled(child: str, written: str) -> str:
    """' (written X there: ...)' when the other cell spells the same courseId otherwise."""
    if child == written:
        return ""
    return f" (written {written} there: course ids are compared ignoring case)"


def check_term_shifts(
    lines: list[int],
    text: dict[str, list[str]],
    shift: list[DateShift | None],
    problems: list[Problem],
) -> None:
    """A `term` shift needs the row's start_date: the week its dates move to."""
    for line, cell, start_text, moved in zip(
        lines, text["shift_dates"], text["start_date"], shift, strict=True
    ):
        if moved is not None and moved.term and not start_text:
            problems.append(Problem(line, "shift_dates", cell, TERM_NEEDS_START))


TERM_NEEDS_START = (
    "term moves dates from the source's start to this row's start_date, which is blank: fill "
    "in start_date and end_date, or write a shift like +119d"
)
