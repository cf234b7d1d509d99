"""The ledger's SQLite file: its schema, the checks made on opening it, and its migrations.

Every SQL statement of the tool is in this package. A ledger written by an older rollover is
migrated in one transaction when it is opened, so a rollover half done by the previous version
resumes; one written by a newer rollover is refused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from rollover.errors import LedgerError

SCHEMA_VERSION = 2

_TABLES = """
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

# Schema 1 -> 2: a row's error gets its kind (status advice is chosen from it, not from the
# error's words), a needs_review row can carry a person's decision (`rollover resolve`), rows
# get their instructors' enrolments, their shell's counts and their verification, sources their
# counts (fetched once), and
# Learn's HTTP answers get their own table instead of self-transitions in `events` whose detail
# read "HTTP 202 POST /v2/courses/{id}/copy".
_TO_2_TABLES = """
ALTER TABLE rows ADD COLUMN error_kind TEXT;
ALTER TABLE rows ADD COLUMN resolution TEXT;
ALTER TABLE rows ADD COLUMN resolved_at TEXT;
ALTER TABLE rows ADD COLUMN course_url TEXT;
ALTER TABLE rows ADD COLUMN shell_contents INTEGER;
ALTER TABLE rows ADD COLUMN shell_columns INTEGER;
ALTER TABLE rows ADD COLUMN verification TEXT;
ALTER TABLE rows ADD COLUMN enrolled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rows ADD COLUMN settle_until TEXT;
CREATE TABLE enrolments (
    target_course_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (target_course_id, user_id)
);
CREATE TABLE source_counts (
    source_course_id TEXT PRIMARY KEY,
    contents INTEGER NOT NULL,
    columns INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_course_id TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX answers_by_row ON answers (target_course_id, id);
CREATE INDEX events_by_row ON events (target_course_id, id);
"""
_TO_2_DATA = """
INSERT INTO answers (target_course_id, at, state, endpoint, status)
    SELECT target_course_id, at, to_state, substr(detail, 10), CAST(substr(detail, 6, 3) AS INTEGER)
    FROM events WHERE from_state = to_state AND detail GLOB 'HTTP [0-9][0-9][0-9] *'
    ORDER BY id;
DELETE FROM events WHERE from_state = to_state AND detail GLOB 'HTTP [0-9][0-9][0-9] *';
"""

# The kinds of errors written by schema 1, told apart once, here, by the words schema 1's
# engine wrote; from schema 2 on the engine writes the kind itself.
_KINDS_OF_SCHEMA_1 = (
    ("%may or may not have been applied%", "copy_maybe_applied"),
    ("%CompleteWithErrors%", "copy_unclean"),
    ("%Incomplete%", "copy_unclean"),
    ("%did not say when it was created%", "created_unknown"),
    ("%no course%exists%", "course_missing"),
    ("%already belongs to a course created%", "target_taken"),
    ("%Learn has no course%", "shell_missing"),
    ("%refused the PATCH%", "patch_refused"),
    ("%refused the copy%", "copy_refused"),
)

_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    """Each statement of `script` inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_to_2(db: sqlite3.Connection) -> None:
    _execute_all(db, _TO_2_TABLES)
    _execute_all(db, _TO_2_DATA)
    # Any row with an error, final or not: a copied row that kept Learn's CompleteWithErrors
    # warning is handed to a person after its PATCH, under that warning's kind.
    for pattern, kind in _KINDS_OF_SCHEMA_1:
        db.execute(
            "UPDATE rows SET error_kind = ? WHERE error_kind IS NULL AND error LIKE ?",
            (kind, pattern),
        )
    db.execute(
        "UPDATE rows SET error_kind = CASE state WHEN 'failed' THEN 'request_refused'"
        " ELSE 'uncertain' END WHERE error_kind IS NULL"
        " AND state IN ('failed', 'needs_review')"
    )


_MIGRATIONS[2] = _migrate_to_2


def open_database(path: Path, *, trace: Callable[[str], None] | None = None) -> sqlite3.Connection:
    """Open (or create) the ledger at `path`, checked and migrated to this schema; `trace` is
    told every SQL statement sent, from the first."""
    if not path.exists():
        if not path.parent.is_dir():
            raise LedgerError(
                f"the folder of the ledger {path} does not exist",
                hint="create it, or pass --ledger with a path in a folder that "
                "exists (no folder is created silently: a typo in the path "
                "would start a new ledger and lose the record of copies)",
            )
        # Owner-only from the first byte: the ledger is an audit record of an admin's work.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise LedgerError(
            f"cannot open the ledger {path} ({exc})",
            hint="check the path and its permissions, or pass --ledger",
        ) from exc
    try:
        db.set_trace_callback(trace)
        db.row_factory = sqlite3.Row
        _refuse_foreign_or_damaged(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives any crash of this process; only a power cut can lose
        # the last commits. The one write that must outlive a power cut too, the intent
        # before a copy POST, is committed FULL (see `Ledger.record_intent`).
        db.execute("PRAGMA synchronous=NORMAL")
        _create_or_migrate(db, path)
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


def _create_or_migrate(db: sqlite3.Connection, path: Path) -> None:
    """Create a new ledger's tables, or bring an older one up to SCHEMA_VERSION in one go."""
    with transaction(db):
        fresh = db.execute("SELECT name FROM sqlite_master WHERE name='rows'").fetchone() is None
        _execute_all(db, _TABLES)
        if fresh:
            _execute_all(db, _TO_2_TABLES)
            db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(found["value"]) if found else 1
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{path} was written by a newer rollover (schema {version})",
                hint="upgrade rollover, or use another --ledger",
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            _MIGRATIONS[step](db)
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )


def _refuse_foreign_or_damaged(db: sqlite3.Connection, path: Path) -> None:
    """Refuse another program's database (writing our tables into it would spoil it) and a
    ledger SQLite finds damaged, before anything is written."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and not {"meta", "rows", "events"} <= tables:
        raise LedgerError(
            f"{path} is an SQLite database but not a rollover ledger (its tables: "
            f"{', '.join(sorted(tables)[:5])})",
            hint="pass --ledger with a new path, or the ledger this manifest was run with",
        )
    problems = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        raise LedgerError(
            f"the ledger {path} is damaged: {'; '.join(problems)}",
            hint="keep the file, it records which copies were requested: restore it from a "
            "backup, or copy it aside and ask for help. A new ledger would not know those "
            "copies, and copies into existing courses could be made twice",
        )


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
    """One short write transaction; `durable` syncs it to disk (survives a power cut)."""
    if durable:
        db.execute("PRAGMA synchronous=FULL")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        if durable:
            db.execute("PRAGMA synchronous=NORMAL")
