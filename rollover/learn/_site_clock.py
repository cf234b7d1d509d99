"""Learn's clock as its answers tell it: the Date header of each answer, against this machine's.

The engine compares times Learn gives (a task's start, a course's creation) in Learn's time: a
machine whose clock is off by minutes would otherwise misjudge a copy's age. The transport
notes every answer here.
"""

from __future__ import annotations

import collections
import email.utils
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import structlog

# The site's clock is the client's concern: its events keep the client's logger name.
log = structlog.get_logger("rollover.client")

CLOCK_SAMPLES = 15  # answers whose Date header the site's clock offset is the median of
CLOCK_TOLD = 5.0  # seconds of offset from which it is logged


class SiteClock:
    """Learn's clock, read from the Date headers of its latest answers."""

    def __init__(self, monotonic: Callable[[], float], clock: Callable[[], datetime]) -> None:
        self._monotonic = monotonic
        self._clock = clock
        # Learn's Date header minus this machine's clock, per answer (the latest few).
        self._offsets: collections.deque[float] = collections.deque(maxlen=CLOCK_SAMPLES)
        self._offset_told = False
        self.last_date: datetime | None = None  # Learn's clock at its latest answer
        self._date_seen = 0.0  # when that answer came, on the monotonic clock

    @property
    def offset(self) -> float:
        """Seconds Learn's clock is ahead of this machine's (negative: behind), the median of
        the latest answers' Date headers; 0 until an answer has said."""
        if not self._offsets:
            return 0.0
        return float(statistics.median(self._offsets))

    def now(self) -> datetime | None:
        """Learn's clock now: its latest answer's Date plus the monotonic time since, so no
        step of this machine's wall clock moves it; None until an answer has told it."""
        if self.last_date is None:
            return None
        return self.last_date + timedelta(seconds=self._monotonic() - self._date_seen)

    def note(self, response: httpx.Response) -> None:
        """Read an answer's Date header, if it has a usable one."""
        dated = response.headers.get_list("Date")
        if not dated:
            return
        try:
            said = email.utils.parsedate_to_datetime(dated[0])
        except (TypeError, ValueError):
            return
        if said.tzinfo is None:
            said = said.replace(tzinfo=UTC)
        # The header has whole seconds, said some time before now: +0.5 s is its middle.
        self.last_date = said + timedelta(seconds=0.5)
        self._date_seen = self._monotonic()
        self._offsets.append((said - self._clock()).total_seconds() + 0.5)
        offset = self.offset
        if len(self._offsets) >= 3 and abs(offset) > CLOCK_TOLD and not self._offset_told:
            self._offset_told = True
            log.warning(
                "learn.clock_offset",
                seconds=round(offset, 1),
                message=f"Learn's clock is {abs(offset):.0f} s "
                f"{'ahead of' if offset > 0 else 'behind'} this machine's; times from Learn "
                "are compared in Learn's time",
            )
