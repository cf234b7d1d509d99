"""The morning's HTML report: one self-contained file (inline CSS, the chart as inline SVG).

Jinja2 renders it from the package's templates with autoescape on, so every string that comes
from the ledger (courseIds, Learn's error messages, audit details) is escaped; the one piece of
markup inserted as is is the SVG drawn by `_chart` from numbers. A course link is made only
for an http(s) address. The file is written beside its final path and moved into place, so a
reader (a mail client, a web server) never sees half a report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rollover.errors import ExitCode, UsageError
from rollover.ledger import SHIFTING, LedgerRow, RowStatus
from rollover.manifest import DEFAULT_ROLE
from rollover.report import out_of, shift_totals, shifts, write_atomically
from rollover.times import humanized, machine_zone

from ._chart import Timeline, timeline_svg
from ._merged import merged_view, section_view
from ._night import (
    Advice,
    DailyWindow,
    GroupBy,
    LedgerRead,
    RowRecord,
    RunFacts,
    busy_seconds,
    copy_spans,
    moment,
    night_bounds,
    read_ledger,
    safe_link,
    sorted_groups,
    window_spans,
)

if TYPE_CHECKING:
    import jinja2

EXIT_MEANINGS = {
    ExitCode.ALL_DONE: "every row done",
    ExitCode.ROWS_NEED_ATTENTION: "rows need a person",
    ExitCode.USAGE: "usage error: nothing was sent to Learn",
    ExitCode.STOPPED: "stopped, resumable: run the same command again",
}
STATUS_LABELS = {
    RowStatus.DONE: "done",
    RowStatus.FAILED: "failed",
    RowStatus.NEEDS_REVIEW: "needs review",
    RowStatus.PENDING: "pending",
}


@dataclass(frozen=True)
class Fact:
    """One line of "the night at a glance": a label, its value, and a note."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class StatusShare:
    """How many rows have one status, and their share of all rows (for the bar)."""

    status: str
    label: str
    count: int
    percent: float


@dataclass(frozen=True)
class RowView:
    """One row of a department's or term's table."""

    line: int
    target: str
    name: str | None  # the course name the manifest gives, when it gives one
    instructors: str
    source: str
    status: str
    stage: str
    link: str | None
    course_url: str | None
    finished: str
    error: str | None
    dates: str = ""  # `3 of 5`: the dated items moved of those to move; blank without a shift


@dataclass(frozen=True)
class GroupView:
    """One department or term: its counts by status and its rows."""

    name: str
    counts: Mapping[str, int]
    total: int
    rows: Sequence[RowView]


@dataclass(frozen=True)
class TrailStep:
    """One line of a row's audit trail: a transition, an HTTP answer or an enrolment."""

    at: str
    what: str
    detail: str


@dataclass(frozen=True)
class PersonRow:
    """A row that needs a person: what happened, what to do, and its whole audit trail."""

    line: int
    target: str
    name: str | None
    instructors: str
    source: str
    status: str
    kind: str | None  # what happened, in plain words (the code stays in the results CSV)
    error: str | None
    advice: str | None
    link: str | None
    course_url: str | None
    course_pk: str | None
    attempts: int
    trail: Sequence[TrailStep]


@dataclass(frozen=True)
class PauseView:
    """A pause as the report lists it under the chart."""

    number: int
    start: str
    end: str
    why: str


def display_zone(zone: tzinfo | None, window: DailyWindow | None) -> tzinfo:
    """The zone the report's times are shown in: the one given, the window's, or this
    machine's by name (UTC when the machine's zone has no name)."""
    if zone is not None:
        return zone
    if window is not None:
        return window.tz
    try:
        return machine_zone()
    except UsageError:
        return ZoneInfo("UTC")


def zone_name(zone: tzinfo) -> str:
    """A zone's IANA name when it has one."""
    return getattr(zone, "key", None) or str(zone)


