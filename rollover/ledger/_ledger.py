"""The ledger: one row per manifest course, moved through a state machine, and the reads of it.

States, in order::

    pending -> intent -> located -> copied -> patched -> done
                  \\          \\          \\
                   +----------+----------+--> failed | needs_review

Each transition is one short transaction, committed before the tool acts on it: the intent before
the copy POST, the task Location before the first poll, the new course's id before the PATCH.
That order is what lets a re-run after ``kill -9`` finish the job without copying anything twice.
An adopted copy (its end never seen) also records its `Proof` as it goes: due, counted (its
content is all there: enrolled, read back a settle later), proven.
`events` keeps every transition and `answers` every HTTP status Learn gave about a row (no
secrets, no bodies).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from rollover.errors import LedgerError, LedgerUnwritable
from rollover.manifest import Enrolment
from rollover.plan import DEFAULT_PROFILE, RowSpec
from rollover.times import utc_now

from ._changes import ADDED, MANIFEST_CHANGED, manifest_change, retried_state
from ._file import open_database, read_database, transaction
from ._rows import (
    TERMINAL,
    Answer,
    EnrolmentRecord,
    EnrolmentState,
    ErrorKind,
    LedgerRow,
    Proof,
    QuotaSeen,
    Resolution,
    State,
    Transition,
)

Observer = Callable[[LedgerRow, str | None, str | None], None]
_NOT_FINAL = tuple(state for state in State if state not in TERMINAL)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _spec_json(spec: RowSpec) -> str:
    """A spec's stored form (unchanged since schema 1: {"patch", "profile"[, "copy"]})."""
    stored: dict[str, Any] = {"patch": dict(spec.patch), "profile": spec.profile}
    if spec.copy is not None:
        stored["copy"] = spec.copy
    if spec.instructors:
        stored["instructors"] = [[e.user_id, e.role] for e in spec.instructors]
    return json.dumps(stored, sort_keys=True)


