"""The adoption proof's waits: an adopted copy is never seen to end, so it is waited for.

A copy adopted without its task (`_reconcile`) is given --adopt-settle from its request before
it is patched, is counted until its course holds the source's content (only then are its
instructors enrolled), and is read back a settle later (`_proof`): what was written over is
written again, until --task-timeout of the request, then a person looks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rollover.learn import LearnClient
from rollover.ledger import EnrolmentState, ErrorKind, Ledger, LedgerRow
from rollover.plan import VerifiedCounts
from rollover.times import humanized, seconds_between

from ._clocks import Pause, RowClocks
from ._options import RunOptions
from ._outcome import RunOutcome
from ._patch import Patching
from ._proof import CourseReader
from ._teaching import Teaching


class AdoptionProof:
    """Waits an adopted copy out, counts it, and reads it back."""

    def __init__(
        self,
        ledger: Ledger,
        client: LearnClient,
        options: RunOptions,
        *,
        clock: Callable[[], datetime],
        clocks: RowClocks,
        pause: Pause,
        outcome: RunOutcome,
        teaching: Teaching,
        patching: Patching,
    ) -> None:
        self._ledger = ledger
        self._client = client
        self._options = options
        self._clock = clock
        self._clocks = clocks
        self._pause = pause
        self._outcome = outcome
        self._teaching = teaching
        self._patching = patching
        self._reader = CourseReader(client)

    async def settle(self, row: LedgerRow) -> bool:
        """Adopted without seeing the task finish: give the copy time to end before patching,
        since a running copy overwrites what a PATCH writes. False if the row is parked or the
        run stops first."""
        if not row.adopted or row.intent_at is None:
            return True
        target = row.target_course_id
        since = self._clocks.since_intent(target)
        if since is None:
            until = row.intent_at + timedelta(seconds=self._options.adopt_settle)
            settle = (until - self._clock()).total_seconds()
        else:
            settle = self._options.adopt_settle - since
            until = row.settle_until or self._clock() + timedelta(seconds=settle)
        if settle > 0:
            if row.settle_until != until:
                self._ledger.record_settle(target, until)
            if settle > self._options.task_timeout:  # this run would not see it end
                self._outcome.parked.append(target)
                return False
            if not await self._pause(settle):
                return False
        return True

    async def count(self, row: LedgerRow) -> bool:
        """Wait until an adopted copy's course holds all of its source's content, the proof
        point from which the copy is no longer adding to it: only then is it enrolled (the 15%
        rule, for a copy whose percentComplete cannot be seen), and it is read back a settle
        later. `needs_review`, saying what was counted, when that does not come within
        --task-timeout of the request, or cannot be seen (an empty source). False unless
        counted."""
        target, source = row.target_course_id, row.source_course_id
        counted, _ = await self._teaching.source_counts(
            source, VerifiedCounts(contents=True, columns=False)
        )
        contents = counted or 0
        wanted = contents + (row.shell_contents or 0)
        gap = self._options.poll_min
        while True:
            arrived, _ = await self._client.content_counts(row.course_pk or "")
            if contents and arrived >= wanted:
                self._read_back_after_settle(
                    row, f"adopted copy counted: contents {arrived}/{wanted}"
                )
                return True
            waited = self._clocks.since_requested(row)
            if not contents or waited + gap > self._options.task_timeout:
                why = (
                    f"{source} holds no content, so its course cannot show when the copy ended"
                    if not contents
                    else f"its content did not reach the source's within --task-timeout "
                    f"({humanized(waited)} after the request)"
                )
                self._ledger.record_needs_review(
                    target,
                    ErrorKind.ADOPTION_UNPROVEN,
                    f"{target} ({row.course_pk}) was adopted as the copy of {source}, whose "
                    f"end Learn does not show, and {why}: found contents {arrived}/{wanted}. "
                    "Its instructors were not enrolled",
                )
                return False
            if not await self._pause(gap):
                return False
            gap = min(self._options.poll_max, 2 * gap)

    def _read_back_after_settle(self, row: LedgerRow, detail: str) -> None:
        """Commit that an adopted copy is read back one --adopt-settle from now."""
        settle = timedelta(seconds=self._options.adopt_settle)
        self._ledger.record_counted(
            row.target_course_id, detail, read_back_at=self._clock() + settle
        )
        self._clocks.counted(row.target_course_id)

    async def prove(self, row: LedgerRow) -> bool:
        """Read an adopted copy's course back a settle after its content was complete: its
        PATCHed values and its instructors' roles must still hold. What was written over is
        written again and read back a settle later (the row comes back to enrol again), until
        --task-timeout of the request, then `needs_review` saying what was found. False when
        the row stops here (parked, stopped, or handed to a person)."""
        target = row.target_course_id
        if not await self._until_read_back(row):
            return False
        found = await self._reader.read_back(row, self._ledger.enrolments(target))
        if not found:
            self._ledger.record_proven(
                target, "read back: Learn shows the row's values and instructors"
            )
            return True
        if found.fields and await self._patching.send(row) is None:
            return False
        for user in found.members:  # enrolled again by the finish
            self._ledger.record_enrolment(target, user, EnrolmentState.PENDING)
        options = self._options
        if self._clocks.since_requested(row) + options.adopt_settle > options.task_timeout:
            await self._teaching.enrol(self._ledger.row(target), during_copy=False)
            self._ledger.record_needs_review(
                target,
                ErrorKind.ADOPTION_UNPROVEN,
                f"{target} ({row.course_pk}) was adopted as the copy of {row.source_course_id}, "
                f"whose end Learn does not show; read back after its content was complete, "
                f"found {found}. Written again, but something may still be writing to it",
            )
            return False
        self._read_back_after_settle(row, f"read back, found {found}: written again")
        return True

    async def _until_read_back(self, row: LedgerRow) -> bool:
        """Wait until an adopted copy's read-back is due; False if the run stops first, or
        parks the row when --task-timeout would cut the wait short."""
        target = row.target_course_id
        since = self._clocks.since_counted(target)
        if since is not None:
            wait = self._options.adopt_settle - since
        else:
            wait = seconds_between(self._clock(), row.settle_until or self._clock())
        if wait > self._options.task_timeout:  # this run would not see it
            self._outcome.parked.append(target)
            return False
        return await self._pause(wait)
