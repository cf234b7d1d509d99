"""The dated items of a course (issue 22): content release windows, gradebook due dates,
announcements' display windows and, when asked, the course calendar's events; listed one kind at
a time and patched one item at a time.

Learn has no bulk endpoint for dates: each kind has its own list and each item its own PATCH,
which sends only the date fields that change, nested as Learn's bodies nest them. A PATCH
carries absolute values, so sending it twice (the retry of a lost answer) moves nothing twice.
Where the new values come from (the ledger's recorded originals) is the engine's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rollover.errors import DatesRefused, LearnError, LearnProtocolError

from ._calendar import COURSE_TYPE
from ._counts import LIST_PAGE, listed
from ._ids import API, learn_datetime, learn_time, path_id
from ._statuses import SUCCESS, Call, Meaning, error_meaning
from ._transport import Transport


class DatedKind(StrEnum):
    """The kinds of dated item whose dates move with the term."""

    CONTENT = "content"
    COLUMN = "column"
    ANNOUNCEMENT = "announcement"
    CALENDAR = "calendar"  # the course calendar's own events: only with --shift-calendar


# The kinds every shift moves, each listed under its course (and counted in a source by the
# preflight). The calendar's items are listed through the site's calendar, by windows of time,
# and only Learn users enrolled in the course see them: they move only when asked.
COURSE_KINDS = (DatedKind.CONTENT, DatedKind.COLUMN, DatedKind.ANNOUNCEMENT)


@dataclass(frozen=True)
class DatedItem:
    """One item of a course with at least one date, as its list showed it."""

    kind: DatedKind
    id: str
    title: str
    # Every date field of the kind, by its dotted path in Learn's JSON
    # (`availability.adaptiveRelease.start`); None where the item has no such date.
    dates: dict[str, datetime | None]
    linked_content: str | None = None  # a column's contentId: the content item it grades


@dataclass(frozen=True)
class _Kind:
    """Where a kind of dated item lives in Learn's API and which of its fields are dates."""

    # The list's and an item's paths below /learn/api/public, `{course}` and `{item}` standing
    # for the ids (contents and announcements v1, columns v2; the calendar's under the site's).
    list_path: str
    item_path: str
    title: str  # the field that names an item
    dates: tuple[str, ...]  # the date fields, dotted
    listed: str  # how a refusal names the list
    # What the REST integration's Learn user needs to change these dates (the official
    # spec's words for each PATCH).
    entitlement: str
    # What else Learn holds between its dates, for a refusal's next step.
    rule: str
    params: tuple[tuple[str, str], ...] = ()
    patch_params: tuple[tuple[str, str], ...] = ()
    link: str | None = None  # the field that links an item to a content item
    # Listed by windows of time, scoped to the course by the query (the calendar's).
    windowed: bool = False
    # The calls its list costs at its floor (one page; the calendar's: a term's span and its
    # margins, in two windows of 16 weeks).
    list_calls: int = 1

    @property
    def list_endpoint(self) -> str:
        return "GET " + self.list_path.format(course="{id}")

    @property
    def patch_endpoint(self) -> str:
        return "PATCH " + self.item_path.format(course="{id}", item="{id}")

    def list_url(self, course_pk: str) -> str:
        return API + self.list_path.format(course=path_id(course_pk))

    def item_url(self, course_pk: str, item_id: str) -> str:
        return API + self.item_path.format(course=path_id(course_pk), item=path_id(item_id))

    @property
    def fields(self) -> str:
        """The list's `fields=`: the id, the title, the link and each date field's object."""
        wanted = ["id", self.title, *([self.link] if self.link else [])]
        for path in self.dates:
            parent = path.rpartition(".")[0] or path
            if parent not in wanted:
                wanted.append(parent)
        return ",".join(wanted)


