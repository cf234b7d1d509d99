"""A row's steps after its PATCH, each kept on its own: its instructors' enrolments and its
merged sections' attachments (`sending` committed before each PUT, the outcome after), and the
counts of them kept on the row."""

from __future__ import annotations

import sqlite3

from ._rows import AttachmentRecord, AttachmentState, EnrolmentRecord, EnrolmentState, LedgerRow

# A child in these states is, or may be, attached in Learn: kept when the manifest drops it.
MAY_BE_ATTACHED = (AttachmentState.ATTACHED, AttachmentState.SENDING)


def enrolments_of(db: sqlite3.Connection, row: LedgerRow) -> list[EnrolmentRecord]:
    """The row's instructors and where each enrolment is, as the manifest lists them."""
    order = {e.user_id: n for n, e in enumerate(row.spec.instructors)}
    records = [
        EnrolmentRecord(
            r["user_id"], r["role"], EnrolmentState(r["state"]), r["error"], r["updated_at"]
        )
        for r in db.execute(
            "SELECT * FROM enrolments WHERE target_course_id = ?", (row.target_course_id,)
        )
        if r["user_id"] in order
    ]
    return sorted(records, key=lambda record: order[record.user_id])


def write_enrolment(
    db: sqlite3.Connection,
    target: str,
    user_id: str,
    state: EnrolmentState,
    error: str | None,
    now: str | None,
) -> None:
    """Where one enrolment is, inside the caller's transaction (and the row's count)."""
    db.execute(
        "UPDATE enrolments SET state = ?, error = ?, updated_at = ?"
        " WHERE target_course_id = ? AND user_id = ?",
        (state, error, now, target, user_id),
    )
    count_steps(db, target)


def _attachment(record: sqlite3.Row) -> AttachmentRecord:
    return AttachmentRecord(
        record["child_ref"],
        AttachmentState(record["state"]),
        record["error"],
        record["child_pk"],
        record["updated_at"],
    )


def attachments_of(db: sqlite3.Connection, row: LedgerRow) -> list[AttachmentRecord]:
    """The children the row's manifest lists and where each attachment is, in manifest order."""
    order = {child: n for n, child in reversed(list(enumerate(row.spec.children)))}
    records = [
        _attachment(r)
        for r in db.execute(
            "SELECT * FROM children WHERE target_course_id = ? AND listed = 1",
            (row.target_course_id,),
        )
        if r["child_ref"] in order
    ]
    return sorted(records, key=lambda record: order[record.child_ref])


def left_attached_of(db: sqlite3.Connection, target: str) -> list[AttachmentRecord]:
    """The children the manifest no longer lists that are (or may be) attached in Learn."""
    marks = ",".join("?" * len(MAY_BE_ATTACHED))
    return [
        _attachment(r)
        for r in db.execute(
            "SELECT * FROM children WHERE target_course_id = ? AND listed = 0"
            f" AND state IN ({marks}) ORDER BY child_ref",
            (target, *MAY_BE_ATTACHED),
        )
    ]


def write_attachment(
    db: sqlite3.Connection,
    target: str,
    child_ref: str,
    state: AttachmentState,
    *,
    error: str | None,
    child_pk: str | None,
    now: str | None,
) -> bool:
    """Where one attachment is, inside the caller's transaction (and the row's count); a
    child_pk already known is kept when none is given. False if the row has no such child."""
    updated = db.execute(
        "UPDATE children SET state = ?, error = ?, child_pk = coalesce(?, child_pk),"
        " updated_at = ? WHERE target_course_id = ? AND child_ref = ?",
        (state, error, child_pk, now, target, child_ref),
    ).rowcount
    count_steps(db, target)
    return updated == 1


def count_steps(db: sqlite3.Connection, target: str) -> None:
    """Keep the row's counts of its steps done: instructors enrolled, and children it lists
    that are attached."""
    db.execute(
        "UPDATE rows SET enrolled = (SELECT count(*) FROM enrolments AS e"
        " WHERE e.target_course_id = rows.target_course_id AND e.state = ?),"
        " children_attached = (SELECT count(*) FROM children AS c"
        " WHERE c.target_course_id = rows.target_course_id AND c.state = ? AND c.listed = 1)"
        " WHERE target_course_id = ?",
        (EnrolmentState.DONE, AttachmentState.ATTACHED, target),
    )


def reopen_failed_steps(db: sqlite3.Connection, target: str) -> None:
    """`--retry-failed`: the row's failed enrolments and attachments are pending again."""
    db.execute(
        "UPDATE enrolments SET state = ?, error = NULL WHERE target_course_id = ? AND state = ?",
        (EnrolmentState.PENDING, target, EnrolmentState.FAILED),
    )
    db.execute(
        "UPDATE children SET state = ?, error = NULL WHERE target_course_id = ? AND state = ?",
        (AttachmentState.PENDING, target, AttachmentState.FAILED),
    )
