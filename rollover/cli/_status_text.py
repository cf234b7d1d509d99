"""The ledger's state in words: `status` and the run summary's lines for people, JSON for scripts.

Pure functions from the core's result objects to text lines and JSON-safe dicts; the CLI only
echoes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from rollover.errors import ExitCode
from rollover.ledger import (
    Answer,
    AttachmentRecord,
    LedgerRow,
    QuotaSeen,
    Resolution,
    RowStatus,
    Transition,
)
from rollover.one_row import CourseHeld, RowTrail
from rollover.report import LedgerStatus
from rollover.runner import RunReport

from ._advice import Invocation, next_step
from ._dates_text import dates_lines, dates_total_line, dates_totals_json, row_dates_json

NAMED_AT_MOST = 5  # targets named in one summary line before "and N more"
# Why a section the manifest dropped is still attached, and what a person may do about it.
NEVER_SEPARATED = (
    "removed from the manifest; rollover never separates a section: separate it in Learn if wanted"
)


def counts_line(counts: Mapping[str, int]) -> str:
    """The rows in all and by results status, every status named even at 0."""
    total = sum(counts.values())
    return f"{total} rows: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in RowStatus)


def run_summary_lines(report: RunReport, invocation: Invocation, zone: tzinfo = UTC) -> list[str]:
    """`run`'s closing summary: counts, API calls by endpoint, rows for a person, results;
    times in `zone` (the run's)."""
    calls = sum(report.calls.values())
    rows = sum(report.counts.values())
    per_course = f" ({calls / rows:.2f} per course)" if rows and calls else ""
    lines = [
        f"Rollover: {counts_line(report.counts)}",
        f"API calls: {calls}{per_course} in {report.elapsed:.1f} s"
        + (
            f"; quota remaining {report.quota_remaining}"
            if report.quota_remaining is not None
            else ""
        ),
    ]
    lines += [f"  {endpoint}: {count}" for endpoint, count in sorted(report.calls.items())]
    if report.stopped:
        lines.append(f"Stopped early: {report.stopped}")
    if report.retried:
        lines.append(retried_line(report.retried))
    lines += needs_person_lines(report.needs_person, invocation)
    if report.left_alone:
        lines.append(left_alone_line(report.left_alone))
    lines.append(
        f"Results: not written: {report.results_error}"
        if report.results_error
        else f"Results: {report.results_path}"
    )
    if report.settling and report.settle_until:
        lines.append(settle_line(report.settling, report.settle_until, zone))
    if report.exit_code == ExitCode.STOPPED:
        lines.append("Run the same command again to continue; finished rows are not repeated.")
    return lines


def status_lines(status: LedgerStatus, invocation: Invocation, zone: tzinfo = UTC) -> list[str]:
    """`status` after its counts line: stages, quota, rows for a person, rows left alone; times
    in `zone` (the run's: --timezone, the config's, else this machine's)."""
    lines = [
        "Stages: " + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in status.stages.items()),
        quota_line(status.quota, zone),
    ]
    if status.instructors:
        waiting = (
            f"; {_count_rows(status.enrol_waiting)} waiting on enrolments (from 15% of their copy)"
            if status.enrol_waiting
            else ""
        )
        lines.append(f"Instructors: {status.enrolled} of {status.instructors} enrolled{waiting}")
    if status.sections:
        waiting = (
            f"; {_count_rows(status.attach_waiting)} waiting to attach theirs (after the copy "
            "and its PATCH)"
            if status.attach_waiting
            else ""
        )
        lines.append(f"Sections: {status.attached} of {status.sections} attached{waiting}")
    if status.left_attached:
        lines.append(left_attached_line(status.left_attached))
    if status.dates.rows:
        lines.append(dates_total_line(status.dates))
    if status.verified or status.short:
        short = f"; {status.short} with fewer items or columns (below)" if status.short else ""
        lines.append(
            f"Verified: {_count_rows(status.verified)} counted against their source{short}"
        )
    if status.settling and status.settle_until:
        lines.append(settle_line(status.settling, status.settle_until, zone))
    lines += needs_person_lines(status.needs_person, invocation)
    if status.resolved:
        lines.append(resolutions_line(status.resolved, zone))
    if status.left_alone:
        lines.append(left_alone_line(status.left_alone))
    return lines


