"""The plan in words: `validate`'s estimate and quota lines, and `run`'s Plan line.

Pure functions from a `CallEstimate` to text lines; the CLI only echoes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from rollover.learn import learn_datetime
from rollover.ledger import Revision, State, shift_changed
from rollover.manifest import DEFAULT_ROLE, Enrolment
from rollover.plan import (
    ASSUMED_COPY_SECONDS,
    ASSUMED_SLOTS,
    DEFAULT_DAILY_QUOTA,
    CallEstimate,
    DatedCounts,
    DateShift,
    RowSpec,
    patch_columns,
)
from rollover.times import humanized

REVISIONS_SHOWN = 20  # done rows taken up again, listed one a line before "and N more"
SHIFTS_SHOWN = 20  # rows that shift dates, listed one a line before "and N more"
_WEEK = 7


def run_plan_line(plan: CallEstimate, manifest_rows: int, concurrency: int, zone: ZoneInfo) -> str:
    """`run`'s line before its first copy: rows left to copy, calls and time they should take,
    and the zone its dates and window are read in."""
    if not plan.rows:
        return (
            f"Plan: no copy left to start; finishing what the ledger has in flight. "
            f"{zone_line(zone)}"
        )
    attaching = f", attaching {_sections(plan.attachments)}" if plan.attachments else ""
    return (
        f"Plan: {plan.rows} of {manifest_rows} rows to copy{attaching}; "
        f"about {plan.calls} API calls; {duration_text(plan, concurrency)}. "
        f"{zone_line(zone)}"
    )


def revision_lines(revised: Sequence[Revision], zone: ZoneInfo) -> list[str]:
    """The done rows a re-run takes up again because the manifest changed them, each with what
    changes (old -> new), at most REVISIONS_SHOWN of them."""
    if not revised:
        return []
    count = len(revised)
    lines = [
        f"Changed since they were done: {count} row{'' if count == 1 else 's'}, taken up again "
        "(never copied again):"
    ]
    for revision in revised[:REVISIONS_SHOWN]:
        after = revision.after
        what = ", ".join(_taken_up(revision))
        changes = "; ".join(_changes(revision, zone))
        lines.append(f"  line {after.line} {after.target_course_id} (done): {what}: {changes}")
    if count > REVISIONS_SHOWN:
        lines.append(f"  and {count - REVISIONS_SHOWN} more")
    return lines


def _taken_up(revision: Revision) -> list[str]:
    """What a re-run does to a done row: patch it again, or enrol its instructors; and attach
    the sections the manifest added."""
    before, after = revision.before, revision.after
    done = []
    if revision.to is State.COPIED:
        done.append("patched again")
    elif after.instructors != before.instructors:
        done.append("instructors enrolled")
    added = set(after.children) - set(before.children)
    if added:
        done.append(f"attaches {_sections(len(added))}")
    if shift_changed(before, after):
        done.append(
            "dates moved back to their originals"
            if after.shift is None
            else "dates moved again from their originals"
        )
    return done


def _sections(count: int) -> str:
    return f"{count} section{'' if count == 1 else 's'}"


def _changes(revision: Revision, zone: ZoneInfo) -> list[str]:
    """Each column the manifest changed for a done row, as `column old -> new`."""
    before, after = patch_columns(revision.before.patch), patch_columns(revision.after.patch)
    changes = []
    for column in dict.fromkeys([*before, *after]):
        old, new = before.get(column), after.get(column)
        if old != new:
            changes.append(
                f"{column} {_value(column, old, zone, 'blank')} -> "
                f"{_value(column, new, zone, 'blank: Learn keeps its value')}"
            )
    old_people = _instructors(revision.before.instructors)
    new_people = _instructors(revision.after.instructors)
    if old_people != new_people:
        changes.append(f"instructors {old_people or '(none)'} -> {new_people or '(none)'}")
    old_shift, new_shift = revision.before.shift, revision.after.shift
    if old_shift != new_shift:
        changes.append(f"shift_dates {_shift_cell(old_shift)} -> {_shift_cell(new_shift)}")
    old_sections, new_sections = revision.before.children, revision.after.children
    if old_sections != new_sections:
        changes.append(
            f"child_course_ids {'; '.join(old_sections) or '(none)'} -> "
            f"{'; '.join(new_sections) or '(none)'}"
        )
    return changes


def _value(column: str, value: str | None, zone: ZoneInfo, blank: str) -> str:
    if value is None:
        return f"({blank})"
    moment = learn_datetime(value) if column.endswith("_date") else None
    if moment is not None:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    return repr(value)


def _shift_cell(shift: DateShift | None) -> str:
    """A shift as people read it in a revision: `+126 days (18 weeks)`, `term`, `(blank)`."""
    if shift is None:
        return "(blank)"
    return "term" if shift.term else offset_words(shift.days or 0)


def _instructors(enrolments: Sequence[Enrolment]) -> str:
    """Enrolments as an `instructors` cell writes them."""
    return "; ".join(
        e.user_id if e.role == DEFAULT_ROLE else f"{e.user_id}={e.role}" for e in enrolments
    )


def zone_line(zone: ZoneInfo) -> str:
    """The zone dates without a UTC offset and --window are read in."""
    return f"Time zone: {zone.key} (dates without a UTC offset, and --window)"


def validate_lines(
    manifest_path: Path, plan: CallEstimate, concurrency: int, zone: ZoneInfo
) -> list[str]:
    """`validate`'s verdict: the courses by kind, the call and time estimate, the quota and the
    time zone."""
    lines = [
        f"{manifest_path}: valid, {plan.rows} course{'' if plan.rows == 1 else 's'}",
        f"  new courses to copy:        {plan.new_courses}",
        f"  copies into existing shells: {plan.into_existing}",
        f"  courses to patch afterwards: {plan.to_patch}",
        *([f"  instructors to enrol:        {plan.enrolments}"] if plan.enrolments else []),
        *([f"  sections to attach:          {plan.attachments}"] if plan.attachments else []),
        f"Estimated API calls: {plan.calls} (about {plan.per_course:.1f} per course"
        + (f", {plan.verifications} of them to verify the copies" if plan.verifications else "")
        + ")",
        f"Estimated duration: {duration_text(plan, concurrency)}",
        zone_line(zone),
    ]
    if plan.shortfall(None):
        days = plan.calls / DEFAULT_DAILY_QUOTA
        lines.append(
            f"Warning: {plan.calls} calls is more than Learn's default daily quota of "
            f"{DEFAULT_DAILY_QUOTA} (about {days:.1f} days of it), which every "
            "integration on the key shares. Run with --quota-reserve N so each run "
            "stops before the quota does; re-runs continue where it stopped."
        )
    else:
        lines.append(
            f"Quota: {plan.calls} of Learn's default {DEFAULT_DAILY_QUOTA} calls a day "
            "(the site's remaining quota is checked when the run starts)."
        )
    return lines


def duration_text(plan: CallEstimate, concurrency: int) -> str:
    """How long the copies should take, and the assumption behind the figure."""
    return (
        f"about {humanized(plan.duration(concurrency))} if copies take "
        f"~{ASSUMED_COPY_SECONDS:.0f} s each with {min(concurrency, ASSUMED_SLOTS)} at once "
        "(Learn's copy queue decides)"
    )


def shift_lines(specs: Sequence[RowSpec], plan: CallEstimate) -> list[str]:
    """The rows whose dates move, each with its offset (a `term` one is computed when its
    source is read), and the calls the shifting costs: the lists of dated items and one PATCH
    per item, unknown until the sources are read (`validate --check-learn` counts them)."""
    shifting = [spec for spec in specs if spec.shift is not None]
    if not shifting:
        return []
    patches = (
        "PATCHes unknown until the sources are read (validate --check-learn counts them)"
        if plan.date_patches is None
        else f"{_counted(plan.date_patches, 'PATCH', 'PATCHes')}, one per dated item"
    )
    lines = [
        f"Dates to shift: {_counted(len(shifting), 'row', 'rows')}; "
        f"{_counted(plan.date_lists, 'list', 'lists')} of dated items, {patches}"
    ]
    if any(spec.shift is not None and spec.shift.calendar for spec in shifting):
        lines.append(
            "  calendar events move too (--shift-calendar): each course's calendar is read by "
            "--learn-user, enrolled in it first (Learn shows a calendar only to its members), "
            "in 16-week windows; one PATCH per event, counted as they are read"
        )
    lines += [
        f"  line {spec.line} {spec.target_course_id}: {shift_words(spec.shift)}"
        for spec in shifting[:SHIFTS_SHOWN]
        if spec.shift is not None
    ]
    if len(shifting) > SHIFTS_SHOWN:
        lines.append(f"  and {len(shifting) - SHIFTS_SHOWN} more")
    return lines


def shift_words(shift: DateShift, days: int | None = None) -> str:
    """A row's shift in words: its offset in days (and weeks, when whole), or for `term` the
    offset computed (`days`) or where it will come from."""
    if shift.term and days is None:
        return (
            "term: from the source's start to the row's start_date, in whole weeks "
            "(computed when the source is read)"
        )
    offset = shift.days if days is None else days
    words = offset_words(offset or 0)
    return f"term: {words}, from the source's start" if shift.term else words


def offset_words(days: int) -> str:
    """`+119 days (17 weeks)`, `-7 days (1 week)`, `+10 days`."""
    text = f"{days:+d} day{'' if abs(days) == 1 else 's'}"
    weeks, rest = divmod(abs(days), _WEEK)
    if days and not rest:
        text += f" ({weeks} week{'' if weeks == 1 else 's'})"
    return text


def dated_words(counts: DatedCounts) -> str:
    """`16 dated items (10 content items, 4 gradebook columns, 2 announcements)`."""
    parts = [
        _counted(counts.content, "content item", "content items"),
        _counted(counts.column, "gradebook column", "gradebook columns"),
        _counted(counts.announcement, "announcement", "announcements"),
    ]
    return f"{_counted(counts.total, 'dated item', 'dated items')} ({', '.join(parts)})"


def _counted(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"
