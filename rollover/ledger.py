"""The SQLite ledger: one row per manifest course, moved through a state machine.

States, in order::

    pending -> intent -> located -> copied -> patched -> done
                  \\          \\          \\
                   +----------+----------+--> failed | needs_review

Each transition is one short transaction, committed before the tool acts on it: the intent before
the copy POST, the task Location before the first poll, the new course's id before the PATCH.
That order is what lets a re-run after ``kill -9`` finish the job without copying anything twice.
The `events` table is an append-only history of every transition (no secrets, no bodies).
The file itself (schema, opening checks, the row shapes and the reads) is `rollover.ledger_file`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollover.errors import LedgerError
from rollover.ledger_file import (
    SCHEMA_VERSION,
    TERMINAL,
    LedgerFile,
    LedgerRow,
    QuotaSeen,
    RowSpec,
    State,
    _iso,
)

__all__ = ["SCHEMA_VERSION", "TERMINAL", "Ledger", "LedgerRow", "QuotaSeen", "RowSpec", "State"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger(LedgerFile):
    """The record of a rollover, and the state machine that moves its rows."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(path, clock=clock)
        self._lock_file: Any = None
        self.observer: Callable[[LedgerRow, str | None, str | None], None] | None = None
        # Called with (target, new state) just before a transition is written: a seam for
        # crash-point tests and nothing else.
        self.before_transition: Callable[[str, State], None] | None = None
        # HTTP answers per row, written with the row's next transition (or at close), so the
        # audit trail has every status without a commit per call.
        self._answers: dict[str, list[tuple[str, str]]] = {}

    def note_answer(self, target: str, endpoint: str, status: int) -> None:
        """Remember an HTTP answer Learn gave about a row, for its audit trail (no bodies)."""
        self._answers.setdefault(target, []).append(
            (_iso(self._clock()) or "", f"HTTP {status} {endpoint}"))

    def _write_answers(self, db: sqlite3.Connection, target: str, state: str) -> None:
        for at, detail in self._answers.pop(target, []):
            self._event(db, target, state, state, detail, at)

    def close(self) -> None:
        """Close the database and release the run lock if held."""
        if self._answers:
            with self._transaction() as db:
                for target in list(self._answers):
                    found = db.execute("SELECT state FROM rows WHERE target_course_id = ?",
                                       (target,)).fetchone()
                    if found is None:
                        self._answers.pop(target)
                    else:
                        self._write_answers(db, target, found["state"])
        super().close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- ownership ---------------------------------------------------------------------------

    def acquire_run_lock(self) -> None:
        """Take the one-run-per-ledger lock; a lock of a dead process is released by the OS."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LedgerError(
                f"another rollover run is using {self.path}",
                hint="wait for it to finish (see `rollover status`), then run again",
            ) from None
        self._lock_file = handle

    def bind_site(self, site: str) -> None:
        """Record which Learn site this ledger belongs to; refuse a ledger of another site."""
        row = self._db.execute("SELECT value FROM meta WHERE key='site'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('site', ?)", (site,))
        elif row["value"] != site:
            raise LedgerError(
                f"{self.path} records a rollover against {row['value']}, not {site}",
                hint="pass the --ledger of this site, or --base-url of the ledger's site",
            )

    # -- manifest ----------------------------------------------------------------------------

    def sync_manifest(self, specs: Sequence[RowSpec]) -> None:
        """Add new rows and refresh known ones, in one transaction.

        Refuses (LedgerError, nothing changed) when a row's source changed after its copy was
        requested: copying again would give the target two copies.
        """
        refusals: list[str] = []
        changed: list[tuple[str, State]] = []
        now = _iso(self._clock())
        self._latest.clear()
        with self._transaction() as db:
            db.execute("UPDATE rows SET in_manifest = 0")
            for spec in specs:
                known = db.execute(
                    "SELECT * FROM rows WHERE target_course_id = ?", (spec.target_course_id,)
                ).fetchone()
                spec_json = json.dumps(spec.spec, sort_keys=True)
                if known is None:
                    db.execute(
                        "INSERT INTO rows (target_course_id, line, source_course_id,"
                        " copy_into_existing, spec, state, updated_at) VALUES (?,?,?,?,?,?,?)",
                        (spec.target_course_id, spec.line, spec.source_course_id,
                         int(spec.copy_into_existing), spec_json, State.PENDING, now),
                    )
                    self._event(db, spec.target_course_id, None, State.PENDING, "added", now)
                    continue
                state = State(known["state"])
                same_copy = (known["source_course_id"] == spec.source_course_id
                             and bool(known["copy_into_existing"]) == spec.copy_into_existing)
                if not same_copy and state not in (State.PENDING, State.FAILED):
                    refusals.append(
                        f"line {spec.line}: {spec.target_course_id} was already copied from "
                        f"{known['source_course_id']}; the manifest now says "
                        f"{spec.source_course_id}. Copying again would duplicate it: use a new "
                        f"target_course_id or restore the old source"
                    )
                    db.execute("UPDATE rows SET in_manifest = 1, line = ? WHERE "
                               "target_course_id = ?", (spec.line, spec.target_course_id))
                    continue
                new_state = state
                if state is State.FAILED and (not same_copy or known["spec"] != spec_json):
                    # The user changed what failed: try it again, from the right place. A row
                    # whose copy exists (its PATCH failed) is patched again, never re-copied.
                    if known["course_pk"]:
                        new_state = State.COPIED if same_copy else state
                    elif known["task_location"] is None:
                        new_state = State.PENDING
                elif (state in (State.DONE, State.PATCHED)
                      and json.loads(known["spec"]).get("patch") != spec.spec.get("patch")):
                    new_state = State.COPIED  # corrected name or dates: patch again
                db.execute(
                    "UPDATE rows SET in_manifest = 1, line = ?, source_course_id = ?,"
                    " copy_into_existing = ?, spec = ?, state = ?, updated_at = ?,"
                    " error = CASE WHEN ? THEN NULL ELSE error END"
                    " WHERE target_course_id = ?",
                    (spec.line, spec.source_course_id, int(spec.copy_into_existing), spec_json,
                     new_state, now, new_state != state, spec.target_course_id),
                )
                if new_state != state:
                    self._event(db, spec.target_course_id, state, new_state, "manifest changed",
                                now)
                    changed.append((spec.target_course_id, state))
            if refusals:
                raise LedgerError(
                    "the manifest changed the source of courses already copied:\n  "
                    + "\n  ".join(refusals),
                    hint="nothing was sent to Learn; fix those lines and run again")
        if self.observer is not None:
            for target, state in changed:
                self.observer(self.row(target), state.value, "manifest changed")

    # -- transitions -------------------------------------------------------------------------

    def record_target_pk(self, target: str, target_pk: str) -> None:
        """Remember the primary id of an existing course that content is copied into."""
        self._transition(target, (State.PENDING,), State.PENDING, "target resolved",
                         target_pk=target_pk)

    def record_intent(self, target: str) -> datetime:
        """Commit that a copy is about to be requested; must precede the POST."""
        now = self._clock()
        # Synced to disk, with every commit before it: a power cut after the POST must not
        # leave a ledger that would POST again. Later writes may be lost to a power cut, and
        # reconciliation from `intent` handles that, never by copying twice.
        self._transition(target, (State.PENDING,), State.INTENT, "copy requested",
                         intent_at=_iso(now), attempts_increment=True, durable=True)
        return now

    def record_not_sent(self, target: str, reason: str) -> None:
        """The copy provably did not happen (rejected, or absent on reconciliation)."""
        self._transition(target, (State.INTENT,), State.PENDING, reason)

    def record_location(self, target: str, location: str) -> None:
        """Commit the task Location Learn returned; must precede the first poll."""
        self._transition(target, (State.INTENT,), State.LOCATED, location,
                         task_location=location, requested_at=_iso(self._clock()))

    def record_copied(self, target: str, course_pk: str, *, adopted: bool = False,
                      detail: str = "copy complete", warning: str | None = None) -> None:
        """Commit the new course's primary id once its copy is complete (or adopted).

        `warning` keeps what Learn said of an unclean end (CompleteWithErrors), so the row is
        handed to a person after its PATCH.
        """
        self._transition(target, (State.INTENT, State.LOCATED), State.COPIED, detail,
                         course_pk=course_pk, adopted=int(adopted), error=warning,
                         copied_at=_iso(self._clock()))

    def record_patched(self, target: str) -> None:
        """Commit that Learn accepted the PATCH."""
        self._transition(target, (State.COPIED,), State.PATCHED, "patched")

    def record_done(self, target: str, note: str | None = None) -> None:
        """Finish a row."""
        self._transition(target, (State.COPIED, State.PATCHED), State.DONE, note or "done",
                         completed_at=_iso(self._clock()), error=None)

    def record_failed(self, target: str, error: str) -> None:
        """A permanent error for this row; Learn's message goes in `error`."""
        self._transition(target, tuple(s for s in State if s not in TERMINAL), State.FAILED,
                         error, error=error, completed_at=_iso(self._clock()))

    def record_needs_review(self, target: str, error: str) -> None:
        """The outcome is uncertain; a person must look. The tool will not guess."""
        self._transition(target, tuple(s for s in State if s not in TERMINAL),
                         State.NEEDS_REVIEW, error, error=error,
                         completed_at=_iso(self._clock()))

    def retry_failed(self) -> list[LedgerRow]:
        """Re-open the manifest's failed rows as they are; the rows re-opened, in line order.

        A row whose course exists goes back to `copied` (patched again) and one whose task is
        known to `located` (polled again): neither is copied twice. The rest return to
        `pending`: Learn refused their copy or never got it. `needs_review` stays a person's.
        """
        now = _iso(self._clock())
        reopened: list[tuple[LedgerRow, str]] = []
        with self._transaction() as db:
            failed = db.execute("SELECT * FROM rows WHERE in_manifest = 1 AND state = ?"
                                " ORDER BY line", (State.FAILED,)).fetchall()
            for record in failed:
                to = (State.COPIED if record["course_pk"] else
                      State.LOCATED if record["task_location"] else State.PENDING)
                detail = f"retry of a failed row (was: {record['error']})"
                updated = db.execute(
                    "UPDATE rows SET state = ?, error = NULL, completed_at = NULL,"
                    " updated_at = ? WHERE target_course_id = ? RETURNING *",
                    (to, now, record["target_course_id"])).fetchone()
                self._event(db, record["target_course_id"], State.FAILED, to, detail, now)
                reopened.append((self._row(updated), detail))
        for row, detail in reopened:
            self._latest[row.target_course_id] = row
            if self.observer is not None:
                self.observer(row, State.FAILED.value, detail)
        return [row for row, _ in reopened]

    def _transition(self, target: str, allowed: tuple[State, ...], to: State, detail: str,
                    *, attempts_increment: bool = False, durable: bool = False,
                    **fields: Any) -> None:
        now = _iso(self._clock())
        assignments = ["state = ?", "updated_at = ?"]
        values: list[Any] = [to, now]
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            values.append(value)
        if attempts_increment:
            assignments.append("attempts = attempts + 1")
        marks = ",".join("?" * len(allowed))
        if self.before_transition is not None:
            self.before_transition(target, to)
        with self._transaction(durable=durable) as db:
            found = db.execute(
                "SELECT state FROM rows WHERE target_course_id = ?", (target,)).fetchone()
            if found is None or State(found["state"]) not in allowed:
                raise LedgerError(
                    f"ledger refused {target}: {found['state'] if found else 'missing'} -> {to}")
            updated = db.execute(
                f"UPDATE rows SET {', '.join(assignments)} WHERE target_course_id = ?"
                f" AND state IN ({marks}) RETURNING *", (*values, target, *allowed)).fetchall()
            self._write_answers(db, target, found["state"])
            self._event(db, target, found["state"], to, detail, now)
        row = self._latest[target] = self._row(updated[0])
        if self.observer is not None:
            self.observer(row, found["state"], detail)

    @staticmethod
    def _event(db: sqlite3.Connection, target: str, frm: str | None, to: str,
               detail: str | None, at: str | None) -> None:
        db.execute("INSERT INTO events (target_course_id, at, from_state, to_state, detail)"
                   " VALUES (?,?,?,?,?)", (target, at, frm, to, detail))

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
