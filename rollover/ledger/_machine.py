"""The row's state machine: each transition a row may make, and a person's decision.

States, in order::

    pending -> intent -> located -> copied -> patched -> done
                  \\          \\          \\
                   +----------+----------+--> failed | needs_review

Each transition is one short transaction, committed before the tool acts on it: the intent before
the copy POST, the task Location before the first poll, the new course's id before the PATCH.
That order is what lets a re-run after ``kill -9`` finish the job without copying anything twice.
An adopted copy (its end never seen) also records its `Proof` as it goes: due, counted (its
content is all there: enrolled, read back a settle later), proven.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rollover.errors import LedgerError

from ._changes import retried_state
from ._core import LedgerFile
from ._dates import reopen_failed_dates
from ._rows import TERMINAL, ErrorKind, LedgerRow, Proof, Resolution, State
from ._steps import reopen_failed_steps
from ._stored import add_event, iso, row_from

_NOT_FINAL = tuple(state for state in State if state not in TERMINAL)


class RowMachine(LedgerFile):
    """The transitions of the ledger's rows (see the module's diagram)."""

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
            intent_at=iso(now),
            intent_site_at=iso(site_at),
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
            f"the copy was requested at {iso(site_at)} on Learn's clock",
            intent_site_at=iso(site_at),
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
            requested_at=iso(self._clock()),
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
            copied_at=iso(self._clock()),
        )

    def record_settle(self, target: str, until: datetime) -> None:
        """Commit until when an adopted copy is left to finish before its PATCH (so `status`
        and the progress line can say why the row waits, and until when)."""
        self._transition(
            target,
            (State.COPIED,),
            State.COPIED,
            f"waiting for --adopt-settle until {iso(until)}: the copy's end cannot be seen",
            settle_until=iso(until),
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
            settle_until=iso(row.settle_until) if row.proof is Proof.COUNTED else None,
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
            f"{detail}; read back at {iso(read_back_at)}",
            proof=Proof.COUNTED,
            settle_until=iso(read_back_at),
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
            completed_at=iso(self._clock()),
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
            completed_at=iso(self._clock()),
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
            completed_at=iso(self._clock()),
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
        now = iso(self._clock())
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

    def record_shift_offset(self, target: str, days: int) -> None:
        """Commit the offset, in whole days, the row's dated items move by (its shift's `term`
        resolved), before the first of them is moved: every new date is computed from it."""
        state = self.row(target).state
        self._transition(
            target,
            _NOT_FINAL,
            state,
            f"dated items shift by {days:+d} days",
            shift_days=days,
        )

    def record_course_found(self, target: str, course_pk: str) -> None:
        """Commit the primary id of a course a person said was copied, found by its courseId."""
        self._transition(
            target,
            (State.COPIED,),
            State.COPIED,
            "course found by its courseId",
            course_pk=course_pk,
        )

    def retry_failed(self) -> list[LedgerRow]:
        """Re-open the manifest's failed rows as they are (`retried_state` says where to)."""
        now = iso(self._clock())
        reopened: list[tuple[LedgerRow, str]] = []
        with self._writing() as db:
            failed = db.execute(
                "SELECT * FROM rows WHERE in_manifest = 1 AND state = ? ORDER BY line",
                (State.FAILED,),
            ).fetchall()
            for record in failed:
                to = retried_state(row_from(record))
                detail = f"retry of a failed row (was: {record['error']})"
                updated = db.execute(
                    "UPDATE rows SET state = ?, error = NULL, error_kind = NULL,"
                    " completed_at = NULL, updated_at = ? WHERE target_course_id = ? RETURNING *",
                    (to, now, record["target_course_id"]),
                ).fetchone()
                add_event(db, record["target_course_id"], State.FAILED, to, detail, now)
                reopen_failed_steps(db, record["target_course_id"])
                reopen_failed_dates(db, record["target_course_id"])
                reopened.append((row_from(updated), detail))
        for row, detail in reopened:
            self._latest[row.target_course_id] = row
            if self.observer is not None:
                self.observer(row, State.FAILED.value, detail)
        return [row for row, _ in reopened]
