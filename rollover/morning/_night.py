"""What a night of rollover looks like from the ledger: its rows, their trails and copy spans.

Everything here is read from one consistent snapshot of the ledger, never written. A copy's
span runs from its request (the task Location Learn returned, or the intent when the answer
was lost) to the first transition that leaves `intent`/`located`: the copy finished, or ended
without one. The union of those spans is how long Learn's copy slots were busy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from rollover.errors import ExitCode, LedgerMissing
from rollover.ledger import (
    Answer,
    AttachmentRecord,
    EnrolmentRecord,
    Ledger,
    LedgerRow,
    RowStatus,
    State,
    Transition,
)
from rollover.report import TERM_PREFIX
from rollover.times import utc_now

GroupBy = Literal["prefix", "term"]
Advice = Callable[[LedgerRow], str | None]

NO_PREFIX = "(no prefix)"
NO_TERM = "(no term)"
_COPYING = (State.INTENT.value, State.LOCATED.value)


class Pause(NamedTuple):
    """A span in which the run started no copy, and why (quota reserve, outside the window)."""

    start: datetime
    end: datetime | None  # None: still paused when the report was written
    why: str


class DailyWindow(Protocol):
    """A daily span of local time in which new copies may start (the engine's `Window`)."""

    @property
    def start(self) -> time: ...

    @property
    def end(self) -> time: ...

    @property
    def tz(self) -> tzinfo: ...


@dataclass(frozen=True)
class RunFacts:
    """What the run that just ended knows of itself and the ledger does not keep."""

    started_at: datetime
    ended_at: datetime
    exit_code: ExitCode
    calls: Mapping[str, int] = field(default_factory=dict)  # API calls by endpoint
    quota_used: int | None = None  # calls counted against Learn's quota during the run
    quota_remaining: int | None = None  # X-Rate-Limit-Remaining when it ended
    stopped: str | None = None  # why it stopped early, if it did


@dataclass(frozen=True)
class CopySpan:
    """One copy request of a row: when Learn had it, and how it ended (None: still copying)."""

    target_course_id: str
    requested: datetime
    ended: datetime | None
    outcome: str | None  # the state the row left `intent`/`located` for


@dataclass(frozen=True)
class RowRecord:
    """One row with its transitions, as read from the ledger."""

    row: LedgerRow
    history: tuple[Transition, ...]
    answers: tuple[Answer, ...] = ()  # read only for rows that need a person
    enrolments: tuple[EnrolmentRecord, ...] = ()
    attachments: tuple[AttachmentRecord, ...] = ()  # the merged sections the manifest lists
    left_attached: tuple[AttachmentRecord, ...] = ()  # dropped from it, still attached in Learn


@dataclass(frozen=True)
class LedgerRead:
    """A snapshot of everything a report, a summary or a check needs from the ledger."""

    path: Path
    records: tuple[RowRecord, ...]
    quota_remaining: int | None
    quota_limit: int | None
    read_at: datetime
    quota_at: datetime | None = None  # when a run last recorded the quota (once a minute)

    @property
    def rows(self) -> list[LedgerRow]:
        """The manifest's rows, in manifest order."""
        return [record.row for record in self.records]

    def counts(self) -> dict[str, int]:
        """Rows by results status, every status named (zero included), in the contract's order."""
        counts: dict[str, int] = dict.fromkeys(RowStatus, 0)
        for record in self.records:
            counts[record.row.state.status] += 1
        return counts

    def needs_person(self) -> list[RowRecord]:
        """The rows a person must look at: failed and needs_review, in manifest order."""
        return [r for r in self.records if r.row.state in (State.FAILED, State.NEEDS_REVIEW)]

    def last_update(self) -> datetime | None:
        """When the ledger last recorded anything: a transition, or the quota a running run
        keeps there every minute (a long copy makes no transition for hours); None if never."""
        moments = [moment for record in self.records for moment in _moments(record.history)]
        if self.quota_at is not None:
            moments.append(self.quota_at)
        return max(moments, default=None)


def read_ledger(path: Path, *, now: Callable[[], datetime] = utc_now) -> LedgerRead:
    """Read a ledger that must exist (never create one), from one consistent snapshot."""
    if not path.exists():
        raise LedgerMissing(path)
    records: list[RowRecord] = []
    with Ledger(path, read_only=True) as ledger, ledger.snapshot():
        for row in ledger.rows():
            target = row.target_course_id
            history = tuple(ledger.history(target))
            sections = tuple(ledger.attachments(target)) if row.spec.children else ()
            left = tuple(ledger.left_attached(target))
            if row.state in (State.FAILED, State.NEEDS_REVIEW):
                records.append(
                    RowRecord(
                        row,
                        history,
                        tuple(ledger.answers(target)),
                        tuple(ledger.enrolments(target)),
                        sections,
                        left,
                    )
                )
            else:
                records.append(RowRecord(row, history, attachments=sections, left_attached=left))
        quota = ledger.last_quota()
    return LedgerRead(
        path=path,
        records=tuple(records),
        quota_remaining=quota.remaining if quota else None,
        quota_limit=quota.limit if quota else None,
        read_at=now(),
        quota_at=quota.at if quota else None,
    )


def moment(text: str | None) -> datetime | None:
    """An event's stored time as an aware datetime (None for a missing or unreadable one)."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _moments(history: Iterable[Transition]) -> Iterable[datetime]:
    for step in history:
        at = moment(step.at)
        if at is not None:
            yield at


def copy_spans(records: Iterable[RowRecord]) -> list[CopySpan]:
    """Every copy request of every row, read from its transitions, oldest first."""
    spans: list[CopySpan] = []
    for record in records:
        intent: datetime | None = None
        requested: datetime | None = None
        for step in record.history:
            at = moment(step.at)
            if at is None:
                continue
            if step.to_state == State.INTENT.value and step.from_state not in _COPYING:
                intent, requested = at, None
            elif step.to_state == State.LOCATED.value and intent is not None:
                requested = at
            elif step.to_state not in _COPYING and intent is not None:
                spans.append(
                    CopySpan(record.row.target_course_id, requested or intent, at, step.to_state)
                )
                intent = requested = None
        if intent is not None:
            spans.append(CopySpan(record.row.target_course_id, requested or intent, None, None))
    return sorted(spans, key=lambda span: span.requested)


def busy_seconds(spans: Iterable[CopySpan], start: datetime, end: datetime) -> float:
    """How long at least one copy was in Learn's hands between `start` and `end` (the union of
    the spans, each clipped; a span still open runs to `end`)."""
    clipped = sorted(
        (max(span.requested, start), min(span.ended or end, end))
        for span in spans
        if span.requested < end and (span.ended or end) > start
    )
    total = 0.0
    current_start: datetime | None = None
    current_end: datetime | None = None
    for span_start, span_end in clipped:
        if current_end is None or current_start is None or span_start > current_end:
            if current_end is not None and current_start is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = span_start, span_end
        else:
            current_end = max(current_end, span_end)
    if current_end is not None and current_start is not None:
        total += (current_end - current_start).total_seconds()
    return total


def window_spans(
    window: DailyWindow, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The window's daily spans that overlap [start, end], clipped to it (in UTC)."""
    zone = window.tz
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    spans: list[tuple[datetime, datetime]] = []
    day: date = first
    while day <= last:
        opens = datetime.combine(day, window.start, tzinfo=zone)
        closes_on = day if window.start < window.end else day + timedelta(days=1)
        closes = datetime.combine(closes_on, window.end, tzinfo=zone)
        opens_utc, closes_utc = opens.astimezone(UTC), closes.astimezone(UTC)
        if opens_utc < end and closes_utc > start:
            spans.append((max(opens_utc, start), min(closes_utc, end)))
        day += timedelta(days=1)
    return spans