def _shown(moment: datetime | None, zone: tzinfo) -> str:
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _trail(record: RowRecord, zone: tzinfo) -> list[TrailStep]:
    """Transitions, HTTP answers and enrolments of a row, merged in time order."""
    steps: list[tuple[datetime, int, TrailStep]] = []
    epoch = datetime.min.replace(tzinfo=UTC)
    for order, step in enumerate(record.history):
        at = moment(step.at)
        arrow = f"{step.from_state} \u2192 {step.to_state}" if step.from_state else step.to_state
        steps.append((at or epoch, order, TrailStep(_shown(at, zone), arrow, step.detail or "")))
    for order, answer in enumerate(record.answers):
        at = moment(answer.at)
        steps.append(
            (
                at or epoch,
                order,
                TrailStep(
                    _shown(at, zone),
                    f"Learn answered {answer.status}",
                    f"{answer.endpoint} (while {answer.state})",
                ),
            )
        )
    for order, enrolment in enumerate(record.enrolments):
        at = moment(enrolment.at)
        detail = f"{enrolment.user_id} as {enrolment.role}: {enrolment.state.value}"
        if enrolment.error:
            detail += f" ({enrolment.error})"
        steps.append((at or epoch, order, TrailStep(_shown(at, zone), "enrolment", detail)))
    for order, attachment in enumerate(record.attachments):
        at = moment(attachment.updated_at)
        section = section_view(attachment)
        detail = f"{section.ref}: {section.words}" + (
            f" ({section.error})" if section.error else ""
        )
        steps.append((at or epoch, order, TrailStep(_shown(at, zone), "section", detail)))
    return [step for _, _, step in sorted(steps, key=lambda item: (item[0], item[1]))]


def course_name(row: LedgerRow) -> str | None:
    """The course name the manifest gives the row, or None (the copy keeps its source's)."""
    name = row.spec.patch.get("name")
    return name if isinstance(name, str) and name else None


def instructors_shown(row: LedgerRow) -> str:
    """The row's instructors as people read them: a user name without `userName:`, and the
    role after anyone who is not enrolled as Instructor."""
    shown = []
    for enrolment in row.spec.instructors:
        who = enrolment.user_id.removeprefix("userName:")
        shown.append(who if enrolment.role == DEFAULT_ROLE else f"{who} ({enrolment.role})")
    return ", ".join(shown)


def _person_row(record: RowRecord, advice: Advice | None, zone: tzinfo) -> PersonRow:
    row = record.row
    return PersonRow(
        line=row.line,
        target=row.target_course_id,
        name=course_name(row),
        instructors=instructors_shown(row),
        source=row.source_course_id,
        status=row.state.status,
        kind=row.error_kind.words if row.error_kind else None,
        error=row.error,
        advice=advice(row) if advice is not None else None,
        link=safe_link(row.course_url),
        course_url=row.course_url,
        course_pk=row.course_pk,
        attempts=row.attempts,
        trail=_trail(record, zone),
    )


def _group_view(name: str, records: Iterable[RowRecord], zone: tzinfo) -> GroupView:
    counts: dict[str, int] = dict.fromkeys(RowStatus, 0)
    rows: list[RowView] = []
    for record in records:
        row = record.row
        counts[row.state.status] += 1
        rows.append(
            RowView(
                line=row.line,
                target=row.target_course_id,
                name=course_name(row),
                instructors=instructors_shown(row),
                source=row.source_course_id,
                status=row.state.status,
                stage="shifting dates" if row.stage == SHIFTING else row.stage,
                link=safe_link(row.course_url),
                course_url=row.course_url,
                finished=_shown(row.completed_at, zone),
                error=row.error,
                dates=out_of(row.dates_shifted, row.dates_to_shift) if shifts(row) else "",
            )
        )
    return GroupView(name, counts, sum(counts.values()), rows)


def _shares(counts: Mapping[str, int]) -> list[StatusShare]:
    total = sum(counts.values())
    return [
        StatusShare(
            status, STATUS_LABELS[RowStatus(status)], count, 100.0 * count / total if total else 0.0
        )
        for status, count in counts.items()
    ]