def status_json(status: LedgerStatus, invocation: Invocation) -> dict[str, Any]:
    """`status --json`."""
    quota = status.quota
    return {
        "counts": {s: status.counts.get(s, 0) for s in RowStatus},
        "stages": dict(status.stages),
        "needs_person": [
            {
                "line": r.line,
                "target_course_id": r.target_course_id,
                "status": r.state.value,
                "error": r.error,
                "error_kind": _kind(r),
                "hint": next_step(r, invocation),
            }
            for r in status.needs_person
        ],
        "quota": None
        if quota is None
        else {
            "remaining": quota.remaining,
            "limit": quota.limit,
            "seen_at": quota.at.isoformat(timespec="seconds"),
        },
        "left_alone": [
            {"line": r.line, "target_course_id": r.target_course_id, "status": r.state.status}
            for r in status.left_alone
        ],
        "sections": {
            "asked": status.sections,
            "attached": status.attached,
            "rows_waiting": status.attach_waiting,
            "left_attached": [
                {"target_course_id": target, **_attachment_json(a)}
                for target, left in status.left_attached.items()
                for a in left
            ],
        },
        "dates": dates_totals_json(status.dates),
        "resolved": [
            {
                "line": r.line,
                "target_course_id": r.target_course_id,
                "resolution": str(r.resolution),
                "resolved_at": r.resolved_at.isoformat(timespec="seconds")
                if r.resolved_at
                else None,
                "status": r.state.status,
            }
            for r in status.resolved
        ],
    }


