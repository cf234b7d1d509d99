"""The poll budget: what the quota affords beyond the floor, and how the polls spend it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from harness import TEACHERS, Learn, engine_run, instructors, make_learn, run_engine, sections
from structlog.testing import capture_logs

from rollover.engine import FIRST_POLL_QUANTILE, CopyPace, RunOptions
from rollover.ledger import State

POLL = "GET /v1/courses/{id}/tasks/{id}"
# Bench-shaped copies (median 0.3 s, lognormal) on Learn's 4 slots.
WORKLOAD: dict[str, Any] = {"copy_seconds": 0.3, "copy_sigma": 1.0, "copy_max_seconds": 10.0}
FAST = RunOptions(poll_min=0.2, poll_max=2.0)


def pace(concurrency: int = 8) -> CopyPace:
    """A pace with the bench's poll bounds."""
    return CopyPace(poll_min=0.2, poll_max=2.0, concurrency=concurrency)


def completed(p: CopyPace, *, waited: float) -> None:
    """One copy seen done, having waited `waited` s in Learn's queue and run 1 s."""
    p.copy_completed(posted=0.0, started=waited, seen=waited + 1.0)


def test_unknown_quota_is_a_thin_budget() -> None:
    """Before Learn has said its remaining quota, the run polls frugally."""
    p = pace()
    p.afford(remaining=None, reserve=0, floor=1200, copies=400)
    assert p.extra_per_copy is None
    assert p.budget == "thin" and p.quantile == FIRST_POLL_QUANTILE


def test_extra_polls_per_copy_are_the_quota_less_reserve_and_floor() -> None:
    """10,000 left, 500 kept, 1,200 needed at the floor: 8,300 spare over 400 copies."""
    p = pace()
    p.afford(remaining=10_000, reserve=500, floor=1_200, copies=400)
    assert p.extra_per_copy == pytest.approx(20.75)
    assert p.budget == "ample"


def test_a_floor_beyond_the_quota_affords_nothing() -> None:
    """When the rows left need more than Learn has left, no extra poll is affordable."""
    p = pace()
    p.afford(remaining=1_000, reserve=100, floor=1_200, copies=400)
    assert p.extra_per_copy == 0
    assert p.budget == "thin" and p.quantile == FIRST_POLL_QUANTILE


def test_the_last_copy_may_spend_what_is_left() -> None:
    """With no copy left to see, what is spare is counted for one, not divided by zero."""
    p = pace()
    p.afford(remaining=300, reserve=0, floor=100, copies=0)
    assert p.extra_per_copy == 200


def test_an_extra_poll_is_made_only_from_a_spare_call() -> None:
    """No spare call left: no poll beyond the first, and the wait doubles up to --poll-max."""
    p = pace()
    p.afford(remaining=None, reserve=0, floor=100, copies=10)
    assert p.extra_poll_affordable  # no quota said: nothing to keep
    p.afford(remaining=101, reserve=0, floor=100, copies=10)
    assert p.extra_poll_affordable and p.spare == 1
    p.afford(remaining=100, reserve=0, floor=100, copies=10)
    assert not p.extra_poll_affordable
    p.afford(remaining=150, reserve=60, floor=100, copies=10)
    assert not p.extra_poll_affordable
    assert p.spare_gap(0.5) == 1.0
    assert p.spare_gap(1.5) == 2.0 == p.poll_max


@pytest.mark.parametrize(
    ("extra", "budget"), [(0.4, "thin"), (2.0, "thin"), (3.0, "between"), (4.0, "ample")]
)
def test_first_polls_come_earlier_the_more_the_budget_affords(extra: float, budget: str) -> None:
    """Thin: the frugal 90th percentile; ample: the 65th; between: on the line joining them."""
    p = pace()
    p.afford(remaining=round(extra * 100), reserve=0, floor=0, copies=100)
    assert p.budget == budget
    expected = {"thin": 0.9, "between": 0.775, "ample": 0.65}[budget]
    assert p.quantile == pytest.approx(expected)


