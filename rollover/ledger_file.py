"""The ledger's SQLite file: its schema, the checks made on opening it, and the reads.

What a row is (`State`, `RowSpec`, `LedgerRow`) and how it is stored live here, with the queries
`status` and reports make. The state machine that moves rows is `rollover.ledger.Ledger`, built
on `LedgerFile`; it is the one writer of transitions.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

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


class LedgerFile:
    """A ledger file, opened and checked, and the reads `status` and reports make of it."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime]) -> None:
        self.path = path
        self._clock = clock
        self._db = self._connect(path)
        self._latest: dict[str, LedgerRow] = {}

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
            # before a copy POST, is committed FULL (see `Ledger.record_intent`).
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

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- quota -------------------------------------------------------------------------------

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

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Self]:
        """A consistent read view for reports while another process writes."""
        self._db.execute("BEGIN")
        try:
            yield self
        finally:
            self._db.execute("COMMIT")
