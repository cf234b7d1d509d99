"""Pacing: first-poll timing learned from hits and misses, later polls from progress, and the
window of copies in flight aiming at about as many waiting in Learn's queue as running."""

from __future__ import annotations

import math
import random

import pytest

from rollover.engine import FIRST_POLL_QUANTILE, CopyPace, Sighting


def pace(**kwargs: float) -> CopyPace:
    """A pace with the contract's defaults unless told otherwise."""
    settings = {"poll_min": 1.0, "poll_max": 60.0, "concurrency": 8, **kwargs}
    return CopyPace(
        poll_min=settings["poll_min"],
        poll_max=settings["poll_max"],
        concurrency=int(settings["concurrency"]),
    )


def test_first_poll_slow_starts_from_poll_min_doubling_per_round_of_misses() -> None:
    """First poll at --poll-min; each round of misses doubles it until a copy is found done."""
    p = pace()
    assert p.first_poll == 1.0
    p.learn_first_poll(done=False, waited=1.0)
    assert p.first_poll == pytest.approx(2.0)
    p.learn_first_poll(done=False, waited=1.0)  # made before the doubling: nothing new
    assert p.first_poll == pytest.approx(2.0)
    p.learn_first_poll(done=False, waited=2.0)
    assert p.first_poll == pytest.approx(4.0)
    p.learn_first_poll(done=True, waited=4.0)
    assert 3.5 < p.first_poll < 4.0  # a hit now shortens it, gently
    p.learn_first_poll(done=False, waited=4.0)
    assert 4.0 < p.first_poll < 6.0  # and a miss lengthens it more than a hit shortens it


def test_first_poll_converges_to_the_quantile_of_copy_durations() -> None:
    """On lognormal copies the first poll settles where ~90% of copies are already done."""
    rng = random.Random(7)
    p = pace(poll_min=0.01, poll_max=60.0)
    durations = [0.3 * math.exp(rng.gauss(0, 1)) for _ in range(4000)]
    hits = 0
    for i, duration in enumerate(durations):
        done = duration <= p.first_poll
        p.learn_first_poll(done, waited=p.first_poll)
        hits += done and i >= 2000
    assert abs(hits / 2000 - FIRST_POLL_QUANTILE) < 0.03
    true_quantile = sorted(durations)[int(FIRST_POLL_QUANTILE * len(durations))]
    assert 0.7 * true_quantile < p.first_poll < 1.4 * true_quantile


def test_first_poll_never_leaves_the_user_bounds() -> None:
    """However many misses or hits, the first poll stays within --poll-min..--poll-max."""
    p = pace(poll_min=2.0, poll_max=30.0)
    for _ in range(100):
        p.learn_first_poll(done=False, waited=p.first_poll)
    assert p.first_poll == 30.0
    for _ in range(3000):
        p.learn_first_poll(done=True, waited=p.first_poll)
    assert p.first_poll == 2.0


def test_running_task_is_polled_just_after_its_estimated_end() -> None:
    """Half done after 20 s running: the next poll is ~22 s away (20 s left, plus 10%)."""
    p = pace()
    gap = p.next_gap(
        status="Running",
        percent=50,
        now=1020.0,
        running_since=1000.0,
        previous=None,
        previous_gap=1.0,
    )
    assert gap == pytest.approx(22.0)


def test_progress_between_two_polls_beats_a_distant_start() -> None:
    """Two Running sightings give a rate: 40% -> 60% in 10 s leaves 20 s for the last 40%."""
    p = pace()
    gap = p.next_gap(
        status="Running",
        percent=60,
        now=110.0,
        running_since=0.0,
        previous=Sighting(at=100.0, percent=40),
        previous_gap=10.0,
    )
    assert gap == pytest.approx(22.0)


@pytest.mark.parametrize(("status", "percent"), [("Queued", 0), ("Running", 0), ("Assigned", None)])
def test_a_task_saying_nothing_useful_waits_longer_each_time(
    status: str, percent: int | None
) -> None:
    """Queued (or no progress): wait at least a first-poll interval, doubling, up to --poll-max."""
    p = pace(poll_max=10.0)
    gaps, gap = [], 1.0
    for _ in range(5):
        gap = p.next_gap(
            status=status,
            percent=percent,
            now=50.0,
            running_since=None,
            previous=None,
            previous_gap=gap,
        )
        gaps.append(gap)
    assert gaps == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_gaps_respect_poll_min_and_poll_max() -> None:
    """A nearly done task waits at least --poll-min; a slow one is polled within --poll-max."""
    p = pace(poll_min=5.0, poll_max=60.0)
    assert (
        p.next_gap(
            status="Running",
            percent=99,
            now=10.0,
            running_since=0.0,
            previous=None,
            previous_gap=5.0,
        )
        == 5.0
    )
    assert (
        p.next_gap(
            status="Running",
            percent=1,
            now=100.0,
            running_since=0.0,
            previous=None,
            previous_gap=5.0,
        )
        == 60.0
    )