KINDS: dict[DatedKind, _Kind] = {
    DatedKind.CONTENT: _Kind(
        "/v1/courses/{course}/contents",
        "/v1/courses/{course}/contents/{item}",
        "title",
        ("availability.adaptiveRelease.start", "availability.adaptiveRelease.end"),
        "content items",
        "course.content.MODIFY",
        "Learn refuses a content item whose release window ends after its column's due date",
        params=(("recursive", "true"),),
    ),
    DatedKind.COLUMN: _Kind(
        "/v2/courses/{course}/gradebook/columns",
        "/v2/courses/{course}/gradebook/columns/{item}",
        "name",
        ("grading.due",),
        "gradebook columns",
        "course.gradebook.MODIFY",
        "Learn refuses a content item whose release window ends after its column's due date",
        link="contentId",
    ),
    DatedKind.ANNOUNCEMENT: _Kind(
        "/v1/courses/{course}/announcements",
        "/v1/courses/{course}/announcements/{item}",
        "title",
        ("availability.duration.start", "availability.duration.end"),
        "announcements",
        "course.announcements.MODIFY and course.announcements.VIEW",
        "Learn refuses an announcement whose display window ends before it starts",
    ),
    DatedKind.CALENDAR: _Kind(
        "/v1/calendars/items",
        f"/v1/calendars/items/{COURSE_TYPE}/{{item}}",
        "title",
        ("start", "end"),
        "calendar items",
        "course.calendar-entry.MODIFY and course.calendar.VIEW",
        "Learn refuses a calendar item that ends before it starts",
        patch_params=(("updateSeries", "false"),),  # this occurrence, not its series
        windowed=True,
        list_calls=2,
    ),
}
DATE_FIELDS: dict[DatedKind, tuple[str, ...]] = {kind: spec.dates for kind, spec in KINDS.items()}


def list_calls(kind: DatedKind) -> int:
    """The calls listing one kind of a course's dated items costs at its floor."""
    return KINDS[kind].list_calls


async def dated_items(
    wire: Transport,
    course_pk: str,
    kind: DatedKind,
    windows: Sequence[tuple[datetime, datetime]] = (),
) -> list[DatedItem]:
    """Every item of `kind` in the course (every page) that has at least one date. The
    calendar's are read in `windows` (each at most 16 weeks, `calendar_windows`), scoped to
    the course and to its own events, each item kept once."""
    spec = KINDS[kind]
    params = {**dict(spec.params), "fields": spec.fields, "limit": str(LIST_PAGE)}
    if not spec.windowed:
        scopes = [params]
    elif not windows:
        raise ValueError(f"{spec.listed} are listed by windows of time: none given")
    else:
        scopes = [
            {
                **params,
                "courseId": course_pk,
                "type": COURSE_TYPE,
                "since": learn_time(since),
                "until": learn_time(until),
            }
            for since, until in windows
        ]
    seen: dict[str, DatedItem] = {}
    for scope in scopes:
        items = await listed(
            wire,
            spec.list_url(course_pk),
            spec.list_endpoint,
            scope,
            counted=spec.listed,
            course=course_pk,
            entitlement=spec.entitlement,
            verify_only=False,
        )
        for item in items:
            found = _dated(item, kind, spec)
            if found is not None and found.id not in seen:
                seen[found.id] = found
    return list(seen.values())


def _dated(item: dict[str, Any], kind: DatedKind, spec: _Kind) -> DatedItem | None:
    """The item as a DatedItem, or None when it has no date at all."""
    dates = {path: _date(item, path, spec) for path in spec.dates}
    if all(moment is None for moment in dates.values()):
        return None
    pk, title = item.get("id"), item.get(spec.title)
    if not isinstance(pk, str) or not pk:
        raise LearnProtocolError(200, f"a dated {kind} without an id", endpoint=spec.list_endpoint)
    link = item.get(spec.link) if spec.link else None
    return DatedItem(
        kind=kind,
        id=pk,
        title=title if isinstance(title, str) else "",
        dates=dates,
        linked_content=link if isinstance(link, str) and link else None,
    )


