"""The copy: its POST (committed before and after, never sent twice) and its task awaited.

Intent is committed before the POST and the Location after it; a POST whose answer was lost
stays at intent for reconciliation. The task is polled as the pace says, within the poll
budget, and the instructors are enrolled once it shows 15% (those of a row with merged
sections only after its children are attached, once the copy has completed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from rollover.errors import (
    CopyOutcomeUnknown,
    LearnAnsweredPage,
    LearnAuthError,
    LearnError,
    LearnUnreachable,
    RunStopped,
)
from rollover.learn import Call, LearnClient, Meaning, Stop, TaskPoll, error_meaning, id_form
from rollover.ledger import ErrorKind, Ledger, LedgerRow, Resolution, State

from ._admission import PollBudget
from ._clocks import Pause, RowClocks
from ._merging import Merging
from ._options import RunOptions
from ._outcome import RunOutcome
from ._pacing import CopyPace, Sighting, seconds_until
from ._reconcile import Reconciliation
from ._teaching import Teaching

log = structlog.get_logger("rollover.engine")
# The copy's percentComplete from which memberships may be handled (Anthology's copy page).
ENROL_FROM = 15
# A first poll due within this many seconds is made now (the ledger keeps milliseconds).
FIRST_POLL_SLACK = 1e-3


class Copying:
    """Requests a row's copy and awaits its task until Learn names the course."""

    def __init__(
        self,
        ledger: Ledger,
        client: LearnClient,
        options: RunOptions,
        *,
        clock: Callable[[], datetime],
        clocks: RowClocks,
        pause: Pause,
        stop: Stop,
        pace: CopyPace,
        budget: PollBudget,
        outcome: RunOutcome,
        teaching: Teaching,
        merging: Merging,
        reconciliation: Reconciliation,
    ) -> None:
        self._ledger = ledger
        self._client = client
        self._options = options
        self._clock = clock
        self._clocks = clocks
        self._pause = pause
        self._stop = stop
        self._pace = pace
        self._budget = budget
        self._outcome = outcome
        self._teaching = teaching
        self._merging = merging
        self._reconciliation = reconciliation
        self._posted_here: set[str] = set()
        self._first_poll_sooner = asyncio.Event()  # set (and replaced) when it shortens

    async def request(self, row: LedgerRow) -> None:
        """Look at the shell (if any), commit the intent, POST the copy, commit the answer."""
        target = row.target_course_id
        if row.copy_into_existing:
            if not await self._teaching.look_at_shell(row):
                return
            row = self._ledger.row(target)
        if row.resolution is Resolution.NOT_COPIED:
            self._teaching.enrol_again(row)
            self._merging.attach_again(row)
        body = row.spec.copy_request(row.target_pk)
        site_at = self._client.site_now()
        self._ledger.record_intent(target, site_at=site_at)
        self._clocks.intent_made(target)
        sent = False

        def sending() -> None:
            nonlocal sent
            sent = True

        try:
            location = await self._client.copy_course(
                id_form(row.source_course_id), body, sending=sending
            )
        except asyncio.CancelledError:
            # Cut short (a second Ctrl-C): a POST that never left is known not to be in Learn;
            # one that left stays at intent, for the next run to reconcile.
            if not sent:
                self._ledger.record_not_sent(target, "the run was cut short: not sent")
            raise
        except LearnUnreachable as exc:
            # Failed before the POST left: no connection, or a web page answered the sign-in.
            why = (
                "a web page answered" if isinstance(exc, LearnAnsweredPage) else "could not connect"
            )
            self._ledger.record_not_sent(target, f"{why}: not sent")
            raise
        except LearnAuthError:
            # Refused at sign-in (or the POST itself answered 401): Learn applied nothing.
            self._ledger.record_not_sent(target, "credentials refused: not applied")
            raise
        except RunStopped:
            # Stopped before the POST left, or its 429 asked for a wait too long: not applied.
            self._ledger.record_not_sent(target, "the run stopped: not sent")
            raise
        except CopyOutcomeUnknown as exc:
            log.warning("copy.outcome_unknown", target=target, error=exc.message)
        except LearnError as exc:
            self._copy_refused_or_unknown(row, exc)
        else:
            self._ledger.record_location(target, location)
            self._clocks.located(target)
            self._posted_here.add(target)
        if site_at is None and self._ledger.row(target).state is State.INTENT:
            self._date_lost_intent(target)

    def _date_lost_intent(self, target: str) -> None:
        """Keep when a copy whose answer was lost was requested, on Learn's clock, from the
        answers since (none had told Learn's clock before the request): a re-run whose wall
        clock was stepped meanwhile still knows the course it makes as its own."""
        site_now, since = self._client.site_now(), self._clocks.since_intent(target)
        if site_now is not None and since is not None:
            self._ledger.record_intent_site_time(target, site_now - timedelta(seconds=since))

    def _copy_refused_or_unknown(self, row: LedgerRow, exc: LearnError) -> None:
        """Act on an error answer to a copy POST, as `meaning` reads it."""
        target = row.target_course_id
        said = error_meaning(Call.COPY_INTO if row.copy_into_existing else Call.COPY, exc)
        if said is Meaning.NOT_APPLIED:
            self._ledger.record_not_sent(target, f"rate limited ({exc.status}): not applied")
        elif said is Meaning.ROW_FAILED:
            self._ledger.record_failed(
                target, ErrorKind.COPY_REFUSED, f"Learn refused the copy: {exc.learn_message}"
            )
        elif said is Meaning.RECONCILE:
            # 409 on a new courseId (ours from an earlier lost answer, or someone else's), 5xx,
            # or an answer Learn does not document: the row stays at `intent` and
            # reconciliation decides from Learn's courses.
            log.warning("copy.outcome_unknown", target=target, error=exc.message)
        else:
            raise exc

    async def await_task(self, row: LedgerRow) -> bool:
        """Poll the recorded task Location until the copy is complete."""
        target, location = row.target_course_id, row.task_location or ""
        posted = row.requested_at or self._clock()
        # Only a copy posted by this run tells when first polls should be made; one resumed
        # from an earlier run is simply polled as soon as allowed.
        learning = target in self._posted_here
        gap = max(self._options.poll_min, self._pace.first_poll - self._clocks.since_posted(row))
        sighting: Sighting | None = None
        was_queued, first = False, True
        # Copy, PATCH, attach, enrol: a row with children enrols only after attaching them.
        enrolling = not row.spec.children and self._teaching.enrolments_left(target)
        while True:
            if first and learning:
                if not await self._until_first_poll(row):
                    return False
            elif not await self._pause(gap):
                return False
            if not first:
                if not await self._spare_to_poll(row, gap):
                    return False
                self._budget.extra_polls += 1  # counted before it is sent: the spare is spent now
            try:
                poll = await self._client.poll_task(location)
            except LearnError as exc:
                if error_meaning(Call.POLL, exc) is not Meaning.TASK_GONE:
                    raise
                self._pace.seen_waiting(target, posted=0.0, queued=False)
                await self._reconciliation.task_lost(row, exc.learn_message)
                self._budget.copies_seen += 1
                return True
            self._budget.tell_pace()
            since_posted = self._clocks.since_posted(row)
            if first and learning:
                self._learn_first_poll(poll.finished, since_posted)
            first = False
            seen = self._clocks.monotonic()
            head = self._pace.seen_waiting(
                target, posted=seen - since_posted, queued=poll.status == "Queued"
            )
            if poll.course_pk is not None:
                self._budget.copies_seen += 1
                self._pace.copy_completed(
                    posted=self._clocks.when_intent_made(target) if learning else None,
                    accepted=self._clocks.when_located(target),
                    started=poll.started.timestamp() if poll.started else None,
                    seen=seen,
                )
                warning = (
                    f"Learn finished the copy with status {poll.status}" if poll.unclean else None
                )
                self._ledger.record_copied(target, poll.course_pk, warning=warning)
                return True
            if poll.finished:  # CompleteWithErrors / Incomplete answered as a 200
                await self._reconciliation.task_lost(
                    row, f"Learn finished the copy with status {poll.status}", unclean=poll.unclean
                )
                self._budget.copies_seen += 1
                return True
            if poll.status == "Queued":
                if was_queued:  # sitting in Learn's queue, not just caught before its start
                    self._pace.copy_queued()
                was_queued = True
            if (
                enrolling
                and poll.status == "Running"
                and (poll.percent_complete or 0) >= ENROL_FROM
            ):
                # Anthology: memberships can be handled from about 15% of a copy, never before.
                await self._teaching.enrol(row, during_copy=True)
                enrolling = False
            now = self._clock()
            if since_posted > self._options.task_timeout:
                self._pace.seen_waiting(target, posted=seen - since_posted, queued=False)
                log.warning("task.timeout", target=target, task=location, elapsed=since_posted)
                self._outcome.parked.append(target)
                return False
            gap = self._pace.next_gap(
                status=poll.status,
                percent=poll.percent_complete,
                now=now.timestamp(),
                running_since=_running_since(poll, posted, now),
                previous=sighting,
                previous_gap=gap,
                head=head,
            )
            if enrolling:  # a poll soon after 15%, instead of waiting for the end
                until = seconds_until(
                    ENROL_FROM,
                    status=poll.status,
                    percent=poll.percent_complete,
                    now=now.timestamp(),
                    running_since=_running_since(poll, posted, now),
                    previous=sighting,
                )
                if until is not None:
                    gap = min(gap, self._pace.gap_to(until))
            if poll.status == "Running" and poll.percent_complete:
                sighting = Sighting(now.timestamp(), poll.percent_complete)

    async def _spare_to_poll(self, row: LedgerRow, gap: float) -> bool:
        """Wait, if every call left is the floor's, until a spare call exists to poll the row's
        copy again, rather than take a PATCH's call; answers to other calls tell when the quota
        has refilled. False if the run stops first, or the copy is parked because none can come:
        past --task-timeout, or with every worker left waiting for one and no call in flight."""
        self._budget.tell_pace()
        if self._pace.extra_poll_affordable:
            return True
        self._budget.awaiting_spare += 1
        try:
            while True:
                if self._clocks.since_posted(row) > self._options.task_timeout or (
                    self._budget.awaiting_spare == self._budget.workers
                    and not self._client.calls_unanswered
                ):
                    self._no_spare_to_poll(row.target_course_id, row.task_location or "")
                    return False
                gap = self._pace.spare_gap(gap)
                if not await self._pause(gap):
                    return False
                self._budget.tell_pace()
                if self._pace.extra_poll_affordable:
                    return True
        finally:
            self._budget.awaiting_spare -= 1

    def _no_spare_to_poll(self, target: str, location: str) -> None:
        """Park a copy no spare call can be had to poll: it stays in Learn's hands and the
        next run, on a refilled quota, polls it."""
        self._pace.seen_waiting(target, posted=0.0, queued=False)
        message = (
            "no spare call in Learn's quota to poll a copy without taking the calls kept for "
            "the PATCHes: run again when the site's quota has refilled"
        )
        log.warning(
            "quota.no_spare_poll",
            target=target,
            task=location,
            quota_remaining=self._client.quota_remaining,
            message=message,
        )
        self._outcome.stopped = self._outcome.stopped or message  # the others go on
        self._outcome.parked.append(target)

    async def _until_first_poll(self, row: LedgerRow) -> bool:
        """Wait until a copy's first poll is due, one first-poll interval after its POST. The
        interval shortens as other copies are found done sooner, and the wait with it; False
        if the run stops first."""
        while True:
            due = self._pace.first_poll - self._clocks.since_posted(row)
            if due <= FIRST_POLL_SLACK:
                return True
            if not await self._pause(due, sooner=self._first_poll_sooner) and self._stop.requested:
                return False

    def _learn_first_poll(self, done: bool, since_posted: float) -> None:
        """Learn from a first poll; wake the copies waiting for theirs if it came sooner."""
        before = self._pace.first_poll
        self._pace.learn_first_poll(done, since_posted)
        if self._pace.first_poll < before:
            self._first_poll_sooner.set()
            self._first_poll_sooner = asyncio.Event()


def _running_since(poll: TaskPoll, posted: datetime, now: datetime) -> float | None:
    """When the task began running, on this machine's clock: Learn's `started`, kept between
    our POST and now, since the two clocks differ."""
    if poll.started is None:
        return None
    return min(now, max(posted, poll.started)).timestamp()
