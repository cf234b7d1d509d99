"""A run's stop, and the one way the run waits: every wait ends when the stop is requested.

A signal (SIGINT, SIGTERM, SIGHUP) or a worker that cannot go on asks the run to stop, once.
From then on no new call is sent, and every wait the run is in ends at once: retry back-off, a
Retry-After, the shared 429 pause, the sign-in retry, poll gaps, the adopt settle. That keeps
the contract's promise that a stop takes effect within 5 seconds. The sleep itself stays
injected, so tests on a virtual clock keep their speed.
"""

from __future__ import annotations

import asyncio

from rollover.errors import RunStopped

from ._retry import Sleep


class Stop:
    """A run's stop: requested once, seen by every wait and before every call."""

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self._sleep = sleep
        self._event = asyncio.Event()
        self.reason: str | None = None  # the first reason given

    @property
    def requested(self) -> bool:
        """Whether the run was asked to stop."""
        return self._event.is_set()

    def request(self, reason: str) -> None:
        """Ask the run to stop; the first reason is the one kept."""
        if self.reason is None:
            self.reason = reason
        self._event.set()

    async def wait(self) -> None:
        """Return once the stop is requested."""
        await self._event.wait()

    def check(self) -> None:
        """Raise RunStopped if the stop was requested: called before a new call is sent."""
        if self.requested:
            raise RunStopped(f"stopped before sending ({self.reason})")

    async def sleep(
        self, seconds: float, *, sooner: asyncio.Event | None = None, using: Sleep | None = None
    ) -> bool:
        """Sleep `seconds` (with `using`, else this stop's sleep) unless the stop, or `sooner`,
        comes first; True if the sleep ran out."""
        if self.requested:
            return False
        if seconds <= 0:
            return True
        sleeper = asyncio.ensure_future((using or self._sleep)(seconds))
        waits = {sleeper, asyncio.ensure_future(self._event.wait())}
        if sooner is not None:
            waits.add(asyncio.ensure_future(sooner.wait()))
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return sleeper in done and not self.requested

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or raise RunStopped as soon as the stop is requested."""
        await self.sleep(seconds)
        self.check()
