"""Off-peak windows: `--window 22:00-06:00` (crossing midnight works)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from rollover.errors import UsageError

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    """A daily span of local time in which new copies may start."""

    start: time
    end: time
    tz: ZoneInfo

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> Window:
        """Read `HH:MM-HH:MM`; a UsageError names the value and the expected form."""
        match = _WINDOW.match(text)
        if not match:
            raise UsageError(
                f"--window {text!r} is not HH:MM-HH:MM", hint="for example --window 22:00-06:00"
            )
        sh, sm, eh, em = (int(part) for part in match.groups())
        if sh > 23 or eh > 23 or sm > 59 or em > 59:
            raise UsageError(
                f"--window {text!r} has an hour or minute out of range",
                hint="hours are 00-23 and minutes 00-59",
            )
        if (sh, sm) == (eh, em):
            raise UsageError(f"--window {text!r} is empty", hint="start and end must differ")
        return cls(time(sh, sm), time(eh, em), tz)

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls inside the window, read on the zone's clock that day (its own
        offset, daylight saving included)."""
        local = moment.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # crosses midnight

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"