class Ledger:
    """The record of a rollover, and the state machine that moves its rows."""

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

    # -- quota -------------------------------------------------------------------------------

    def record_quota(self, remaining: int, limit: int | None) -> None:
        """Remember Learn's remaining quota, so `status` can show it between runs."""
        seen = json.dumps({"remaining": remaining, "limit": limit, "at": _iso(self._clock())})
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
        return [self._row(record) for record in cursor]

    def row(self, target_course_id: str) -> LedgerRow:
        """One row by its target courseId."""
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
        return self._row(record) if record is not None else None

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
        return _parse(found["at"]) if found else None

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

    @staticmethod
    def _row(record: sqlite3.Row) -> LedgerRow:
        stored = json.loads(record["spec"])
        spec = RowSpec(
            target_course_id=record["target_course_id"],
            line=record["line"],
            source_course_id=record["source_course_id"],
            copy_into_existing=bool(record["copy_into_existing"]),
            patch=stored.get("patch") or {},
            profile=stored.get("profile") or DEFAULT_PROFILE,
            copy=stored.get("copy"),
            instructors=tuple(
                Enrolment(user, role) for user, role in stored.get("instructors", [])
            ),
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
            intent_at=_parse(record["intent_at"]),
            requested_at=_parse(record["requested_at"]),
            copied_at=_parse(record["copied_at"]),
            completed_at=_parse(record["completed_at"]),
            resolution=Resolution(record["resolution"]) if record["resolution"] else None,
            resolved_at=_parse(record["resolved_at"]),
            course_url=record["course_url"],
            shell_contents=record["shell_contents"],
            shell_columns=record["shell_columns"],
            verification=record["verification"],
            enrolled=record["enrolled"],
            settle_until=_parse(record["settle_until"]),
            copied_into=record["copied_into"],
            intent_site_at=_parse(record["intent_site_at"]),
            proof=Proof(record["proof"]) if record["proof"] else None,
        )

    # -- manifest ----------------------------------------------------------------------------

    def sync_manifest(self, specs: Sequence[RowSpec]) -> None:
        """Add new rows and refresh known ones, in one transaction (`manifest_change` decides).

        Refuses (LedgerError, nothing changed) when a row's source changed after its copy was
        requested: copying again would give the target two copies.
        """
        refusals: list[str] = []
        changed: list[tuple[str, State]] = []
        now = _iso(self._clock())
        self._latest.clear()
        with self._writing() as db:
            db.execute("UPDATE rows SET in_manifest = 0")
            for spec in specs:
                record = db.execute(
                    "SELECT * FROM rows WHERE target_course_id = ?", (spec.target_course_id,)
                ).fetchone()
                known = self._row(record) if record is not None else None
                change = manifest_change(known, spec)
                if known is None:
                    db.execute(
                        "INSERT INTO rows (target_course_id, line, source_course_id,"
                        " copy_into_existing, spec, state, updated_at) VALUES (?,?,?,?,?,?,?)",
                        (
                            spec.target_course_id,
                            spec.line,
                            spec.source_course_id,
                            int(spec.copy_into_existing),
                            _spec_json(spec),
                            change.to,
                            now,
                        ),
                    )
                    self._event(db, spec.target_course_id, None, change.to, ADDED, now)
                    self._sync_enrolments(db, spec, now)
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
                    (
                        spec.line,
                        spec.source_course_id,
                        int(spec.copy_into_existing),
                        _spec_json(spec),
                        change.to,
                        now,
                        moved,
                        moved,
                        spec.target_course_id,
                    ),
                )
                self._sync_enrolments(db, spec, now)
                if moved:
                    self._event(
                        db, spec.target_course_id, known.state, change.to, MANIFEST_CHANGED, now
                    )
                    changed.append((spec.target_course_id, known.state))
            if refusals:
                raise LedgerError(
                    "the manifest changed the source of courses already copied:\n  "
                    + "\n  ".join(refusals),
                    hint="nothing was sent to Learn; fix those lines and run again",
                )
        if self.observer is not None:
            for target, state in changed:
                self.observer(self.row(target), state.value, MANIFEST_CHANGED)

    @staticmethod
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
        Ledger._count_enrolled(db, target)

    @staticmethod
    def _count_enrolled(db: sqlite3.Connection, target: str) -> None:
        db.execute(
            "UPDATE rows SET enrolled = (SELECT count(*) FROM enrolments WHERE"
            " enrolments.target_course_id = rows.target_course_id AND state = ?)"
            " WHERE target_course_id = ?",
            (EnrolmentState.DONE, target),
        )

    def enrolments(self, target: str) -> list[EnrolmentRecord]:
        """The row's instructors and where each enrolment is, as the manifest lists them."""
        row = self.row(target)
        order = {e.user_id: n for n, e in enumerate(row.spec.instructors)}
        records = [
            EnrolmentRecord(
                r["user_id"], r["role"], EnrolmentState(r["state"]), r["error"], r["updated_at"]
            )
            for r in self._db.execute(
                "SELECT * FROM enrolments WHERE target_course_id = ?", (target,)
            )
            if r["user_id"] in order
        ]
        return sorted(records, key=lambda record: order[record.user_id])

    def record_enrolment(
        self, target: str, user_id: str, state: EnrolmentState, error: str | None = None
    ) -> None:
        """Commit where one enrolment is: `sending` before the PUT, `done` or `failed` after."""
        with self._writing() as db:
            db.execute(
                "UPDATE enrolments SET state = ?, error = ?, updated_at = ?"
                " WHERE target_course_id = ? AND user_id = ?",
                (state, error, _iso(self._clock()), target, user_id),
            )
            self._count_enrolled(db, target)
            found = db.execute(
                "SELECT * FROM rows WHERE target_course_id = ?", (target,)
            ).fetchone()
            self._write_answers(db, target, found["state"])
        self._latest[target] = self._row(found)

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
                (source, contents, columns, _iso(self._clock())),
            )

    def retry_failed(self) -> list[LedgerRow]:
        """Re-open the manifest's failed rows as they are (`retried_state` says where to)."""
        now = _iso(self._clock())
        reopened: list[tuple[LedgerRow, str]] = []
        with self._writing() as db:
            failed = db.execute(
                "SELECT * FROM rows WHERE in_manifest = 1 AND state = ? ORDER BY line",
                (State.FAILED,),
            ).fetchall()
            for record in failed:
                to = retried_state(self._row(record))
                detail = f"retry of a failed row (was: {record['error']})"
                updated = db.execute(
                    "UPDATE rows SET state = ?, error = NULL, error_kind = NULL,"
                    " completed_at = NULL, updated_at = ? WHERE target_course_id = ? RETURNING *",
                    (to, now, record["target_course_id"]),
                ).fetchone()
                self._event(db, record["target_course_id"], State.FAILED, to, detail, now)
                db.execute(
                    "UPDATE enrolments SET state = ?, error = NULL WHERE target_course_id = ?"
                    " AND state = ?",
                    (EnrolmentState.PENDING, record["target_course_id"], EnrolmentState.FAILED),
                )
                reopened.append((self._row(updated), detail))
        for row, detail in reopened:
            self._latest[row.target_course_id] = row
            if self.observer is not None:
                self.observer(row, State.FAILED.value, detail)
        return [row for row, _ in reopened]

    # -- transitions -------------------------------------------------------------------------

    def note_answer(self, target: str, endpoint: str, status: int) -> None:
        """Remember an HTTP answer Learn gave about a row, for its audit trail (no bodies)."""
        self._answers.setdefault(target, []).append((_iso(self._clock()) or "", endpoint, status))

    def record_target_pk(
        self,
        target: str,
        target_pk: str,
        *,
        contents: int | None = None,
        columns: int | None = None,
    ) -> None:
        """Remember the primary id of an existing course that content is copied into, and
        what it held before the copy (for verification)."""
        held = "" if contents is None else f" (holding {contents} content items)"
        self._transition(
            target,
            (State.PENDING,),
            State.PENDING,
            f"target resolved{held}",
            target_pk=target_pk,
            shell_contents=contents,
            shell_columns=columns,
        )

    def record_intent(self, target: str, *, site_at: datetime | None = None) -> datetime:
        """Commit that a copy is about to be requested; must precede the POST. `site_at` is
        the same moment on Learn's clock, when an answer has told it."""
        now = self._clock()
        # Synced to disk, with every commit before it: a power cut after the POST must not
        # leave a ledger that would POST again. Later writes may be lost to a power cut, and
        # reconciliation from `intent` handles that, never by copying twice.
        self._transition(
            target,
            (State.PENDING,),
            State.INTENT,
            "copy requested",
            intent_at=_iso(now),
            intent_site_at=_iso(site_at),
            attempts_increment=True,
            durable=True,
        )
        return now

    def record_intent_site_time(self, target: str, site_at: datetime) -> None:
        """Keep the intent's time on Learn's clock, learnt from an answer after the intent (no
        answer had told Learn's clock when the intent was committed)."""
        self._transition(
            target,
            (State.INTENT,),
            State.INTENT,
            f"the copy was requested at {_iso(site_at)} on Learn's clock",
            intent_site_at=_iso(site_at),
        )

    def record_not_sent(self, target: str, reason: str) -> None:
        """The copy provably did not happen (rejected, or absent on reconciliation)."""
        self._transition(target, (State.INTENT,), State.PENDING, reason)

    def record_location(self, target: str, location: str) -> None:
        """Commit the task Location Learn returned; must precede the first poll. Learn took
        the copy: a shell it goes into holds this row's own copy from now on."""
        self._transition(
            target,
            (State.INTENT,),
            State.LOCATED,
            location,
            task_location=location,
            requested_at=_iso(self._clock()),
            **self._into_shell(target),
        )

    def record_copied(
        self,
        target: str,
        course_pk: str,
        *,
        adopted: bool = False,
        detail: str = "copy complete",
        warning: str | None = None,
    ) -> None:
        """Commit the new course's primary id once its copy is complete (or adopted).

        `warning` keeps what Learn said of an unclean end (CompleteWithErrors), so the row is
        handed to a person after its PATCH. An adopted copy without one has not been seen to
        end: its proof is due.
        """
        self._transition(
            target,
            (State.INTENT, State.LOCATED),
            State.COPIED,
            detail,
            course_pk=course_pk,
            adopted=int(adopted),
            proof=Proof.DUE if adopted and not warning else None,
            error=warning,
            error_kind=ErrorKind.COPY_UNCLEAN if warning else None,
            copied_at=_iso(self._clock()),
        )

    def record_settle(self, target: str, until: datetime) -> None:
        """Commit until when an adopted copy is left to finish before its PATCH (so `status`
        and the progress line can say why the row waits, and until when)."""
        self._transition(
            target,
            (State.COPIED,),
            State.COPIED,
            f"waiting for --adopt-settle until {_iso(until)}: the copy's end cannot be seen",
            settle_until=_iso(until),
        )

    def record_patched(self, target: str, *, course_url: str | None = None) -> None:
        """Commit that Learn accepted the PATCH (and the course's address, as it reported it).
        An adopted copy being proven keeps the time of its read-back."""
        row = self.row(target)
        self._transition(
            target,
            (State.COPIED,),
            State.PATCHED,
            "patched",
            course_url=course_url,
            settle_until=_iso(row.settle_until) if row.proof is Proof.COUNTED else None,
        )

    def record_counted(self, target: str, detail: str, *, read_back_at: datetime) -> None:
        """Commit that an adopted copy's course holds all of its source's content (or that what
        a read-back found overwritten was written again): it is enrolled from now on and read
        back at `read_back_at`, when the copy can no longer be writing."""
        state = self.row(target).state
        self._transition(
            target,
            (State.COPIED, State.PATCHED),
            state,
            f"{detail}; read back at {_iso(read_back_at)}",
            proof=Proof.COUNTED,
            settle_until=_iso(read_back_at),
        )

    def record_proven(self, target: str, detail: str) -> None:
        """Commit that an adopted copy's course, read back, shows the row's values and members
        (a row with nothing to PATCH is still `copied` then)."""
        state = self.row(target).state
        self._transition(
            target,
            (State.COPIED, State.PATCHED),
            state,
            detail,
            proof=Proof.PROVEN,
            settle_until=None,
        )

    def record_done(
        self, target: str, note: str | None = None, *, verification: str | None = None
    ) -> None:
        """Finish a row (with what its verification counted, if it was verified)."""
        fields: dict[str, Any] = {"verification": verification} if verification else {}
        self._transition(
            target,
            (State.COPIED, State.PATCHED),
            State.DONE,
            note or ("done" if verification is None else f"done; verified: {verification}"),
            completed_at=_iso(self._clock()),
            error=None,
            error_kind=None,
            **fields,
        )

    def record_failed(self, target: str, kind: ErrorKind, error: str) -> None:
        """A permanent error for this row, of `kind`; Learn's message goes in `error`."""
        self._transition(
            target,
            _NOT_FINAL,
            State.FAILED,
            error,
            error=error,
            error_kind=kind,
            completed_at=_iso(self._clock()),
        )

    def record_needs_review(
        self, target: str, kind: ErrorKind, error: str, *, verification: str | None = None
    ) -> None:
        """The outcome is uncertain; a person must look. The tool will not guess."""
        fields: dict[str, Any] = {"verification": verification} if verification else {}
        self._transition(
            target,
            _NOT_FINAL,
            State.NEEDS_REVIEW,
            error,
            error=error,
            error_kind=kind,
            completed_at=_iso(self._clock()),
            **fields,
        )

    def resolve(self, target: str, resolution: Resolution) -> LedgerRow:
        """Record a person's decision about a `needs_review` row, with its time.

        COPIED: the row goes on as a copied course (found by its courseId if its primary id is
        not known), to be patched and finished. NOT_COPIED: the row is requested again, the
        only way a row is ever copied a second time. Refused for any other state.
        """
        row = self.row(target)
        if row.state is not State.NEEDS_REVIEW:
            raise LedgerError(
                f"line {row.line} {target} is {row.state.status}, not needs_review: only a row "
                "the tool handed to a person can be resolved",
                hint="`rollover status MANIFEST` lists the rows that need a person",
            )
        now = _iso(self._clock())
        common: dict[str, Any] = {
            "error": None,
            "error_kind": None,
            "completed_at": None,
            "adopted": 0,
            "proof": None,
            "resolution": resolution.value,
            "resolved_at": now,
        }
        if resolution is Resolution.COPIED:
            self._transition(
                target,
                (State.NEEDS_REVIEW,),
                State.COPIED,
                "resolved by a person: the copy is in Learn",
                **common,
                **self._into_shell(target),
            )
        else:
            self._transition(
                target,
                (State.NEEDS_REVIEW,),
                State.PENDING,
                "resolved by a person: not copied; the next run requests it again",
                task_location=None,
                course_pk=None,
                intent_at=None,
                requested_at=None,
                copied_at=None,
                **common,
            )
        return self.row(target)

    def _into_shell(self, target: str) -> dict[str, Any]:
        """`copied_into` for a row whose copy is now known to be in its shell ({} for a copy
        into a new course): the fact `shell_must_be_empty` decides from."""
        row = self.row(target)
        if row.copy_into_existing and row.target_pk is not None:
            return {"copied_into": row.target_pk}
        return {}

    def record_course_found(self, target: str, course_pk: str) -> None:
        """Commit the primary id of a course a person said was copied, found by its courseId."""
        self._transition(
            target,
            (State.COPIED,),
            State.COPIED,
            "course found by its courseId",
            course_pk=course_pk,
        )

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
            self._event(db, target, found["state"], to, detail, now)
        row = self._latest[target] = self._row(updated[0])
        if self.observer is not None:
            self.observer(row, found["state"], detail)

    def _write_answers(self, db: sqlite3.Connection, target: str, state: str) -> None:
        answers = self._answers.pop(target, [])
        if answers:
            db.executemany(
                "INSERT INTO answers (target_course_id, at, state, endpoint, status)"
                " VALUES (?,?,?,?,?)",
                [(target, at, state, endpoint, status) for at, endpoint, status in answers],
            )

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        target: str,
        frm: str | None,
        to: str,
        detail: str | None,
        at: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO events (target_course_id, at, from_state, to_state, detail)"
            " VALUES (?,?,?,?,?)",
            (target, at, frm, to, detail),
        )
