"""How long ago each row's steps were taken, and the run's pause.

Intervals (poll gaps, --task-timeout, --adopt-settle) of steps this run took are measured on
the monotonic clock, so a step of the wall clock moves none of them; steps an earlier run took
are measured from the ledger's times (on Learn's clock where the ledger kept it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from rollover.learn import LearnClient, Stop
from rollover.ledger import LedgerRow
from rollover.times import seconds_between


class RowClocks:
    """When this run committed each row's intent, Location and read-back, and the time since."""

    def __init__(
        self,
        client: LearnClient,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._client = client
        self._clock = clock
        self.monotonic = monotonic
        self._intent_made: dict[str, float] = {}  # target -> when this run committed its intent
        self._located: dict[str, float] = {}  # target -> when this run committed its Location
        self._counted: dict[str, float] = {}  # target -> when this run scheduled its read-back

    def intent_made(self, target: str) -> None:
        """This run committed the row's intent now."""
        self._intent_made[target] = self.monotonic()

    def located(self, target: str) -> None:
        """This run committed the row's task Location now."""
        self._located[target] = self.monotonic()

    def counted(self, target: str) -> None:
        """This run scheduled the row's read-back now."""
        self._counted[target] = self.monotonic()

    def when_intent_made(self, target: str) -> float | None:
        """Monotonic time this run committed the row's intent (None: it did not)."""
        return self._intent_made.get(target)

    def when_located(self, target: str) -> float | None:
        """Monotonic time this run committed the row's Location (None: it did not)."""
        return self._located.get(target)

    def since_counted(self, target: str) -> float | None:
        """Monotonic seconds since this run scheduled the row's read-back (None: it did not)."""
        counted = self._counted.get(target)
        return None if counted is None else self.monotonic() - counted

    def since_intent(self, target: str) -> float | None:
        """Monotonic seconds since this run committed the row's intent (None: it did not)."""
        made = self._intent_made.get(target)
        return None if made is None else self.monotonic() - made

    def since_posted(self, row: LedgerRow) -> float:
        """Seconds since the row's copy was accepted: on the monotonic clock if this run
        posted it, else from the ledger's time."""
        located = self._located.get(row.target_course_id)
        if located is not None:
            return self.monotonic() - located
        return seconds_between(row.requested_at or self._clock(), self._clock())

    def since_requested(self, row: LedgerRow) -> float:
        """Seconds since the row's copy was requested: on the monotonic clock if this run
        requested it, else on Learn's clock if the intent's time on it is known, else on
        this machine's."""
        since = self.since_intent(row.target_course_id)
        if since is not None:
            return since
        site_now = self._client.site_now()
        if row.intent_site_at is not None and site_now is not None:
            return seconds_between(row.intent_site_at, site_now)
        return seconds_between(row.intent_at or self._clock(), self._clock())


class Pause:
    """The run's sleep: cut short by its stop (or by `sooner`)."""

    def __init__(self, stop: Stop, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._stop = stop
        self._sleep = sleep

    async def __call__(self, seconds: float, sooner: asyncio.Event | None = None) -> bool:
        """Sleep, unless a stop is requested (or `sooner` is set) first; True if the sleep ran
        out."""
        return await self._stop.sleep(seconds, sooner=sooner, using=self._sleep)