def shown_at(moment: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """A moment as people read it: local time in `zone`, with the zone's abbreviation."""
    return moment.astimezone(zone).strftime(f"%Y-%m-%d %H:%M{':%S' if seconds else ''} %Z")


def quota_line(quota: QuotaSeen | None, zone: tzinfo = UTC) -> str:
    """The quota a run last saw, and when (in `zone`)."""
    if quota is None:
        return "Quota: not seen yet (no run has talked to Learn)"
    limit = f" of {quota.limit}" if quota.limit is not None else ""
    return (
        f"Quota: {quota.remaining}{limit} calls left when last seen, "
        f"{shown_at(quota.at, zone, seconds=True)}"
    )


def needs_person_lines(rows: Sequence[LedgerRow], invocation: Invocation) -> list[str]:
    """Each row a person must look at, its error and what to do."""
    if not rows:
        return []
    lines = ["Needs a person:"]
    for row in rows:
        lines.append(f"  line {row.line} {row.target_course_id} [{row.state.value}]: {row.error}")
        lines.append(f"    What to do: {next_step(row, invocation)}")
    return lines


def left_alone_line(rows: Sequence[LedgerRow]) -> str:
    """One line on the ledger's rows that the manifest no longer lists."""
    count = len(rows)
    return (
        f"Left alone: {count} {_rows(count)} in the ledger no longer in the manifest, "
        f"not touched: {_named(rows, with_status=True)}"
    )


def left_attached_line(left: Mapping[str, Sequence[AttachmentRecord]]) -> str:
    """One line on the sections the manifest dropped that stay attached in Learn."""
    named = [f"{a.child_ref} under {target}" for target, records in left.items() for a in records]
    count, shown = len(named), named[:NAMED_AT_MOST]
    more = f" and {count - len(shown)} more" if count > len(shown) else ""
    return (
        f"Still attached in Learn: {count} section{'' if count == 1 else 's'} "
        f"({', '.join(shown)}{more}) {NEVER_SEPARATED}"
    )


def settle_line(count: int, until: datetime, zone: tzinfo = UTC) -> str:
    """Why rows wait for --adopt-settle, and until when (in `zone`)."""
    return (
        f"Settling: {_count_rows(count)} wait for --adopt-settle until "
        f"{shown_at(until, zone)}: their copy request's answer was lost, so "
        "the copy's end cannot be seen, and a copy still running would overwrite the PATCH; "
        "the row is patched after that"
    )


def _count_rows(count: int) -> str:
    return f"{count} {_rows(count)}"


def resolved_line(row: LedgerRow) -> str:
    """What `resolve` recorded, and what the next run does with it."""
    if row.resolution is Resolution.COPIED:
        then = "the next run finds the course by its courseId, patches it and finishes the row"
    else:
        then = "the next run requests the copy again"
    return (
        f"Line {row.line} {row.target_course_id}: resolved as {row.resolution}; {then}. "
        "Run the same `rollover run` command to continue."
    )


def course_held_line(held: CourseHeld) -> str:
    """Why `resolve --not-copied` is refused: Learn holds the row's new course."""
    row = held.row
    when = f", created {shown_at(held.created, UTC)}" if held.created is not None else ""
    return (
        f"Learn holds {row.target_course_id} ({held.course_pk}{when}), the new course of line "
        f"{row.line}: most likely this row's own copy. --not-copied would have the next run "
        "ask for the copy again, which Learn refuses for a courseId it holds, and the row "
        "would fail with its enrolments lost"
    )


def resolutions_line(rows: Sequence[LedgerRow], zone: tzinfo = UTC) -> str:
    """One line on the rows a person resolved, with their decision and its time (in `zone`)."""
    named = [
        f"line {row.line} {row.target_course_id} ({row.resolution}, "
        f"{shown_at(row.resolved_at, zone)})"
        for row in rows[:NAMED_AT_MOST]
        if row.resolved_at is not None
    ]
    more = len(rows) - len(named)
    return f"Resolved by a person: {', '.join(named)}" + (f" and {more} more" if more else "")


def retried_line(rows: Sequence[LedgerRow]) -> str:
    """One line on the failed rows `--retry-failed` re-opened."""
    count = len(rows)
    return f"Retried: {count} failed {_rows(count)} re-opened: {_named(rows)}"


def trail_lines(trail: RowTrail, invocation: Invocation, zone: tzinfo = UTC) -> list[str]:
    """`status --row`: the row as it stands, what to do, every dated item its shift moves (old
    -> new), and every transition it went through; times in `zone`, the run's."""
    row = trail.row
    into = " (into the existing course)" if row.copy_into_existing else ""
    lines = [f"Row: line {row.line}, {row.target_course_id} from {row.source_course_id}{into}"]
    if not trail.in_manifest:
        lines.append("  no longer in the manifest: runs leave it alone")
    lines.append(
        f"Status: {row.state.status} (stage {row.state.value}), "
        f"attempts {row.attempts}" + (f", course {row.course_pk}" if row.course_pk else "")
    )
    if row.task_location:
        lines.append(f"Task: {row.task_location}")
    if row.error:
        lines.append(f"Error: {row.error}")
    hint = next_step(row, invocation)
    if hint:
        lines.append(f"What to do: {hint}")
    if row.spec.instructors:
        lines.append(f"Instructors: {row.enrolled} of {len(row.spec.instructors)} enrolled")
        lines += [
            f"  {e.user_id} as {e.role}: {e.state} ({_when(e.at, zone)})"
            + (f": {e.error}" if e.error else "")
            for e in trail.enrolments
        ]
    if row.spec.children or trail.left_attached:
        asked = len(row.spec.children)
        lines.append(
            f"Sections: {row.children_attached} of {asked} attached"
            if asked
            else "Sections: none in the manifest"
        )
        lines += [_attachment_line(a, zone) for a in trail.attachments]
        lines += [f"{_attachment_line(a, zone)}: {NEVER_SEPARATED}" for a in trail.left_attached]
    if row.verification:
        lines.append(f"Verification: {row.verification}")
    if row.spec.shift is not None or trail.dated:
        lines += dates_lines(row, trail.dated, lambda moment: shown_at(moment, zone))
    lines.append("History:")
    lines += [_history_line(entry, zone) for entry in _in_order(trail)]
    return lines


def _when(at: str, zone: tzinfo) -> str:
    """A time the ledger keeps (ISO 8601 UTC) as people read it: in the run's zone, to the
    second (`--json` keeps the ISO text)."""
    return shown_at(datetime.fromisoformat(at), zone, seconds=True)


def _attachment_line(attachment: AttachmentRecord, zone: tzinfo) -> str:
    """One section of a row: its id as the manifest gives it (and Learn's, once known), where
    its attachment is and since when, and Learn's refusal if any."""
    known = attachment.child_pk
    pk = f" ({known})" if known and known != attachment.child_ref else ""
    error = f": {attachment.error}" if attachment.error else ""
    when = _when(attachment.updated_at, zone)
    return f"  {attachment.child_ref}{pk}: {attachment.state} ({when}){error}"


def _attachment_json(attachment: AttachmentRecord) -> dict[str, Any]:
    return {
        "child_ref": attachment.child_ref,
        "child_pk": attachment.child_pk,
        "state": str(attachment.state),
        "error": attachment.error,
        "at": attachment.updated_at,
    }


def _in_order(trail: RowTrail) -> list[Transition | Answer]:
    """Transitions and answers as one history, oldest first; at the same instant a row is added,
    then Learn answers, then the row moves on that answer."""

    def order(entry: Transition | Answer) -> tuple[str, int]:
        if isinstance(entry, Answer):
            return entry.at, 1
        return entry.at, 0 if entry.from_state is None else 2

    return sorted([*trail.events, *trail.answers], key=order)


def _history_line(entry: Transition | Answer, zone: tzinfo) -> str:
    at = _when(entry.at, zone)
    if isinstance(entry, Answer):
        return f"  {at}    {entry.state}: HTTP {entry.status} {entry.endpoint}"
    return f"  {at}  {entry.from_state or '(new)'} -> {entry.to_state}" + (
        f": {entry.detail}" if entry.detail else ""
    )


def trail_json(trail: RowTrail, invocation: Invocation) -> dict[str, Any]:
    """`status --row --json`."""
    row = trail.row
    return {
        "line": row.line,
        "target_course_id": row.target_course_id,
        "source_course_id": row.source_course_id,
        "copy_into_existing": row.copy_into_existing,
        "status": row.state.status,
        "stage": row.state.value,
        "course_pk": row.course_pk,
        "task_location": row.task_location,
        "error": row.error,
        "error_kind": _kind(row),
        "attempts": row.attempts,
        "in_manifest": trail.in_manifest,
        "hint": next_step(row, invocation),
        "events": [
            {"at": e.at, "from": e.from_state, "to": e.to_state, "detail": e.detail}
            for e in trail.events
        ],
        "enrolments": [
            {
                "user_id": e.user_id,
                "role": e.role,
                "state": str(e.state),
                "error": e.error,
                "at": e.at,
            }
            for e in trail.enrolments
        ],
        "sections": [_attachment_json(a) for a in trail.attachments],
        "left_attached": [_attachment_json(a) for a in trail.left_attached],
        "verification": row.verification,
        "dates": row_dates_json(row, trail.dated),
        "answers": [
            {"at": a.at, "stage": a.state, "status": a.status, "endpoint": a.endpoint}
            for a in trail.answers
        ],
    }


def _kind(row: LedgerRow) -> str | None:
    return row.error_kind.value if row.error_kind else None


def _rows(count: int) -> str:
    return "row" if count == 1 else "rows"


def _named(rows: Sequence[LedgerRow], *, with_status: bool = False) -> str:
    names = [
        r.target_course_id + (f" ({r.state.status})" if with_status else "")
        for r in rows[:NAMED_AT_MOST]
    ]
    more = len(rows) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")
