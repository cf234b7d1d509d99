"""Admission: whether a new copy may start now, and the poll budget it is paced by.

A new copy starts only while fewer than the pace's window are in Learn's hands, inside
--window, and above --quota-reserve; copies in flight are still polled and patched when no new
one may start. The poll budget is what Learn's quota affords beyond the calls every unfinished
row needs at the least (the floor).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from rollover.learn import LearnClient, Stop
from rollover.ledger import Ledger, LedgerRow, State, calls_left
from rollover.plan import POLLS_PER_COPY, source_calls

from ._options import RunOptions
from ._outcome import RunOutcome
from ._pacing import CopyPace, floor_calls

log = structlog.get_logger("rollover.engine")


class PollBudget:
    """The calls the rows left need at the floor and the copies to see done, as counted when
    the run starts, and what the run has spent since; told to the pace as the quota changes."""

    def __init__(
        self, ledger: Ledger, client: LearnClient, options: RunOptions, pace: CopyPace
    ) -> None:
        self._ledger = ledger
        self._client = client
        self._options = options
        self._pace = pace
        self._floor = self._copies_to_see = self._calls_before = 0
        self.extra_polls = self.copies_seen = 0
        # Rows being driven, and how many of them wait for a spare call to poll their copy.
        self.workers = self.awaiting_spare = 0
        self._logged = False

    def count_floor(self, rows: list[LedgerRow]) -> None:
        """The poll budget's starting point: what the unfinished rows need at the least."""
        verify = self._options.verify
        self._floor = 1 + sum(floor_calls(row, verify=verify) for row in rows)  # 1: the token
        self._floor += source_calls(
            [row.spec for row in rows], verify=verify, known=self._ledger.source_counts
        )
        to_see = (State.PENDING, State.INTENT, State.LOCATED)
        self._copies_to_see = sum(1 for row in rows if row.state in to_see)
        self._calls_before = self._client.calls.total()

    def tell_pace(self) -> None:
        """Tell the pace what the quota affords now (logged once, when first known): Learn's
        remaining calls less the reserve, the floor not yet spent and the calls in flight
        (sent, so no longer in the floor, but not yet shown in the remaining quota)."""
        remaining = self._client.quota_remaining
        spent_on_floor = self._client.calls.total() - self._calls_before - self.extra_polls
        floor = max(0, self._floor - spent_on_floor)
        self._pace.afford(
            remaining=remaining,
            reserve=self._options.quota_reserve or 0,
            floor=floor + self._client.calls_unanswered,
            copies=self._copies_to_see - self.copies_seen,
        )
        if remaining is not None and not self._logged:
            self._logged = True
            log.info(
                "run.budget",
                quota_remaining=remaining,
                quota_reserve=self._options.quota_reserve or 0,
                floor_calls=floor,
                copies=self._copies_to_see - self.copies_seen,
                extra_polls_affordable_per_copy=rounded(self._pace.extra_per_copy),
                budget=self._pace.budget,
                first_poll_quantile=round(self._pace.quantile, 2),
            )


class Admission:
    """Admits the rows to copy, in order, one slot of --concurrency each."""

    def __init__(
        self,
        ledger: Ledger,
        client: LearnClient,
        options: RunOptions,
        *,
        clock: Callable[[], datetime],
        pace: CopyPace,
        budget: PollBudget,
        stop: Stop,
        outcome: RunOutcome,
        planned_calls: int | None,
    ) -> None:
        self._ledger = ledger
        self._client = client
        self._options = options
        self._clock = clock
        self._pace = pace
        self._budget = budget
        self._stop = stop
        self._outcome = outcome
        self._planned_calls = planned_calls
        self._quota_checked = False
        self._in_flight = 0
        self._pending: list[LedgerRow] = []  # the rows to copy, admitted in order
        self._admitted = 0
        self._condition = asyncio.Condition()

    def hold(self) -> None:
        """A copy already in Learn's hands (from an earlier run) takes a slot."""
        self._in_flight += 1

    def queue(self, pending: list[LedgerRow]) -> None:
        """The rows to copy, in the order they are admitted."""
        self._pending = pending

    async def admit(self) -> bool:
        """Wait for a slot for the next row to copy; False when no new copy may start."""
        async with self._condition:
            await self._condition.wait_for(
                lambda: self._in_flight < self._pace.window or self._stop.requested
            )
            self._budget.tell_pace()
            if self._stop.requested:
                return False
            refusal = self._start_refused()
            if refusal is not None:
                # Copies in flight are still polled and patched; only new ones wait.
                self._outcome.stopped = self._outcome.stopped or refusal
                return False
            self._in_flight += 1
            self._admitted += 1
            return True

    async def release(self) -> None:
        """A copy left Learn's hands (or its row stopped): its slot is free."""
        async with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    def _start_refused(self) -> str | None:
        """Why no new copy may start now (window closed, quota reserve), or None."""
        window = self._options.window
        if window is not None and not window.contains(self._clock()):
            return f"outside the window {window}: new copies start at {window.start:%H:%M}"
        reserve, remaining = self._options.quota_reserve, self._client.quota_remaining
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
        limit = self._client.quota_limit
        if not limit:
            return "run again when the site's quota has refilled"
        verify, left = self._options.verify, self._pending[self._admitted :]
        calls = sum(
            calls_left(row.spec, row, row.state, verify=verify, polls=POLLS_PER_COPY)
            for row in left
        )
        calls += source_calls(
            [row.spec for row in left], verify=verify, known=self._ledger.source_counts
        )
        needed = reserve + round(calls) - remaining
        hours = max(0.0, needed) / (limit / 24)
        return (
            f"the {len(left)} rows left need about {needed} more calls, which "
            f"Learn's {limit} calls per 24 h refill in about {hours:.1f} h: run again then"
        )


def rounded(value: float | None) -> float | None:
    """A figure for the logs: two decimals, None kept."""
    return None if value is None else round(value, 2)
