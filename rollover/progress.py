"""Progress of a run: rows by stage, rate, ETA and quota, live on a terminal or logged each minute.

Counts are kept in memory from the ledger's observer hook (one dictionary update per transition,
no I/O), so watching a run never costs the engine a query. A view shows them, from its own ticker
task and never from inside a ledger write, so a terminal that is gone cannot break a commit:
`LiveDisplay` redraws one line in place on a terminal (and turns itself off when the terminal
fails); `MinuteSummary` logs a `progress` event a minute for cron's logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TextIO, cast

import structlog

from rollover.ledger import STAGES, LedgerRow, State
from rollover.report import stage_counts
from rollover.times import humanized

log = structlog.get_logger("rollover")


class QuotaSource(Protocol):
    """Where the quota last seen comes from: the Learn client's fields."""

    @property
    def quota_remaining(self) -> int | None:
        """Learn's X-Rate-Limit-Remaining at its latest answer that said, else None."""

    @property
    def quota_limit(self) -> int | None:
        """Learn's X-Rate-Limit-Limit at its latest answer that said, else None."""


@dataclass(frozen=True)
class Snapshot:
    """The numbers a view shows at one moment."""

    stages: dict[str, int]
    finished: int  # rows that reached a final state during this run
    elapsed: float
    quota_remaining: int | None
    quota_limit: int | None
    settling: int = 0  # adopted copies waiting out --adopt-settle
    settle_until: datetime | None = None  # the last of their waits ends then

    @property
    def rows_per_minute(self) -> float | None:
        """Rows finished per minute this run, once one has finished."""
        if not self.finished or self.elapsed <= 0:
            return None
        return self.finished * 60.0 / self.elapsed

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until every unfinished row is final, at the rate so far."""
        rate = self.rows_per_minute
        left = sum(
            self.stages.get(stage, 0) for stage in ("queued", "copying", "patching", "shifting")
        )
        if not left:
            return 0.0
        return left * 60.0 / rate if rate else None

    def event_fields(self) -> dict[str, Any]:
        """The numbers as the `progress` log event carries them."""
        rate, eta = self.rows_per_minute, self.eta_seconds
        return {
            **self.stages,
            "rows_per_minute": None if rate is None else round(rate, 1),
            "eta_seconds": None if eta is None else round(eta),
            "quota_remaining": self.quota_remaining,
            "quota_limit": self.quota_limit,
            "elapsed_seconds": round(self.elapsed),
            **(
                {"settling": self.settling, "settle_until": self.settle_until.isoformat()}
                if self.settling and self.settle_until
                else {}
            ),
        }

    def line(self) -> str:
        """The numbers as the live display's one line."""
        stages = " | ".join(f"{stage.replace('_', ' ')} {self.stages[stage]}" for stage in STAGES)
        rate, eta = self.rows_per_minute, self.eta_seconds
        rate_text = "-- rows/min" if rate is None else f"{rate:.1f} rows/min"
        eta_text = "--" if eta is None else humanized(eta)
        quota = (
            "?"
            if self.quota_remaining is None
            else f"{self.quota_remaining}" + (f"/{self.quota_limit}" if self.quota_limit else "")
        )
        settle = (
            f" | settling {self.settling} until {self.settle_until:%H:%M} UTC"
            if self.settling and self.settle_until
            else ""
        )
        return f"{stages}{settle} | {rate_text} | ETA {eta_text} | quota {quota}"


class View(Protocol):
    """Something that shows snapshots: at most once per `every` seconds, and once at the end."""

    every: float

    def show(self, snapshot: Snapshot) -> None:
        """Show the numbers now."""

    def finish(self, snapshot: Snapshot) -> None:
        """Show the final numbers and let go of the output."""


class LiveDisplay:
    """One line on a terminal, redrawn in place; log lines are printed above it."""

    def __init__(self, stream: TextIO, *, every: float = 0.25, width: int | None = None) -> None:
        self.stream = stream
        self.every = every
        self._width = width
        self._line = ""
        self._closed = False
        # structlog's console writes here, so its lines land above the redrawn one.
        self.log_stream = cast(TextIO, _AboveTheLine(self))

    def show(self, snapshot: Snapshot) -> None:
        """Redraw the line with these numbers."""
        if self._closed:
            return
        width = self._width or shutil.get_terminal_size(fallback=(100, 24)).columns
        # A line wider than the terminal wraps, and `\r` would then redraw only its last part.
        self._line = snapshot.line()[: max(1, width - 1)]
        self._draw()

    def finish(self, snapshot: Snapshot) -> None:
        """Draw the final numbers and end the line, so what follows starts on its own."""
        self.show(snapshot)
        self._write("\n")
        self._closed = True

    def _draw(self) -> None:
        self._write("\r" + self._line + "\x1b[K")

    def _erase(self) -> None:
        if self._line:
            self._write("\r\x1b[K", flush=False)

    def _redraw(self) -> None:
        if self._line:
            self._draw()

    def _write(self, text: str, *, flush: bool = True) -> None:
        """Write to the terminal; one that fails (closed: EIO, EPIPE) turns the display off
        for good, and the run goes on without it."""
        if self._closed:
            return
        try:
            self.stream.write(text)
            if flush:
                self.stream.flush()
        except OSError as exc:
            self._closed = True
            log.warning("progress.off", reason=f"the terminal cannot be written ({exc})")


