"""Manifest sync: the rows a manifest lists, added or refreshed in one transaction, with their
instructors' enrolments, their merged sections and their dated items' shift (`manifest_change`
decides what a row does)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from rollover.errors import LedgerError
from rollover.plan import RowSpec

from ._changes import ADDED, MANIFEST_CHANGED, manifest_change, shift_changed
from ._dates import shift_again
from ._rows import AttachmentState, EnrolmentState, State
from ._steps import MAY_BE_ATTACHED, count_steps
from ._stored import add_event, row_from, spec_json


def sync_rows(
    db: sqlite3.Connection, specs: Sequence[RowSpec], now: str | None
) -> list[tuple[str, State]]:
    """Add new rows and refresh known ones inside the caller's transaction; the rows that moved,
    with the state each left. Raises LedgerError when a row's source changed after its copy was
    requested (the caller's transaction is then rolled back: nothing changed)."""
    refusals: list[str] = []
    changed: list[tuple[str, State]] = []
    db.execute("UPDATE rows SET in_manifest = 0")
    for spec in specs:
        record = db.execute(
            "SELECT * FROM rows WHERE target_course_id = ?", (spec.target_course_id,)
        ).fetchone()
        known = row_from(record) if record is not None else None
        change = manifest_change(known, spec)
        if known is None:
            db.execute(
                "INSERT INTO rows (line, source_course_id, copy_into_existing, spec, state,"
                " updated_at, target_course_id) VALUES (?,?,?,?,?,?,?)",
                (*_listed(spec, change.to, now), spec.target_course_id),
            )
            add_event(db, spec.target_course_id, None, change.to, ADDED, now)
            _sync_steps(db, spec, now)
            continue
        if change.refusal is not None:
            refusals.append(change.refusal)
            continue
        moved = change.moves(known)
        db.execute(
            "UPDATE rows SET in_manifest = 1, line = ?, source_course_id = ?,"
            " copy_into_existing = ?, spec = ?, state = ?, updated_at = ?,"
            " error = CASE WHEN ? THEN NULL ELSE error END,"
            " error_kind = CASE WHEN ? THEN NULL ELSE error_kind END"
            " WHERE target_course_id = ?",
            (*_listed(spec, change.to, now), moved, moved, spec.target_course_id),
        )
        _sync_steps(db, spec, now)
        if shift_changed(known.spec, spec):
            shift_again(db, spec.target_course_id, now)
        if moved:
            add_event(db, spec.target_course_id, known.state, change.to, MANIFEST_CHANGED, now)
            changed.append((spec.target_course_id, known.state))
    if refusals:
        raise LedgerError(
            "the manifest changed the source of courses already copied:\n  "
            + "\n  ".join(refusals),
            hint="nothing was sent to Learn; fix those lines and run again",
        )
    return changed


def _listed(spec: RowSpec, to: State, now: str | None) -> tuple[object, ...]:
    """A row's columns as its manifest line gives them: line, source, copy_into_existing, spec,
    then its state and the time."""
    return (
        spec.line,
        spec.source_course_id,
        int(spec.copy_into_existing),
        spec_json(spec),
        to,
        now,
    )


def _sync_steps(db: sqlite3.Connection, spec: RowSpec, now: str | None) -> None:
    """A row's steps after its PATCH, as the manifest now lists them."""
    _sync_enrolments(db, spec, now)
    _sync_children(db, spec, now)


def _sync_enrolments(db: sqlite3.Connection, spec: RowSpec, now: str | None) -> None:
    """The row's instructors as the manifest now lists them: new ones pending, a changed
    role pending again, ones no longer listed forgotten (the tool never unenrols anyone in
    Learn; the audit trail keeps their answers)."""
    target = spec.target_course_id
    known = {
        r["user_id"]: (r["role"], r["state"])
        for r in db.execute("SELECT * FROM enrolments WHERE target_course_id = ?", (target,))
    }
    wanted = {e.user_id: e.role for e in spec.instructors}
    for user in known:
        if user not in wanted:  # no longer asked for (the tool never unenrols anyone)
            db.execute(
                "DELETE FROM enrolments WHERE target_course_id = ? AND user_id = ?",
                (target, user),
            )
    for user, role in wanted.items():
        if user not in known:
            db.execute(
                "INSERT INTO enrolments VALUES (?, ?, ?, ?, NULL, ?)",
                (target, user, role, EnrolmentState.PENDING, now),
            )
        elif known[user][0] != role:
            db.execute(
                "UPDATE enrolments SET role = ?, state = ?, error = NULL, updated_at = ?"
                " WHERE target_course_id = ? AND user_id = ?",
                (role, EnrolmentState.PENDING, now, target, user),
            )
    count_steps(db, target)


def _sync_children(db: sqlite3.Connection, spec: RowSpec, now: str | None) -> None:
    """The row's merged sections as the manifest now lists them: new ones pending; one no
    longer listed is forgotten if it was never sent, else kept unlisted (the tool never
    separates a child in Learn); listed again, it keeps its state."""
    target = spec.target_course_id
    known = {
        r["child_ref"]: (AttachmentState(r["state"]), bool(r["listed"]))
        for r in db.execute("SELECT * FROM children WHERE target_course_id = ?", (target,))
    }
    wanted = dict.fromkeys(spec.children)
    for child, (state, listed) in known.items():
        if child in wanted:
            continue
        if state not in MAY_BE_ATTACHED:
            db.execute(
                "DELETE FROM children WHERE target_course_id = ? AND child_ref = ?",
                (target, child),
            )
        elif listed:
            db.execute(
                "UPDATE children SET listed = 0, updated_at = ?"
                " WHERE target_course_id = ? AND child_ref = ?",
                (now, target, child),
            )
    for child in wanted:
        if child not in known:
            db.execute(
                "INSERT INTO children VALUES (?, ?, ?, NULL, NULL, 1, ?)",
                (target, child, AttachmentState.PENDING, now),
            )
        elif not known[child][1]:
            db.execute(
                "UPDATE children SET listed = 1, updated_at = ?"
                " WHERE target_course_id = ? AND child_ref = ?",
                (now, target, child),
            )
    count_steps(db, target)
