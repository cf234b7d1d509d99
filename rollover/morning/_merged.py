"""Merged sections in the morning's report: each course with sections (the parent, a row's
target) and each of its sections, where its attachment is in plain words; a section the
manifest dropped that stays attached in Learn says why it stays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollover.ledger import AttachmentRecord, AttachmentState, RowStatus

from ._night import RowRecord, safe_link

# A merged section's attachment in plain words, and the status colour it is shown in.
SECTION_WORDS = {
    AttachmentState.PENDING: ("waiting to be attached", RowStatus.PENDING),
    AttachmentState.SENDING: ("being attached (Learn's answer not seen yet)", RowStatus.PENDING),
    AttachmentState.ATTACHED: ("attached", RowStatus.DONE),
    AttachmentState.FAILED: ("refused by Learn", RowStatus.FAILED),
}
LEFT_ATTACHED = (
    "no longer in the manifest, still attached in Learn: rollover never separates a section; "
    "separate it in Learn if wanted"
)


@dataclass(frozen=True)
class SectionView:
    """One merged section of a course: its id, where its attachment is, in plain words."""

    ref: str  # as the manifest gives it
    pk: str | None  # Learn's primary id, once known
    words: str
    status: str  # the status colour it is shown in
    error: str | None


@dataclass(frozen=True)
class MergedView:
    """A course with merged sections: the parent (the row's target) and each section."""

    line: int
    target: str
    name: str | None
    link: str | None
    status: str
    attached: int
    asked: int
    sections: Sequence[SectionView]


def section_view(attachment: AttachmentRecord, *, left: bool = False) -> SectionView:
    """One section of a course as the report shows it (`left`: the manifest dropped it)."""
    words, status = SECTION_WORDS[attachment.state]
    return SectionView(
        attachment.child_ref,
        attachment.child_pk if attachment.child_pk != attachment.child_ref else None,
        LEFT_ATTACHED if left else words,
        status,
        attachment.error,
    )


def merged_view(record: RowRecord, name: str | None) -> MergedView:
    """A course with merged sections (`name`: the one the manifest gives it): its sections in
    manifest order, then those the manifest dropped that stay attached in Learn."""
    row = record.row
    return MergedView(
        line=row.line,
        target=row.target_course_id,
        name=name,
        link=safe_link(row.course_url),
        status=row.state.status,
        attached=row.children_attached,
        asked=len(row.spec.children),
        sections=[
            *(section_view(attachment) for attachment in record.attachments),
            *(section_view(attachment, left=True) for attachment in record.left_attached),
        ],
    )