def test_with_no_queue_in_learn_an_ample_budget_is_spent_eagerly() -> None:
    """Copies that never wait in Learn's queue aim first polls at the 30th percentile, not 65th."""
    idle, queued = pace(concurrency=4), pace()
    for p in (idle, queued):
        p.afford(remaining=10_000, reserve=0, floor=1_200, copies=400)
        completed(p, waited=0.0)  # the first copies start at once: the clocks' difference
    for _ in range(40):
        completed(idle, waited=0.0)
        completed(queued, waited=1.0)
    assert idle.queued_share == 0.0 and idle.quantile == pytest.approx(0.3)
    assert queued.queued_share is not None and queued.queued_share > 0.9
    assert queued.quantile == pytest.approx(0.65)


def test_a_thin_budget_stays_frugal_whatever_the_queue() -> None:
    """No queue in Learn, but a thin budget: still the frugal quantile."""
    p = pace(concurrency=4)
    for _ in range(40):
        completed(p, waited=0.0)
    p.afford(remaining=1_360, reserve=0, floor=1_201, copies=400)
    assert p.quantile == FIRST_POLL_QUANTILE


def test_the_head_of_learns_queue_is_looked_at_again_after_one_first_poll_interval() -> None:
    """Ample budget: the oldest queued copy is looked at again soon; the others wait ever longer."""
    p = pace()
    p.afford(remaining=10_000, reserve=0, floor=1_200, copies=400)
    assert p.seen_waiting("A", posted=10.0, queued=True)
    assert not p.seen_waiting("B", posted=11.0, queued=True)

    def queued_gap(previous_gap: float, head: bool) -> float:
        """The gap after a poll that found the copy `Queued`."""
        return p.next_gap(
            status="Queued",
            percent=0,
            now=20.0,
            running_since=None,
            previous=None,
            previous_gap=previous_gap,
            head=head,
        )

    assert queued_gap(1.5, head=True) == p.first_poll == 0.2
    assert queued_gap(1.5, head=False) == 2.0
    assert not p.seen_waiting("A", posted=10.0, queued=False)  # A started
    assert p.seen_waiting("B", posted=11.0, queued=True)  # B is the head now
    p.afford(remaining=1_300, reserve=0, floor=1_200, copies=400)
    assert queued_gap(0.5, head=True) == 1.0


def budget_events(learn: Learn, rows: list[Any], tmp_path: Path, options: RunOptions) -> Any:
    """The run's `run.budget` and `run.pace` events."""
    with capture_logs() as logs:
        asyncio.run(run_engine(learn, rows, tmp_path / "l.sqlite", options))
    [budget] = [e for e in logs if e["event"] == "run.budget"]
    [pace_event] = [e for e in logs if e["event"] == "run.pace"]
    return budget, pace_event


def test_the_floor_counts_post_poll_patch_and_enrolments_of_every_row(tmp_path: Path) -> None:
    """The floor: a token, then per row its POST, one poll, its PATCH and one PUT per instructor."""
    learn = make_learn(copy_seconds=5.0, users=TEACHERS, quota_limit=10_000)
    rows = sections(4, instructors=instructors("userName:jane.doe", "userName:bob"))
    budget, _ = budget_events(learn, rows, tmp_path, RunOptions(concurrency=1, poll_min=1.0))
    assert budget["floor_calls"] == 1 + 4 * 5 - 3
    assert budget["copies"] == 4
    assert budget["quota_remaining"] == 10_000 - 3
    spare = budget["quota_remaining"] - budget["floor_calls"]  # no call in flight yet
    assert budget["extra_polls_affordable_per_copy"] == pytest.approx(spare / 4, abs=0.01)
    assert budget["budget"] == "ample"


def test_verify_adds_the_counts_of_every_target_and_source_to_the_floor(tmp_path: Path) -> None:
    """--verify: two counts per target and two per source not yet counted."""
    learn = make_learn(copy_seconds=5.0, quota_limit=10_000)
    rows = sections(3)
    options = RunOptions(concurrency=1, poll_min=1.0, verify=True)
    budget, _ = budget_events(learn, rows, tmp_path, options)
    assert budget["floor_calls"] == 1 + 3 * (3 + 2) + 2 - 3


def test_a_quota_reserve_is_kept_out_of_the_budget(tmp_path: Path) -> None:
    """The reserve is not the run's to spend: 9,000 kept of 10,000 leaves little per copy."""
    learn = make_learn(copy_seconds=5.0, quota_limit=10_000)
    options = RunOptions(concurrency=1, poll_min=1.0, quota_reserve=9_000)
    budget, _ = budget_events(learn, sections(4), tmp_path, options)
    spare = budget["quota_remaining"] - 9_000 - budget["floor_calls"]
    assert budget["extra_polls_affordable_per_copy"] == pytest.approx(spare / 4, abs=0.01)
    assert budget["quota_reserve"] == 9_000


