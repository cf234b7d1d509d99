"""Merged sections: a row's children attached to its course, once the copy has completed and
the course is patched, before its instructors are enrolled (Learn's order for merging).

Each attachment is a ledger step: `sending` committed (durably) before the PUT, `attached` (with
the child's primary id) or `failed` (naming the child and what to do) after. One left at
`sending` is simply sent again: the PUT is idempotent, and a child Learn shows as this parent's
already counts as attached (`LearnClient.attach_child` reads the child when Learn refuses). Site
trouble (5xx, timeouts, pages) is never a row failure: it raises, as for every call.
"""

from __future__ import annotations

from rollover.errors import AttachRefused
from rollover.learn import LearnClient
from rollover.ledger import AttachmentState, Ledger, LedgerRow

# An attachment in these states is still to be made (or may not have reached Learn).
_LEFT = (AttachmentState.PENDING, AttachmentState.SENDING)


class Merging:
    """Attaches a row's children to its course, each committed before and after."""

    def __init__(self, ledger: Ledger, client: LearnClient) -> None:
        self._ledger = ledger
        self._client = client

    def attachments_left(self, target: str) -> bool:
        """Whether any of the row's children is still to be attached."""
        return any(a.state in _LEFT for a in self._ledger.attachments(target))

    def attach_again(self, row: LedgerRow) -> None:
        """A person said the copy was not made and it is requested again: the children attached
        to the course that copy was meant for are attached again to the new one."""
        for attachment in self._ledger.attachments(row.target_course_id):
            if attachment.state is AttachmentState.ATTACHED:
                self._ledger.record_attachment(
                    row.target_course_id, attachment.child_ref, AttachmentState.PENDING
                )

    async def attach(self, row: LedgerRow) -> None:
        """Attach the row's children not yet attached to its copied course."""
        target, parent = row.target_course_id, row.course_pk or ""
        for attachment in self._ledger.attachments(target):
            if attachment.state not in _LEFT:
                continue
            child = attachment.child_ref
            self._ledger.record_attachment(target, child, AttachmentState.SENDING)
            try:
                answer = await self._client.attach_child(parent, child)
            except AttachRefused as exc:
                self._ledger.record_attachment(
                    target, child, AttachmentState.FAILED, error=_refused(exc)
                )
                continue
            child_pk = answer.get("id")
            self._ledger.record_attachment(
                target,
                child,
                AttachmentState.ATTACHED,
                child_pk=child_pk if isinstance(child_pk, str) and child_pk else None,
            )

    def refusal(self, target: str) -> str | None:
        """The row's refused attachments in words, or None when Learn refused none."""
        refused = [a for a in self._ledger.attachments(target) if a.state is AttachmentState.FAILED]
        if not refused:
            return None
        children = ", ".join(a.child_ref for a in refused)
        return f"Learn refused to attach {children}: " + "; ".join(
            a.error or a.child_ref for a in refused
        )


def _refused(exc: AttachRefused) -> str:
    """One refused attachment as the ledger keeps it: the child, why, and what to do."""
    why = exc.reason if exc.child in exc.reason else f"{exc.child}: {exc.reason}"
    return f"{why} ({exc.status}: {exc.learn_message}): {exc.hint}"
