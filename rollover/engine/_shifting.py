"""Shifting: a row's dated items moved with the term (issue 22), once its copy completed and its
course was patched, its children attached and its instructors enrolled.

The offset is computed once (`term` from the source's start to the row's new start_date, whole
weeks in the run's zone) and committed before any PATCH; each kind of item is listed once and
its originals committed before any of its items is patched; each item's new dates are computed
from its recorded originals (`plan.shift_moment`), never from what Learn holds, and committed
`sending` (durably) before its PATCH, `shifted` after. A PATCH sent again sends the same
absolute values, so no item moves twice. Writes are ordered so Learn's rule (a content item's
release ending by its column's due date) holds between any two: a forward move writes columns
first, a backward one contents first; announcements, then the calendar's events, last. Each
PATCH is a call of the quota: one is sent only from a spare call above --quota-reserve and what
the other rows in flight need; with none, the row waits in the `shifting` stage for the next run.

The calendar's events (`--shift-calendar`) are read only once the integration's Learn user
(`--learn-user`) is known to be enrolled in the course, and (once per run) Learn was seen to
show this integration that course's calendar: Learn answers anyone else an empty list, which
would read as "no events". They are read over the span of the course's other dates
(`plan.calendar_span`), in windows of 16 weeks, and the span is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from rollover.errors import DatesRefused, LearnError
from rollover.learn import DatedKind, LearnClient, calendar_windows, id_form, learn_datetime
from rollover.ledger import (
    TERMINAL,
    DatedRecord,
    DateState,
    EnrolmentState,
    ErrorKind,
    Ledger,
    LedgerRow,
    State,
)
from rollover.manifest import MAX_SHIFT_DAYS
from rollover.plan import calendar_span, patch_columns, shift_kinds, shift_moment, term_offset
from rollover.times import utc_now

from ._options import RunOptions
from ._outcome import RunOutcome
from ._pacing import floor_calls

log = structlog.get_logger("rollover.engine")

# The phase of an item's write (`_phase`): the moves that loosen Learn's rule between a content
# item's release and its column's due date first, then contents later, then columns earlier;
# announcements and the calendar's events, bound by no rule with the others, last.
_LOOSENING, _CONTENT_LATER, _COLUMN_EARLIER, _UNBOUND = 0, 1, 2, 3
_IN_FLIGHT = (State.INTENT, State.LOCATED, State.COPIED, State.PATCHED)
_LEFT = (DateState.PENDING, DateState.SENDING)
_SHOWN_REFUSALS = 3  # the first refusals a failed row names


class Shifting:
    """Moves a row's dated items by its shift, each committed before and after its PATCH."""

    def __init__(
        self,
        ledger: Ledger,
        client: LearnClient,
        options: RunOptions,
        *,
        outcome: RunOutcome,
        zone: ZoneInfo,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ledger = ledger
        self._client = client
        self._options = options
        self._outcome = outcome
        self._zone = zone
        self._clock = clock
        # Rows whose calendar this run could not read (why, in words): they fail after the
        # rest of their dates moved; the next run looks again.
        self._unread_calendars: dict[str, str] = {}
        # Whether Learn was seen to show this integration a calendar its --learn-user was
        # enrolled to read: proof, once per run, that --learn-user is the integration's user.
        self._reader_proven = False

    async def shift(self, row: LedgerRow) -> bool:
        """Move the row's dated items not moved yet. False when the row waits in the
        `shifting` stage for a spare call (the next run resumes it); True otherwise, the row
        failed if its offset cannot be computed."""
        target, course = row.target_course_id, row.course_pk or ""
        others = self._others_need(target)
        if row.shift_days is None:
            days = await self._offset(row)
            if days is None:
                return True
            self._ledger.record_shift_offset(target, days)
        else:
            days = row.shift_days
        for kind in shift_kinds(row.spec.shift):
            if str(kind) in row.dates_listed:
                continue
            if not self._spare(others):
                return self._park(target)
            if kind is DatedKind.CALENDAR:
                if not await self._list_calendar(row, days, others):
                    return self._park(target)
                continue
            items = await self._client.dated_items(course, kind)
            self._ledger.record_dated_items(
                target,
                kind,
                [
                    (item.id, field, moment)
                    for item in items
                    for field, moment in item.dates.items()
                ],
                titles={item.id: item.title for item in items},
            )
        left = sorted(
            (item for item in self._ledger.dated_items(target) if item.state in _LEFT),
            key=lambda item: _phase(item, days),
        )
        for item in left:
            if not self._spare(others):
                return self._park(target)
            if not await self._move(target, course, item, days):
                break  # a closed course (403) refuses every item alike: one refusal tells it
        return True

    async def _list_calendar(self, row: LedgerRow, days: int, others: int) -> bool:
        """List and record the course calendar's events, once the integration's Learn user is
        known to be enrolled in the course (else the row's calendar is unread, said why); False
        when no spare call is left for the windows (the row waits)."""
        target, course = row.target_course_id, row.course_pk or ""
        self._unread_calendars.pop(target, None)
        if self._options.calendar_reader is None:
            self._unread_calendars[target] = (
                "its calendar items did not move: no --learn-user was given (the Learn user the "
                "REST integration acts as, who must be enrolled to read a course's calendar)"
            )
            return True
        reader = self._options.calendar_reader.user_id
        enrolled_here = any(
            self._options.calendar_reader.names(e.user_id) and e.state is EnrolmentState.DONE
            for e in self._ledger.enrolments(target)
        )
        if not enrolled_here and not await self._client.enrolled(course, reader):
            self._unread_calendars[target] = (
                f"its calendar items did not move: Learn shows a course's calendar only to its "
                f"members, and {reader} (--learn-user) is not enrolled in {course} (Learn would "
                "answer it an empty list). Check that --learn-user names the Learn user the "
                "REST integration acts as, with a course role Learn has, and that the "
                "integration may enrol it; then run again with --retry-failed: only what is "
                "left is done"
            )
            return True
        if not self._reader_proven:
            self._reader_proven = await self._client.calendar_shown(course)
            if not self._reader_proven:
                self._unread_calendars[target] = (
                    f"its calendar items did not move: {reader} (--learn-user) is enrolled in "
                    f"{course}, yet Learn does not show this REST integration the course's "
                    "calendar (Learn answers an empty list to a caller who may not see it). "
                    "--learn-user must name the Learn user the integration acts as (Learn's REST "
                    "API Integrations page), and the course's calendar must be on"
                )
                return True
        known: list[datetime] = [
            moment
            for item in self._ledger.dated_items(target)
            for moment in item.original.values()
            if moment is not None
        ]
        asked = patch_columns(row.spec.patch)
        for column in ("start_date", "end_date"):
            value = asked.get(column)
            moment = learn_datetime(value) if value else None
            if moment is not None:  # where this term's dates came from: last term's
                known.append(shift_moment(moment, -days, self._zone))
        span = calendar_span(known, self._clock())
        windows = calendar_windows(*span)
        if not self._spare(others + len(windows) - 1):
            return False
        items = await self._client.dated_items(course, DatedKind.CALENDAR, windows)
        self._ledger.record_dated_items(
            target,
            DatedKind.CALENDAR,
            [(item.id, field, moment) for item in items for field, moment in item.dates.items()],
            titles={item.id: item.title for item in items},
            span=span,
        )
        log.info(
            "dates.calendar_listed",
            target=target,
            since=span[0].isoformat(),
            until=span[1].isoformat(),
            windows=len(windows),
            items=len(items),
        )
        return True

    async def _offset(self, row: LedgerRow) -> int | None:
        """The days the row's items move (0: a shift taken out of the manifest moves them
        back); None when it cannot be computed, the row failed saying why."""
        shift, source = row.spec.shift, row.source_course_id
        if shift is None:
            return 0
        if not shift.term:
            return shift.days or 0
        start = await self._client.course_start(id_form(source))
        new = patch_columns(row.spec.patch).get("start_date")
        new_start = learn_datetime(new) if new else None
        if start is None or new_start is None:
            what = (
                f"Learn shows no start date for {source} or its term"
                if start is None
                else f"line {row.spec.line} has no start_date"
            )
            self._fail(
                row,
                f"its dates could not move: shift_dates term moves them from the start of "
                f"{source} to this row's start_date, and {what}. Write a shift like +119d in "
                f"shift_dates (or give {source} a start date in Learn) and run again: only the "
                "dates are moved",
            )
            return None
        days = term_offset(start, new_start, self._zone)
        if abs(days) > MAX_SHIFT_DAYS:
            self._fail(
                row,
                f"its dates did not move: shift_dates term would move them by {days:+d} days "
                f"(from {source}'s start {start:%Y-%m-%d} to {new_start:%Y-%m-%d}), more than "
                f"{MAX_SHIFT_DAYS} days: "
                "check the source's term and the row's start_date, or write a shift like "
                "+119d in shift_dates, and run again",
            )
            return None
        return days

    async def _move(self, target: str, course: str, item: DatedRecord, days: int) -> bool:
        """PATCH one item's non-empty dates to their originals moved by `days`, committed
        `sending` before and `shifted`, `gone` or `failed` after. False after a 403."""
        new = {
            field: shift_moment(original, days, self._zone)
            for field, original in item.original.items()
            if original is not None
        }
        kind = DatedKind(item.kind)
        self._ledger.record_date(target, kind, item.item_id, DateState.SENDING, new=new)
        try:
            await self._client.patch_dates(course, kind, item.item_id, new)
        except DatesRefused as exc:
            self._ledger.record_date(
                target, kind, item.item_id, DateState.FAILED, error=_refused(exc)
            )
            return exc.status != 403
        except LearnError as exc:
            if exc.status != 404:
                raise
            self._ledger.record_date(target, kind, item.item_id, DateState.GONE)
            return True
        self._ledger.record_date(target, kind, item.item_id, DateState.SHIFTED, new=new)
        return True

    def refusal(self, target: str) -> str | None:
        """The row's refused dates in words (how many moved of how many, the first refusals in
        Learn's words), or None when Learn refused none."""
        items = [i for i in self._ledger.dated_items(target) if i.state is not DateState.GONE]
        refused = [i for i in items if i.state is DateState.FAILED]
        unread = self._unread_calendars.get(target)
        if not refused:
            return unread
        moved = sum(1 for i in items if i.state is DateState.SHIFTED)
        shown = "; ".join(i.error or f"{i.kind} {i.item_id}" for i in refused[:_SHOWN_REFUSALS])
        more = len(refused) - _SHOWN_REFUSALS
        return (
            f"only {moved} of {len(items)} dated items moved: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
            + (f"; {unread}" if unread else "")
        )

    async def verify(self, row: LedgerRow) -> tuple[str | None, bool]:
        """With --verify: each kind read again, every moved item checked to hold its new dates:
        (`dates 37/37 as moved`, None when none moved; short?)."""
        items = self._ledger.dated_items(row.target_course_id)
        moved = [i for i in items if i.state is DateState.SHIFTED]
        if not moved:
            return None, False
        held: dict[tuple[str, str], dict[str, object]] = {}
        for kind in sorted({DatedKind(i.kind) for i in moved}):
            # The calendar's events are read again where they were moved to.
            starts = [m for i in moved if i.kind == kind and (m := i.new.get("start")) is not None]
            windows = calendar_windows(min(starts), max(starts)) if starts else []
            for item in await self._client.dated_items(row.course_pk or "", kind, windows):
                held[(str(kind), item.id)] = dict(item.dates)
        right = sum(
            1
            for i in moved
            if all(held.get((i.kind, i.item_id), {}).get(f) == v for f, v in i.new.items())
        )
        return f"dates {right}/{len(moved)} as moved", right < len(moved)

    def _spare(self, others: int) -> bool:
        """Whether one more call leaves --quota-reserve and the calls `others` need untouched
        (True while Learn's quota is not known); `others` may count the caller's own further
        calls."""
        remaining = self._client.quota_remaining
        if remaining is None:
            return True
        reserve = self._options.quota_reserve or 0
        return remaining - reserve - others - self._client.calls_unanswered >= 1

    def _others_need(self, target: str) -> int:
        """What the other rows in flight (their copies requested) still need at the least."""
        verify = self._options.verify
        return sum(
            floor_calls(other, verify=verify)
            for other in self._ledger.rows_in(_IN_FLIGHT)
            if other.target_course_id != target
        )

    def _park(self, target: str) -> bool:
        """No spare call to move the row's next date: it waits in the shifting stage."""
        message = (
            "no spare call in Learn's quota to move dates without taking --quota-reserve or "
            "the calls kept for the other rows: rows wait in the shifting stage; run again when "
            "the site's quota has refilled, the next run resumes them (no date moves twice)"
        )
        log.warning(
            "quota.no_spare_shift",
            target=target,
            quota_remaining=self._client.quota_remaining,
            message=message,
        )
        self._outcome.stopped = self._outcome.stopped or message
        self._outcome.parked.append(target)
        return False

    def _fail(self, row: LedgerRow, message: str) -> None:
        """The row's dates cannot move as asked: it fails, named, before any date moved."""
        if row.state not in TERMINAL:
            self._ledger.record_failed(
                row.target_course_id,
                ErrorKind.DATES_REFUSED,
                f"copied and patched as {row.course_pk}, but {message}",
            )


def _phase(item: DatedRecord, days: int) -> int:
    """When an item is written among its row's: Learn refuses a content item whose release ends
    after the due date of the column grading it, so every move that loosens that rule (a
    content item earlier, a column later) goes first, then the contents moving later (their
    columns hold a date at least as late as the new one: moved later already, or yet to move
    earlier), then the columns moving earlier (every content item is in place by then). Each
    item's direction is its own, from the offset it holds (`held_days`): after a shift changed
    mid-way, moved and unmoved items of one row may move opposite ways."""
    kind, later = DatedKind(item.kind), days > item.held_days
    if kind is DatedKind.CONTENT:
        return _CONTENT_LATER if later else _LOOSENING
    if kind is DatedKind.COLUMN:
        return _LOOSENING if later else _COLUMN_EARLIER
    return _UNBOUND


def _refused(exc: DatesRefused) -> str:
    """One refused item as the ledger keeps it: the item, Learn's words, why."""
    return f"{exc.kind} {exc.item} ({exc.status}: {exc.learn_message}): {exc.reason}"