def _glance(
    read: LedgerRead,
    run: RunFacts | None,
    start: datetime,
    end: datetime,
    source: str,
    busy: float,
    requested: int,
    finished: int,
    zone: tzinfo,
) -> list[Fact]:
    duration = (end - start).total_seconds()
    first, last = ("Started", "Ended") if source == "run" else ("First recorded", "Last recorded")
    facts = [
        Fact(first, _shown(start, zone)),
        Fact(last, _shown(end, zone)),
        Fact("Duration", humanized(duration)),
        Fact(
            "Learn's copy workers busy",
            humanized(busy),
            f"{100 * busy / duration:.0f}% of the time" if duration > 0 else "",
        ),
        Fact("Copies requested", str(requested), "in this span"),
        Fact("Copies finished", str(finished), "in this span"),
    ]
    if run is not None:
        meaning = EXIT_MEANINGS.get(run.exit_code, "")
        facts.append(Fact("Exit code", str(run.exit_code), meaning))
        if run.stopped:
            facts.append(Fact("Stopped", run.stopped))
        facts.append(Fact("Requests to Learn", str(sum(run.calls.values())), "this run"))
        if run.quota_used is not None:
            facts.append(Fact("Quota used", str(run.quota_used), "calls counted by Learn"))
    dates = shift_totals(read.rows)
    if dates.rows:
        waiting = f"; {dates.waiting} still shifting dates (the next run moves the rest)"
        facts.append(
            Fact(
                "Dates moved",
                out_of(dates.shifted, dates.to_shift),
                f"due dates, release and display dates in {dates.rows} "
                f"course{'' if dates.rows == 1 else 's'}" + (waiting if dates.waiting else ""),
            )
        )
    remaining = run.quota_remaining if run and run.quota_remaining is not None else None
    if remaining is None:
        remaining = read.quota_remaining
    if remaining is not None:
        limit = f" of {read.quota_limit}" if read.quota_limit else ""
        facts.append(Fact("Quota left", f"{remaining}{limit}", "as Learn last reported it"))
    return facts


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # here, not at import time: only a report needs it

    return jinja2.Environment(
        loader=jinja2.PackageLoader("rollover.morning", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(
    read: LedgerRead,
    *,
    title: str,
    group_by: GroupBy,
    advice: Advice | None,
    pauses: Sequence[tuple[datetime, datetime | None, str]],
    window: DailyWindow | None,
    run: RunFacts | None,
    zone: tzinfo,
) -> str:
    """The whole report as HTML text."""
    from markupsafe import Markup

    start, end, source = night_bounds(read, run)
    for paused_from, paused_to, _ in pauses:
        start = min(start, paused_from)
        end = max(end, paused_to or end)
    spans = copy_spans(read.records)
    busy = busy_seconds(spans, start, end)
    requested = sum(1 for span in spans if start <= span.requested <= end)
    finished = sum(
        1
        for span in spans
        if span.ended is not None and span.outcome == "copied" and start <= span.ended <= end
    )
    opened = window_spans(window, start, end) if window is not None else []
    drawn_pauses = [(begin, finish or end) for begin, finish, _ in pauses]
    chart = timeline_svg(Timeline(start, end, spans, opened, drawn_pauses), zone)
    counts = read.counts()
    context = {
        "title": title,
        "generated": _shown(read.read_at, zone),
        "zone": zone_name(zone),
        "ledger": str(read.path),
        "source": source,
        "total": sum(counts.values()),
        "shares": _shares(counts),
        "facts": _glance(read, run, start, end, source, busy, requested, finished, zone),
        "calls": sorted((run.calls if run else {}).items(), key=lambda item: (-item[1], item[0])),
        "chart": Markup(chart),  # drawn by matplotlib from numbers and fixed labels only
        "window": (
            f"{window.start:%H:%M}\u2013{window.end:%H:%M} {zone_name(window.tz)}"
            if window is not None
            else None
        ),
        "pauses": [
            PauseView(number, _shown(begin, zone), _shown(finish, zone) or "still paused", why)
            for number, (begin, finish, why) in enumerate(pauses, start=1)
        ],
        "group_title": "Department" if group_by == "prefix" else "Term",
        "groups": [
            _group_view(name, records, zone)
            for name, records in sorted_groups(read.records, group_by)
        ],
        "people": [_person_row(record, advice, zone) for record in read.needs_person()],
        "merged": [
            merged_view(record, course_name(record.row))
            for record in read.records
            if record.attachments or record.left_attached
        ],
        "labels": STATUS_LABELS,
        "shifting": shift_totals(read.rows).rows > 0,
    }
    return _environment().get_template("report.html.j2").render(context)


def write_html_report(
    ledger_path: Path,
    out_path: Path,
    *,
    title: str,
    group_by: GroupBy = "prefix",
    advice: Advice | None = None,
    pauses: Sequence[tuple[datetime, datetime | None, str]] = (),
    window: DailyWindow | None = None,
    run: RunFacts | None = None,
    zone: tzinfo | None = None,
) -> Path:
    """Write the self-contained HTML report of a ledger (and of the run that just ended) to
    `out_path`, atomically; returns `out_path`.

    Raises LedgerError when there is no ledger at `ledger_path` (none is created) and OSError
    when `out_path` cannot be written (its folder is never created).
    """
    if group_by not in ("prefix", "term"):
        raise ValueError(f"group_by must be 'prefix' or 'term', not {group_by!r}")
    read = read_ledger(ledger_path)
    shown_in = display_zone(zone, window)
    text = render_html(
        read,
        title=title,
        group_by=group_by,
        advice=advice,
        pauses=pauses,
        window=window,
        run=run,
        zone=shown_in,
    )
    write_atomically(text, out_path)
    return out_path
