"""The engine: drives every ledger row to a final state (submit, poll, patch).

Per row the order is fixed and each step is committed to the ledger before the next is taken:
intent, copy POST, Location, polls (instructors enrolled once one shows 15%), course id, PATCH,
the instructors left, the counts of --verify, done. A row whose copy answer was lost is
never POSTed again on a guess: it is reconciled against Learn's courses (new targets) or handed
to a person (copies into existing courses, which Learn applies additively); see `reconcile`.
A copy adopted that way is never seen to end, so it is proven instead (`_proof`): its course
is counted until it holds the source's content, then patched and enrolled, and read back a
settle later.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from rollover.errors import (
    CopyOutcomeUnknown,
    CountRefused,
    LearnAnsweredPage,
    LearnAsksToWait,
    LearnAuthError,
    LearnError,
    LearnNotFound,
    LearnUnreachable,
    LedgerUnwritable,
    RunStopped,
    SiteNotFound,
)
from rollover.learn import (
    Call,
    LearnClient,
    Meaning,
    TaskPoll,
    error_meaning,
    id_form,
)
from rollover.ledger import (
    TERMINAL,
    EnrolmentState,
    ErrorKind,
    Ledger,
    LedgerRow,
    Proof,
    Resolution,
    State,
    calls_left,
    shell_must_be_empty,
)
from rollover.plan import POLLS_PER_COPY, VerifiedCounts, source_calls
from rollover.times import humanized, seconds_between, utc_now

from ._outcome import RunOutcome
from ._pacing import CopyPace, Sighting, floor_calls, seconds_until
from ._proof import CourseReader
from ._reconcile import Reconciliation
from ._window import Window

log = structlog.get_logger("rollover.engine")
# The copy's percentComplete from which memberships may be handled (Anthology's copy page).
ENROL_FROM = 15
# A first poll due within this many seconds is made now (the ledger keeps milliseconds).
FIRST_POLL_SLACK = 1e-3
_ROW: contextvars.ContextVar[str | None] = contextvars.ContextVar("row", default=None)


@dataclass(frozen=True)
class RunOptions:
    """The knobs of one run (see `rollover run --help`)."""

    concurrency: int = 8  # Learn runs 4 copies at once: as many again waiting keeps it busy
    poll_min: float = 1.0
    poll_max: float = 60.0
    task_timeout: float = 6 * 3600.0
    adopt_settle: float = 900.0
    window: Window | None = None
    quota_reserve: int | None = None
    verify: bool = False  # count what arrived against the source after each copy
    allow_nonempty_shell: bool = False  # copy into shells that already hold content


class Rollover:
    """One run over a ledger: every non-final row is driven until final, parked or stopped."""

    def __init__(
        self,
        ledger: Ledger,
        client: LearnClient,
        options: RunOptions,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        planned_calls: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        zone: ZoneInfo | None = None,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.options = options
        self._clock = clock
        self._sleep = sleep
        # Intervals (poll gaps, --task-timeout, --adopt-settle) of steps this run took are
        # measured on the monotonic clock, so a step of the wall clock moves none of them.
        self._monotonic = monotonic
        self._intent_made: dict[str, float] = {}  # target -> when this run committed its intent
        self._located: dict[str, float] = {}  # target -> when this run committed its Location
        self._counted: dict[str, float] = {}  # target -> when this run scheduled its read-back
        self._reconciliation = Reconciliation(
            ledger, client, clock, since_intent=self._since_intent
        )
        self._reader = CourseReader(client)
        # One stop for the run, the client's: its waits and the engine's end with it.
        self._stop = client.stop
        self._zone = zone or ZoneInfo("UTC")  # the run's zone, for times told to people
        self._in_flight = 0
        self._posted_here: set[str] = set()
        self._source_locks: dict[str, asyncio.Lock] = {}
        self._planned_calls = planned_calls
        self._quota_checked = False
        self._pending: list[LedgerRow] = []  # the rows to copy, admitted in order
        self._admitted = 0
        client.on_answer = self._note_answer
        self.pace = CopyPace(
            poll_min=options.poll_min, poll_max=options.poll_max, concurrency=options.concurrency
        )
        # The poll budget: calls the rows left need at the floor and copies to see done, as
        # counted when the run starts, and what the run has spent since.
        self._floor = self._copies_to_see = self._calls_before = 0
        self._extra_polls = self._copies_seen = 0
        # Rows being driven, and how many of them wait for a spare call to poll their copy.
        self._workers = self._awaiting_spare = 0
        self._budget_logged = False
        self._first_poll_sooner = asyncio.Event()  # set (and replaced) when it shortens
        self._admission = asyncio.Condition()
        self.outcome = RunOutcome()

    def request_stop(self, reason: str) -> None:
        """Send no new call; calls already sent finish and are recorded, then every worker
        returns, from whatever it waited for."""
        if self.outcome.stopped is None:
            self.outcome.stopped = reason
        self._stop.request(reason)

    async def run(self) -> RunOutcome:
        """Drive every unfinished row of the manifest."""
        rows = [row for row in self.ledger.rows() if row.state not in TERMINAL]
        self._count_floor(rows)
        async with asyncio.TaskGroup() as group:
            for row in rows:  # copies already in Learn's hands count against --concurrency
                if row.state in (State.INTENT, State.LOCATED):
                    self._in_flight += 1
                    group.create_task(self._drive(row.target_course_id, holds_slot=True))
                elif row.state in (State.COPIED, State.PATCHED):
                    group.create_task(self._drive(row.target_course_id, holds_slot=False))
            self._pending = [row for row in rows if row.state is State.PENDING]
            for row in self._pending:
                if not await self._admit():
                    break
                self._admitted += 1
                group.create_task(self._drive(row.target_course_id, holds_slot=True))
        if self._stop.requested and self.outcome.stopped is None:
            self.outcome.stopped = "stop requested"
        pace = self.pace
        self._pace_budget()
        ratio = pace.queue_ratio
        log.info(
            "run.pace",
            first_poll=round(pace.first_poll, 3),
            window=pace.window,
            first_polls=pace.first_polls,
            first_poll_hits=pace.first_poll_hits,
            queued_sightings=pace.queued_sightings,
            budget=pace.budget,
            spare_calls=pace.spare,
            extra_polls=self._extra_polls,
            extra_polls_per_copy=round(self._extra_polls / max(1, self._copies_seen), 2),
            first_poll_quantile=round(pace.quantile, 2),
            queue_ratio=_rounded(ratio),
            queued_share=_rounded(pace.queued_share),
            quota_remaining=self.client.quota_remaining,
        )
        return self.outcome

    def _count_floor(self, rows: list[LedgerRow]) -> None:
        """The poll budget's starting point: what the unfinished rows need at the least."""
        verify = self.options.verify
        self._floor = 1 + sum(floor_calls(row, verify=verify) for row in rows)  # 1: the token
        self._floor += source_calls(
            [row.spec for row in rows], verify=verify, known=self.ledger.source_counts
        )
        to_see = (State.PENDING, State.INTENT, State.LOCATED)
        self._copies_to_see = sum(1 for row in rows if row.state in to_see)
        self._calls_before = self.client.calls.total()

    def _pace_budget(self) -> None:
        """Tell the pace what the quota affords now (logged once, when first known): Learn's
        remaining calls less the reserve, the floor not yet spent and the calls in flight
        (sent, so no longer in the floor, but not yet shown in the remaining quota)."""
        remaining = self.client.quota_remaining
        spent_on_floor = self.client.calls.total() - self._calls_before - self._extra_polls
        floor = max(0, self._floor - spent_on_floor)
        self.pace.afford(
            remaining=remaining,
            reserve=self.options.quota_reserve or 0,
            floor=floor + self.client.calls_unanswered,
            copies=self._copies_to_see - self._copies_seen,
        )
        if remaining is not None and not self._budget_logged:
            self._budget_logged = True
            log.info(
                "run.budget",
                quota_remaining=remaining,
                quota_reserve=self.options.quota_reserve or 0,
                floor_calls=floor,
                copies=self._copies_to_see - self._copies_seen,
                extra_polls_affordable_per_copy=_rounded(self.pace.extra_per_copy),
                budget=self.pace.budget,
                first_poll_quantile=round(self.pace.quantile, 2),
            )

    async def _admit(self) -> bool:
        async with self._admission:
            await self._admission.wait_for(
                lambda: self._in_flight < self.pace.window or self._stop.requested
            )
            self._pace_budget()
            if self._stop.requested:
                return False
            refusal = self._start_refused()
            if refusal is not None:
                # Copies in flight are still polled and patched; only new ones wait.
                self.outcome.stopped = self.outcome.stopped or refusal
                return False
            self._in_flight += 1
            return True

    def _start_refused(self) -> str | None:
        """Why no new copy may start now (window closed, quota reserve), or None."""
        window = self.options.window
        if window is not None and not window.contains(self._clock()):
            return f"outside the window {window}: new copies start at {window.start:%H:%M}"
        reserve, remaining = self.options.quota_reserve, self.client.quota_remaining
        if remaining is not None and not self._quota_checked:
            self._quota_checked = True
            self._check_quota(remaining, reserve or 0)
        if reserve is not None and remaining is not None and remaining < reserve:
            return (
                f"quota reserve reached: {remaining} calls left, --quota-reserve {reserve}; "
                f"{self._when_to_rerun(remaining, reserve)}"
            )
        return None

    def _check_quota(self, remaining: int, reserve: int) -> None:
        """Say once, as soon as Learn's remaining quota is known, if the plan does not fit."""
        planned = self._planned_calls
        if planned is not None and planned > remaining - reserve:
            log.warning(
                "quota.short",
                planned_calls=planned,
                quota_remaining=remaining,
                quota_reserve=reserve,
                message=f"this run needs about {planned} calls but Learn has "
                f"{remaining} left (reserve {reserve}): rows it cannot reach "
                "stay pending for the next run",
            )

    def _when_to_rerun(self, remaining: int, reserve: int) -> str:
        """When the quota will have refilled enough for the rows still pending."""
        limit = self.client.quota_limit
        if not limit:
            return "run again when the site's quota has refilled"
        verify, left = self.options.verify, self._pending[self._admitted :]
        calls = sum(
            calls_left(row.spec, row, row.state, verify=verify, polls=POLLS_PER_COPY)
            for row in left
        )
        calls += source_calls(
            [row.spec for row in left], verify=verify, known=self.ledger.source_counts
        )
        needed = reserve + round(calls) - remaining
        hours = max(0.0, needed) / (limit / 24)
        return (
            f"the {len(left)} rows left need about {needed} more calls, which "
            f"Learn's {limit} calls per 24 h refill in about {hours:.1f} h: run again then"
        )

    async def _release(self) -> None:
        async with self._admission:
            self._in_flight -= 1
            self._admission.notify_all()

    def _since_intent(self, target: str) -> float | None:
        """Monotonic seconds since this run committed the row's intent (None: it did not)."""
        made = self._intent_made.get(target)
        return None if made is None else self._monotonic() - made

    def _since_posted(self, row: LedgerRow) -> float:
        """Seconds since the row's copy was accepted: on the monotonic clock if this run
        posted it, else from the ledger's time."""
        located = self._located.get(row.target_course_id)
        if located is not None:
            return self._monotonic() - located
        return seconds_between(row.requested_at or self._clock(), self._clock())

    def _note_answer(self, endpoint: str, status: int) -> None:
        target = _ROW.get()
        if target is not None:
            self.ledger.note_answer(target, endpoint, status)

    async def _drive(self, target: str, *, holds_slot: bool) -> None:
        _ROW.set(target)  # each row's task has its own context: the answers it gets are its own
        self._workers += 1
        try:
            row = self.ledger.row(target)
            while row.state not in TERMINAL and not self._stop.requested:
                if holds_slot and row.state in (State.COPIED, State.PATCHED):
                    holds_slot = False
                    await self._release()
                if not await self._step(row):
                    break
                row = self.ledger.row(target)
        except (LearnUnreachable, LearnAuthError) as exc:
            # Usage errors until a change is sent (exit 2), then resumable (3): `exit_code`.
            if isinstance(exc, LearnAuthError | SiteNotFound | LearnAnsweredPage):
                self.outcome.fatal = exc
            self.request_stop(exc.message)
        except CountRefused as exc:
            self._count_refused(exc)
        except LearnError as exc:
            if error_meaning(Call.READ, exc) is Meaning.RETRY:
                # A transient error that outlasted its retries: Learn is sick. Stop, resumable.
                log.error("learn.unavailable", target=target, error=exc.message)
                self.request_stop(f"Learn kept failing: {exc.message}")
            else:
                self._fail_refused(target, exc)
        except LedgerUnwritable as exc:
            self._ledger_unwritable(exc)
        except LearnAsksToWait as exc:
            self.request_stop(self._asked_to_wait(exc))
        except RunStopped as exc:
            self.request_stop(exc.message)  # a stop already requested keeps its own reason
        finally:
            self._workers -= 1
            if holds_slot:
                await self._release()

    def _count_refused(self, exc: CountRefused) -> None:
        """Learn refused a count (403: an entitlement the integration user lacks, for every
        course alike). Failing the row would fail every row after its copy and PATCH: instead
        the row stays where it is, no new copy starts, and the run ends resumable (exit 3),
        saying once what to grant."""
        if self._stop.requested:
            return
        log.error("count.refused", counted=exc.counted, course=exc.course, error=exc.learn_message)
        self.request_stop(
            f"{exc.message}; no copy was started after it. Next: {exc.hint}. The rows already "
            "copied are finished then, none is copied twice"
        )

    def _asked_to_wait(self, exc: LearnAsksToWait) -> str:
        """Why the run stopped for a long Retry-After, with when Learn takes calls again."""
        until = exc.until.astimezone(self._zone)
        today = self._clock().astimezone(self._zone).date()
        when = f"{until:%H:%M}" if until.date() == today else f"{until:%Y-%m-%d %H:%M}"
        log.error("learn.asks_to_wait", seconds=round(exc.seconds), until=exc.until.isoformat())
        return (
            f"Learn asks to wait {exc.seconds:.0f} s (until {when}): stopped; run again after that"
        )

    def _fail_refused(self, target: str, exc: LearnError) -> None:
        """Fail a row whose request Learn refused, unless the ledger cannot record it."""
        try:
            self.ledger.record_failed(
                target, ErrorKind.REQUEST_REFUSED, f"Learn refused a request: {exc.learn_message}"
            )
        except LedgerUnwritable as unwritable:
            self._ledger_unwritable(unwritable)

    def _ledger_unwritable(self, exc: LedgerUnwritable) -> None:
        """The ledger could not record a step (disk full): nothing more is sent, every worker
        stops, and the run ends resumable (the step not recorded is redone or reconciled)."""
        log.error("ledger.unwritable", error=exc.message)
        if self.outcome.fatal is None:
            self.outcome.fatal = exc
        self.request_stop(exc.message)

    async def _step(self, row: LedgerRow) -> bool:
        """Take one step of a row's state machine; False parks the row for this run."""
        if row.state is State.PENDING:
            await self._request_copy(row)
        elif row.state is State.INTENT:
            await self._reconciliation.copy_answer_lost(row)
        elif row.state is State.LOCATED:
            return await self._await_task(row)
        elif row.state is State.COPIED:
            return await self._patch(row)
        elif row.state is State.PATCHED:
            return await self._finish(row)
        return True

    async def _request_copy(self, row: LedgerRow) -> None:
        target = row.target_course_id
        if row.copy_into_existing:
            if not await self._look_at_shell(row):
                return
            row = self.ledger.row(target)
        if row.resolution is Resolution.NOT_COPIED:
            self._enrol_again(row)
        body = row.spec.copy_request(row.target_pk)
        site_at = self.client.site_now()
        self.ledger.record_intent(target, site_at=site_at)
        self._intent_made[target] = self._monotonic()
        sent = False

        def sending() -> None:
            nonlocal sent
            sent = True

        try:
            location = await self.client.copy_course(
                id_form(row.source_course_id), body, sending=sending
            )
        except asyncio.CancelledError:
            # Cut short (a second Ctrl-C): a POST that never left is known not to be in Learn;
            # one that left stays at intent, for the next run to reconcile.
            if not sent:
                self.ledger.record_not_sent(target, "the run was cut short: not sent")
            raise
        except LearnUnreachable as exc:
            # Failed before the POST left: no connection, or a web page answered the sign-in.
            why = (
                "a web page answered" if isinstance(exc, LearnAnsweredPage) else "could not connect"
            )
            self.ledger.record_not_sent(target, f"{why}: not sent")
            raise
        except LearnAuthError:
            # Refused at sign-in (or the POST itself answered 401): Learn applied nothing.
            self.ledger.record_not_sent(target, "credentials refused: not applied")
            raise
        except RunStopped:
            # Stopped before the POST left, or its 429 asked for a wait too long: not applied.
            self.ledger.record_not_sent(target, "the run stopped: not sent")
            raise
        except CopyOutcomeUnknown as exc:
            log.warning("copy.outcome_unknown", target=target, error=exc.message)
        except LearnError as exc:
            self._copy_refused_or_unknown(row, exc)
        else:
            self.ledger.record_location(target, location)
            self._located[target] = self._monotonic()
            self._posted_here.add(target)
        if site_at is None and self.ledger.row(target).state is State.INTENT:
            self._date_lost_intent(target)

    def _date_lost_intent(self, target: str) -> None:
        """Keep when a copy whose answer was lost was requested, on Learn's clock, from the
        answers since (none had told Learn's clock before the request): a re-run whose wall
        clock was stepped meanwhile still knows the course it makes as its own."""
        site_now, since = self.client.site_now(), self._since_intent(target)
        if site_now is not None and since is not None:
            self.ledger.record_intent_site_time(target, site_now - timedelta(seconds=since))

    async def _look_at_shell(self, row: LedgerRow) -> bool:
        """Find the shell a copy goes into and, unless it holds this row's own copy already
        (`shell_must_be_empty` decides), what it holds: Learn adds a copy to a course's
        content, so a shell holding content is not copied into (unless the run allows it).
        Looked at before every copy into it, so what arrived since an earlier look counts
        too. False when the row failed."""
        target = row.target_course_id
        shell = row.target_pk
        if shell is None:
            try:
                course = await self.client.get_course(id_form(target), "id")
            except LearnNotFound:
                self.ledger.record_failed(
                    target,
                    ErrorKind.SHELL_MISSING,
                    f"copy_into_existing is true but Learn has no course {target}: create the "
                    "shell first, or set copy_into_existing to false",
                )
                return False
            shell = str(course["id"])
        if not shell_must_be_empty(row, shell):
            return True  # what it holds is this row's own copy: a person asked for another
        total, held = await self.client.content_counts(shell)
        verify_columns = self.options.verify and row.spec.verified.columns
        columns = await self.client.column_count(shell) if verify_columns else None
        if held and not self.options.allow_nonempty_shell:
            self.ledger.record_failed(
                target,
                ErrorKind.SHELL_NOT_EMPTY,
                f"{target} already holds {held} content item{'s' if held != 1 else ''} (empty "
                f"folders aside); a copy of {row.source_course_id} would be added to them, so "
                "it was not copied into. This ledger never copied into it: look at what it "
                "holds in Learn first (an earlier run's copy, made with another ledger, is "
                "never to be copied over again)",
            )
            return False
        self.ledger.record_target_pk(target, shell, contents=total, columns=columns)
        return True

    def _copy_refused_or_unknown(self, row: LedgerRow, exc: LearnError) -> None:
        """Act on an error answer to a copy POST, as `meaning` reads it."""
        target = row.target_course_id
        said = error_meaning(Call.COPY, exc)
        if said is Meaning.NOT_APPLIED:
            self.ledger.record_not_sent(target, f"rate limited ({exc.status}): not applied")
        elif said is Meaning.ROW_FAILED:
            self.ledger.record_failed(
                target, ErrorKind.COPY_REFUSED, f"Learn refused the copy: {exc.learn_message}"
            )
        elif exc.status == 409 and row.copy_into_existing:
            self.ledger.record_failed(target, ErrorKind.COPY_REFUSED, exc.learn_message)
        else:
            # 409 on a new courseId (ours from an earlier lost answer, or someone else's), 5xx,
            # or an answer Learn does not document: the row stays at `intent` and
            # reconciliation decides from Learn's courses.
            log.warning("copy.outcome_unknown", target=target, error=exc.message)

    async def _await_task(self, row: LedgerRow) -> bool:
        """Poll the recorded task Location until the copy is complete."""
        target, location = row.target_course_id, row.task_location or ""
        posted = row.requested_at or self._clock()
        # Only a copy posted by this run tells when first polls should be made; one resumed
        # from an earlier run is simply polled as soon as allowed.
        learning = target in self._posted_here
        gap = max(self.options.poll_min, self.pace.first_poll - self._since_posted(row))
        sighting: Sighting | None = None
        was_queued, first = False, True
        enrolling = self._has_enrolments_left(target)
        while True:
            if first and learning:
                if not await self._until_first_poll(row):
                    return False
            elif not await self._pause(gap):
                return False
            if not first:
                if not await self._spare_to_poll(row, gap):
                    return False
                self._extra_polls += 1  # counted before it is sent: the spare is spent now
            try:
                poll = await self.client.poll_task(location)
            except LearnError as exc:
                if error_meaning(Call.POLL, exc) is not Meaning.TASK_GONE:
                    raise
                self.pace.seen_waiting(target, posted=0.0, queued=False)
                await self._reconciliation.task_lost(row, exc.learn_message)
                self._copies_seen += 1
                return True
            self._pace_budget()
            since_posted = self._since_posted(row)
            if first and learning:
                self._learn_first_poll(poll.finished, since_posted)
            first = False
            seen = self._monotonic()
            head = self.pace.seen_waiting(
                target, posted=seen - since_posted, queued=poll.status == "Queued"
            )
            if poll.course_pk is not None:
                self._copies_seen += 1
                self.pace.copy_completed(
                    posted=self._intent_made.get(target) if learning else None,
                    accepted=self._located.get(target),
                    started=poll.started.timestamp() if poll.started else None,
                    seen=seen,
                )
                warning = (
                    f"Learn finished the copy with status {poll.status}" if poll.unclean else None
                )
                self.ledger.record_copied(target, poll.course_pk, warning=warning)
                return True
            if poll.finished:  # CompleteWithErrors / Incomplete answered as a 200
                await self._reconciliation.task_lost(
                    row, f"Learn finished the copy with status {poll.status}", unclean=poll.unclean
                )
                self._copies_seen += 1
                return True
            if poll.status == "Queued":
                if was_queued:  # sitting in Learn's queue, not just caught before its start
                    self.pace.copy_queued()
                was_queued = True
            if (
                enrolling
                and poll.status == "Running"
                and (poll.percent_complete or 0) >= ENROL_FROM
            ):
                # Anthology: memberships can be handled from about 15% of a copy, never before.
                await self._enrol(row, during_copy=True)
                enrolling = False
            now = self._clock()
            if since_posted > self.options.task_timeout:
                self.pace.seen_waiting(target, posted=seen - since_posted, queued=False)
                log.warning("task.timeout", target=target, task=location, elapsed=since_posted)
                self.outcome.parked.append(target)
                return False
            gap = self.pace.next_gap(
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
                    gap = min(gap, self.pace.gap_to(until))
            if poll.status == "Running" and poll.percent_complete:
                sighting = Sighting(now.timestamp(), poll.percent_complete)

    async def _spare_to_poll(self, row: LedgerRow, gap: float) -> bool:
        """Wait, if every call left is the floor's, until a spare call exists to poll the row's
        copy again, rather than take a PATCH's call; answers to other calls tell when the quota
        has refilled. False if the run stops first, or the copy is parked because none can come:
        past --task-timeout, or with every worker left waiting for one and no call in flight."""
        self._pace_budget()
        if self.pace.extra_poll_affordable:
            return True
        self._awaiting_spare += 1
        try:
            while True:
                if self._since_posted(row) > self.options.task_timeout or (
                    self._awaiting_spare == self._workers and not self.client.calls_unanswered
                ):
                    self._no_spare_to_poll(row.target_course_id, row.task_location or "")
                    return False
                gap = self.pace.spare_gap(gap)
                if not await self._pause(gap):
                    return False
                self._pace_budget()
                if self.pace.extra_poll_affordable:
                    return True
        finally:
            self._awaiting_spare -= 1

    def _no_spare_to_poll(self, target: str, location: str) -> None:
        """Park a copy no spare call can be had to poll: it stays in Learn's hands and the
        next run, on a refilled quota, polls it."""
        self.pace.seen_waiting(target, posted=0.0, queued=False)
        message = (
            "no spare call in Learn's quota to poll a copy without taking the calls kept for "
            "the PATCHes: run again when the site's quota has refilled"
        )
        log.warning(
            "quota.no_spare_poll",
            target=target,
            task=location,
            quota_remaining=self.client.quota_remaining,
            message=message,
        )
        self.outcome.stopped = self.outcome.stopped or message  # the others go on
        self.outcome.parked.append(target)

    async def _until_first_poll(self, row: LedgerRow) -> bool:
        """Wait until a copy's first poll is due, one first-poll interval after its POST. The
        interval shortens as other copies are found done sooner, and the wait with it; False
        if the run stops first."""
        while True:
            due = self.pace.first_poll - self._since_posted(row)
            if due <= FIRST_POLL_SLACK:
                return True
            if not await self._pause(due, sooner=self._first_poll_sooner) and self._stop.requested:
                return False

    def _learn_first_poll(self, done: bool, since_posted: float) -> None:
        """Learn from a first poll; wake the copies waiting for theirs if it came sooner."""
        before = self.pace.first_poll
        self.pace.learn_first_poll(done, since_posted)
        if self.pace.first_poll < before:
            self._first_poll_sooner.set()
            self._first_poll_sooner = asyncio.Event()

    async def _patch(self, row: LedgerRow) -> bool:
        target = row.target_course_id
        if row.course_pk is None:  # a person said the copy is in Learn: find it first
            found = await self._find_resolved_course(row)
            if found is None:
                return True
            row = found
        if row.adopted and row.intent_at is not None:
            # Adopted without seeing the task finish: give the copy time to end before
            # patching, since a running copy overwrites what a PATCH writes.
            since = self._since_intent(target)
            if since is None:
                until = row.intent_at + timedelta(seconds=self.options.adopt_settle)
                settle = (until - self._clock()).total_seconds()
            else:
                settle = self.options.adopt_settle - since
                until = row.settle_until or self._clock() + timedelta(seconds=settle)
            if settle > 0:
                if row.settle_until != until:
                    self.ledger.record_settle(target, until)
                if settle > self.options.task_timeout:  # this run would not see it end
                    self.outcome.parked.append(target)
                    return False
                if not await self._pause(settle):
                    return False
        if row.proof is Proof.DUE:
            if not await self._count_adopted(row):
                return False
            row = self.ledger.row(target)
        if row.spec.patch:
            course = await self._send_patch(row)
            if course is None:
                return True
            self.ledger.record_patched(target, course_url=self.client.course_url(course))
        return await self._finish(self.ledger.row(target))

    async def _send_patch(self, row: LedgerRow) -> dict[str, Any] | None:
        """PATCH the row's course with its body: the course Learn answered, or None when Learn
        refused it (the row failed)."""
        try:
            return await self.client.patch_course(row.course_pk or "", dict(row.spec.patch))
        except (LearnAuthError, LearnUnreachable):
            raise
        except LearnError as exc:
            if error_meaning(Call.CHANGE, exc) is not Meaning.ROW_FAILED:
                raise
            self.ledger.record_failed(
                row.target_course_id,
                ErrorKind.PATCH_REFUSED,
                f"copied as {row.course_pk} but Learn refused the PATCH: {exc.learn_message}",
            )
            return None

    async def _count_adopted(self, row: LedgerRow) -> bool:
        """Wait until an adopted copy's course holds all of its source's content, the proof
        point from which the copy is no longer adding to it: only then is it enrolled (the 15%
        rule, for a copy whose percentComplete cannot be seen), and it is read back a settle
        later. `needs_review`, saying what was counted, when that does not come within
        --task-timeout of the request, or cannot be seen (an empty source). False unless
        counted."""
        target, source = row.target_course_id, row.source_course_id
        counted, _ = await self._source_counts(source, VerifiedCounts(contents=True, columns=False))
        contents = counted or 0
        wanted = contents + (row.shell_contents or 0)
        gap = self.options.poll_min
        while True:
            arrived, _ = await self.client.content_counts(row.course_pk or "")
            if contents and arrived >= wanted:
                self._read_back_after_settle(
                    row, f"adopted copy counted: contents {arrived}/{wanted}"
                )
                return True
            waited = self._since_requested(row)
            if not contents or waited + gap > self.options.task_timeout:
                why = (
                    f"{source} holds no content, so its course cannot show when the copy ended"
                    if not contents
                    else f"its content did not reach the source's within --task-timeout "
                    f"({humanized(waited)} after the request)"
                )
                self.ledger.record_needs_review(
                    target,
                    ErrorKind.ADOPTION_UNPROVEN,
                    f"{target} ({row.course_pk}) was adopted as the copy of {source}, whose "
                    f"end Learn does not show, and {why}: found contents {arrived}/{wanted}. "
                    "Its instructors were not enrolled",
                )
                return False
            if not await self._pause(gap):
                return False
            gap = min(self.options.poll_max, 2 * gap)

    def _read_back_after_settle(self, row: LedgerRow, detail: str) -> None:
        """Commit that an adopted copy is read back one --adopt-settle from now."""
        settle = timedelta(seconds=self.options.adopt_settle)
        self.ledger.record_counted(
            row.target_course_id, detail, read_back_at=self._clock() + settle
        )
        self._counted[row.target_course_id] = self._monotonic()

    async def _prove(self, row: LedgerRow) -> bool:
        """Read an adopted copy's course back a settle after its content was complete: its
        PATCHed values and its instructors' roles must still hold. What was written over is
        written again and read back a settle later (the row comes back to enrol again), until
        --task-timeout of the request, then `needs_review` saying what was found. False when
        the row stops here (parked, stopped, or handed to a person)."""
        target = row.target_course_id
        if not await self._until_read_back(row):
            return False
        found = await self._reader.read_back(row, self.ledger.enrolments(target))
        if not found:
            self.ledger.record_proven(
                target, "read back: Learn shows the row's values and instructors"
            )
            return True
        if found.fields and await self._send_patch(row) is None:
            return False
        for user in found.members:  # enrolled again by `_finish`
            self.ledger.record_enrolment(target, user, EnrolmentState.PENDING)
        if self._since_requested(row) + self.options.adopt_settle > self.options.task_timeout:
            await self._enrol(self.ledger.row(target), during_copy=False)
            self.ledger.record_needs_review(
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
        counted = self._counted.get(target)
        if counted is not None:
            wait = self.options.adopt_settle - (self._monotonic() - counted)
        else:
            wait = seconds_between(self._clock(), row.settle_until or self._clock())
        if wait > self.options.task_timeout:  # this run would not see it
            self.outcome.parked.append(target)
            return False
        return await self._pause(wait)

    def _since_requested(self, row: LedgerRow) -> float:
        """Seconds since the row's copy was requested: on the monotonic clock if this run
        requested it, else on Learn's clock if the intent's time on it is known, else on
        this machine's."""
        since = self._since_intent(row.target_course_id)
        if since is not None:
            return since
        site_now = self.client.site_now()
        if row.intent_site_at is not None and site_now is not None:
            return seconds_between(row.intent_site_at, site_now)
        return seconds_between(row.intent_at or self._clock(), self._clock())

    async def _find_resolved_course(self, row: LedgerRow) -> LedgerRow | None:
        """The row with the primary id of the course a person resolved as copied, or None
        (and the row back with a person) when Learn has no such course."""
        target = row.target_course_id
        course_pk = row.target_pk if row.copy_into_existing else None
        if course_pk is None:
            try:
                course = await self.client.get_course(id_form(target), "id")
            except LearnNotFound:
                self.ledger.record_needs_review(
                    target,
                    ErrorKind.COURSE_MISSING,
                    f"resolved as copied, but Learn has no course {target}: check the courseId "
                    "in Learn; if the copy is not there, resolve the row --not-copied",
                )
                return None
            course_pk = str(course["id"])
        self.ledger.record_course_found(target, course_pk)
        return self.ledger.row(target)

    async def _finish(self, row: LedgerRow) -> bool:
        """The course is copied and patched: enrol who is left, verify, and end the row.

        A copy Learn ended with a warning goes to a person first (with any refused enrolment
        named), so fixing an instructors cell can never finish a row nobody has looked at; then
        refused enrolments fail the row; then an adopted copy is proven; then a short
        verification hands it to a person. False when the row stops here for this run.
        """
        target = row.target_course_id
        if row.proof is Proof.DUE:  # patched by a rollover that did not prove adopted copies
            if not await self._count_adopted(row):
                return False
            row = self.ledger.row(target)
        if self._has_enrolments_left(target):
            await self._enrol(row, during_copy=False)
        refused = [e for e in self.ledger.enrolments(target) if e.state is EnrolmentState.FAILED]
        refusal = (
            "Learn refused to enrol " + "; ".join(e.error or e.user_id for e in refused)
            if refused
            else None
        )
        if refusal is not None and not row.error:
            self.ledger.record_failed(
                target,
                ErrorKind.ENROL_REFUSED,
                f"copied and patched as {row.course_pk}, but {refusal}. Fix the instructors "
                "cell (or the users in Learn) and run again: only the enrolments are retried",
            )
            return True
        if row.proof is Proof.COUNTED:
            if not await self._prove(row):
                return False
            row = self.ledger.row(target)
            if row.proof is not Proof.PROVEN:  # written again: enrolled again, read back later
                return True
        verification = None
        # A person who resolved a counted row as copied has accepted what it holds.
        accepted = row.resolution is Resolution.COPIED and row.verification is not None
        if self.options.verify and not accepted:
            verification, short = await self._verify(row)
            if short and not row.error:
                self.ledger.record_needs_review(
                    target,
                    ErrorKind.VERIFY_SHORT,
                    f"{target} holds fewer than {row.source_course_id} (and what the course "
                    f"held before): {verification}. The course was patched; check its content",
                    verification=verification,
                )
                return True
        if row.error:  # the copy ended with a warning from Learn: a person must look
            counted = f" ({verification})" if verification else ""
            refused_too = f"; also, {refusal}" if refusal else ""
            self.ledger.record_needs_review(
                target,
                row.error_kind or ErrorKind.COPY_UNCLEAN,
                f"{row.error}; the course was patched, check its content{counted}{refused_too}",
                verification=verification,
            )
        else:
            self.ledger.record_done(target, verification=verification)
        return True

    def _has_enrolments_left(self, target: str) -> bool:
        return any(
            e.state in (EnrolmentState.PENDING, EnrolmentState.SENDING)
            for e in self.ledger.enrolments(target)
        )

    def _enrol_again(self, row: LedgerRow) -> None:
        """A person said the copy was not made and it is requested again: the enrolments made
        into the course that copy was meant for are made again (Learn says 409 to those that
        are still there), so none is lost with a course that was deleted."""
        for enrolment in self.ledger.enrolments(row.target_course_id):
            if enrolment.state is EnrolmentState.DONE:
                self.ledger.record_enrolment(
                    row.target_course_id, enrolment.user_id, EnrolmentState.PENDING
                )

    async def _enrol(self, row: LedgerRow, *, during_copy: bool) -> None:
        """Enrol the row's instructors not yet enrolled; each is committed before and after.

        While the copy runs, a 404 may only mean that Learn does not show the new course yet:
        that enrolment waits for the copy's end, when a 404 is the user's or the role's.
        """
        target = row.target_course_id
        if row.proof is Proof.DUE:
            # An adopted copy's percentComplete cannot be seen: nobody is enrolled before its
            # course holds all of the source's content (`_count_adopted`).
            return
        course = row.course_pk or row.target_pk or id_form(target)
        for enrolment in self.ledger.enrolments(target):
            if enrolment.state not in (EnrolmentState.PENDING, EnrolmentState.SENDING):
                continue
            self.ledger.record_enrolment(target, enrolment.user_id, EnrolmentState.SENDING)
            try:
                await self.client.enrol(course, enrolment.user_id, enrolment.role)
            except (LearnAuthError, LearnUnreachable):
                raise
            except LearnError as exc:
                if error_meaning(Call.CHANGE, exc) is not Meaning.ROW_FAILED:
                    raise
                if during_copy and exc.status == 404:
                    self.ledger.record_enrolment(target, enrolment.user_id, EnrolmentState.PENDING)
                    continue
                self.ledger.record_enrolment(
                    target,
                    enrolment.user_id,
                    EnrolmentState.FAILED,
                    f"{enrolment.user_id} as {enrolment.role} ({exc.status}: {exc.learn_message})",
                )
            else:
                self.ledger.record_enrolment(target, enrolment.user_id, EnrolmentState.DONE)

    async def _source_counts(
        self, source: str, wanted: VerifiedCounts
    ) -> tuple[int | None, int | None]:
        """(content items, gradebook columns) of a source, each counted only when `wanted`:
        once per source, kept in the ledger for later runs too."""
        async with self._source_locks.setdefault(source, asyncio.Lock()):
            known = self.ledger.source_counts(source) or (None, None)
            contents, columns = known
            if wanted.contents and contents is None:
                contents = (await self.client.content_counts(id_form(source)))[0]
            if wanted.columns and columns is None:
                columns = await self.client.column_count(id_form(source))
            if (contents, columns) != known:
                self.ledger.record_source_counts(source, contents, columns)
        return contents, columns

    async def _verify(self, row: LedgerRow) -> tuple[str | None, bool]:
        """Count what the copy brought against its source, only as far as the row's copy
        profile copies it: (the counts in words, None if it copies neither; short?)."""
        wanted = row.spec.verified
        if not wanted.reads:
            return None, False
        contents, columns = await self._source_counts(row.source_course_id, wanted)
        course = row.course_pk or ""
        words: list[str] = []
        short = False
        if wanted.contents and contents is not None:
            arrived = (await self.client.content_counts(course))[0]
            expected = contents + (row.shell_contents or 0)
            words.append(f"contents {arrived}/{expected}")
            short = short or arrived < expected
        if wanted.columns and columns is not None:
            arrived = await self.client.column_count(course)
            expected = columns + (row.shell_columns or 0)
            words.append(f"columns {arrived}/{expected}")
            short = short or arrived < expected
        return "; ".join(words), short

    async def _pause(self, seconds: float, sooner: asyncio.Event | None = None) -> bool:
        """Sleep, unless a stop is requested (or `sooner` is set) first; True if the sleep ran
        out."""
        return await self._stop.sleep(seconds, sooner=sooner, using=self._sleep)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _running_since(poll: TaskPoll, posted: datetime, now: datetime) -> float | None:
    """When the task began running, on this machine's clock: Learn's `started`, kept between
    our POST and now, since the two clocks differ."""
    if poll.started is None:
        return None
    return min(now, max(posted, poll.started)).timestamp()
