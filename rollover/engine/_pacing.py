"""Pacing: when to poll a copy task, and how many copies to keep in Learn's hands.

Every poll spends the site's API quota, and Learn runs only a few copies at once, so both are
learned from what the run sees instead of fixed:

- **First poll.** Timed at a high quantile (`FIRST_POLL_QUANTILE`) of the time from a copy's
  POST to its completion. All a first poll tells is one bit, "done by then" or not (a copy found
  done could have ended at any earlier moment), so the quantile is tracked by stochastic
  approximation from that bit alone: a miss lengthens the interval, a hit shortens it, and the
  two balance where the quantile is. Steps are taken on a log scale because copy durations
  span orders of magnitude, and until a first poll finds a copy done, the interval doubles
  per round of misses (slow start, as TCP's), since `--poll-min` may be far below them.
- **Later polls** follow the task itself: a `Running` task's `percentComplete`, over the time
  it has been running, gives its remaining time; a `Queued` one, or one that says nothing
  useful, waits another first-poll interval, doubling while it keeps saying nothing.
- **Copies in flight** follow AIMD, as TCP's window does: one more for every window's worth of
  copies that completed without being seen queued, and a cut to `DECREASE` of the window when
  a copy is still `Queued` at two polls in a row (Learn's queue is then longer than its copies,
  which only costs polls and delays every other integration's copies). One cut per
  window of completions, so a burst of queued sightings counts once. Bounded by 1 and
  `--concurrency`.

Every bound is the user's: no gap is shorter than `--poll-min` or longer than `--poll-max`, and
no more than `--concurrency` copies are ever in flight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FIRST_POLL_QUANTILE = 0.9
LOG_STEP = 0.4  # per answer, divided by sqrt(window): at window 1 a miss lengthens the
# first poll 1.43x and a hit shortens it 0.96x
MARGIN = 1.1  # poll a running task a little after its estimated end, not just before it
DECREASE = 0.7
START_WINDOW = 4


@dataclass
class Sighting:
    """The last `Running` poll of a task: when (local seconds) and how far along it was."""

    at: float
    percent: int


class CopyPace:
    """What the run has learned about Learn's copy queue, shared by every worker."""

    def __init__(self, *, poll_min: float, poll_max: float, concurrency: int) -> None:
        self.poll_min = poll_min
        self.poll_max = poll_max
        self.concurrency = concurrency
        self._log_first = math.log(max(poll_min, 1e-3))
        self.window = min(concurrency, START_WINDOW)
        self._clean_completions = 0
        self._completions_since_cut = concurrency  # the first queued sighting may cut at once
        self.first_polls = 0
        self.first_poll_hits = 0
        self.queued_sightings = 0

    # -- polling --------------------------------------------------------------------------

    @property
    def first_poll(self) -> float:
        """Seconds from a copy's POST to its first poll."""
        return self._bounded(math.exp(self._log_first))

    def learn_first_poll(self, done: bool, waited: float) -> None:
        """Take in whether a first poll, made `waited` seconds after its POST, found it done."""
        self.first_polls += 1
        self.first_poll_hits += done
        low, high = math.log(max(self.poll_min, 1e-3)), math.log(max(self.poll_max, 1e-3))
        if self.first_poll_hits == 0:
            # Slow start: until one first poll finds a copy done, double per round of misses
            # (a miss made at an interval already doubled past says nothing new).
            if waited >= 0.99 * self.first_poll:
                self._log_first = min(high, self._log_first + math.log(2))
            return
        # Up to `window` first polls are made on the same interval before any of them is
        # learned from; damping the step keeps that burst of answers from overshooting.
        step = LOG_STEP / math.sqrt(self.window)
        target = FIRST_POLL_QUANTILE - (1.0 if done else 0.0)
        self._log_first = min(high, max(low, self._log_first + step * target))

    def next_gap(
        self,
        *,
        status: str,
        percent: int | None,
        now: float,
        running_since: float | None,
        previous: Sighting | None,
        previous_gap: float,
    ) -> float:
        """Seconds until the next poll of a task the last poll found unfinished.

        `running_since` is when Learn says the task started, on this machine's clock (None if
        unknown); `previous` is the last `Running` sighting of the same task, if any.
        """
        remaining = seconds_until(
            100,
            status=status,
            percent=percent,
            now=now,
            running_since=running_since,
            previous=previous,
        )
        if remaining is None:  # Queued, or Running with nothing to go on: wait, then longer
            return self._bounded(max(self.first_poll, 2 * previous_gap))
        return self._bounded(remaining * MARGIN)

    def gap_to(self, seconds: float) -> float:
        """A poll gap that lands a little after `seconds` from now, within the user's bounds."""
        return self._bounded(seconds * MARGIN)

    def _bounded(self, seconds: float) -> float:
        return min(self.poll_max, max(self.poll_min, seconds))

    # -- copies in flight --------------------------------------------------------------------

    def copy_completed(self, *, was_queued: bool) -> None:
        """A copy was seen done: one more in flight per window's worth of clean copies."""
        self._completions_since_cut += 1
        if was_queued:
            return
        self._clean_completions += 1
        if self._clean_completions >= self.window:
            self._clean_completions = 0
            self.window = min(self.concurrency, self.window + 1)

    def copy_queued(self) -> None:
        """A copy was still queued at two polls in a row: Learn's queue is longer than needed."""
        self.queued_sightings += 1
        if self._completions_since_cut >= self.window:
            self.window = max(1, math.floor(self.window * DECREASE))
            self._completions_since_cut = 0
            self._clean_completions = 0


def seconds_until(
    goal: int,
    *,
    status: str,
    percent: int | None,
    now: float,
    running_since: float | None,
    previous: Sighting | None,
) -> float | None:
    """When a `Running` task should reach `goal` percent, from its progress so far (two
    sightings, or Learn's `started`); None when the task says nothing to go on."""
    if status != "Running" or percent is None or not 0 < percent < 100 or percent >= goal:
        return None
    if previous is not None and percent > previous.percent and now > previous.at:
        return (goal - percent) / ((percent - previous.percent) / (now - previous.at))
    if running_since is not None and now > running_since:
        return (now - running_since) * (goal - percent) / percent
    return None
