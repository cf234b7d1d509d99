"""The ledger's SQLite file: opening it (created, or migrated by `_schema`), the checks made on
opening it, and its write transaction.

Every SQL statement of the tool is in this package. Commands that only read (status, report,
validate) open it read-only: never created, migrated or written, and read while a run writes it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from rollover.errors import LedgerError

from ._schema import SCHEMA_VERSION, create_or_migrate, stored_version


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
        raise _damaged(path, exc) from exc
    except LedgerError:
        db.close()
        raise
    return db


def read_database(path: Path) -> sqlite3.Connection:
    """Open the ledger at `path` to read it only: never created, migrated or written, and read
    while a run writes it (WAL lets readers in beside the one writer).

    A ledger of an older schema is read as this version sees it: copied into memory and
    migrated there, leaving the file for the next run to migrate.
    """
    try:
        db = _connect_read_only(path)
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from exc
    try:
        db.row_factory = sqlite3.Row
        _refuse_foreign_or_damaged(db, path)
        if stored_version(db) != SCHEMA_VERSION:
            memory = sqlite3.connect(":memory:", isolation_level=None)
            db.backup(memory)
            db.close()
            db = memory
            db.row_factory = sqlite3.Row
            _create_or_migrate(db, path)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise _unreadable(path, exc) from exc
    except LedgerError:
        db.close()
        raise
    return db


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> LedgerError:
    """What keeps the ledger from being read: the file or its folder (permissions, a lock held
    past the timeout), or its contents."""
    if isinstance(exc, sqlite3.OperationalError):
        return LedgerError(
            f"cannot read the ledger {path} ({exc})",
            hint="check that the file and its folder may be read, then run the same command "
            "again; the ledger itself is not changed",
        )
    return _damaged(path, exc)


def _damaged(path: Path, exc: sqlite3.DatabaseError) -> LedgerError:
    """The error for a file SQLite cannot read as a ledger."""
    return LedgerError(
        f"{path} is not a rollover ledger or is damaged ({exc})",
        hint="pass another --ledger; if this file is a ledger, keep it: it records "
        "which copies were requested",
    )


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to `path`, tried by a first read.

    SQLite reads a WAL ledger through its `-shm` file, which it creates beside the ledger. In a
    folder that cannot be written, a ledger without a `-wal` file (no run has it open, and none
    can: a run could not create its journal there) is read as immutable instead.
    """
    uri = path.absolute().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db.close()
        wal = path.with_name(path.name + "-wal")
        if os.access(path.parent, os.W_OK) or wal.exists():
            raise
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


def _create_or_migrate(db: sqlite3.Connection, path: Path) -> None:
    """Create a new ledger's tables, or bring an older one up to this schema, in one
    transaction."""
    with transaction(db):
        create_or_migrate(db, path)


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