def completed(p: CopyPace, *, waited: float, ran: float, offset: float = 0.0) -> None:
    """One copy seen done: waited `waited` s, ran `ran` s; Learn's clock is `offset` s ahead."""
    p.copy_completed(posted=100.0, started=100.0 + offset + waited, seen=100.0 + waited + ran)


def test_window_starts_with_as_many_copies_waiting_as_learn_runs() -> None:
    """Learn runs 4 copies at once: the window starts at 8 (the default --concurrency), or lower."""
    assert pace(concurrency=8).window == 8
    assert pace(concurrency=24).window == 8
    assert pace(concurrency=4).window == 4
    assert pace(concurrency=1).window == 1


def test_window_grows_by_one_per_window_of_copies_while_learns_queue_is_short() -> None:
    """Copies that never wait in Learn's queue grow the window by one a window, to --concurrency."""
    p = pace(concurrency=10)
    completed(p, waited=0.0, ran=1.0)  # the first copy tells the clocks' difference
    for _ in range(7):
        completed(p, waited=0.0, ran=1.0)
    assert p.window == 9
    for _ in range(100):
        completed(p, waited=0.0, ran=1.0)
    assert p.window == 10


def test_window_holds_with_about_as_many_copies_waiting_as_running() -> None:
    """A queue about as long as the copies running (wait ~ run) leaves the window where it is."""
    p = pace(concurrency=16)
    completed(p, waited=0.0, ran=1.0)
    for _ in range(100):
        completed(p, waited=1.0, ran=1.0)
    assert p.window == 8
    assert p.queue_ratio is not None and 0.5 <= p.queue_ratio <= 2.0


def test_window_shrinks_while_learns_queue_is_long_but_not_below_one() -> None:
    """Copies waiting five times as long as they run cut the window to 70%, once per window."""
    p = pace(concurrency=8)
    completed(p, waited=0.0, ran=1.0)
    for _ in range(30):
        completed(p, waited=5.0, ran=1.0)
    assert p.window < 8
    for _ in range(500):
        completed(p, waited=5.0, ran=1.0)
    assert p.window == 1


def test_a_copy_seen_queued_no_longer_cuts_the_window() -> None:
    """A short queue is what keeps Learn busy: queued sightings are counted, never a cut."""
    p = pace(concurrency=8)
    for _ in range(20):
        p.copy_queued()
    assert p.window == 8 and p.queued_sightings == 20


def test_learns_clock_being_ahead_or_behind_changes_nothing() -> None:
    """Learn's `started` is on its own clock: an hour's offset either way gives the same window."""
    windows = []
    for offset in (-3600.0, 0.0, 3600.0):
        p = pace(concurrency=16)
        completed(p, waited=0.0, ran=1.0, offset=offset)
        for _ in range(60):
            completed(p, waited=0.2, ran=1.0, offset=offset)
        windows.append((p.window, round(p.queue_ratio or 0, 6)))
    assert windows[0] == windows[1] == windows[2]
    assert windows[1][0] > 8


def test_copies_resumed_from_an_earlier_run_move_the_window_but_not_the_averages() -> None:
    """A copy with no POST time of this run counts as a completion, with nothing to average."""
    p = pace(concurrency=10)
    for _ in range(16):
        p.copy_completed()
    assert p.window == 8 and p.queue_ratio is None


def test_default_window_is_the_contract_concurrency() -> None:
    """With --concurrency 8 (the contract's default) eight copies may start at once."""
    from rollover.engine import RunOptions

    assert RunOptions().concurrency == 8
    assert pace(concurrency=RunOptions().concurrency).window == 8


def test_a_copy_started_within_its_own_requests_round_trip_did_not_wait() -> None:
    """Learn starts a copy while its POST is on its way: a start within that trip is no wait."""
    p = pace(concurrency=16)
    for late in (0.0, 0.04, 0.01, 0.03):  # the answer took 50 ms to come back and be recorded
        p.copy_completed(posted=10.0, accepted=10.05, started=5010.0 + late, seen=11.0)
    assert p.queued_share == 0.0 and p.queue_ratio == 0.0


def test_near_instant_copies_do_not_shrink_the_window() -> None:
    """Waits longer than the copies but shorter than --poll-min are no queue worth a cut."""
    p = pace(concurrency=64, poll_min=0.005)
    p.copy_completed(posted=0.0, started=0.0, seen=0.001)
    for _ in range(200):
        p.copy_completed(posted=0.0, started=0.004, seen=0.005)
    assert p.queue_ratio is not None and p.queue_ratio > 2.0
    assert p.window == 8
