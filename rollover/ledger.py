"""The SQLite ledger: one row per manifest course, moved through a state machine.

States, in order::

    pending -> intent -> located -> copied -> patched -> done
                  \\          \\          \\
                   +----------+----------+--> failed | needs_review

Each transition is one short transaction, committed before the tool acts on it: the intent before
the copy POST, the task Location before the first poll, the new course's id before the PATCH.
That order is what lets a re-run after ``kill -9`` finish the job without copying anything twice.
The `events` table is an append-only history of every transition (no secrets, no bodies).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from rollover.errors import LedgerError

SCHEMA_VERSION = 1


class State(StrEnum):
    """Where a row is in its journey from manifest line to finished course."""

    PENDING = "pending"
    INTENT = "intent"
    LOCATED = "located"
    COPIED = "copied"
    PATCHED = "patched"
    DONE = "done"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"


TERMINAL = frozenset({State.DONE, State.FAILED, State.NEEDS_REVIEW})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    target_course_id TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    in_manifest INTEGER NOT NULL DEFAULT 1,
    source_course_id TEXT NOT NULL,
    copy_into_existing INTEGER NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    target_pk TEXT,
    task_location TEXT,
    course_pk TEXT,
    adopted INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    intent_at TEXT,
    requested_at TEXT,
    copied_at TEXT,
    completed_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_by_line ON rows (in_manifest, line);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_course_id TEXT NOT NULL,
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    detail TEXT
);
"""


@dataclass(frozen=True)
class RowSpec:
    """What the manifest asks for one target course, as the ledger keeps it."""

    target_course_id: str
    line: int
    source_course_id: str
    copy_into_existing: bool
    spec: dict[str, Any]