def group_key(row: LedgerRow, group_by: GroupBy) -> str:
    """A row's department (its target's prefix before the first `-`) or its term."""
    if group_by == "term":
        term = row.spec.patch.get("termId")
        if isinstance(term, str) and term.strip():
            return term.removeprefix(TERM_PREFIX)
        return NO_TERM
    prefix, dash, _ = row.target_course_id.partition("-")
    return prefix.upper() if dash and prefix else NO_PREFIX


def night_bounds(
    read: LedgerRead, run: RunFacts | None
) -> tuple[datetime, datetime, Literal["run", "ledger"]]:
    """The span the report covers: the run's, else the ledger's first to last transition."""
    if run is not None:
        return run.started_at, max(run.ended_at, run.started_at), "run"
    moments = [at for record in read.records for at in _moments(record.history)]
    if not moments:
        return read.read_at, read.read_at, "ledger"
    return min(moments), max(moments), "ledger"


def safe_link(url: str | None) -> str | None:
    """The course's address if it is an http(s) URL, else None: a `javascript:` address in
    the ledger is shown as text, never made a link."""
    if not url:
        return None
    lowered = url.strip().lower()
    return url.strip() if lowered.startswith(("https://", "http://")) else None


def sorted_groups(
    records: Sequence[RowRecord], group_by: GroupBy
) -> list[tuple[str, list[RowRecord]]]:
    """Rows by department or term, groups in name order (the catch-all group last)."""
    groups: dict[str, list[RowRecord]] = {}
    for record in records:
        groups.setdefault(group_key(record.row, group_by), []).append(record)
    return sorted(groups.items(), key=lambda item: (item[0] in (NO_PREFIX, NO_TERM), item[0]))
