"""Pacing: when to poll a copy task, and how many copies to keep in Learn's hands.

Learn runs only a few copies at once, and a copy it has finished waits for our next poll before
the next one is requested, so both the polls and the copies in flight are learned as the run
goes, within the user's bounds (`--poll-min`, `--poll-max`, `--concurrency`):

- **The poll budget.** Every poll spends the site's quota, shared with every integration, but a
  night of a few hundred courses leaves most of it unused. From `X-Rate-Limit-Remaining`, minus
  `--quota-reserve`, minus the calls the rows left still need at the floor (a POST, one poll, a
  PATCH, the enrolments, the counts of `--verify`), the run knows how many extra polls per copy
  it can afford (`afford`). A copy's first poll is the floor's; any later one is made only
  from a spare call (`extra_poll_affordable`), and with none left the copy waits, ever longer
  (`spare_gap`), for answers to show the quota refilled (or, when no call is left to show it,
  is parked in Learn's hands for the next run), so extra polls never take the calls kept for
  PATCHes and enrolments. While the budget is thin, it polls as frugally as it can; the more
  it affords, the earlier it polls (`quantile`), since a copy Learn has finished and nobody has
  seen holds a place in the window while Learn's slots may stand idle.
- **First poll.** Timed at a quantile (`quantile`) of the time from a copy's POST to its
  completion. A first poll tells one bit, "done by then" or not, so the quantile is tracked by
  stochastic approximation from that bit alone: a miss lengthens the interval, a hit shortens
  it, and the two balance where the quantile is. Steps are taken on a log scale because copy
  durations span orders of magnitude, and until a first poll finds a copy done the interval
  doubles per round of misses (slow start, as TCP's), since `--poll-min` may be far below them.
  A copy waiting for its first poll follows the interval as it moves (the engine wakes it when
  the interval shortens), so the first polls track how long copies take now: shorter while
  Learn's queue drains or short copies come in a row.
- **Where the extra polls go.** At the copies most likely done: an earlier first poll finds the
  short copies sooner, and one that finds a copy `Running` learns its end from its progress, so
  the next poll lands just after it. And on the head of Learn's queue: the oldest of our copies
  seen `Queued` starts when a copy ahead of it ends, so it is looked at again one first-poll
  interval later, not after ever longer waits (the others, and every copy while the budget is
  thin, wait ever longer). When Learn holds none of our copies waiting (`--concurrency` no more
  than its slots), every late sighting leaves a slot idle, so an ample budget is spent more
  eagerly still.
- **Copies in flight.** A short queue in Learn is what keeps its slots busy while a finished
  copy waits to be seen: with no queue, every detection delay is an idle slot; with a long one,
  copies only wait and delay every other integration's. The window aims at about as many
  copies waiting as running: per completed copy, its wait in Learn's queue (POST to Learn's
  `started`) and its run (`started` to seen done) are averaged, and once per window's worth of
  completions the window grows by one while the queue is shorter than half the running, and is
  cut to `DECREASE` of itself while it is more than twice as long (and longer than
  `--poll-min`). Learn's `started` is on its own clock: the least POST-to-`started` seen (a copy
  Learn started at once) is taken as the clocks' difference, so no offset between the machines
  matters, and a start within the POST's own round trip counts as no wait.

Every bound is the user's: no gap is shorter than `--poll-min` or longer than `--poll-max`, and
no more than `--concurrency` copies are ever in flight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollover.ledger import LedgerRow, calls_left

FIRST_POLL_QUANTILE = 0.9  # the frugal first poll: about nine copies in ten cost one poll
QUEUE_QUANTILE = 0.65  # an ample budget, Learn holding a queue of ours
EAGER_QUANTILE = 0.3  # an ample budget, Learn holding none of ours waiting
THIN_EXTRA = 2.0  # extra polls per copy the quota affords, up to which the budget is thin
AMPLE_EXTRA = 4.0  # and from which it is ample (between, the quantile moves linearly)
# The share of copies that waited in Learn's queue up to which it is taken to hold none of
# ours waiting, and from which it holds a queue (between, the ample quantile moves linearly).
NO_QUEUE_SHARE = 0.05
QUEUE_SHARE = 0.15
GROW_BELOW = 0.5  # the window grows while the queue is shorter than half the running
SHRINK_ABOVE = 2.0  # and is cut while it is more than twice as long
DECREASE = 0.7
WAITED = 0.1  # a copy waited in Learn's queue if for more than this share of an average run
AVERAGING = 0.1  # weight of each completed copy in the averages of wait and run
LOG_STEP = 0.4  # per answer, divided by sqrt(window): at window 1 a miss lengthens the
# first poll 1.43x and a hit shortens it 0.96x
MARGIN = 1.1  # poll a running task a little after its estimated end, not just before it
START_WINDOW = 8  # Learn runs 4 copies at once on current versions: as many again waiting


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
        self._completions = 0  # since the window last moved or held
        self.first_polls = 0
        self.first_poll_hits = 0
        self.queued_sightings = 0
        self.extra_per_copy: float | None = None  # None until Learn's quota is known
        self.spare: int | None = None  # calls left beyond the reserve and the floor
        self._clock_difference: float | None = None  # Learn's `started` minus our POST, least
        self._waited: float | None = None  # averages of a copy's wait in the queue
        self._ran: float | None = None  # and of its run until seen done
        self._queued_share: float | None = None  # average of "waited in the queue" (0 or 1)
        self._queued: dict[str, float] = {}  # copies last seen `Queued`: when each was posted

    # -- the poll budget ----------------------------------------------------------------------

    def afford(self, *, remaining: int | None, reserve: int, floor: int, copies: int) -> None:
        """Take in the quota: `remaining` calls (None: not known yet), `reserve` kept for
        others, `floor` calls the rows left need at least, `copies` still to be seen done."""
        if remaining is None:
            self.extra_per_copy = self.spare = None
            return
        self.spare = remaining - reserve - floor
        self.extra_per_copy = max(0, self.spare) / max(1, copies)

    @property
    def extra_poll_affordable(self) -> bool:
        """Whether a poll beyond a copy's first may be made now: only from a spare call, never
        from the calls the floor keeps for the rows left (True while the quota is not known)."""
        return self.spare is None or self.spare >= 1

    def spare_gap(self, previous_gap: float) -> float:
        """Seconds to wait, instead of polling, while no spare call is left: ever longer, up
        to `--poll-max`, until answers to other calls show the quota refilled."""
        return self._bounded(max(self.first_poll, 2 * previous_gap))

    @property
    def budget(self) -> str:
        """`thin`, `ample` or `between`: how the poll budget stands (`thin` until known)."""
        extra = self.extra_per_copy
        if extra is None or extra <= THIN_EXTRA:
            return "thin"
        return "ample" if extra >= AMPLE_EXTRA else "between"

    @property
    def quantile(self) -> float:
        """The share of copies a first poll aims to find done: high when the budget is thin
        (one poll per copy), lower as it affords more, lowest when Learn holds no queue."""
        extra = self.extra_per_copy
        if extra is None or extra <= THIN_EXTRA:
            return FIRST_POLL_QUANTILE
        queued = self._queued_share
        if queued is None:
            eager = QUEUE_QUANTILE
        else:
            held = (queued - NO_QUEUE_SHARE) / (QUEUE_SHARE - NO_QUEUE_SHARE)
            eager = EAGER_QUANTILE + min(1.0, max(0.0, held)) * (QUEUE_QUANTILE - EAGER_QUANTILE)
        spend = min(1.0, (extra - THIN_EXTRA) / (AMPLE_EXTRA - THIN_EXTRA))
        return FIRST_POLL_QUANTILE + spend * (eager - FIRST_POLL_QUANTILE)

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
        target = self.quantile - (1.0 if done else 0.0)
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
        head: bool = False,
    ) -> float:
        """Seconds until the next poll of a task the last poll found unfinished.

        `running_since` is when Learn says the task started, on this machine's clock (None if
        unknown); `previous` is the last `Running` sighting of the same task, if any; `head`
        says the task is the oldest of ours seen waiting in Learn's queue.
        """
        remaining = seconds_until(
            100,
            status=status,
            percent=percent,
            now=now,
            running_since=running_since,
            previous=previous,
        )
        if remaining is not None:
            return self._bounded(remaining * MARGIN)
        if status == "Queued" and head and self.budget != "thin":
            # The head of Learn's queue starts when a copy ahead of it ends: look again when
            # a copy posted now would be looked at, not after ever longer waits.
            return self.first_poll
        # Queued, or Running with nothing to go on: wait, then longer
        return self._bounded(max(self.first_poll, 2 * previous_gap))

    def gap_to(self, seconds: float) -> float:
        """A poll gap that lands a little after `seconds` from now, within the user's bounds."""
        return self._bounded(seconds * MARGIN)

    def _bounded(self, seconds: float) -> float:
        return min(self.poll_max, max(self.poll_min, seconds))

    # -- copies in flight --------------------------------------------------------------------

    @property
    def queued_share(self) -> float | None:
        """The share of recent copies that waited in Learn's queue (None until one is seen)."""
        return self._queued_share

    @property
    def queue_ratio(self) -> float | None:
        """How long copies wait in Learn's queue for each second they run (None until a copy
        posted by this run is seen done): about as many waiting as running is 1."""
        if self._waited is None or not self._ran:
            return None
        return self._waited / self._ran

    def copy_completed(
        self,
        *,
        posted: float | None = None,
        accepted: float | None = None,
        started: float | None = None,
        seen: float = 0.0,
    ) -> None:
        """A copy was seen done at `seen`: requested at `posted` and accepted (its answer in) at
        `accepted`, both on this machine's clock, and started at `started` on Learn's clock. The
        window moves once per window of these."""
        if posted is not None and started is not None:
            difference = started - posted
            if self._clock_difference is None or difference < self._clock_difference:
                self._clock_difference = difference
            # A copy Learn started at once started while its request was on its way: within
            # the request's own round trip of the least difference seen.
            late = difference - self._clock_difference
            round_trip = max(0.0, (accepted if accepted is not None else posted) - posted)
            waited = max(0.0, late - round_trip)
            ran = max(0.0, seen - posted - late)
            self._waited = _averaged(self._waited, waited)
            self._ran = _averaged(self._ran, ran)
            self._queued_share = _averaged(self._queued_share, float(waited > WAITED * self._ran))
        self._completions += 1
        if self._completions < self.window:
            return
        self._completions = 0
        ratio = self.queue_ratio
        if ratio is None or self._waited is None:
            return
        if ratio < GROW_BELOW:
            self.window = min(self.concurrency, self.window + 1)
        elif ratio > SHRINK_ABOVE and self._waited > self.poll_min:
            # (a wait shorter than the shortest gap between polls is no queue worth a cut)
            self.window = max(1, min(self.window - 1, math.floor(self.window * DECREASE)))

    def copy_queued(self) -> None:
        """A copy was still `Queued` at two polls in a row (counted for the log)."""
        self.queued_sightings += 1

    def seen_waiting(self, copy: str, *, posted: float, queued: bool) -> bool:
        """Note whether a poll found `copy` (POSTed at `posted`, this machine's clock) waiting
        in Learn's queue; True if it is the head of ours there, the oldest seen waiting."""
        if not queued:
            self._queued.pop(copy, None)
            return False
        self._queued[copy] = posted
        return posted <= min(self._queued.values())


def _averaged(average: float | None, value: float) -> float:
    return value if average is None else average + AVERAGING * (value - average)


def floor_calls(row: LedgerRow, *, verify: bool) -> int:
    """The calls a row still needs at the least: `calls_left` with one poll."""
    return round(calls_left(row.spec, row, row.state, verify=verify))


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
