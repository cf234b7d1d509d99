"""Pacing: first-poll timing learned from hits and misses, later polls from progress, AIMD."""

from __future__ import annotations

import math
import random

import pytest

from rollover.engine import FIRST_POLL_QUANTILE, CopyPace, Sighting


def pace(**kwargs: float) -> CopyPace:
    """A pace with the contract's defaults unless told otherwise."""
    settings = {"poll_min": 1.0, "poll_max": 60.0, "concurrency": 4, **kwargs}
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


def test_window_grows_by_one_per_window_of_clean_copies_up_to_concurrency() -> None:
    """AIMD increase: 4 clean completions at window 4 make it 5; never above --concurrency."""
    p = pace(concurrency=6)
    assert p.window == 4
    for _ in range(4):
        p.copy_completed(was_queued=False)
    assert p.window == 5
    for _ in range(100):
        p.copy_completed(was_queued=False)
    assert p.window == 6


def test_queued_copies_cut_the_window_once_per_window_of_completions() -> None:
    """AIMD decrease: a queued sighting cuts the window; a burst of them counts once."""
    p = pace(concurrency=10)
    for _ in range(40):
        p.copy_completed(was_queued=False)
    assert p.window == 10
    p.copy_queued()
    p.copy_queued()
    p.copy_queued()
    assert p.window == 7
    for _ in range(7):
        p.copy_completed(was_queued=True)
    assert p.window == 7  # queued copies do not grow it back
    p.copy_queued()
    assert p.window == 4
    for _ in range(20):
        for _ in range(p.window):
            p.copy_completed(was_queued=False)
        p.copy_queued()
    assert p.window >= 1


def test_default_window_is_the_contract_concurrency() -> None:
    """With --concurrency 4 (the contract's default) all four copies may start at once."""
    assert pace().window == 4
    assert pace(concurrency=2).window == 2