class _AboveTheLine(io.TextIOBase):
    """The stream log lines go to while a live display holds the terminal's last line."""

    def __init__(self, display: LiveDisplay) -> None:
        super().__init__()
        self._display = display
        self._mid_line = False

    def write(self, text: str) -> int:
        """Erase the live line, write the log text, and redraw the line once the text ends."""
        if not self._mid_line:
            self._display._erase()
        try:
            self._display.stream.write(text)
        except OSError:
            self._display._closed = True  # the terminal is gone: no line to redraw either
            raise
        self._mid_line = not text.endswith("\n")
        if not self._mid_line:
            self._display._redraw()
        return len(text)

    def flush(self) -> None:
        """Flush the terminal."""
        self._display.stream.flush()

    def isatty(self) -> bool:
        """Whether the terminal is one (log_setup picks console lines by it)."""
        return self._display.stream.isatty()

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True


class MinuteSummary:
    """A structured `progress` event a minute, for runs without a terminal (cron)."""

    def __init__(self, *, every: float = 60.0) -> None:
        self.every = every

    def show(self, snapshot: Snapshot) -> None:
        """Log the numbers."""
        log.info("progress", **snapshot.event_fields())

    def finish(self, snapshot: Snapshot) -> None:
        """Log the final numbers."""
        log.info("progress", final=True, **snapshot.event_fields())


class Progress:
    """A run's rows counted by stage from ledger transitions, shown through a view."""

    def __init__(self, view: View, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.view = view
        self._clock = clock
        self._stages: Counter[str] = Counter()
        self._stage_of: dict[str, str] = {}  # each row's stage as last counted
        self._settling: dict[str, datetime | None] = {}
        self._finished = 0
        self._started = 0.0
        self._next_show = 0.0
        self._quota: QuotaSource | None = None

    def start(
        self,
        rows: Iterable[LedgerRow],
        *,
        quota: QuotaSource | None = None,
    ) -> None:
        """Count the run's rows as they are now; `quota` is where the quota is read from."""
        rows = list(rows)
        self._stages = Counter(stage_counts(rows))
        self._stage_of = {row.target_course_id: row.stage for row in rows}
        self._settling = {row.target_course_id: row.settle_until for row in rows if row.settling}
        self._finished = 0
        self._quota = quota
        self._started = self._clock()
        self._next_show = self._started + self.view.every

    def observe(self, row: LedgerRow, from_state: str | None, detail: str | None) -> None:
        """The ledger's observer hook: move one row between stages (counts only: the ticker
        shows them)."""
        if row.settling:
            self._settling[row.target_course_id] = row.settle_until
        else:
            self._settling.pop(row.target_course_id, None)
        before = State(from_state) if from_state is not None else None
        if before is not None:
            # The row's own stage as last counted (`shifting` is no state of its own).
            self._stages[self._stage_of.get(row.target_course_id, before.stage)] -= 1
        self._stage_of[row.target_course_id] = row.stage
        self._stages[row.stage] += 1
        if row.state.final and not (before is not None and before.final):
            self._finished += 1

    def snapshot(self) -> Snapshot:
        """The numbers now."""
        quota = self._quota
        return Snapshot(
            stages={stage: self._stages[stage] for stage in STAGES},
            finished=self._finished,
            elapsed=self._clock() - self._started,
            quota_remaining=quota.quota_remaining if quota else None,
            quota_limit=quota.quota_limit if quota else None,
            settling=len(self._settling),
            settle_until=max((t for t in self._settling.values() if t), default=None),
        )

    def tick(self) -> None:
        """Show the numbers if the view is due."""
        now = self._clock()
        if now >= self._next_show:
            self._next_show = now + self.view.every
            self.view.show(self.snapshot())

    async def keep_showing(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Tick until cancelled, so the numbers move even while no row changes."""
        while True:
            await sleep(self.view.every)
            self.tick()

    def finish(self) -> None:
        """Show the final numbers."""
        self.view.finish(self.snapshot())


async def stop_ticking(ticking: asyncio.Task[None]) -> None:
    """Cancel a `keep_showing` task and wait until it has ended."""
    ticking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticking
