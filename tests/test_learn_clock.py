"""A Learn site whose clock disagrees with ours: measured from its Date headers, and times from
Learn compared in Learn's time."""

from __future__ import annotations

import asyncio
import email.utils
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from harness import engine_run, make_learn, sections
from structlog.testing import capture_logs

from rollover.engine import RunOptions
from rollover.learn import LearnClient
from rollover.ledger import State

NOW = datetime(2027, 1, 15, 3, 0, tzinfo=UTC)


def client_with_dates(offsets: list[float]) -> LearnClient:
    """A client whose answers carry Date headers `offsets` seconds off NOW, one per call."""
    dates = iter(offsets)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        said = NOW + timedelta(seconds=next(dates))
        date = email.utils.format_datetime(said, usegmt=True)
        return httpx.Response(200, json={"id": "_1_1"}, headers={"Date": date})

    return LearnClient(
        "https://learn.example.edu",
        "k",
        "s",
        transport=httpx.MockTransport(answer),
        clock=lambda: NOW,
    )


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [([], 0.0), ([-300, -301, -299], -300), ([-300, -300, 4000, -300, -299], -300)],
)
def test_the_site_clock_offset_is_the_median_of_date_headers(
    offsets: list[float], expected: float
) -> None:
    """The offset is the median of the Date headers (one wild answer changes nothing); it is
    0 until Learn has said anything."""

    async def go() -> float:
        async with client_with_dates(offsets) as client:
            for _ in offsets:
                await client.get_course("_1_1", "id")
            return client.site_clock_offset

    assert abs(asyncio.run(go()) - expected) <= 1.0


def test_a_large_offset_is_logged_once() -> None:
    """An offset over a few seconds is logged, once, in words."""

    async def go() -> None:
        async with client_with_dates([-300] * 5) as client:
            for _ in range(5):
                await client.get_course("_1_1", "id")

    with capture_logs() as logs:
        asyncio.run(go())
    told = [entry for entry in logs if entry["event"] == "learn.clock_offset"]
    assert len(told) == 1 and "behind this machine's" in told[0]["message"]


@pytest.mark.parametrize("skew", [-300.0, 300.0])
def test_lost_answers_on_a_site_minutes_off_are_still_adopted(tmp_path: Path, skew: float) -> None:
    """With Learn's clock 5 minutes behind (or ahead) and every copy answer lost, each new
    course is still recognised as this run's copy (compared in Learn's time) and ends done,
    copied once."""
    learn = make_learn(copy_seconds=3.0, drop_copy_response_rate=1.0, clock_skew=skew)
    rows = sections(4)
    outcome, ledger_rows = engine_run(
        learn,
        rows,
        tmp_path / "l.sqlite",
        RunOptions(poll_min=1.0, poll_max=10.0, adopt_settle=30.0),
    )
    assert outcome.fatal is None
    assert [r.state for r in ledger_rows] == [State.DONE] * 4, [r.error for r in ledger_rows]
    assert len(learn.sandbox.record.copies) == 4
