"""How the ledger's Python values are stored: times, a row's spec, a `rows` record as a
`LedgerRow`, and the two audit tables a write adds to (`events`, `answers`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rollover.manifest import Enrolment
from rollover.plan import DEFAULT_PROFILE, DateShift, RowSpec

from ._rows import ErrorKind, LedgerRow, Proof, Resolution, State


def iso(moment: datetime | None) -> str | None:
    """A moment as the ledger stores it (UTC, milliseconds), None as None."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else None


def parse(text: str | None) -> datetime | None:
    """A stored moment read back."""
    return datetime.fromisoformat(text) if text else None


def spec_json(spec: RowSpec) -> str:
    """A spec's stored form (unchanged since schema 1: {"patch", "profile"[, "copy"]}; the
    instructors, children and shift only when the row has some, so older specs stay
    byte-identical). A shift is {"days": n} or {"term": true}, with "calendar": true when asked."""
    stored: dict[str, Any] = {"patch": dict(spec.patch), "profile": spec.profile}
    if spec.copy is not None:
        stored["copy"] = spec.copy
    if spec.instructors:
        stored["instructors"] = [[e.user_id, e.role] for e in spec.instructors]
    if spec.children:
        stored["children"] = list(spec.children)
    if spec.shift is not None:
        shift: dict[str, Any] = {"term": True} if spec.shift.term else {"days": spec.shift.days}
        if spec.shift.calendar:
            shift["calendar"] = True
        stored["shift"] = shift
    return json.dumps(stored, sort_keys=True)


def row_from(record: sqlite3.Row) -> LedgerRow:
    """A `rows` record as the ledger's row."""
    stored = json.loads(record["spec"])
    spec = RowSpec(
        target_course_id=record["target_course_id"],
        line=record["line"],
        source_course_id=record["source_course_id"],
        copy_into_existing=bool(record["copy_into_existing"]),
        patch=stored.get("patch") or {},
        profile=stored.get("profile") or DEFAULT_PROFILE,
        copy=stored.get("copy"),
        instructors=tuple(Enrolment(user, role) for user, role in stored.get("instructors", [])),
        children=tuple(stored.get("children", [])),
        shift=_shift_from(stored.get("shift")),
    )
    kind = record["error_kind"]
    return LedgerRow(
        spec=spec,
        state=State(record["state"]),
        target_pk=record["target_pk"],
        task_location=record["task_location"],
        course_pk=record["course_pk"],
        adopted=bool(record["adopted"]),
        error=record["error"],
        error_kind=ErrorKind(kind) if kind else None,
        attempts=record["attempts"],
        intent_at=parse(record["intent_at"]),
        requested_at=parse(record["requested_at"]),
        copied_at=parse(record["copied_at"]),
        completed_at=parse(record["completed_at"]),
        resolution=Resolution(record["resolution"]) if record["resolution"] else None,
        resolved_at=parse(record["resolved_at"]),
        course_url=record["course_url"],
        shell_contents=record["shell_contents"],
        shell_columns=record["shell_columns"],
        verification=record["verification"],
        enrolled=record["enrolled"],
        settle_until=parse(record["settle_until"]),
        copied_into=record["copied_into"],
        intent_site_at=parse(record["intent_site_at"]),
        proof=Proof(record["proof"]) if record["proof"] else None,
        children_attached=record["children_attached"],
        shift_days=record["shift_days"],
        dates_listed=frozenset(record["dates_listed"].split(",") if record["dates_listed"] else ()),
        calendar_span=_span(record["calendar_span"]),
        dates_shifted=record["dates_shifted"],
        dates_to_shift=record["dates_to_shift"],
    )


def _span(stored: str | None) -> tuple[datetime, datetime] | None:
    """A stored calendar span ("since/until", UTC) read back; None when none was read."""
    if not stored:
        return None
    since, _, until = stored.partition("/")
    start, end = parse(since), parse(until)
    return (start, end) if start is not None and end is not None else None


def _shift_from(stored: dict[str, Any] | None) -> DateShift | None:
    """A stored shift read back: {"days": n} or {"term": true}, with "calendar": true when the
    calendar's events move too; None when the row has none."""
    if stored is None:
        return None
    calendar = bool(stored.get("calendar"))
    if stored.get("term"):
        return DateShift(term=True, calendar=calendar)
    return DateShift(days=stored["days"], calendar=calendar)


def add_event(
    db: sqlite3.Connection,
    target: str,
    frm: str | None,
    to: str,
    detail: str | None,
    at: str | None,
) -> None:
    """One step of a row's history."""
    db.execute(
        "INSERT INTO events (target_course_id, at, from_state, to_state, detail)"
        " VALUES (?,?,?,?,?)",
        (target, at, frm, to, detail),
    )


def add_answers(
    db: sqlite3.Connection, target: str, state: str, answers: Iterable[tuple[str, str, int]]
) -> None:
    """Learn's HTTP answers about a row, (at, endpoint, status) each, kept with its state."""
    db.executemany(
        "INSERT INTO answers (target_course_id, at, state, endpoint, status) VALUES (?,?,?,?,?)",
        [(target, at, state, endpoint, status) for at, endpoint, status in answers],
    )
