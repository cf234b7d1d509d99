"""The ledger file open for a run or a read: its ownership (the run lock, the Learn site it
belongs to), its write transaction, and the one primitive every state change goes through.

A transition is one short transaction, committed before the tool acts on it; it also writes the
HTTP answers Learn gave about the row since its last one, and a step of the row's history.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from rollover.errors import LedgerError, LedgerUnwritable
from rollover.times import utc_now

from ._file import open_database, read_database, transaction
from ._rows import LedgerRow, State
from ._stored import add_answers, add_event, iso, row_from

Observer = Callable[[LedgerRow, str | None, str | None], None]


class LedgerFile:
    """An open ledger: who owns it, how it is written, and how a row changes state."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        read_only: bool = False,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        """Open (or create) the ledger at `path`; `read_only` for commands that only read it:
        it must exist, and is never migrated or written. `trace`, if given, is told every SQL
        statement the ledger sends (a seam for tests of what is committed, and how durably)."""
        self.path = path
        self.read_only = read_only
        self._clock = clock
        self._db = read_database(path) if read_only else open_database(path, trace=trace)
        self._lock_file: Any = None
        # The run holds the lock and is the only writer, so a row this object last wrote is the
        # row on disk: the engine re-reads each row after every step without a query.
        self._latest: dict[str, LedgerRow] = {}
        self.observer: Observer | None = None
        # Called with (target, new state) just before a transition is written: a seam for
        # crash-point tests and nothing else.
        self.before_transition: Callable[[str, State], None] | None = None
        # Called before every write transaction: a seam for tests of a disk that fills up.
        self.before_write: Callable[[], None] | None = None
        # HTTP answers per row, written with the row's next transition (or at close), so the
        # audit trail has every status without a commit per call.
        self._answers: dict[str, list[tuple[str, str, int]]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _writing(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; a disk that is full or a file that cannot be written ends in
        LedgerUnwritable (exit 3), never a traceback. The transaction is rolled back, so the
        row stays as the ledger last recorded it."""
        if self.read_only:
            # A bug, said plainly: an old ledger is read from a copy migrated in memory, where
            # a write would vanish without a word.
            raise LedgerError(f"{self.path} was opened to be read, not written")
        try:
            if self.before_write is not None:
                self.before_write()
            with transaction(self._db, durable=durable) as db:
                yield db
        except (sqlite3.OperationalError, OSError) as exc:
            raise LedgerUnwritable(self.path, exc) from exc

    def close(self) -> None:
        """Write the answers not yet written, close the database, release the run lock."""
        try:
            if self._answers:
                with self._writing() as db:
                    for target in list(self._answers):
                        found = db.execute(
                            "SELECT state FROM rows WHERE target_course_id = ?", (target,)
                        ).fetchone()
                        if found is None:
                            self._answers.pop(target)
                        else:
                            self._write_answers(db, target, found["state"])
        finally:
            self._db.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # -- ownership ---------------------------------------------------------------------------

    def acquire_run_lock(self) -> None:
        """Take the one-run-per-ledger lock; a lock of a dead process is released by the OS."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LedgerError(
                f"another rollover run is using {self.path}",
                hint="wait for it to finish (see `rollover status`), then run again",
            ) from None
        self._lock_file = handle

    def bound_site(self) -> str | None:
        """The Learn site this ledger belongs to, or None while no site has answered it."""
        row = self._db.execute("SELECT value FROM meta WHERE key='site'").fetchone()
        return None if row is None else str(row["value"])

    def check_site(self, site: str) -> None:
        """Refuse a ledger that belongs to another site (nothing is written)."""
        bound = self.bound_site()
        if bound is not None and bound != site:
            # The intent is committed before any copy, and every other change follows a copy.
            intended = self._db.execute(
                "SELECT 1 FROM events WHERE to_state = ? LIMIT 1", (State.INTENT,)
            ).fetchone()
            raise LedgerError(
                f"{self.path} records a rollover against {bound}, not {site}",
                hint="pass the --ledger of this site, or --base-url of the ledger's site"
                if intended
                else f"no copy was ever requested from this ledger: if {site} is the right "
                f"site, {self.path} is safe to delete (then run the same command again); "
                "else pass --base-url of the ledger's site",
            )

    def bind_site(self, site: str) -> None:
        """Bind this ledger to the site that answered it; refuse a ledger of another site."""
        self.check_site(site)
        with self._writing() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('site', ?)", (site,))

    def row(self, target_course_id: str) -> LedgerRow:
        """One row by its target courseId."""
        if target_course_id in self._latest:
            return self._latest[target_course_id]
        record = self._db.execute(
            "SELECT * FROM rows WHERE target_course_id = ?", (target_course_id,)
        ).fetchone()
        if record is None:
            raise KeyError(target_course_id)
        return row_from(record)

    def note_answer(self, target: str, endpoint: str, status: int) -> None:
        """Remember an HTTP answer Learn gave about a row, for its audit trail (no bodies)."""
        self._answers.setdefault(target, []).append((iso(self._clock()) or "", endpoint, status))

    def _transition(
        self,
        target: str,
        allowed: tuple[State, ...],
        to: State,
        detail: str,
        *,
        attempts_increment: bool = False,
        durable: bool = False,
        **fields: Any,
    ) -> None:
        now = iso(self._clock())
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
        with self._writing(durable=durable) as db:
            found = db.execute(
                "SELECT state FROM rows WHERE target_course_id = ?", (target,)
            ).fetchone()
            if found is None or State(found["state"]) not in allowed:
                raise LedgerError(
                    f"ledger refused {target}: {found['state'] if found else 'missing'} -> {to}"
                )
            updated = db.execute(
                f"UPDATE rows SET {', '.join(assignments)} WHERE target_course_id = ?"
                f" AND state IN ({marks}) RETURNING *",
                (*values, target, *allowed),
            ).fetchall()
            self._write_answers(db, target, found["state"])
            add_event(db, target, found["state"], to, detail, now)
        row = self._latest[target] = row_from(updated[0])
        if self.observer is not None:
            self.observer(row, found["state"], detail)

    def _write_answers(self, db: sqlite3.Connection, target: str, state: str) -> None:
        """The answers about `target` not yet written, kept with the row's `state`."""
        answers = self._answers.pop(target, [])
        if answers:
            add_answers(db, target, state, answers)
