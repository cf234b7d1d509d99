"""Each column's rule for one cell: what a cell may hold, as the value a ManifestRow keeps.

A parser takes a non-blank cell and returns its value, or raises `Invalid` saying what is wrong
and how to fix it; `_checks` runs them down each column and collects every problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from rollover.errors import did_you_mean
from rollover.learn import is_primary_id
from rollover.times import LocalTimeError, day_end, day_start, local_moment

from ._entries import parse_entries
from ._instructors import Enrolment, parse_instructors
from ._invalid import Invalid as _Invalid

MAX_COURSE_ID = 100  # a courseId: a target, or a child named by its courseId
MAX_NAME = 333
MAX_EXTERNAL_ID = 256

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_AVAILABLE = {word.lower(): word for word in ("Yes", "No", "Disabled", "Term")}
_COURSE_ID = re.compile(r"[A-Za-z0-9._-]+")
_WHITESPACE = re.compile(r"\s")
_RUN_TOGETHER = re.compile(r"[\s,]+")
# Control characters other than tab and line breaks: never meant, and a terminal acts on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DAY_PART = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")
_DATE_HINT = "write a date like 2027-01-11 or a date-time like 2027-01-11T08:00-06:00"
_CHILD_FORMS = "a child is written as its courseId, externalId:ID or its primary id like _12_1"


def _no_control(value: str) -> None:
    """Refuse a control character, naming it."""
    found = _CONTROL.search(value)
    if found:
        raise _Invalid(
            f"contains the control character {found.group()!r}: remove it (it is "
            "invisible in Excel; retyping the cell removes it)"
        )


def parse_source(value: str) -> str:
    """A source course id or primary id: one word."""
    _no_control(value)
    if _WHITESPACE.search(value):
        raise _Invalid(
            "source_course_id must not contain spaces: use the courseId or the "
            "_123_1 primary id exactly as Learn shows it"
        )
    return value


def parse_instructors_cell(value: str) -> tuple[Enrolment, ...]:
    """`;`-separated user ids, each with an optional `=ROLE`, without control characters."""
    _no_control(value)
    return parse_instructors(value)


def parse_target(value: str) -> str:
    """A target course id: Learn's allowed characters and length."""
    bad = _not_in_course_id(value)
    if bad:
        raise _Invalid(
            f"target_course_id may contain only letters, digits, '-', '_' and '.'; remove {bad}"
        )
    if len(value) > MAX_COURSE_ID:
        raise _Invalid(
            f"target_course_id is {len(value)} characters long; Learn allows at most "
            f"{MAX_COURSE_ID}: shorten it"
        )
    return value


def _not_in_course_id(value: str) -> str | None:
    """The characters of `value` no courseId holds, quoted and listed (`'=', ' '`), or None:
    the one rule of a courseId's characters, for targets and children alike."""
    if _COURSE_ID.fullmatch(value):
        return None
    bad = sorted({char for char in value if not _COURSE_ID.fullmatch(char)})
    return ", ".join(repr(char) for char in bad)


def course_key(course: str) -> str:
    """A course reference as the manifest's courses are compared: a courseId ignoring case,
    as Learn matches them; an `externalId:` or primary id exactly as written, since which
    course it names is known only to Learn."""
    return course if is_primary_id(course) or ":" in course else course.lower()


def parse_children(value: str) -> tuple[str, ...]:
    """The courses a non-blank `child_course_ids` cell lists, in its order, each as Learn's
    path takes it (a courseId, `externalId:ID` or `_12_1`); Invalid with one message per
    mistake. A single trailing `;` (as people type lists) is allowed."""
    _no_control(value)
    return parse_entries(
        value,
        noun="course",
        example="BIO-101-002-SP27",
        parse=_child,
        key=course_key,
        twice=_child_twice,
    )


def _child_twice(earlier: str, again: str) -> str:
    """The message for a child the cell lists a second time."""
    also = (
        "" if earlier == again else f" (also as {earlier}: course ids are compared ignoring case)"
    )
    return f"{again} is listed twice{also}: list each child once"


def _child(entry: str) -> str:
    """One child course reference as Learn's path takes it; Invalid naming the fix."""
    kind, colon, rest = (part.strip() for part in entry.partition(":"))
    if colon and kind.lower() == "externalid":  # an externalId may hold a space or a comma
        if not rest:
            raise _Invalid(f"{entry} names no course: write the course's externalId after the ':'")
        if len(rest) > MAX_EXTERNAL_ID:
            raise _Invalid(
                f"the externalId in {entry[:40]}... is {len(rest)} characters long; Learn "
                f"allows at most {MAX_EXTERNAL_ID}: check the id"
            )
        return f"externalId:{rest}"
    pieces = [piece for piece in _RUN_TOGETHER.split(entry) if piece]
    if len(pieces) > 1:
        raise _Invalid(
            f"{entry} holds more than one course id: separate courses with ';' ({';'.join(pieces)})"
        )
    if is_primary_id(entry):
        return entry
    if colon:
        if kind.lower() == "courseid" and rest:
            raise _Invalid(f"{entry}: write {rest} without 'courseId:' ({_CHILD_FORMS})")
        raise _Invalid(f"unknown kind of course id in {entry}: {_CHILD_FORMS}")
    bad = _not_in_course_id(entry)
    if bad:
        raise _Invalid(
            f"{entry} is not a courseId, which may contain only letters, digits, '-', '_' and "
            f"'.': remove {bad} ({_CHILD_FORMS})"
        )
    if len(entry) > MAX_COURSE_ID:
        raise _Invalid(
            f"{entry[:40]}... is {len(entry)} characters long; a courseId is at most "
            f"{MAX_COURSE_ID}: check the id"
        )
    return entry


def yes_or_no(value: object) -> bool | None:
    """A yes/no word as a bool: true/false, yes/no, y/n, on/off or 1/0 in any case (a bool as
    it is), None for anything else. The one rule for the manifest's cells, rollover.toml's
    [notify] and the environment's ROLLOVER_SMTP_STARTTLS."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def parse_flag(value: str) -> bool:
    """true/false (also yes/no, y/n, on/off, 1/0), in any case."""
    flag = yes_or_no(value)
    if flag is None:
        raise _Invalid(
            "copy_into_existing must be true or false (also yes/no, y/n, on/off or 1/0; leave "
            "it blank for false)"
        )
    return flag


def parse_available(value: str) -> str:
    """Yes, No, Disabled or Term, in Learn's spelling."""
    try:
        return _AVAILABLE[value.lower()]
    except KeyError:
        raise _Invalid(
            "available must be Yes, No, Disabled or Term (or blank to leave it as copied)"
        ) from None


def free_text(value: str) -> str:
    """Text of any length, without control characters."""
    _no_control(value)
    return value


def limit(most: int) -> Callable[[str], str]:
    """A parser that accepts text of at most `most` characters."""

    def parse(value: str) -> str:
        _no_control(value)
        if len(value) > most:
            raise _Invalid(
                f"is {len(value)} characters long; Learn allows at most {most}: shorten it"
            )
        return value

    return parse


def moment_parser(timezone: ZoneInfo, *, end_of_day: bool) -> Callable[[str], datetime]:
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


def profile_parser(profiles: Collection[str]) -> Callable[[str], str]:
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
