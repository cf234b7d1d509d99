"""One row a person names (`status --row`, `resolve`): how a name finds it, its audit trail,
and its new course as Learn holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rollover.errors import UsageError
from rollover.ledger import (
    Answer,
    AttachmentRecord,
    DatedRecord,
    EnrolmentRecord,
    Ledger,
    LedgerRow,
    Transition,
)


def named_row(ledger: Ledger, ref: str) -> LedgerRow:
    """The row `ref` names (target courseId, any case, or manifest line), or a UsageError."""
    row = ledger.find(ref)
    if row is None:
        raise UsageError(
            f"no row {ref!r} in {ledger.path}",
            hint="pass a target_course_id or a manifest line number; "
            "`rollover status --json` lists the rows that need a person",
        )
    return row


@dataclass(frozen=True)
class RowTrail:
    """One row and every transition it went through, for `status --row`."""

    row: LedgerRow
    in_manifest: bool
    events: list[Transition]
    answers: list[Answer]
    enrolments: list[EnrolmentRecord] = field(default_factory=list)
    attachments: list[AttachmentRecord] = field(default_factory=list)  # the sections it lists
    # Sections the manifest no longer lists that are (or may be) attached in Learn still.
    left_attached: list[AttachmentRecord] = field(default_factory=list)
    dated: list[DatedRecord] = field(default_factory=list)  # the dated items its shift moves


@dataclass(frozen=True)
class CourseHeld:
    """A row's new course as Learn holds it: the row, the course's primary id, and when
    Learn says it was created (None when it does not say)."""

    row: LedgerRow
    course_pk: str
    created: datetime | None