def _date(item: dict[str, Any], path: str, spec: _Kind) -> datetime | None:
    """The date at the dotted `path` of a listed item; None when it has none. A value that is
    not a timestamp is an answer Learn never gives: a date the tool cannot read is never
    taken for an empty one, which would leave it unshifted without a word."""
    value: Any = item
    for step in path.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    if value is None or value == "":
        return None
    moment = learn_datetime(value)
    if moment is None:
        raise LearnProtocolError(
            200,
            f"{path} of {item.get('id')} is not a timestamp ({str(value)[:40]!r})",
            endpoint=spec.list_endpoint,
        )
    return moment


def nested_body(fields: Mapping[str, object]) -> dict[str, Any]:
    """A request body from dotted paths: {"grading.due": x} -> {"grading": {"due": x}}."""
    body: dict[str, Any] = {}
    for path, value in fields.items():
        *parents, leaf = path.split(".")
        node = body
        for step in parents:
            node = node.setdefault(step, {})
        node[leaf] = value
    return body


async def patch_dates(
    wire: Transport,
    course_pk: str,
    kind: DatedKind,
    item_id: str,
    dates: Mapping[str, datetime],
) -> None:
    """PATCH the given date fields of one item, and no other field."""
    spec = KINDS[kind]
    unknown = sorted(set(dates) - set(spec.dates))
    if not dates or unknown:
        raise ValueError(
            f"a {kind} PATCH takes some of {', '.join(spec.dates)}, not {unknown or 'none'}"
        )
    naive = sorted(field for field, moment in dates.items() if moment.tzinfo is None)
    if naive:
        # A naive time would be read in this machine's zone: a date wrong by hours, silently.
        raise ValueError(f"a {kind} PATCH takes aware datetimes only, not for {naive}")
    path = spec.item_url(course_pk, item_id)
    body = nested_body({field: learn_time(moment) for field, moment in dates.items()})
    try:
        await wire.idempotent(
            "PATCH",
            path,
            spec.patch_endpoint,
            json=body,
            params={"fields": "id", **dict(spec.patch_params)},
            expect=SUCCESS,
            reads_json=False,  # the answer's item is welcome, not needed
        )
    except LearnError as exc:
        if error_meaning(Call.SHIFT, exc) is not Meaning.ROW_FAILED or isinstance(
            exc, LearnProtocolError
        ):
            raise
        raise _refused(exc, course_pk, kind, item_id, spec) from exc


def _refused(
    exc: LearnError, course_pk: str, kind: DatedKind, item_id: str, spec: _Kind
) -> DatesRefused:
    """Learn's refusal of new dates, saying why it may have refused and what to do."""
    if exc.status == 403:
        reason = (
            "the course is closed to changes, or the Learn user of the REST integration lacks "
            f"{spec.entitlement}"
        )
        hint = (
            f"open the course in Learn, or grant that user {spec.entitlement}; then run the "
            "same command again: items already moved are not moved again"
        )
        entitlement: str | None = spec.entitlement
    else:
        reason = "they break one of its rules"
        hint = (
            f"check the {kind} in Learn ({spec.rule}), then run the same command again: items "
            "already moved are not moved again"
        )
        entitlement = None
    return DatesRefused(
        exc.status,
        exc.learn_message,
        course=course_pk,
        kind=str(kind),
        item=item_id,
        reason=reason,
        hint=hint,
        entitlement=entitlement,
        code=exc.code,
        endpoint=exc.endpoint,
    )


def range_start(record: dict[str, Any]) -> datetime | None:
    """The start of a course's or term's duration when it is a date range, else None."""
    availability = record.get("availability")
    duration = availability.get("duration") if isinstance(availability, dict) else None
    if not isinstance(duration, dict) or duration.get("type") != "DateRange":
        return None
    return learn_datetime(duration.get("start"))