SEEDS = range(20)  # a property of the pacing, not of one seed's copy durations


def test_a_tight_quota_never_spends_the_floor_on_extra_polls(tmp_path: Path) -> None:
    """3.4 calls per row, no refill, any seed: no 429, calls within the quota, none left copied."""
    for seed in SEEDS:
        rows = sections(60)
        quota = round(3.4 * 60)
        learn = make_learn(**WORKLOAD, seed=seed, quota_limit=quota, quota_refill_per_second=0)
        began = learn.clock.now
        with capture_logs() as logs:
            outcome, final = asyncio.run(run_engine(learn, rows, tmp_path / f"{seed}.sqlite", FAST))
        [budget] = [e for e in logs if e["event"] == "run.budget"]
        record = learn.sandbox.record
        assert budget["budget"] == "thin", seed
        assert record.faults["rate_limited"] == 0, seed
        assert record.calls.total() <= quota, seed
        # Every row is done, or left in Learn's hands (parked, polled by the next run): never
        # copied and not patched for want of the call an extra poll took.
        left = [r for r in final if r.state is not State.DONE]
        assert (outcome.stopped is None) == (not left), (seed, outcome.stopped)
        # A copy no spare call can come for is parked at once, not after --task-timeout (6 h).
        assert learn.clock.now - began < 600, seed
        assert all(r.state is State.LOCATED and r.task_location for r in left), seed
        assert sorted(outcome.parked) == sorted(r.target_course_id for r in left), seed
        assert len(record.patches) == 60 - len(left), seed
        assert all(p.copy_complete for p in record.patches), seed
        assert record.copies_per_target() == {r.target_course_id: 1 for r in rows}, seed


def test_an_ample_quota_buys_earlier_first_polls_than_a_thin_one(tmp_path: Path) -> None:
    """An ample quota buys more polls than a thin one for the same copies, still exactly once."""
    for seed in SEEDS[:8]:
        polls = {}
        for quota in (round(3.4 * 60), 10_000):
            learn = make_learn(**WORKLOAD, seed=seed, quota_limit=quota, quota_refill_per_second=0)
            ledger = tmp_path / f"{seed}-{quota}.sqlite"
            _outcome, final = engine_run(learn, sections(60), ledger, FAST)
            assert {r.state for r in final} <= {State.DONE, State.LOCATED}, seed
            record = learn.sandbox.record
            assert all(p.copy_complete for p in record.patches), seed
            assert max(record.copies_per_target().values()) == 1, seed
            polls[quota] = record.calls[POLL]
        assert polls[10_000] > polls[round(3.4 * 60)], seed


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_the_end_of_run_pace_says_what_the_budget_was_and_what_it_spent(
    tmp_path: Path, seed: int
) -> None:
    """`run.pace` carries the budget's standing, the extra polls spent and the quantile."""
    learn = make_learn(**WORKLOAD, seed=seed, quota_limit=10_000, quota_refill_per_second=0)
    _, pace_event = budget_events(learn, sections(40), tmp_path, FAST)
    polls = learn.sandbox.record.calls[POLL]
    assert pace_event["extra_polls"] == polls - 40
    assert pace_event["extra_polls_per_copy"] == round((polls - 40) / 40, 2)
    assert 0 < pace_event["spare_calls"] <= pace_event["quota_remaining"]
    assert pace_event["budget"] == "ample" and pace_event["first_poll_quantile"] <= 0.65
    assert pace_event["quota_remaining"] == 10_000 - learn.sandbox.record.calls.total()


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_copies_as_many_as_learns_slots_are_polled_eagerly(tmp_path: Path, seed: int) -> None:
    """--concurrency 4 on 4 slots: no copy waits, so first polls aim at the 30th percentile."""
    learn = make_learn(**WORKLOAD, seed=seed, quota_limit=10_000, quota_refill_per_second=0)
    options = RunOptions(concurrency=4, poll_min=0.2, poll_max=2.0)
    _, pace_event = budget_events(learn, sections(40), tmp_path, options)
    assert pace_event["queued_share"] == 0.0
    assert pace_event["first_poll_quantile"] == pytest.approx(0.3)
