"""Reconciliation: settling a row whose copy answer was lost or whose task vanished.

Such a row is never POSTed again on a guess. Learn's courses decide instead: a new target course
created after the row's intent is adopted as the copy, one created before belongs to someone
else, and copies into existing courses (which Learn applies additively) are handed to a person.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rollover.learn import LearnClient, found, id_form, learn_datetime
from rollover.ledger import ErrorKind, Ledger, LedgerRow, Resolution

# A course Learn says was created up to this long before our intent is still ours. Both times are
# compared in Learn's time (the site's clock offset is measured from its Date headers); what is
# left is the Date header's one-second grain and the time an answer takes.
CLOCK_TOLERANCE = timedelta(seconds=5)


class Reconciliation:
    """Settles rows from Learn's courses when no task can say how their copy ended."""

    def __init__(
        self,
        ledger: Ledger,
        client: LearnClient,
        clock: Callable[[], datetime],
        since_intent: Callable[[str], float | None] = lambda _: None,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self._clock = clock
        # Monotonic seconds since this run committed a row's intent (None: an earlier run did).
        self._since_intent = since_intent

    async def copy_answer_lost(self, row: LedgerRow) -> None:
        """A copy was (maybe) requested but no task Location is known: ask Learn's courses."""
        target = row.target_course_id
        if row.copy_into_existing:
            self.ledger.record_needs_review(
                target,
                ErrorKind.COPY_MAYBE_APPLIED,
                f"the copy of {row.source_course_id} into existing course {target} "
                f"({row.target_pk}) may or may not have been applied: its answer was lost. "
                f"Open {target} in Learn and check whether {row.source_course_id}'s content is "
                "there once; the tool will not copy into it again",
            )
            return
        course = await found(self.client.get_course(id_form(target), "id,courseId,created"))
        if course is None:
            self.ledger.record_not_sent(target, "no course found: the copy did not happen")
            return
        created = learn_datetime(course.get("created"))
        intent_at = self._intent_in_site_time(row)
        # A person said the copy was not made, yet Learn holds the course: made after the
        # row's first request, it is the row's own copy (its 409 now says so), never a reason
        # to fail the row or to copy again.
        first = self._first_intent_in_site_time(row)
        if first is not None and first < intent_at:
            intent_at = first
        if created is None:
            self.ledger.record_needs_review(
                target,
                ErrorKind.CREATED_UNKNOWN,
                f"course {target} exists but Learn did not say when it was created; "
                "check whether it is this rollover's copy",
            )
        elif created >= intent_at - CLOCK_TOLERANCE:
            self.ledger.record_copied(
                target,
                str(course["id"]),
                adopted=True,
                detail="adopted: created after this row's first copy request, although a "
                "person resolved it as not copied"
                if row.resolution is Resolution.NOT_COPIED
                else "adopted: created after this row's copy request",
            )
        else:
            self.ledger.record_failed(
                target,
                ErrorKind.TARGET_TAKEN,
                f"courseId {target} already belongs to a course created "
                f"{created.isoformat()} (Learn's clock), before this ledger asked for it: an "
                "earlier run's copy made with another ledger, or someone else's course",
            )

    def _first_intent_in_site_time(self, row: LedgerRow) -> datetime | None:
        """When a row a person resolved `--not-copied` was first requested, on Learn's clock
        (the ledger's time plus the measured offset); None for any other row."""
        if row.resolution is not Resolution.NOT_COPIED:
            return None
        first = self.ledger.first_intent_at(row.target_course_id)
        return None if first is None else first + timedelta(seconds=self.client.site_clock_offset)

    def _intent_in_site_time(self, row: LedgerRow) -> datetime:
        """When the row's intent was committed, on Learn's clock: as the ledger kept it (from
        the Date of the answers around it and the monotonic time between), or from the latest
        answer's Date and the monotonic time since, when this run made the intent (no clock
        step of either machine matters then); else, for an intent an older rollover made, the
        ledger's time plus the measured offset."""
        if row.intent_site_at is not None:
            return row.intent_site_at
        ago = self._since_intent(row.target_course_id)
        site_now = self.client.site_now()
        if ago is not None and site_now is not None:
            return site_now - timedelta(seconds=ago)
        intent_at = row.intent_at or self._clock()
        return intent_at + timedelta(seconds=self.client.site_clock_offset)

    async def task_lost(self, row: LedgerRow, reason: str, *, unclean: bool = False) -> None:
        """The task can no longer tell us how the copy ended: find the course, never re-POST.
        `unclean` when the task's status said Learn ended the copy with a warning: `reason`
        (which may be Learn's own words) is then kept as the row's warning."""
        target = row.target_course_id
        if row.copy_into_existing and row.target_pk:
            self.ledger.record_copied(
                target,
                row.target_pk,
                adopted=True,
                detail=f"task lost ({reason})",
                warning=reason if unclean else None,
            )
            return
        course = await found(self.client.get_course(id_form(target), "id"))
        if course is None:
            self.ledger.record_needs_review(
                target,
                ErrorKind.COURSE_MISSING,
                f"Learn accepted the copy ({row.task_location}) but {reason} and no "
                f"course {target} exists; check the copy in Learn before re-running",
            )
            return
        self.ledger.record_copied(
            target,
            str(course["id"]),
            adopted=True,
            detail=f"task lost ({reason})",
            warning=reason if unclean else None,
        )
