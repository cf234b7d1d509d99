"""The engine: drives every ledger row to a final state (submit, poll, patch).

Per row the order is fixed and each step is committed to the ledger before the next is taken:
intent, copy POST, Location, polls (instructors enrolled once one shows 15%, unless the row has
merged sections), course id, PATCH, the children attached, the instructors left, the counts of
--verify, done. A row whose copy answer was lost is never POSTed again on a guess: it is
reconciled against Learn's courses (new targets) or handed to a person (copies into existing
courses, which Learn applies additively); see `reconcile`.
A copy adopted that way is never seen to end, so it is proven instead (`_adoption`): its course
is counted until it holds the source's content, then patched and enrolled, and read back a
settle later.

`Rollover` is the orchestrator; each step lives in its own module: admission (`_admission`),
the copy's request and task (`_copy`), the PATCH (`_patch`), the shell, enrolments and counts
(`_teaching`), the merged sections' attachments (`_merging`), the adopted copy's waits
(`_adoption`) and reconciliation (`_reconcile`).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from rollover.errors import (
    EntitlementMissing,
    LearnAnsweredPage,
    LearnAsksToWait,
    LearnAuthError,
    LearnError,
    LearnUnreachable,
    LedgerUnwritable,
    RunStopped,
    SiteNotFound,
)
from rollover.learn import Call, LearnClient, Meaning, error_meaning
from rollover.ledger import (
    TERMINAL,
    EnrolmentState,
    ErrorKind,
    Ledger,
    LedgerRow,
    Proof,
    Resolution,
    State,
)
from rollover.times import utc_now

from ._admission import Admission, PollBudget, rounded
from ._adoption import AdoptionProof
from ._clocks import Pause, RowClocks
from ._copy import Copying
from ._merging import Merging
from ._options import RunOptions
from ._outcome import RunOutcome
from ._pacing import CopyPace
from ._patch import Patching
from ._reconcile import Reconciliation
from ._shifting import Shifting
from ._teaching import Teaching

__all__ = ["Rollover", "RunOptions"]

log = structlog.get_logger("rollover.engine")
_ROW: contextvars.ContextVar[str | None] = contextvars.ContextVar("row", default=None)


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
        # One stop for the run, the client's: its waits and the engine's end with it.
        self._stop = client.stop
        self._zone = zone or ZoneInfo("UTC")  # the run's zone, for times told to people
        client.on_answer = self._note_answer
        self.outcome = RunOutcome()
        self.pace = CopyPace(
            poll_min=options.poll_min, poll_max=options.poll_max, concurrency=options.concurrency
        )
        clocks = RowClocks(client, clock, monotonic)
        pause = Pause(self._stop, sleep)
        self._budget = PollBudget(ledger, client, options, self.pace)
        self._admission = Admission(
            ledger,
            client,
            options,
            clock=clock,
            pace=self.pace,
            budget=self._budget,
            stop=self._stop,
            outcome=self.outcome,
            planned_calls=planned_calls,
        )
        self._teaching = Teaching(ledger, client, options)
        self._merging = Merging(ledger, client)
        self._shifting = Shifting(
            ledger, client, options, outcome=self.outcome, zone=self._zone, clock=clock
        )
        self._reconciliation = Reconciliation(
            ledger, client, clock, since_intent=clocks.since_intent
        )
        self._copying = Copying(
            ledger,
            client,
            options,
            clock=clock,
            clocks=clocks,
            pause=pause,
            stop=self._stop,
            pace=self.pace,
            budget=self._budget,
            outcome=self.outcome,
            teaching=self._teaching,
            merging=self._merging,
            reconciliation=self._reconciliation,
        )
        self._patching = Patching(ledger, client)
        self._adoption = AdoptionProof(
            ledger,
            client,
            options,
            clock=clock,
            clocks=clocks,
            pause=pause,
            outcome=self.outcome,
            teaching=self._teaching,
            patching=self._patching,
        )

    def request_stop(self, reason: str) -> None:
        """Send no new call; calls already sent finish and are recorded, then every worker
        returns, from whatever it waited for."""
        if self.outcome.stopped is None:
            self.outcome.stopped = reason
        self._stop.request(reason)

    async def run(self) -> RunOutcome:
        """Drive every unfinished row of the manifest."""
        rows = [row for row in self.ledger.rows() if row.state not in TERMINAL]
        self._budget.count_floor(rows)
        async with asyncio.TaskGroup() as group:
            for row in rows:  # copies already in Learn's hands count against --concurrency
                if row.state in (State.INTENT, State.LOCATED):
                    self._admission.hold()
                    group.create_task(self._drive(row.target_course_id, holds_slot=True))
                elif row.state in (State.COPIED, State.PATCHED):
                    group.create_task(self._drive(row.target_course_id, holds_slot=False))
            pending = [row for row in rows if row.state is State.PENDING]
            self._admission.queue(pending)
            for row in pending:
                if not await self._admission.admit():
                    break
                group.create_task(self._drive(row.target_course_id, holds_slot=True))
        if self._stop.requested and self.outcome.stopped is None:
            self.outcome.stopped = "stop requested"
        pace, budget = self.pace, self._budget
        budget.tell_pace()
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
            extra_polls=budget.extra_polls,
            extra_polls_per_copy=round(budget.extra_polls / max(1, budget.copies_seen), 2),
            first_poll_quantile=round(pace.quantile, 2),
            queue_ratio=rounded(ratio),
            queued_share=rounded(pace.queued_share),
            quota_remaining=self.client.quota_remaining,
        )
        return self.outcome

    def _note_answer(self, endpoint: str, status: int) -> None:
        target = _ROW.get()
        if target is not None:
            self.ledger.note_answer(target, endpoint, status)

    async def _drive(self, target: str, *, holds_slot: bool) -> None:
        _ROW.set(target)  # each row's task has its own context: the answers it gets are its own
        self._budget.workers += 1
        try:
            row = self.ledger.row(target)
            while row.state not in TERMINAL and not self._stop.requested:
                if holds_slot and row.state in (State.COPIED, State.PATCHED):
                    holds_slot = False
                    await self._admission.release()
                if not await self._step(row):
                    break
                row = self.ledger.row(target)
        except (LearnUnreachable, LearnAuthError) as exc:
            # Usage errors until a change is sent (exit 2), then resumable (3): `exit_code`.
            if isinstance(exc, LearnAuthError | SiteNotFound | LearnAnsweredPage):
                self.outcome.fatal = exc
            self.request_stop(exc.message)
        except EntitlementMissing as exc:
            self._unentitled(exc)
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
            self._budget.workers -= 1
            if holds_slot:
                await self._admission.release()

    async def _step(self, row: LedgerRow) -> bool:
        """Take one step of a row's state machine; False parks the row for this run."""
        if row.state is State.PENDING:
            await self._copying.request(row)
        elif row.state is State.INTENT:
            await self._reconciliation.copy_answer_lost(row)
        elif row.state is State.LOCATED:
            return await self._copying.await_task(row)
        elif row.state is State.COPIED:
            return await self._patch(row)
        elif row.state is State.PATCHED:
            return await self._finish(row)
        return True

    async def _patch(self, row: LedgerRow) -> bool:
        """Find the course (if a person resolved it), let an adopted copy settle and count it,
        PATCH, then finish the row."""
        target = row.target_course_id
        if row.course_pk is None:  # a person said the copy is in Learn: find it first
            found = await self._patching.find_resolved_course(row)
            if found is None:
                return True
            row = found
        if not await self._adoption.settle(row):
            return False
        if row.proof is Proof.DUE:
            if not await self._adoption.count(row):
                return False
            row = self.ledger.row(target)
        if row.spec.patch:
            course = await self._patching.send(row)
            if course is None:
                return True
            self.ledger.record_patched(target, course_url=self.client.course_url(course))
        return await self._finish(self.ledger.row(target))

    async def _finish(self, row: LedgerRow) -> bool:
        """The course is copied and patched: attach its children, enrol who is left, verify,
        and end the row.

        The children are attached before the instructors are enrolled (Learn's order for
        merging). A copy Learn ended with a warning goes to a person first (with any refused
        attachment or enrolment named), so fixing a cell can never finish a row nobody has
        looked at; then its dated items move by its shift (an adopted copy's once it is
        proven); then refused attachments, enrolments and dates fail the row, in one message;
        then an adopted copy is proven; then a short verification hands it to a person. False
        when the row stops here for this run.
        """
        target = row.target_course_id
        if row.proof is Proof.DUE:  # patched by a rollover that did not prove adopted copies
            if not await self._adoption.count(row):
                return False
            row = self.ledger.row(target)
        if self._merging.attachments_left(target):
            await self._merging.attach(row)
        if self._teaching.enrolments_left(target):
            await self._teaching.enrol(row, during_copy=False)
        row = self.ledger.row(target)
        # An adopted copy may still be writing until it is proven: its dates move after that.
        if row.dates_left and row.proof is not Proof.COUNTED:
            if not await self._shifting.shift(row):
                return False
            row = self.ledger.row(target)
            if row.state in TERMINAL:
                return True
        refusal, kind, next_step = self._refusal(target)
        if refusal is not None and not row.error:
            self.ledger.record_failed(
                target, kind, f"copied and patched as {row.course_pk}, but {refusal}. {next_step}"
            )
            return True
        if row.proof is Proof.COUNTED:
            if not await self._adoption.prove(row):
                return False
            row = self.ledger.row(target)
            if row.proof is not Proof.PROVEN:  # written again: enrolled again, read back later
                return True
            if row.dates_left:  # proven: its dates move at the row's next step
                return True
        verification = None
        # A person who resolved a counted row as copied has accepted what it holds.
        accepted = row.resolution is Resolution.COPIED and row.verification is not None
        if self.options.verify and not accepted:
            verification, short = await self._teaching.verify(row)
            dates, dates_short = await self._shifting.verify(row)
            if dates is not None:
                verification = "; ".join(words for words in (verification, dates) if words)
            if dates_short and not short and not row.error:
                self.ledger.record_needs_review(
                    target,
                    ErrorKind.VERIFY_SHORT,
                    f"{target} does not hold every date as moved: {verification}. Read back "
                    "after the shift, some dates differ from what was sent; check them in Learn",
                    verification=verification,
                )
                return True
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

    def _refusal(self, target: str) -> tuple[str | None, ErrorKind, str]:
        """The row's refused attachments and enrolments in one phrase (None: none), the kind
        of failure they make (a refused attachment's, if any) and the next step."""
        refused = [e for e in self.ledger.enrolments(target) if e.state is EnrolmentState.FAILED]
        enrolling = "Learn refused to enrol " + "; ".join(e.error or e.user_id for e in refused)
        steps = [
            (words, cell, where, retried)
            for words, cell, where, retried in (
                (self._merging.refusal(target), "child_course_ids", "courses", "attachments"),
                (enrolling if refused else None, "instructors", "users", "enrolments"),
                (self._shifting.refusal(target), "shift_dates", "dated items", "dates"),
            )
            if words is not None
        ]
        if not steps:
            return None, ErrorKind.ENROL_REFUSED, ""
        cells = " and ".join(step[1] for step in steps)
        where = " or ".join(step[2] for step in steps)
        retried = " and ".join(step[3] for step in steps)
        kind = {
            "child_course_ids": ErrorKind.CHILD_REFUSED,
            "shift_dates": ErrorKind.DATES_REFUSED,
        }.get(steps[0][1], ErrorKind.ENROL_REFUSED)
        return (
            "; also, ".join(str(step[0]) for step in steps),
            kind,
            f"Fix the {cells} cell (or the {where} in Learn) and run again (--retry-failed): "
            f"only the {retried} are retried",
        )

    # -- how an error that ends a row's drive is told --------------------------------------

    def _unentitled(self, exc: EntitlementMissing) -> None:
        """Learn refused a count or a merge (403: an entitlement the integration user lacks,
        for every course alike). Failing the row would fail every row after its copy and PATCH:
        instead the row stays where it is, no new copy starts, and the run ends resumable
        (exit 3), saying once what to grant."""
        if self._stop.requested:
            return
        log.error("learn.unentitled", entitlement=exc.entitlement, error=exc.learn_message)
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