@dataclass(frozen=True)
class LedgerRow:
    """One course as the ledger knows it."""

    target_course_id: str
    line: int
    source_course_id: str
    copy_into_existing: bool
    spec: dict[str, Any]
    state: State
    target_pk: str | None
    task_location: str | None
    course_pk: str | None
    adopted: bool
    error: str | None
    attempts: int
    intent_at: datetime | None
    requested_at: datetime | None
    copied_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class QuotaSeen:
    """Learn's API quota as last reported (X-Rate-Limit-Remaining and -Limit), and when."""

    remaining: int
    limit: int | None
    at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _refuse_foreign_or_damaged(db: sqlite3.Connection, path: Path) -> None:
    """Refuse another program's database (writing our tables into it would spoil it) and a
    ledger SQLite finds damaged, before anything is written."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and not {"meta", "rows", "events"} <= tables:
        raise LedgerError(
            f"{path} is an SQLite database but not a rollover ledger (its tables: "
            f"{', '.join(sorted(tables)[:5])})",
            hint="pass --ledger with a new path, or the ledger this manifest was run with")
    problems = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        raise LedgerError(
            f"the ledger {path} is damaged: {'; '.join(problems)}",
            hint="keep the file, it records which copies were requested: restore it from a "
                 "backup, or copy it aside and ask for help. A new ledger would not know those "
                 "copies, and copies into existing courses could be made twice")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Ledger:
    """The record of a rollover; the only place SQL is written."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._clock = clock
        self._lock_file: Any = None
        self._db = self._connect(path)
        self._latest: dict[str, LedgerRow] = {}
        self.observer: Callable[[LedgerRow, str | None, str | None], None] | None = None
        # Called with (target, new state) just before a transition is written: a seam for
        # crash-point tests and nothing else.
        self.before_transition: Callable[[str, State], None] | None = None
        # HTTP answers per row, written with the row's next transition (or at close), so the
        # audit trail has every status without a commit per call.
        self._answers: dict[str, list[tuple[str, str]]] = {}

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first byte: the ledger is an audit record of an admin's work.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger {path} ({exc})",
                              hint="check the path and its permissions, or pass --ledger") from exc
        try:
            db.row_factory = sqlite3.Row
            _refuse_foreign_or_damaged(db, path)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any crash of this process; only a power cut can lose
            # the last commits. The one write that must outlive a power cut too, the intent
            # before a copy POST, is committed FULL (see `record_intent`).
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if version is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(version["value"]) > SCHEMA_VERSION:
                raise LedgerError(
                    f"{path} was written by a newer rollover (schema {version['value']})",
                    hint="upgrade rollover, or use another --ledger",
                )
        except sqlite3.DatabaseError as exc:
            db.close()
            raise LedgerError(
                f"{path} is not a rollover ledger or is damaged ({exc})",
                hint="pass another --ledger; if this file is a ledger, keep it: it records "
                     "which copies were requested",
            ) from exc
        except LedgerError:
            db.close()
            raise
        return db

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
        self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def record_quota(self, remaining: int, limit: int | None) -> None:
        """Remember Learn's remaining quota, so `status` can show it between runs."""
        seen = json.dumps({"remaining": remaining, "limit": limit,
                           "at": _iso(self._clock())})
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('quota', ?)", (seen,))

    def last_quota(self) -> QuotaSeen | None:
        """The quota a run last saw, or None if no run has seen one."""
        row = self._db.execute("SELECT value FROM meta WHERE key='quota'").fetchone()
        if row is None:
            return None
        seen = json.loads(row["value"])
        return QuotaSeen(seen["remaining"], seen["limit"], datetime.fromisoformat(seen["at"]))

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

    # -- reads -------------------------------------------------------------------------------

    def rows(self, *, in_manifest_only: bool = True) -> list[LedgerRow]:
        """Rows in manifest order."""
        where = "WHERE in_manifest = 1" if in_manifest_only else ""
        cursor = self._db.execute(f"SELECT * FROM rows {where} ORDER BY line")
        return [self._row(record) for record in cursor]

    def row(self, target_course_id: str) -> LedgerRow:
        """One row by its target courseId."""
        # The run holds the ledger's lock and is its only writer, so a row this object last
        # wrote is the row on disk: the engine re-reads each row after every step.
        if target_course_id in self._latest:
            return self._latest[target_course_id]
        record = self._db.execute(
            "SELECT * FROM rows WHERE target_course_id = ?", (target_course_id,)
        ).fetchone()
        if record is None:
            raise KeyError(target_course_id)
        return self._row(record)

    def left_alone(self) -> list[LedgerRow]:
        """Rows the ledger keeps that the last synced manifest no longer lists."""
        cursor = self._db.execute("SELECT * FROM rows WHERE in_manifest = 0 ORDER BY line")
        return [self._row(record) for record in cursor]

    def find(self, ref: str) -> LedgerRow | None:
        """A row by target courseId, else by manifest line (a row still listed first)."""
        record = self._db.execute(
            "SELECT * FROM rows WHERE target_course_id = ?", (ref,)).fetchone()
        if record is None and ref.isdigit():
            record = self._db.execute(
                "SELECT * FROM rows WHERE line = ? ORDER BY in_manifest DESC LIMIT 1",
                (int(ref),)).fetchone()
        return self._row(record) if record is not None else None

    def history(self, target_course_id: str) -> list[tuple[str, str | None, str, str | None]]:
        """Every transition of a row: (at, from, to, detail)."""
        cursor = self._db.execute(
            "SELECT at, from_state, to_state, detail FROM events WHERE target_course_id = ?"
            " ORDER BY id", (target_course_id,))
        return [(r["at"], r["from_state"], r["to_state"], r["detail"]) for r in cursor]

    @staticmethod
    def _row(record: sqlite3.Row) -> LedgerRow:
        return LedgerRow(
            target_course_id=record["target_course_id"],
            line=record["line"],
            source_course_id=record["source_course_id"],
            copy_into_existing=bool(record["copy_into_existing"]),
            spec=json.loads(record["spec"]),
            state=State(record["state"]),
            target_pk=record["target_pk"],
            task_location=record["task_location"],
            course_pk=record["course_pk"],
            adopted=bool(record["adopted"]),
            error=record["error"],
            attempts=record["attempts"],
            intent_at=_parse(record["intent_at"]),
            requested_at=_parse(record["requested_at"]),
            copied_at=_parse(record["copied_at"]),
            completed_at=_parse(record["completed_at"]),
        )

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

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Ledger]:
        """A consistent read view for reports while another process writes."""
        self._db.execute("BEGIN")
        try:
            yield self
        finally:
            self._db.execute("COMMIT")
