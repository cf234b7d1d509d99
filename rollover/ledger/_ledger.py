"""The ledger: one row per manifest course, moved through a state machine, and the reads of it.

`Ledger` is the one class callers use; its rooms are siblings of this module: `_core` (the file
open for a run: lock, site, writes, the transition primitive), `_machine` (the row's
transitions), `_sync` (manifest sync), `_steps` (enrolments and attachments after the PATCH),
`_dates` (the dated items a shift moves) and `_stored` (how values are stored). `events` keeps
every transition and `answers` every HTTP status Learn gave about a row (no secrets, no bodies).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Self

from rollover.errors import LedgerError
from rollover.plan import RowSpec

from ._changes import MANIFEST_CHANGED
from ._dates import dated_items_of, write_date, write_dated_items
from ._machine import RowMachine
from ._rows import (
    Answer,
    AttachmentRecord,
    AttachmentState,
    DatedRecord,
    DateState,
    EnrolmentRecord,
    EnrolmentState,
    LedgerRow,
    QuotaSeen,
    State,
    Transition,
)
from ._steps import (
    attachments_of,
    enrolments_of,
    left_attached_of,
    write_attachment,
    write_enrolment,
)
from ._stored import iso, parse, row_from
from ._sync import sync_rows


class Ledger(RowMachine):
    """The record of a rollover, and the state machine that moves its rows."""

    # -- quota -------------------------------------------------------------------------------

    def record_quota(self, remaining: int, limit: int | None) -> None:
        """Remember Learn's remaining quota, so `status` can show it between runs."""
        seen = json.dumps({"remaining": remaining, "limit": limit, "at": iso(self._clock())})
        with self._writing() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('quota', ?)", (seen,))

    def last_quota(self) -> QuotaSeen | None:
        """The quota a run last saw, or None if no run has seen one."""
        row = self._db.execute("SELECT value FROM meta WHERE key='quota'").fetchone()
        if row is None:
            return None
        seen = json.loads(row["value"])
        return QuotaSeen(seen["remaining"], seen["limit"], datetime.fromisoformat(seen["at"]))

    # -- reads -------------------------------------------------------------------------------

    def rows(self, *, in_manifest_only: bool = True) -> list[LedgerRow]:
        """Rows in manifest order."""
        where = "WHERE in_manifest = 1" if in_manifest_only else ""
        cursor = self._db.execute(f"SELECT * FROM rows {where} ORDER BY line")
        return [row_from(record) for record in cursor]

    def rows_in(self, states: Iterable[State]) -> list[LedgerRow]:
        """The manifest's rows in any of `states`, in manifest order: only those are read (a
        step that asks often about the few rows in flight never reads the whole night's)."""
        wanted = sorted(str(state) for state in states)
        marks = ",".join("?" * len(wanted))
        cursor = self._db.execute(
            f"SELECT * FROM rows WHERE in_manifest = 1 AND state IN ({marks}) ORDER BY line",
            wanted,
        )
        return [row_from(record) for record in cursor]

    def left_alone(self) -> list[LedgerRow]:
        """Rows the ledger keeps that the last synced manifest no longer lists."""
        cursor = self._db.execute("SELECT * FROM rows WHERE in_manifest = 0 ORDER BY line")
        return [row_from(record) for record in cursor]

    def find(self, ref: str) -> LedgerRow | None:
        """A row by target courseId (ignoring case), else by manifest line (a listed row first)."""
        record = self._db.execute(
            "SELECT * FROM rows WHERE target_course_id = ? COLLATE NOCASE"
            " ORDER BY target_course_id = ? DESC LIMIT 1",
            (ref, ref),
        ).fetchone()
        if record is None and ref.isdigit():
            record = self._db.execute(
                "SELECT * FROM rows WHERE line = ? ORDER BY in_manifest DESC LIMIT 1", (int(ref),)
            ).fetchone()
        return row_from(record) if record is not None else None

    def history(self, target_course_id: str) -> list[Transition]:
        """Every transition of a row, oldest first."""
        cursor = self._db.execute(
            "SELECT at, from_state, to_state, detail FROM events WHERE target_course_id = ?"
            " ORDER BY id",
            (target_course_id,),
        )
        return [Transition(r["at"], r["from_state"], r["to_state"], r["detail"]) for r in cursor]

    def first_intent_at(self, target_course_id: str) -> datetime | None:
        """When the row's first copy was requested, on this machine's clock (kept in its
        events, beyond a person's `--not-copied`, which clears the row's intent), or None."""
        found = self._db.execute(
            "SELECT at FROM events WHERE target_course_id = ? AND to_state = ? ORDER BY id LIMIT 1",
            (target_course_id, State.INTENT),
        ).fetchone()
        return parse(found["at"]) if found else None

    def answers(self, target_course_id: str) -> list[Answer]:
        """Every HTTP answer Learn gave about a row, oldest first."""
        cursor = self._db.execute(
            "SELECT at, state, endpoint, status FROM answers WHERE target_course_id = ?"
            " ORDER BY id",
            (target_course_id,),
        )
        return [Answer(r["at"], r["state"], r["endpoint"], r["status"]) for r in cursor]

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Self]:
        """A consistent read view for reports while another process writes."""
        self._db.execute("BEGIN")
        try:
            yield self
        finally:
            self._db.execute("COMMIT")

    # -- manifest ----------------------------------------------------------------------------

    def sync_manifest(self, specs: Sequence[RowSpec]) -> None:
        """Add new rows and refresh known ones, in one transaction (`manifest_change` decides),
        with their instructors' enrolments and their merged sections.

        Refuses (LedgerError, nothing changed) when a row's source changed after its copy was
        requested: copying again would give the target two copies.
        """
        self._latest.clear()
        with self._writing() as db:
            changed = sync_rows(db, specs, iso(self._clock()))
        if self.observer is not None:
            for target, state in changed:
                self.observer(self.row(target), state.value, MANIFEST_CHANGED)

    # -- steps after the PATCH ---------------------------------------------------------------

    def enrolments(self, target: str) -> list[EnrolmentRecord]:
        """The row's instructors and where each enrolment is, as the manifest lists them."""
        return enrolments_of(self._db, self.row(target))

    def record_enrolment(
        self, target: str, user_id: str, state: EnrolmentState, error: str | None = None
    ) -> None:
        """Commit where one enrolment is: `sending` before the PUT, `done` or `failed` after."""
        with self._writing() as db:
            write_enrolment(db, target, user_id, state, error, iso(self._clock()))
            self._step_written(db, target)

    def attachments(self, target: str) -> list[AttachmentRecord]:
        """The merged sections the row's manifest lists (its `spec.children`), in that order,
        and where each attachment to the row's target is."""
        return attachments_of(self._db, self.row(target))

    def left_attached(self, target: str) -> list[AttachmentRecord]:
        """The row's children the manifest no longer lists that are attached (or were being
        sent) in Learn: the tool never separates a child, so they stay attached there."""
        return left_attached_of(self._db, target)

    def record_attachment(
        self,
        target: str,
        child_ref: str,
        state: AttachmentState,
        *,
        error: str | None = None,
        child_pk: str | None = None,
    ) -> None:
        """Commit where one child's attachment is: `sending` before the PUT (synced to disk, as
        the intent before a copy: a power cut after the PUT must leave a ledger that knows it
        may have been sent), `attached` or `failed` after. `child_pk`, once Learn has told it,
        is kept. Refused (LedgerError) for a child the row does not have."""
        sending = state is AttachmentState.SENDING
        with self._writing(durable=sending) as db:
            if not write_attachment(
                db, target, child_ref, state, error=error, child_pk=child_pk, now=iso(self._clock())
            ):
                raise LedgerError(f"ledger refused {target}: it has no child {child_ref}")
            self._step_written(db, target)

    # -- dated items (a shift of the row's dates) --------------------------------------------

    def record_dated_items(
        self,
        target: str,
        kind: str,
        items: Iterable[tuple[str, str, datetime | None]],
        *,
        titles: Mapping[str, str] | None = None,
        span: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Commit the originals of one listed kind of the row's dated items (`learn.DatedKind`),
        as (item_id, field, original) with the field's dotted path (`grading.due`) and its
        date as Learn gave it (aware; None when empty), and mark the kind listed; in
        one transaction, before any of them is patched. An item already recorded keeps its
        originals: never overwritten by what Learn holds now. An item whose every date is
        empty is not recorded (it has nothing to move). `titles` (item_id -> title) names the
        items in `status --row`; `span` the time a calendar was read over."""
        with self._writing() as db:
            write_dated_items(db, target, kind, items, iso(self._clock()), titles, span)
            self._step_written(db, target)

    def dated_items(self, target: str) -> list[DatedRecord]:
        """The row's dated items, in the order they were recorded, with their originals."""
        return dated_items_of(self._db, target)

    def record_date(
        self,
        target: str,
        kind: str,
        item_id: str,
        state: DateState,
        *,
        new: Mapping[str, datetime | None] | None = None,
        error: str | None = None,
    ) -> None:
        """Commit where one dated item is, all its fields at once (one PATCH per item):
        `sending` before the PATCH (synced to disk, as an attachment's: a power cut after it
        must leave a ledger that knows it may have been sent), then `shifted`, `failed` (with
        Learn's words) or `gone` (the item no longer exists in Learn). `new` keeps the value
        sent for each field it names. Refused (LedgerError) for an item the row has not
        recorded."""
        with self._writing(durable=state is DateState.SENDING) as db:
            write_date(
                db, target, kind, item_id, state, new=new, error=error, now=iso(self._clock())
            )
            self._step_written(db, target)

    def _step_written(self, db: sqlite3.Connection, target: str) -> None:
        """After a step of the row is written: its answers kept, and the row as it now is."""
        found = db.execute("SELECT * FROM rows WHERE target_course_id = ?", (target,)).fetchone()
        self._write_answers(db, target, found["state"])
        self._latest[target] = row_from(found)

    # -- sources -----------------------------------------------------------------------------

    def source_counts(self, source: str) -> tuple[int | None, int | None] | None:
        """(content items, gradebook columns) of a source, if counted before; either may be
        None when only the other was counted (--verify counts what the profile copies)."""
        found = self._db.execute(
            "SELECT contents, columns FROM source_counts WHERE source_course_id = ?", (source,)
        ).fetchone()
        return None if found is None else (found["contents"], found["columns"])

    def record_source_counts(self, source: str, contents: int | None, columns: int | None) -> None:
        """Keep a source's counts, so a re-run does not fetch them again (None: not counted;
        a count kept before stays)."""
        with self._writing() as db:
            db.execute(
                "INSERT INTO source_counts VALUES (?, ?, ?, ?) ON CONFLICT (source_course_id)"
                " DO UPDATE SET contents = coalesce(excluded.contents, contents),"
                " columns = coalesce(excluded.columns, columns), at = excluded.at",
                (source, contents, columns, iso(self._clock())),
            )
