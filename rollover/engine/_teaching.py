"""Teaching: the shell a copy goes into, the instructors enrolled, and what arrived counted.

A shell holding content is not copied into (Learn adds a copy to what a course holds); the
instructors are enrolled from 15% of the copy, each committed before and after; --verify counts
what the copy brought against its source.
"""

from __future__ import annotations

import asyncio

from rollover.errors import LearnAuthError, LearnError, LearnUnreachable
from rollover.learn import Call, LearnClient, Meaning, error_meaning, found, id_form
from rollover.ledger import (
    EnrolmentState,
    ErrorKind,
    Ledger,
    LedgerRow,
    Proof,
    shell_must_be_empty,
)
from rollover.plan import VerifiedCounts

from ._options import RunOptions


class Teaching:
    """Looks at shells, enrols instructors and counts what a copy brought."""

    def __init__(self, ledger: Ledger, client: LearnClient, options: RunOptions) -> None:
        self._ledger = ledger
        self._client = client
        self._options = options
        self._source_locks: dict[str, asyncio.Lock] = {}

    async def look_at_shell(self, row: LedgerRow) -> bool:
        """Find the shell a copy goes into and, unless it holds this row's own copy already
        (`shell_must_be_empty` decides), what it holds: Learn adds a copy to a course's
        content, so a shell holding content is not copied into (unless the run allows it).
        Looked at before every copy into it, so what arrived since an earlier look counts
        too. False when the row failed."""
        target = row.target_course_id
        shell = row.target_pk
        if shell is None:
            course = await found(self._client.get_course(id_form(target), "id,parentId"))
            if course is None:
                self._ledger.record_failed(
                    target,
                    ErrorKind.SHELL_MISSING,
                    f"copy_into_existing is true but Learn has no course {target}: create the "
                    "shell first, or set copy_into_existing to false",
                )
                return False
            shell = str(course["id"])
            if course.get("parentId"):
                self._ledger.record_failed(
                    target,
                    ErrorKind.SHELL_MERGED,
                    f"{target} is a section merged into another course ({course['parentId']}): "
                    "Learn manages a merged section's content from its parent, so it was not "
                    "copied into; copy into the parent instead, or separate the section in "
                    "Learn first",
                )
                return False
        if not shell_must_be_empty(row, shell):
            return True  # what it holds is this row's own copy: a person asked for another
        total, held = await self._client.content_counts(shell)
        verify_columns = self._options.verify and row.spec.verified.columns
        columns = await self._client.column_count(shell) if verify_columns else None
        if held and not self._options.allow_nonempty_shell:
            self._ledger.record_failed(
                target,
                ErrorKind.SHELL_NOT_EMPTY,
                f"{target} already holds {held} content item{'s' if held != 1 else ''} (empty "
                f"folders aside); a copy of {row.source_course_id} would be added to them, so "
                "it was not copied into. This ledger never copied into it: look at what it "
                "holds in Learn first (an earlier run's copy, made with another ledger, is "
                "never to be copied over again)",
            )
            return False
        self._ledger.record_target_pk(target, shell, contents=total, columns=columns)
        return True

    def enrolments_left(self, target: str) -> bool:
        """Whether any of the row's instructors is still to be enrolled."""
        return any(
            e.state in (EnrolmentState.PENDING, EnrolmentState.SENDING)
            for e in self._ledger.enrolments(target)
        )

    def enrol_again(self, row: LedgerRow) -> None:
        """A person said the copy was not made and it is requested again: the enrolments made
        into the course that copy was meant for are made again (Learn says 409 to those that
        are still there), so none is lost with a course that was deleted."""
        for enrolment in self._ledger.enrolments(row.target_course_id):
            if enrolment.state is EnrolmentState.DONE:
                self._ledger.record_enrolment(
                    row.target_course_id, enrolment.user_id, EnrolmentState.PENDING
                )

    async def enrol(self, row: LedgerRow, *, during_copy: bool) -> None:
        """Enrol the row's instructors not yet enrolled; each is committed before and after.

        While the copy runs, a 404 may only mean that Learn does not show the new course yet:
        that enrolment waits for the copy's end, when a 404 is the user's or the role's.
        """
        target = row.target_course_id
        if row.proof is Proof.DUE:
            # An adopted copy's percentComplete cannot be seen: nobody is enrolled before its
            # course holds all of the source's content (`AdoptionProof.count`).
            return
        course = row.course_pk or row.target_pk or id_form(target)
        for enrolment in self._ledger.enrolments(target):
            if enrolment.state not in (EnrolmentState.PENDING, EnrolmentState.SENDING):
                continue
            self._ledger.record_enrolment(target, enrolment.user_id, EnrolmentState.SENDING)
            try:
                await self._client.enrol(course, enrolment.user_id, enrolment.role)
            except (LearnAuthError, LearnUnreachable):
                raise
            except LearnError as exc:
                said = error_meaning(Call.ENROL_EARLY if during_copy else Call.ENROL, exc)
                if said is Meaning.NOT_YET:
                    self._ledger.record_enrolment(target, enrolment.user_id, EnrolmentState.PENDING)
                    continue
                # EXISTS that reached here: Learn refused to make a member's membership as asked.
                if said not in (Meaning.ROW_FAILED, Meaning.EXISTS):
                    raise
                self._ledger.record_enrolment(
                    target,
                    enrolment.user_id,
                    EnrolmentState.FAILED,
                    f"{enrolment.user_id} as {enrolment.role} ({exc.status}: {exc.learn_message})",
                )
            else:
                self._ledger.record_enrolment(target, enrolment.user_id, EnrolmentState.DONE)

    async def source_counts(
        self, source: str, wanted: VerifiedCounts
    ) -> tuple[int | None, int | None]:
        """(content items, gradebook columns) of a source, each counted only when `wanted`:
        once per source, kept in the ledger for later runs too."""
        async with self._source_locks.setdefault(source, asyncio.Lock()):
            known = self._ledger.source_counts(source) or (None, None)
            contents, columns = known
            if wanted.contents and contents is None:
                contents = (await self._client.content_counts(id_form(source)))[0]
            if wanted.columns and columns is None:
                columns = await self._client.column_count(id_form(source))
            if (contents, columns) != known:
                self._ledger.record_source_counts(source, contents, columns)
        return contents, columns

    async def verify(self, row: LedgerRow) -> tuple[str | None, bool]:
        """Count what the copy brought against its source, only as far as the row's copy
        profile copies it: (the counts in words, None if it copies neither; short?)."""
        wanted = row.spec.verified
        if not wanted.reads:
            return None, False
        contents, columns = await self.source_counts(row.source_course_id, wanted)
        course = row.course_pk or ""
        words: list[str] = []
        short = False
        if wanted.contents and contents is not None:
            arrived = (await self._client.content_counts(course))[0]
            expected = contents + (row.shell_contents or 0)
            words.append(f"contents {arrived}/{expected}")
            short = short or arrived < expected
        if wanted.columns and columns is not None:
            arrived = await self._client.column_count(course)
            expected = columns + (row.shell_columns or 0)
            words.append(f"columns {arrived}/{expected}")
            short = short or arrived < expected
        return "; ".join(words), short
